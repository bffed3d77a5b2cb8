"""Min / max diameters (ellipse fit vs Feret), coronary dents in the root lumen and the refitted
mitral annulus plane, on constructed shapes with known answers at clinical voxel sizes."""

import numpy as np
import pytest
from scipy import ndimage

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure import Plane, outline_metrics, section_of_labelmap
from CardiacPlanningLib.measure.mitral import mitral_annulus
from CardiacPlanningLib.measure.section import MaskSampler, ellipse_diameters
from CardiacPlanningLib.measure.valves import interface_plane, teer_measurements


def _volume(shape, spacing, origin):
    vol = Volume(np.zeros(shape, np.uint8), (spacing,) * 3, origin)
    kk, jj, ii = np.indices(shape, dtype=np.float32)
    return vol, vol.index_to_lps(np.stack([ii, jj, kk], -1))


def test_ellipse_fit_of_exact_outlines():
    t = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    xy = np.stack([13.0 * np.cos(t), 10.5 * np.sin(t)], 1) @ np.array([[0.8, 0.6], [-0.6, 0.8]]) + 4.0
    assert ellipse_diameters(xy) == pytest.approx((21.0, 26.0), abs=1e-6)
    sec = outline_metrics(xy, Plane([0, 0, 0], [0, 0, 1]), method="ellipse")
    assert (sec.min_diameter_mm, sec.max_diameter_mm) == pytest.approx((21.0, 26.0), abs=1e-6)
    assert (sec.feret_min_mm, sec.feret_max_mm) == pytest.approx((21.0, 26.0), abs=0.01)
    assert sec.diameter_method == "ellipse"
    # a square: the Feret diameters are its side and diagonal; the default method reports them
    sq = outline_metrics(np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float), Plane([0, 0, 0], [0, 0, 1]))
    assert (sq.min_diameter_mm, sq.max_diameter_mm) == pytest.approx((10.0, np.sqrt(200.0)))
    assert sq.to_dict()["diameter_method"] == "feret"
    with pytest.raises(CardiacInputError, match="diameter method"):
        outline_metrics(xy, Plane([0, 0, 0], [0, 0, 1]), method="caliper")


def test_elliptic_annulus_at_clinical_voxels():
    """An elliptic lumen (26 x 21 mm, axes at 30 degrees to the voxel grid) rasterised at 1.25 mm:
    the ellipse axes are within 0.2 mm, the Feret extremes of the traced outline are not unbiased."""
    vol, p = _volume((40, 48, 48), 1.25, (-29.7, -30.1, -24.6))
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    u, v = c * p[..., 0] + s * p[..., 1], -s * p[..., 0] + c * p[..., 1]
    vol.array[(u / 13.0) ** 2 + (v / 10.5) ** 2 <= 1.0] = labels.AORTA
    for z in (-3.3, 0.0, 4.1):  # planes between and on voxel centres
        plane = Plane([0.4, -0.3, z], [0, 0, 1])
        sec = section_of_labelmap(vol, plane, labels.AORTA, radius_mm=30.0, step_mm=0.2, method="ellipse")
        assert sec.min_diameter_mm == pytest.approx(21.0, abs=0.2)
        assert sec.max_diameter_mm == pytest.approx(26.0, abs=0.2)
        assert sec.area_mm2 == pytest.approx(np.pi * 13.0 * 10.5, rel=0.01)
        assert sec.feret_max_mm >= sec.max_diameter_mm - 0.05  # the extremes of the outline


def test_coronary_dent_is_filled_but_not_the_vessel_beyond_the_wall():
    vol, p = _volume((30, 60, 60), 1.0, (-30.0, -30.0, -15.0))
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    vol.array[np.hypot(x, y) <= 15.0] = labels.AORTA
    ostium = np.array([15.0, 0.0, 0.0])  # a coronary tube of radius 2.5 mm leaving the wall along +x
    tube = (np.hypot(y, z) <= 2.5) & (x >= 15.0 - 2.5) & (x < 28.0)
    vol.array[tube | (np.linalg.norm(p - ostium, axis=-1) <= 2.5)] = labels.LEFT_CORONARY
    plane = Plane([0.0, 0.0, 0.0], [0, 0, 1])
    plain = MaskSampler(vol, labels.AORTA, plane.origin, 30.0).section(plane, 29.0, 0.2)
    filled = MaskSampler(vol, labels.AORTA, plane.origin, 30.0, dent_labels=(labels.LEFT_CORONARY,)).section(
        plane, 29.0, 0.2, method="ellipse"
    )
    circle = np.pi * 15.0**2
    assert plain.area_mm2 < circle - 8.0  # the dent (half a 2.5 mm disc, 9.8 mm^2) is missing
    assert filled.area_mm2 == pytest.approx(circle, rel=0.01)
    # the tube outside the wall is not taken in: the outline stays the 30 mm circle
    assert (filled.min_diameter_mm, filled.max_diameter_mm) == pytest.approx((30.0, 30.0), abs=0.2)


