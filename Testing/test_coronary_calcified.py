"""Grading a lesion whose calcified plaque lies in the wall beside the narrowed lumen: the plaque's
blur (blooming) reads as lumen, and the two-object model (``coronary.calcified``) separates them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.calcified import plaque_lumen_radii
from CardiacPlanningLib.coronary.radius import CALCIUM_ABOVE_BLOOD_HU, cross_sections, narrow_lumen_radii
from CardiacPlanningLib.coronary.stenosis import calcium_near_points, find_lesions
from CardiacPlanningLib.imaging.volume import Volume

BLOOD, FAT, CALCIUM = 460.0, -95.0, 850.0
REF_MM, LENGTH_MM, CENTRE_MM = 1.25, 10.0, 20.0


def _radius_at(x: np.ndarray, percent: float) -> np.ndarray:
    u = np.clip((x - CENTRE_MM) / LENGTH_MM, -0.5, 0.5)
    return REF_MM * (1.0 - percent / 100.0 * 0.5 * (1.0 + np.cos(2.0 * np.pi * u)))


def _tube(
    percent: float, plaque_mm: float, seed: int, other: str = "calcium", gap_mm: float = 0.05
) -> Volume:
    """A straight lumen along x in fat, a cosine lesion of ``percent`` at x = 20 mm, and beside its
    narrowest point, in the wall ``gap_mm`` outside the lumen (0.05: touching it), a calcium sphere of
    ``plaque_mm`` (or with ``other="vessel"`` a blood-level tube of that radius running alongside,
    1.5 mm clear of the lumen): 0.5 mm voxels, 3x3x3 partial volume, Gaussian PSF of 1 mm FWHM,
    correlated noise of 30 HU."""
    sp, ss = 0.5, 3
    n, nx = int(round(10.0 / sp)), int(round(40.0 / sp))
    c = (np.arange(n * ss) + 0.5) / ss * sp - n * sp / 2
    x = (np.arange(nx * ss) + 0.5) / ss * sp
    zz, yy, xx = np.meshgrid(c, c, x, indexing="ij")
    lumen_r = _radius_at(x, percent)[None, None, :]
    fine = np.where(np.hypot(zz, yy) <= lumen_r, BLOOD, FAT).astype(np.float32)
    min_r = REF_MM * (1.0 - percent / 100.0)
    direction = np.array([np.cos(0.7), np.sin(0.7)])  # (z, y) of the plaque, off the sampling axes
    if other == "calcium":
        cz, cy = direction * (min_r + plaque_mm + gap_mm)
        fine[np.sqrt((zz - cz) ** 2 + (yy - cy) ** 2 + (xx - CENTRE_MM) ** 2) <= plaque_mm] = CALCIUM
    else:
        cz, cy = direction * (REF_MM + plaque_mm + 1.5)
        fine[np.hypot(zz - cz, yy - cy) <= plaque_mm] = BLOOD
    arr = fine.reshape(n, ss, n, ss, nx, ss).mean(axis=(1, 3, 5))
    arr = ndi.gaussian_filter(arr, 1.0 / 2.3548 / sp, mode="nearest")
    rng = np.random.default_rng(seed)
    w = ndi.gaussian_filter(rng.standard_normal(arr.shape).astype(np.float32), 0.6)
    arr += w * 30.0 / w.std()
    return Volume(arr, (sp, sp, sp), (sp / 2, -n * sp / 2 + sp / 2, -n * sp / 2 + sp / 2), np.eye(3))


def _line(x: np.ndarray) -> np.ndarray:
    return np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1)


def _grade(vol: Volume) -> list[float]:
    """Lesions near x = 20 mm as the pipeline grades them: section readings, calcium flags, the lumen
    model on the narrowed points and the plaque model on the others."""
    x = np.arange(4.0, 36.0, 0.4)
    pts = _line(x)
    r, _, _ = cross_sections(vol, pts, np.full(len(x), 1.2), BLOOD, partial_volume=True)
    calc = calcium_near_points(vol, pts, r, BLOOD + CALCIUM_ABOVE_BLOOD_HU)

    def fine(idx, ref, only=False):
        return narrow_lumen_radii(vol, pts[idx], r[idx], BLOOD, pts[ref], r[ref], plaque_only=only)

    les = find_lesions(
        "LAD",
        pts,
        r,
        voxel_mm=0.5,
        near_calcium=calc,
        narrow_radius=fine,
        plaque_radius=lambda idx, ref: fine(idx, ref, True),
    )
    return [les_.percent for les_ in les if abs(les_.center[0] - CENTRE_MM) < 3.0]


@pytest.mark.parametrize("percent, plaque_mm", [(60.0, 0.8), (70.0, 1.2)])
def test_calcified_lesion_graded_by_the_two_object_model(percent, plaque_mm):
    """A plaque of 0.8 mm peaks below the calcium level and its blur widens the narrowed sections
    (version 8 graded 60 % as 47-48 %); one of 1.2 mm is flagged, and the lumen-alone fit with its
    core left out collapsed (70 % graded 98 %). Each of two noise draws is now within 6 points."""
    for seed in (1, 2):
        (graded,) = _grade(_tube(percent, plaque_mm, seed))
        assert graded == pytest.approx(percent, abs=6.0)


def test_plaque_model_reads_the_lumen_beside_the_plaque():
    """At the narrowest section, beside a 0.8 mm plaque, the two-object lumen is within 0.15 mm of
    the truth (the section reading and the lumen-alone fit take in the plaque's blur), and on the
    healthy sections 8 mm away no plaque is found (the reading is kept)."""
    vol = _tube(60.0, 0.8, 3)
    x = np.array([CENTRE_MM - 0.2, CENTRE_MM, CENTRE_MM + 0.2, 8.0, 32.0])
    tan = np.repeat([[1.0, 0.0, 0.0]], len(x), axis=0)
    guess = cross_sections(vol, _line(x), np.full(len(x), 1.2), BLOOD, partial_volume=True)[0]
    two, alone, ratio, _ = plaque_lumen_radii(vol, _line(x), tan, guess, BLOOD, 0.45)
    truth = _radius_at(x, 60.0)
    assert np.all(np.abs(two[:3] - truth[:3]) < 0.15)
    assert np.all(guess[:3] - truth[:3] > 0.25) and np.all(alone[:3] - truth[:3] > 0.2)
    ref_x = np.concatenate([np.arange(6.0, 12.0, 0.5), np.arange(28.0, 34.0, 0.5)])
    ref_r = cross_sections(vol, _line(ref_x), np.full(len(ref_x), 1.2), BLOOD, partial_volume=True)[0]
    kept = narrow_lumen_radii(vol, _line(x[3:]), guess[3:], BLOOD, _line(ref_x), ref_r, plaque_only=True)
    assert np.array_equal(kept, guess[3:])
    assert np.all(ratio[3:] > 0.85)


def test_a_blood_level_vessel_alongside_is_no_plaque():
    """A vessel at the blood level 1.5 mm beside a healthy artery is no calcium: the plaque model,
    asked for every section, keeps the readings and finds no lesion."""
    vol = _tube(0.0, 1.0, 4, other="vessel")
    x = np.arange(4.0, 36.0, 0.4)
    pts = _line(x)
    r = cross_sections(vol, pts, np.full(len(x), 1.2), BLOOD, partial_volume=True)[0]
    ref = np.nonzero(np.abs(x - CENTRE_MM) > 6.0)[0]
    idx = np.nonzero(np.abs(x - CENTRE_MM) <= 3.0)[0]
    kept = narrow_lumen_radii(vol, pts[idx], r[idx], BLOOD, pts[ref], r[ref], plaque_only=True)
    assert np.array_equal(kept, r[idx])


def test_a_plaque_deeper_in_the_wall_is_still_a_plaque():
    """A 1.2 mm plaque 0.6 mm outside a 60 % lesion's lumen (in the wall, not touching it): the model
    finds it and reads the lumen within 0.1 mm (a 0.5 mm limit on the plaque's distance held the fit
    at its bound and rejected it, as on fresh seed 90's RCA, diagnosed after its run)."""
    for seed in (1, 2, 3):
        vol = _tube(60.0, 1.2, seed, gap_mm=0.6)
        x = np.array([CENTRE_MM])
        guess = cross_sections(vol, _line(x), np.full(1, 1.2), BLOOD, partial_volume=True)[0]
        two, _, ratio, _ = plaque_lumen_radii(vol, _line(x), np.array([[1.0, 0.0, 0.0]]), guess, BLOOD, 0.45)
        assert ratio[0] < 0.85
        assert two[0] == pytest.approx(_radius_at(x, 60.0)[0], abs=0.1)
