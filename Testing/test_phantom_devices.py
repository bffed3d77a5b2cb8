"""Phantom devices: coronary stent and valve frames on the stand-in anatomy (Testing/phantom_fixtures.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from phantom_fixtures import fixture_anatomy

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.phantom.coronary import build_coronary_tree
from CardiacPlanningLib.phantom.devices import coronary_stent, valve_frame, wire_mask, wire_occupancy
from CardiacPlanningLib.phantom.sweep import densify


@pytest.fixture(scope="module")
def anatomy():
    return fixture_anatomy()


@pytest.fixture(scope="module")
def tree(anatomy):
    return build_coronary_tree(anatomy, 5, stenoses=[{"branch": "LAD", "position": 0.2, "percent": 40}])


def _reference(points, spacing, margin=1.5):
    lo, hi = points.min(0) - margin, points.max(0) + margin
    shape = tuple(int(v) for v in np.ceil((hi - lo) / spacing)[::-1])
    return Volume(np.zeros(shape, np.uint8), (spacing,) * 3, lo)


def _axial_radial(dev, points):
    """(axial mm from the first axis point, radial mm from the axis) for a straight axis."""
    a = dev.axis[-1] - dev.axis[0]
    a /= np.linalg.norm(a)
    rel = points - dev.axis[0]
    z = rel @ a
    return z, np.linalg.norm(rel - z[:, None] * a, axis=1)


def test_stent_struts_lie_on_the_wall_inside_the_lumen(tree):
    lad = tree.branch("LAD")
    stent = coronary_stent(lad, 0.12, 16.0, rng=3)  # crosses the 40 % stenosis at 0.2
    assert stent.kind == "coronary_stent" and stent.strut_radius_mm == 0.06
    pts = np.vstack(stent.struts)
    # the lumen is the union of spheres swept along the centreline (as in tree_occupancy)
    dense, dense_r = densify(lad.points, lad.radii, 0.05)
    depth = np.min(np.linalg.norm(pts[:, None, :] - dense[None, :, :], axis=2) - dense_r[None, :], axis=1)
    assert np.all(depth + stent.strut_radius_mm <= 0.01)  # inside the lumen
    assert np.all(depth >= -2 * stent.strut_radius_mm - 0.02)  # against the wall
    s0 = 0.12 * lad.length_mm
    along = s0 + np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stent.axis, axis=0), axis=1))])
    expected = np.interp(along, lad.arc_length, lad.radii) - stent.strut_radius_mm
    np.testing.assert_allclose(stent.radius_profile, expected, atol=0.01)
    assert stent.radius_profile.min() < 0.7 * stent.radius_profile.max()  # follows the stenosis


def test_stent_rings_and_links_follow_the_parameters(tree):
    stent = coronary_stent(tree.branch("RCA"), 0.3, 15.0, rng=1, crowns=8, links=3)
    m = stent.metadata
    assert m["rings"] == int((15.0 + 0.6) // (1.1 + 0.6)) == 9
    assert len(stent.struts) == m["rings"] + 3 * (m["rings"] - 1)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(stent.axis, axis=0), axis=1))])
    ring = stent.struts[0]
    near = np.argmin(np.linalg.norm(ring[:, None] - stent.axis[None], axis=2), axis=1)
    assert s[near].max() - s[near].min() == pytest.approx(1.1, abs=0.15)  # ring height
    # eight crowns: the axial position oscillates eight times round the ring
    zc = s[near] - s[near].mean()
    assert int(np.sum(np.diff(np.sign(zc)) > 0)) in (8, 9)
    assert stent.wire_length_mm > m["rings"] * 2 * np.pi * float(stent.radius_profile.min())


def test_stent_occupancy_has_the_wire_volume(tree):
    stent = coronary_stent(tree.branch("LAD"), 0.1, 10.0, rng=2)
    pts = np.vstack(stent.struts)
    for spacing in (0.5, 0.1):  # line-integral regime and swept-sphere regime
        ref = _reference(pts, spacing)
        occ = wire_occupancy(stent, ref)
        assert occ.dtype == np.float32 and occ.max() <= 1.0
        assert float(occ.sum()) * ref.voxel_volume_mm3 == pytest.approx(stent.wire_volume_mm3, rel=0.04)


@pytest.mark.parametrize("style", ["balloon_expandable", "self_expanding"])
def test_valve_frames_sit_in_the_annulus(anatomy, style):
    root = anatomy.aortic_root
    dev = valve_frame(root, style, rng=4)
    ra = root["annulus_radius_mm"]
    pts = np.vstack(dev.struts)
    z, r = _axial_radial(dev, pts)
    below = dev.metadata["depthBelowAnnulusMm"]
    height = dev.metadata["heightMm"]
    assert z.min() == pytest.approx(0.0, abs=1e-6) and z.max() == pytest.approx(height, abs=1e-6)
    at_annulus = np.abs(z - below) < 1.0
    assert at_annulus.any()
    assert np.all(r[at_annulus] + dev.strut_radius_mm <= ra + 1e-6)
    assert np.all(r[at_annulus] >= ra - 2 * dev.strut_radius_mm - 1e-6)
    np.testing.assert_allclose(np.linalg.norm(dev.axis[0] - root["annulus_center"]), below, atol=1e-9)
    if style == "balloon_expandable":
        assert 18.0 <= height <= 20.0 and dev.metadata["rows"] == 4
        assert r.max() + dev.strut_radius_mm <= ra + 1e-6
    else:
        assert 44.0 <= height <= 46.0
        waist = np.abs(z - 0.4 * height) < 0.5
        outflow = z > height - 0.5
        assert r[waist].max() < 0.9 * ra and r[outflow].min() > 1.2 * ra


def test_valve_occupancy_has_the_wire_volume(anatomy):
    dev = valve_frame(anatomy.aortic_root, "balloon_expandable", rng=1)
    ref = _reference(np.vstack(dev.struts), 0.5)
    occ = wire_occupancy(dev, ref)
    # swept spheres: strut crossings overlap a little, so the voxel volume is slightly below pi r^2 L
    vol = float(occ.sum()) * ref.voxel_volume_mm3
    assert 0.94 * dev.wire_volume_mm3 < vol < 1.01 * dev.wire_volume_mm3


def test_transformed_moves_points_exactly_and_json(anatomy):
    dev = valve_frame(anatomy.aortic_root, "self_expanding", rng=0)
    c = np.cos(0.3)
    s = np.sin(0.3)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    fn = lambda p: p @ rot.T + np.array([1.0, 2.0, -3.0])  # noqa: E731
    moved = dev.transformed(fn)
    for a, b in zip(dev.struts, moved.struts):
        np.testing.assert_allclose(b, a @ rot.T + [1.0, 2.0, -3.0], atol=1e-12)
    np.testing.assert_allclose(moved.axis, fn(dev.axis), atol=1e-12)
    np.testing.assert_array_equal(moved.radius_profile, dev.radius_profile)
    assert moved.wire_length_mm == pytest.approx(dev.wire_length_mm, rel=1e-9)
    doc = json.loads(json.dumps(dev.to_json()))
    assert doc["coordinateSystem"] == "LPS" and doc["style"] == "self_expanding"
    assert len(doc["struts"]) == 2 * dev.metadata["cellsAround"] and len(doc["axis"]) == len(dev.axis)


def test_bad_device_input_is_named(tree, anatomy):
    with pytest.raises(CardiacInputError, match="LAD"):
        coronary_stent(tree.branch("LAD"), 0.95, 30.0)
    with pytest.raises(CardiacInputError, match="style"):
        valve_frame(anatomy.aortic_root, "mechanical")
    with pytest.raises(CardiacInputError, match="annulus_center"):
        valve_frame({}, "balloon_expandable")


def test_wire_mask_labels_thin_struts(tree):
    stent = coronary_stent(tree.branch("LAD"), 0.1, 8.0, rng=2)
    ref = _reference(np.vstack(stent.struts), 0.5)
    occ = wire_occupancy(stent, ref)
    assert not (occ >= 0.5).any()  # 0.06 mm struts never fill half a 0.5 mm voxel
    mask = wire_mask(stent, ref, occ)
    ijk = np.rint(ref.lps_to_index(np.vstack(stent.struts))).astype(int)
    assert mask[ijk[:, 2], ijk[:, 1], ijk[:, 0]].all()
    assert abs(int(mask.sum()) - int((occ > 0).sum())) <= 0.05 * mask.sum()  # ~ the voxels holding metal