def _mitral_case(tilt_deg: float):
    """LV below / LA above an elliptic orifice (AP 34 mm along y, IC 28 mm along x) in a plane
    tilted ``tilt_deg`` about x, a 2.4 mm unlabelled gap between them and a 3 mm LV wall; plus a
    contact patch between the chambers' sides away from the valve that misleads the interface plane."""
    vol, p = _volume((80, 80, 80), 0.8, (-32.0, -32.0, -32.0))
    a = np.radians(tilt_deg)
    n = np.array([0.0, -np.sin(a), np.cos(a)])
    e_y = np.array([0.0, np.cos(a), np.sin(a)])
    h, yy = p @ n, p @ e_y
    ellipse = (p[..., 0] / 14.0) ** 2 + (yy / 17.0) ** 2 <= 1.0
    vol.array[ellipse & (h < 0) & (h > -25)] = labels.LV_BLOOD_POOL
    vol.array[ellipse & (h >= 2.4) & (h < 25)] = labels.LA
    wall = ndimage.distance_transform_edt(vol.array != labels.LV_BLOOD_POOL, sampling=0.8) <= 3.0
    vol.array[wall & (vol.array == 0) & (h < -0.5)] = labels.LV_MYOCARDIUM
    return vol, n


@pytest.mark.parametrize("tilt", [0.0, 25.0])
def test_mitral_annulus_plane_is_refitted_to_the_orifice(tilt):
    vol, n = _mitral_case(tilt)
    start = interface_plane(vol, labels.LV_BLOOD_POOL, labels.LA, min_spread_mm=3.0)
    skewed = Plane(start.origin, start.normal + 0.35 * np.array([1.0, 0.0, 0.0]))  # 19 degrees off
    plane, sec = mitral_annulus(vol, skewed)
    assert np.degrees(np.arccos(min(1.0, abs(float(plane.normal @ n))))) < 1.0
    assert sec.area_mm2 == pytest.approx(np.pi * 14 * 17, rel=0.03)
    res = teer_measurements(vol)
    assert res["intercommissural_diameter_mm"] == pytest.approx(28.0, abs=0.5)


def test_interface_plane_skips_a_small_contact_patch():
    """A 1-voxel contact between the LV and a small LA pouch beside it (>= 50 voxels, but a strip)
    must not define the mitral plane when a minimum in-plane spread is asked for."""
    vol, n = _mitral_case(0.0)
    _, p = _volume((80, 80, 80), 0.8, (-32.0, -32.0, -32.0))
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    pouch = (np.abs(x) <= 1.6) & (y > 17.2) & (y < 21.0) & (z > -20) & (z < -5)
    lv_edge = (np.abs(x) <= 1.6) & (y > 15.0) & (y <= 17.2) & (z > -20) & (z < -5)
    vol.array[lv_edge] = labels.LV_BLOOD_POOL
    vol.array[pouch] = labels.LA
    naive = interface_plane(vol, labels.LV_BLOOD_POOL, labels.LA)
    assert np.degrees(np.arccos(min(1.0, abs(float(naive.normal @ n))))) > 45.0
    res = teer_measurements(vol)  # spread >= 3 mm, then the plane refitted to the orifice
    normal = np.asarray(res["mitral_plane"]["normal_lps"])
    assert np.degrees(np.arccos(min(1.0, abs(float(normal @ n))))) < 1.0
    assert res["intercommissural_diameter_mm"] == pytest.approx(28.0, abs=0.5)
    assert res["mitral_annulus"]["area_mm2"] == pytest.approx(np.pi * 14 * 17, rel=0.03)
