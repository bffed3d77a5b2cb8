"""Which voxels may carry a thin coronary: local contrast against the vessel's own surroundings.

A coronary thinner than a voxel (distal branches at 1.25 mm reconstructions) is averaged with the
epicardial fat around it: a voxel holding a third of a 0.6 mm lumen reads about 50 HU, below the
myocardium (about 0.25 x the blood-pool HU), so a fixed HU floor cuts such branches into pieces.
The floor here is taken relative to the local background instead (an adaptive, local-contrast
threshold; see Lesage et al., Med Image Anal 2009;13:819, section 4 on region growing with local
criteria): a quarter of the way from the darkest nearby tissue (10th percentile of the window,
never below -150 HU and never above 0 HU, so where there is no fat the floor is the old
``weak_fraction x blood``) to the blood pool. The myocardium is kept out by a second test that a
clinician reads the same way: a vessel is brighter than the tissue around it, so the voxel must
exceed the median of its window's tissue (the voxels below half the blood HU: lumen and calcium
left out) by ``RIDGE_FRACTION`` of the blood HU; a wall thicker than the window (the myocardium)
is no brighter than its own median. Leaving the lumen out keeps the test true inside a narrowed
stretch of a wide artery, whose window is mostly the lumen on either side (seed 94 at 0.5 mm: a
median over all voxels stopped the growth at a calcified 60 % LAD lesion).
"""

from __future__ import annotations

import numpy as np

from .boundary import window_values

WINDOW = 2  # half-width of the local window, voxels (as in boundary.py)
BACKGROUND_PERCENTILE = 10.0
BACKGROUND_RANGE_HU = (-150.0, 0.0)
RIDGE_FRACTION = 0.15


def lowest_floor_hu(blood_hu: float, weak_fraction: float) -> float:
    """The lowest floor :class:`LocalContrast` can apply (over the darkest allowed background), HU:
    voxels at or below it are never thin-vessel candidates."""
    lo = BACKGROUND_RANGE_HU[0]
    return lo + weak_fraction * (blood_hu - lo)


class LocalContrast:
    """The local-contrast test of the module docstring on ``image`` (HU, [z, y, x]) with blood-pool
    HU ``blood_hu``, evaluated only at the voxels asked for and kept, so that the rounds of a growth
    never evaluate a voxel twice."""

    def __init__(self, image: np.ndarray, blood_hu: float, weak_fraction: float) -> None:
        self.image = image
        self.blood = float(blood_hu)
        self.weak = float(weak_fraction)
        self.known = np.zeros(image.shape, bool)
        self.passed = np.zeros(image.shape, bool)

    def test(self, where: np.ndarray, lo=(0, 0, 0)) -> np.ndarray:
        """Bool array shaped like ``where`` (a box of the image starting at voxel ``lo``, z, y, x):
        True where the voxel passes; False outside ``where``."""
        lo = np.asarray(lo, int)
        box = tuple(slice(a, a + n) for a, n in zip(lo, where.shape))
        todo = np.argwhere(where & ~self.known[box]) + lo
        if len(todo):
            self._evaluate(todo)
        return where & self.passed[box]

    def _evaluate(self, idx: np.ndarray, chunk: int = 20000) -> None:
        for k in range(0, len(idx), chunk):
            part = idx[k : k + chunk]
            vals = window_values(self.image, part, WINDOW)[0].astype(np.float32)
            bg = np.clip(np.percentile(vals, BACKGROUND_PERCENTILE, axis=1), *BACKGROUND_RANGE_HU)
            tissue = vals < 0.5 * self.blood
            k = tissue.sum(axis=1)
            srt = np.sort(np.where(tissue, vals, np.inf), axis=1)
            med = np.take_along_axis(srt, np.maximum(k - 1, 0)[:, None] // 2, axis=1)[:, 0]
            med = np.where(k > 0, med, -np.inf)  # all lumen around: a dark spot inside the lumen
            hu = self.image[part[:, 0], part[:, 1], part[:, 2]]
            ok = (hu > bg + self.weak * (self.blood - bg)) & (hu > med + RIDGE_FRACTION * self.blood)
            at = tuple(part.T)
            self.known[at] = True
            self.passed[at] = ok
