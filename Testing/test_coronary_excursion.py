"""A lesion's residual lumen beside a bright neighbour (``coronary.excursion``): where the traced
centerline left the 0.3 mm lumen for a calcification touching it, the sections on the path read the
calcification as lumen and the lesion is under-graded; re-read on the vessel's smooth course with the
neighbour as a second blurred object, it is graded near its truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.excursion import excursion_zones, reread_excursions
from CardiacPlanningLib.coronary.radius import CALCIUM_ABOVE_BLOOD_HU, cross_sections, narrow_lumen_radii
from CardiacPlanningLib.coronary.stenosis import calcium_near_points, find_lesions
from CardiacPlanningLib.imaging.volume import Volume

BLOOD, FAT, CALCIUM = 460.0, -95.0, 850.0
REF_MM, LENGTH_MM, CENTRE_MM = 1.25, 10.0, 20.0
SIDE = np.array([np.cos(0.7), np.sin(0.7)])  # (z, y) of the plaque, off the sampling axes


def _radius_at(x: np.ndarray, percent: float) -> np.ndarray:
    u = np.clip((x - CENTRE_MM) / LENGTH_MM, -0.5, 0.5)
    return REF_MM * (1.0 - percent / 100.0 * 0.5 * (1.0 + np.cos(2.0 * np.pi * u)))


def _tube(percent: float, plaque_mm: float, seed: int) -> Volume:
    """A straight lumen along x in fat with a cosine lesion of ``percent`` at x = 20 mm and (when
    ``plaque_mm`` > 0) a calcium sphere of that radius touching its narrowest point (0.05 mm gap):
    0.5 mm voxels, 3x3x3 partial volume, 1 mm FWHM Gaussian PSF, correlated noise of 30 HU."""
    sp, ss, n, nx = 0.5, 3, 20, 80
    c = (np.arange(n * ss) + 0.5) / ss * sp - n * sp / 2
    x = (np.arange(nx * ss) + 0.5) / ss * sp
    zz, yy, xx = np.meshgrid(c, c, x, indexing="ij")
    fine = np.where(np.hypot(zz, yy) <= _radius_at(x, percent)[None, None], BLOOD, FAT).astype(np.float32)
    if plaque_mm > 0:
        cz, cy = SIDE * (REF_MM * (1.0 - percent / 100.0) + plaque_mm + 0.05)
        fine[np.sqrt((zz - cz) ** 2 + (yy - cy) ** 2 + (xx - CENTRE_MM) ** 2) <= plaque_mm] = CALCIUM
    arr = fine.reshape(n, ss, n, ss, nx, ss).mean(axis=(1, 3, 5))
    arr = ndi.gaussian_filter(arr, 1.0 / 2.3548 / sp, mode="nearest")
    w = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(arr.shape).astype(np.float32), 0.6)
    arr += w * 30.0 / w.std()
    return Volume(arr, (sp, sp, sp), (sp / 2, -n * sp / 2 + sp / 2, -n * sp / 2 + sp / 2), np.eye(3))


def _path(excursion_mm: float) -> np.ndarray:
    """The traced centerline (LPS mm): the axis, bent ``excursion_mm`` towards the plaque over the
    lesion's core (as the skeleton of the grown lumen follows the bright plaque)."""
    x = np.arange(4.0, 36.0, 0.5)
    off = excursion_mm * np.exp(-(((x - CENTRE_MM) / 1.3) ** 2))
    return np.stack([x, off * SIDE[1], off * SIDE[0]], axis=1)


def _grade(vol: Volume, pts: np.ndarray, reread: bool) -> tuple[list[float], list]:
    """Lesions near x = 20 mm as the pipeline grades them (sections on the path, optionally the
    excursion re-reading, then the stenosis stage with its lumen and plaque models)."""
    r = cross_sections(vol, pts, np.full(len(pts), 1.2), BLOOD, partial_volume=True)[0]
    zones = []
    if reread:
        pts, r, zones = reread_excursions(vol, pts, r, BLOOD)
    calc = calcium_near_points(vol, pts, r, BLOOD + CALCIUM_ABOVE_BLOOD_HU)

    def fine(idx, ref, only=False):
        return narrow_lumen_radii(vol, pts[idx], r[idx], BLOOD, pts[ref], r[ref], plaque_only=only)

    les = find_lesions(
        "LAD", pts, r, voxel_mm=0.5, near_calcium=calc, narrow_radius=fine,
        plaque_radius=lambda idx, ref: fine(idx, ref, True),
    )  # fmt: skip
    return [les_.percent for les_ in les if abs(les_.center[0] - CENTRE_MM) < 3.0], zones


