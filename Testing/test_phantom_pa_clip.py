"""The pulmonary artery, painted before the aorta tube (which did not overwrite it), must not cut the
ascending aorta (issue 9): the right pulmonary artery passes behind the ascending aorta and the
trunk lies beside the root, each vessel with its own wall; neither lumen cuts the other."""

from __future__ import annotations

import numpy as np
import pytest

from CardiacPlanningLib import labels
from CardiacPlanningLib.phantom import tissues as tis
from CardiacPlanningLib.phantom.anatomy import build_anatomy
from CardiacPlanningLib.phantom.shapes import Grid, tube_sdf

SEED = 44  # its right pulmonary artery's tube reaches ~640 mm^3 into the ascending aorta's lumen
PA = labels.PULMONARY_ARTERY


def _anatomy(seed: int, spacing: float = 0.625):
    """The seed's anatomy on a grid around the root and the ascending aorta up to 55 mm above the STJ."""
    root = build_anatomy(Grid(np.array([-60.0, -60.0, -60.0]), 4.0, (30, 30, 30)), seed).root
    stj = root.center + root.height * root.axis
    lo = np.minimum(root.center, stj) - 40.0
    hi = np.maximum(root.center, stj) + 40.0
    hi[2] = stj[2] + 55.0
    shape = tuple(int(n) for n in np.ceil((hi - lo) / spacing)[::-1] + 1)
    return build_anatomy(Grid(lo, spacing, shape), seed)


def _within(a, box, sdf, lo: float, hi: float) -> np.ndarray:
    full = np.zeros(a.tissue.shape, bool)
    full[box] = (sdf >= lo) & (sdf < hi)
    return full


def test_pulmonary_artery_stays_outside_the_aorta_and_both_walls():
    a = _anatomy(SEED)
    pts, rad = a.centerlines["aorta"]
    t_box, t_sdf = tube_sdf(a.grid, pts, rad, margin=5.0, open_start=True)
    r_box, r_sdf = a.root.sdf(a.grid, margin=5.0)
    rpa = tube_sdf(a.grid, *a.centerlines["right_pulmonary_artery"], margin=2.0)
    rpa_lumen = _within(a, rpa[0], rpa[1], -1e9, 0.0)
    lumen = _within(a, t_box, t_sdf, -1e9, 0.0)
    # the seed's RPA tube does reach into the aorta's lumen (else this test checks nothing)
    assert (rpa_lumen & lumen).sum() * 0.625**3 > 400.0
    # the aorta keeps its lumen (above the root, where no chamber or the LVOT is painted)
    assert np.all(a.tissue[lumen & rpa_lumen] == labels.AORTA)
    # no PA voxel inside either aortic wall (1.6 / 1.8 mm) nor the PA's own 1.6 mm wall beyond it
    clear = _within(a, t_box, t_sdf, -1e9, 3.2) | _within(a, r_box, r_sdf, -1e9, 3.4)
    assert not (a.tissue[clear] == PA).any()
    band = rpa_lumen & clear & ~lumen & ~_within(a, r_box, r_sdf, -1e9, 0.0)
    # the RPA's lumen there is wall now (the atria, clipped by the aortic wall only, may lie in it)
    assert band.sum() > 1000 and np.all(np.isin(a.tissue[band], (tis.VESSEL_WALL, labels.LA, labels.RA)))
    assert np.mean(a.tissue[band] == tis.VESSEL_WALL) > 0.9
    # the RPA's lumen beyond that clearance is untouched
    rest = rpa_lumen & ~clear
    # (the atria, painted after the great vessels, cover a little of it: the LA's roof)
    assert rest.sum() > 10000 and np.all(np.isin(a.tissue[rest], (PA, labels.LA, labels.RA)))
    assert np.mean(a.tissue[rest] == PA) > 0.95


def test_mpa_length_truth_follows_the_clipped_lumen():
    # equal 6 mm Y tubes at 70 deg (crotch 30 + 6 / sin 70 = 36.4 mm above the valve) and an aorta
    # tube of 3 mm crossing over the branch point along y at z = 38: the painted lumen keeps 3.2 mm
    # (both walls) clear of it, so the lumen above a section parts at the clearance disc's lowest point
    # on the axis, 38 - (3 + 3.2) = 31.8 mm (no way around a tube running on through the section)
    from CardiacPlanningLib.phantom.anatomy import mpa_length_truth

    z, s, a = np.linspace(0.0, 30.0, 21), np.linspace(0.0, 45.0, 31), np.radians(70.0)
    tubes = {"pulmonary_trunk": (np.stack([0 * z, 0 * z, z], 1), np.full(21, 6.0))}
    for name, sign in (("left_pulmonary_artery", 1.0), ("right_pulmonary_artery", -1.0)):
        tubes[name] = (np.stack([sign * s * np.sin(a), 0 * s, 30.0 + s * np.cos(a)], 1), np.full(31, 6.0))
    free = mpa_length_truth(tubes, spacing_mm=0.25)["mpa_length_mm"]
    y = np.linspace(-40.0, 40.0, 9)
    tubes["aorta"] = (np.stack([0 * y, y, np.full(9, 38.0)], 1), np.full(9, 3.0))
    clipped = mpa_length_truth(tubes, spacing_mm=0.25)["mpa_length_mm"]
    assert free == pytest.approx(30.0 + 6.0 / np.sin(a), abs=0.15)
    assert clipped == pytest.approx(31.8, abs=0.15)
