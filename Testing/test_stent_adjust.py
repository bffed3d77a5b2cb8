"""Curved device axes (stent.axis) and the hand adjustment of a reconstruction (stent.adjust) on
constructed cases with known answers: a perfectly apposed cylinder moved off the wall and back."""

from __future__ import annotations

import numpy as np
import pytest
from test_stent_score import THRESHOLD, R, _case, _tube

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.stent.adjust import adjust, axis_centre, ras_to_lps_matrix
from CardiacPlanningLib.stent.axis import CurvedAxis
from CardiacPlanningLib.stent.geometry import mesh_arrays
from CardiacPlanningLib.stent.region import MetalDetection, Region


def test_curved_axis_of_a_quarter_circle():
    th = np.linspace(0.0, np.pi / 2, 200)
    arc = np.stack([20 * np.cos(th), 20 * np.sin(th), np.zeros_like(th)], 1)
    axis = CurvedAxis(arc, step_mm=0.1)
    assert axis.length == pytest.approx(10 * np.pi, abs=0.01)
    frames = np.stack([axis.t, axis.n1, axis.n2], 1)
    np.testing.assert_allclose(
        frames @ frames.transpose(0, 2, 1), np.broadcast_to(np.eye(3), frames.shape[:1] + (3, 3)), atol=1e-9
    )
    # planar curve: the rotation-minimising frame keeps one normal on the plane's normal (no twist)
    assert np.abs(np.abs(axis.n1[:, 2]) - np.abs(axis.n1[0, 2])).max() < 1e-6
    rng = np.random.default_rng(0)
    s, x, y = rng.uniform(0.5, 15.0, 50), rng.uniform(-3, 3, 50), rng.uniform(-3, 3, 50)
    back = axis.project(axis.to_world(s, x, y))
    np.testing.assert_allclose(np.stack(back), np.stack([s, x, y]), atol=2e-3)
    ring = axis.rings(np.array([5.0]), np.array([2.0]), 36)[0]
    centre = 20 * np.array([np.cos(0.25), np.sin(0.25), 0.0])  # arc length 5 mm on the 20 mm circle
    np.testing.assert_allclose(np.linalg.norm(ring - centre, axis=1), 2.0, atol=1e-3)


@pytest.fixture(scope="module")
def apposed():
    ct, lumen = _case()
    region = Region(ct, np.ones(ct.shape, bool), lumen, "constructed vessel")
    metal = MetalDetection(
        np.asarray(ct.array) > THRESHOLD, THRESHOLD, 350.0, 20.0, 400.0, np.zeros(ct.shape)
    )
    return _tube(lambda s: np.full_like(s, R - 0.25)), region, metal


def test_moving_an_apposed_cylinder_loses_apposition_and_moving_back_restores_it(apposed):
    rec, region, metal = apposed
    moved, sc = adjust(rec, region, metal, translate_mm=(1.5, 0.0, 0.0))
    # the wall gap is |1.5 cos(theta) - 0.25| mm: within 0.5 mm for cos(theta) in [-1/6, 1/2], i.e.
    # 2 (arccos(-1/6) - arccos(1/2)) = 79.2 degrees of 360 -> 22 % of the lateral area
    assert sc.apposition == pytest.approx(22.0, abs=3.0)
    assert sc.total < 75.0
    np.testing.assert_allclose(moved.axis - rec.axis, np.tile([1.5, 0.0, 0.0], (len(rec.axis), 1)), atol=1e-9)
    back, sc_back = adjust(moved, region, metal, translate_mm=(-1.5, 0.0, 0.0))
    # back where it was: the score of the unmoved cylinder (98: its tolerance-averaged apposition
    # share is full only up to 0.25 mm, test_stent_score)
    assert sc_back.apposition == pytest.approx(100.0, abs=0.5)
    assert (
        sc_back.total == pytest.approx(adjust(rec, region, metal)[1].total, abs=0.5) and sc_back.total > 97.0
    )
    np.testing.assert_allclose(mesh_arrays(back.mesh)[0], mesh_arrays(rec.mesh)[0], atol=1e-9)
    assert back.metadata["adjustment"]["translateMm"] == [-1.5, 0.0, 0.0]


def test_rotation_about_the_axis_centre(apposed):
    rec, region, metal = apposed
    c = axis_centre(rec)
    np.testing.assert_allclose(c, [0.0, 0.0, 10.0], atol=1e-6)
    turned, sc = adjust(rec, region, metal, rotate_deg=(90.0, 0.0, 0.0))
    np.testing.assert_allclose(axis_centre(turned), c, atol=1e-6)  # the centre stays
    d = turned.axis[-1] - turned.axis[0]
    np.testing.assert_allclose(d / np.linalg.norm(d), [0.0, -1.0, 0.0], atol=1e-9)  # S turned to -P
    assert sc.apposition < 25.0 and sc.total < 50.0  # only where the crossing tube meets the wall
    _, sc_back = adjust(turned, region, metal, rotate_deg=(-90.0, 0.0, 0.0))
    assert (
        sc_back.total == pytest.approx(adjust(rec, region, metal)[1].total, abs=0.5) and sc_back.total > 97.0
    )


def test_radius_changes_along_the_axis(apposed):
    rec, region, metal = apposed
    small, sc = adjust(rec, region, metal, radius_scale=(R - 2.25) / (R - 0.25))
    pts = mesh_arrays(small.mesh)[0]
    lateral = np.hypot(pts[:, 0], pts[:, 1]) > 1e-6
    np.testing.assert_allclose(np.hypot(pts[lateral, 0], pts[lateral, 1]), R - 2.25, atol=1e-6)
    np.testing.assert_allclose(small.radius_profile, R - 2.25, atol=1e-9)
    assert sc.apposition == pytest.approx(0.0, abs=0.5)
    # distal half tapered 2 mm inwards: the last ~quarter stands more than 0.5 mm off the wall
    _, sc_taper = adjust(rec, region, metal, radius_profile_mm=[R - 0.25, R - 0.25, R - 2.25])
    assert 60.0 < sc_taper.apposition < 85.0
    with pytest.raises(CardiacInputError, match="radius scale"):
        adjust(rec, region, metal, radius_scale=0.0)
    with pytest.raises(CardiacInputError, match="radius profile"):
        adjust(rec, region, metal, radius_profile_mm=[3.0])


def test_transform_from_a_ras_matrix(apposed):
    rec, region, metal = apposed
    ras = np.eye(4)
    ras[:3, 3] = [1.5, 0.0, 2.0]  # 1.5 mm to the Right = -1.5 mm in L
    moved, _ = adjust(rec, region, metal, matrix_lps=ras_to_lps_matrix(ras))
    np.testing.assert_allclose(
        moved.axis - rec.axis, np.tile([-1.5, 0.0, 2.0], (len(rec.axis), 1)), atol=1e-9
    )