@pytest.mark.parametrize("seed", [1, 2])
def test_lumen_beside_calcium_the_path_ran_onto_is_graded(seed):
    vol = _tube(75.0, 0.75, seed)
    pts = _path(0.9)
    before, _ = _grade(vol, pts, reread=False)
    assert len(before) == 1 and before[0] < 65.0  # the fault: the plaque read as lumen (60.7, 61.1)
    after, zones = _grade(vol, pts, reread=True)
    assert len(zones) == 1 and abs(zones[0][0] - 30) <= 2  # one zone at the lesion's core
    assert len(after) == 1 and abs(after[0] - 75.0) <= 7.0  # 72.2, 75.7


def test_moderate_lesion_missed_beside_calcium_is_found():
    after, _ = _grade(_tube(50.0, 0.8, 2), _path(0.9), reread=True)
    before, _ = _grade(_tube(50.0, 0.8, 2), _path(0.9), reread=False)
    assert before == []  # the narrowing read over too short a run (the rebound on the plaque)
    assert len(after) == 1 and abs(after[0] - 50.0) <= 6.0  # 49.7


@pytest.mark.parametrize("percent, plaque_mm", [(75.0, 0.0), (0.0, 0.0), (50.0, 0.8)])
def test_a_path_that_stays_in_the_lumen_is_left_as_it_is(percent, plaque_mm):
    """No excursion (the path on the axis): no zone, points and radii unchanged, whether or not the
    vessel is narrowed or has calcium beside it."""
    vol = _tube(percent, plaque_mm, 1)
    pts = _path(0.0)
    r = cross_sections(vol, pts, np.full(len(pts), 1.2), BLOOD, partial_volume=True)[0]
    p2, r2, zones = reread_excursions(vol, pts, r, BLOOD)
    assert zones == [] and np.array_equal(p2, pts) and np.array_equal(r2, r)


def test_zones_need_a_rebound_between_two_dips_and_an_excursion():
    x = np.arange(0.0, 40.0, 0.5)
    line = np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1)
    r = np.full(len(x), 1.25)
    r[(x >= 17.0) & (x <= 23.0)] = 0.6  # one narrowing, no rebound
    r[(x > 18.5) & (x < 21.5)] = 0.95  # the rebound between two dips
    bent = line.copy()
    bent[:, 1] = 1.0 * np.exp(-(((x - 20.0) / 1.0) ** 2))
    assert excursion_zones(line, r) == []  # the path never left the course
    assert excursion_zones(bent, r) != []
    flat = np.where((x >= 17.0) & (x <= 23.0), 0.6, 1.25)
    assert excursion_zones(bent, flat) == []  # no rebound: the path's bend is the vessel's own


@pytest.mark.parametrize("seed", [1, 2])
def test_a_rim_read_where_the_path_ran_into_calcium_is_re_read(seed):
    """The traced path runs into the calcification beside a 50 % lesion and the sections centred
    there read only a rim of it as a tiny lumen (tuning seed 100 regenerated: 0.08 mm, LCX 60 %
    graded 94 %; 116 on a2b1a3d: 0.36 mm, 45 % graded 73 %). Those points lie farther off the course
    through the flanks than the radius they read: they are re-read on that course."""
    vol = _tube(50.0, 1.0, seed)
    pts = _path(REF_MM * 0.5 + 1.0 + 0.05)  # the path through the plaque's centre
    r = cross_sections(vol, pts, np.full(len(pts), 1.2), BLOOD, partial_volume=True)[0]
    core = np.abs(pts[:, 0] - CENTRE_MM) <= 0.75
    r[core] = 0.1  # the rim reading
    p2, r2, _ = reread_excursions(vol, pts, r, BLOOD)
    calc = calcium_near_points(vol, p2, r2, BLOOD + CALCIUM_ABOVE_BLOOD_HU)

    def fine(idx, ref, only=False):
        return narrow_lumen_radii(vol, p2[idx], r2[idx], BLOOD, p2[ref], r2[ref], plaque_only=only)

    les = find_lesions(
        "LAD", p2, r2, voxel_mm=0.5, near_calcium=calc, narrow_radius=fine,
        plaque_radius=lambda idx, ref: fine(idx, ref, True),
    )  # fmt: skip
    near = [les_.percent for les_ in les if abs(les_.center[0] - CENTRE_MM) < 3.0]
    assert len(near) == 1 and abs(near[0] - 50.0) <= 10.0
    off = np.linalg.norm(pts[core, 1:], axis=1) - np.linalg.norm(p2[core, 1:], axis=1)
    assert np.all(off > 0.8), off  # moved towards the axis (onto the course through the flanks)
