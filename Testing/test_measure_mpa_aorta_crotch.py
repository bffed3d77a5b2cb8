"""MPA length where the aorta forms the pulmonary crotch (issue 9): the ascending aorta lying over
the bifurcation, its wall against the PA's (as on phantom seed 23 since the PA no longer cuts the
aorta). The crotch is then the aorta's round wall, not a thin carina wedge: the wedge extrapolation of
:func:`crotch_from_wall` (for a partial-volume-rounded carina) must not be applied there."""

import numpy as np
import pytest

from CardiacPlanningLib import labels
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure.valves import ppvi_measurements

SP = 1.25


def _y_tubes(aorta_z: float | None, offset: float = 0.3) -> Volume:
    """RV below z = 0, a 12 mm trunk up to z = 30, 9 mm branches at +-55 deg (free crotch
    30 + 9 / sin 55 = 40.99 mm); optionally a 10 mm aorta along y at height ``aorta_z`` whose lumen
    the PA keeps 3.2 mm (both walls) clear of; painted at 1.25 mm."""
    shape = (80, 72, 72)
    origin = np.array([-45.0, -45.0, -20.0]) + offset
    k, j, i = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    p = np.stack([i, j, k], -1) * SP + origin
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    arr = np.zeros(shape, np.uint8)
    arr[(np.hypot(x, y) <= 13.0) & (z < 0) & (z > -18)] = labels.RV
    pa = (np.hypot(x, y) <= 12.0) & (z >= 0) & (z < 30)
    for sign in (-1, 1):
        d = np.array([sign * np.sin(np.radians(55)), 0.0, np.cos(np.radians(55))])
        rel = p - np.array([0.0, 0.0, 30.0])
        t = rel @ d
        pa |= (t >= -6) & (t < 40) & (np.linalg.norm(rel - t[..., None] * d, axis=-1) <= 9.0)
    if aorta_z is not None:
        r_ao = np.hypot(x, z - aorta_z)
        arr[r_ao <= 10.0] = labels.AORTA
        pa &= r_ao >= 10.0 + 3.2
    arr[pa & (arr == 0)] = labels.PULMONARY_ARTERY
    return Volume(arr, (SP,) * 3, tuple(origin), np.eye(3))


@pytest.mark.parametrize("offset", [0.3, 0.9])
def test_mpa_length_ends_at_the_aortic_wall_in_the_crotch(offset):
    # the aorta's clearance (13.2 mm about z = 52) reaches down to z = 38.8 on the trunk axis, below
    # the branches' own crotch (40.99): the lumen above a section parts there. The wedge fit to the
    # chord of that circle put the end 0.7-1.2 mm too low
    vol = _y_tubes(52.0, offset)
    res = ppvi_measurements(vol)
    valve_z = res["pulmonary_valve_plane"]["origin_lps"][2]
    assert res["mpa_length_mm"] == pytest.approx(52.0 - 13.2 - valve_z, abs=0.4)


def test_free_carina_still_refined_from_its_sides():
    # an aorta 20 mm above the free crotch does not form it: the wedge refinement still applies
    vol = _y_tubes(80.0)
    res = ppvi_measurements(vol)
    valve_z = res["pulmonary_valve_plane"]["origin_lps"][2]
    assert res["mpa_length_mm"] == pytest.approx(30.0 + 9.0 / np.sin(np.radians(55)) - valve_z, abs=0.3)
