"""Automatic valve planes, TEER (mitral annulus) and PPVI (RVOT, main pulmonary artery) measurements
and chamber volumes on analytic shapes."""

import numpy as np
import pytest
from scipy import ndimage

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure.valves import (
    automatic_hinge_points,
    chamber_volumes,
    ejection_fraction,
    interface_plane,
    ppvi_measurements,
    teer_measurements,
)


def _grid(shape=(70, 70, 70), spacing=0.8, origin=(-28.0, -28.0, -28.0)):
    vol = Volume(np.zeros(shape, np.uint8), (spacing,) * 3, origin)
    kk, jj, ii = np.indices(shape, dtype=np.float32)
    return vol, vol.index_to_lps(np.stack([ii, jj, kk], -1))


def test_mitral_annulus_ap_and_intercommissural_diameters():
    vol, p = _grid()
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    ellipse = (x / 14.0) ** 2 + (y / 17.0) ** 2 <= 1.0  # AP along y (towards the aorta), IC along x
    vol.array[ellipse & (z < 0) & (z > -25)] = labels.LV_BLOOD_POOL
    vol.array[ellipse & (z >= 2.4) & (z < 25)] = labels.LA  # a 2.4 mm wall between them
    vol.array[(np.hypot(x, y + 22.0) <= 4.0) & (z < -4) & (z > -20)] = labels.LV_BLOOD_POOL  # LVOT towards -y
    vol.array[(np.hypot(x, y + 22.0) <= 4.0) & (z >= -4) & (z < 6)] = labels.AORTA
    # LV myocardium: a 3 mm wall around the LV below the valve plane (the orifice stays open)
    wall = ndimage.distance_transform_edt(vol.array != labels.LV_BLOOD_POOL, sampling=0.8) <= 3.0
    vol.array[wall & (vol.array == 0) & (z < -0.5)] = labels.LV_MYOCARDIUM
    plane = interface_plane(vol, labels.LV_BLOOD_POOL, labels.LA)
    assert np.allclose(plane.normal, [0, 0, 1], atol=0.02)
    assert plane.origin[2] == pytest.approx(1.2, abs=0.5)  # halfway across the wall
    res = teer_measurements(vol)
    assert res["ap_diameter_mm"] == pytest.approx(34.0, abs=0.5)
    assert res["intercommissural_diameter_mm"] == pytest.approx(28.0, abs=0.5)
    # the roof / floor test trims about 0.15 mm at these square-cut chamber rims (-2.3 % of the area)
    assert res["mitral_annulus"]["area_mm2"] == pytest.approx(np.pi * 14 * 17, rel=0.03)
    assert res["la_volume_ml"] == pytest.approx((vol.array == labels.LA).sum() * 0.8**3 / 1000, rel=1e-9)


def test_ppvi_rvot_mpa_and_trunk_length():
    vol, p = _grid(shape=(90, 80, 80), origin=(-32.0, -32.0, -20.0))
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    vol.array[(np.hypot(x, y) <= 13.0) & (z < 0) & (z > -18)] = labels.RV
    vol.array[(np.hypot(x, y) <= 12.0) & (z >= 0) & (z < 30)] = labels.PULMONARY_ARTERY
    for sign in (-1, 1):  # branches leaving the end of the 30 mm trunk at 60 degrees from the axis
        d = np.array([sign * np.sin(np.radians(60)), 0.0, np.cos(np.radians(60))])
        rel = p - np.array([0.0, 0.0, 30.0])
        t = rel @ d
        radial = np.linalg.norm(rel - t[..., None] * d, axis=-1)
        vol.array[(t >= -6) & (t < 35) & (radial <= 8.0) & (vol.array == 0)] = labels.PULMONARY_ARTERY
    res = ppvi_measurements(vol)
    assert res["rvot"]["area_derived_diameter_mm"] == pytest.approx(26.0, abs=0.5)
    assert res["mpa"]["area_derived_diameter_mm"] == pytest.approx(24.0, abs=0.5)
    assert res["mpa"]["max_diameter_mm"] == pytest.approx(24.0, abs=0.5)
    # the valve plane lies midway between the last RV (z = -0.8) and the first PA (z = 0) voxel centres
    valve_z = res["pulmonary_valve_plane"]["origin_lps"][2]
    assert valve_z == pytest.approx(-0.4, abs=0.2)
    # the carina level: the branch cylinders (r 8 mm, 60 deg off the axis) part 8 / sin 60 above z = 30
    assert res["mpa_length_mm"] == pytest.approx(30.0 + 8.0 / np.sin(np.radians(60)) - valve_z, abs=0.3)


def test_automatic_hinges_volumes_and_errors():
    vol, p = _grid()
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    tilt = np.array([0.0, np.sin(0.3), np.cos(0.3)])
    h = p @ tilt
    rho = np.linalg.norm(p - h[..., None] * tilt, axis=-1)
    vol.array[(rho <= 11.0) & (h < 0) & (h > -15)] = labels.LV_BLOOD_POOL
    vol.array[(rho <= 11.0) & (h >= 0) & (h < 20)] = labels.AORTA
    hinges = automatic_hinge_points(vol)
    normal = np.cross(hinges[1] - hinges[0], hinges[2] - hinges[0])
    normal /= np.linalg.norm(normal)
    assert np.degrees(np.arccos(abs(normal @ tilt))) < 2.0
    assert np.abs(hinges @ tilt).max() < 0.6  # on the LV-aorta interface
    assert np.linalg.norm(hinges - (hinges @ tilt)[:, None] * tilt, axis=1) == pytest.approx(
        [11.0] * 3, abs=0.6
    )
    vols = chamber_volumes(vol)
    assert vols["lv_blood_pool"] == pytest.approx((vol.array == 1).sum() * 0.8**3 / 1000)
    assert vols["la"] == 0.0
    assert ejection_fraction([120.0, 80.0, 50.0, 100.0]) == pytest.approx(70 / 120)
    with pytest.raises(CardiacInputError, match="two phases"):
        ejection_fraction([100.0])
    with pytest.raises(CardiacInputError, match="Left atrium"):
        interface_plane(vol, labels.LV_BLOOD_POOL, labels.LA)
    far = vol.with_array(vol.array.copy())
    far.array[(np.abs(x) < 3) & (np.abs(y) < 3) & (z > 25)] = labels.LA
    far.array[(h >= -1) & (h < 20) & (rho <= 11)] = 0  # nothing within 8 mm of the LA except nothing
    with pytest.raises(CardiacInputError, match="apart"):
        interface_plane(far, labels.LV_BLOOD_POOL, labels.LA)


def test_mitral_la_edge_against_lv_blood_is_read_lower():
    """Where the LA lies directly against LV blood (no labelled tissue between, as at the unlabelled
    aorto-mitral curtain), the LA is read at LA_AT_LV of its smoothed mask, so its edge reaches
    further than at an LA edge against unlabelled tissue (read at 0.5)."""
    from CardiacPlanningLib.measure import mitral

    vol, p = _grid(shape=(40, 40, 40), spacing=1.0, origin=(-20.0, -20.0, -20.0))
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    vol.array[(np.abs(x) < 8) & (np.abs(z) < 8) & (y >= 0) & (y < 10)] = labels.LA
    vol.array[(np.abs(x) < 8) & (np.abs(z) < 8) & (y < 0) & (y >= -10)] = labels.LV_BLOOD_POOL
    masks = mitral._Masks(vol, reach_mm=2.0)
    # the LA's boundary voxel faces lie at y = -0.5 (against LV blood) and y = 9.5 (against nothing)
    d = 0.25  # mm past each face: the LA's smoothed mask is about 0.33 there
    pts = np.array([[0.0, -0.5 - d, 0.0], [0.0, 9.5 + d, 0.0]])
    la = masks.sample(pts)[1]
    assert la[0] and not la[1]
    # and the rule is what makes the difference: with the LA read at 0.5 everywhere, neither counts
    old = mitral.LA_AT_LV
    try:
        mitral.LA_AT_LV = 0.5
        assert not masks.sample(pts)[1].any()
    finally:
        mitral.LA_AT_LV = old
