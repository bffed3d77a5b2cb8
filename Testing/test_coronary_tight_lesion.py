"""The vessel beyond a tight (75 %) lesion is joined to the tree (seed 99's lost distal LAD): the
narrowed lumen blurs to near tissue HU, so the cheapest path from the branch's tip by contrast
reaches another lumen piece round the lesion (here a vein-like tube beside the artery, behind the
tip) and the far piece's own end is no clean tube (a diagonal leaves it just past the lesion), so
neither the tip rule nor the far-piece rule joined it. The search ahead of the tip does, and does
not take a tube crossing ahead side-on. Where the far piece's path runs round the lesion through
myocardium (seed 103), the path in line through it is taken."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.bridge import bridge_lesions
from CardiacPlanningLib.coronary.centerline import TracedBranch
from CardiacPlanningLib.imaging.volume import Volume

BLOOD, FAT = 460.0, -100.0
SP = 0.5
C = 8.0  # the artery's axis: z = y = 8 mm (render coordinates, voxel centres at (index + 0.5) * SP)


def _render(shape, inside, psf_fwhm_mm: float = 0.9, ss: int = 2) -> np.ndarray:
    axes = [(np.arange(n * ss) + 0.5) / ss * SP for n in shape]
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    hu = inside(zz, yy, xx).astype(np.float32)
    hu = hu.reshape(shape[0], ss, shape[1], ss, shape[2], ss).mean(axis=(1, 3, 5))
    return ndi.gaussian_filter(hu, psf_fwhm_mm / 2.3548 / SP, mode="nearest")


def _noisy_scene(shape, inside):
    """The rendered scene with 20 HU noise, its volume, the voxel-centre grids (mm) and the distance
    from the artery's axis (z = y = C)."""
    rng = np.random.default_rng(5)
    arr = _render(shape, inside) + rng.normal(0.0, 20.0, shape).astype(np.float32)
    vol = Volume(arr, (SP, SP, SP), (0.0, 0.0, 0.0), np.eye(3))
    zz, yy, xx = np.meshgrid(*[(np.arange(n) + 0.5) * SP for n in shape], indexing="ij")
    return arr, vol, (zz, yy, xx), np.hypot(zz - C, yy - C)


def _scene(crossing: bool, far_artery: bool = True, percent: float = 75.0):
    """A 2.4 mm artery along x with a ``percent`` lesion over x = 14-17 mm, a 2 mm diagonal leaving
    the far part at x = 18.5 mm at 45 degrees, a vein-like tube (2 mm) beside the proximal artery
    (x = 3-12 mm, 3.1 mm off its axis); optionally a tube along z crossing at x = 21 mm (17.5 mm
    without the far artery), 3.2 mm off the artery's axis (side-on to it). Without ``far_artery``
    the artery ends at the lesion (x = 14 mm) and has no diagonal. Returns (volume, tree mask up to
    the lesion, its traced branch, the far artery's core, the crossing tube's core)."""
    shape = (32, 36, 72)
    rl = 1.2 * (1.0 - percent / 100.0)
    cx = 21.0 if far_artery else 17.5

    def inside(z, y, x):
        hu = np.full(z.shape, FAT, np.float32)
        r = np.where((x > 14.0) & (x < 17.0), rl, 1.2)
        hu[(np.hypot(z - C, y - C) <= r) & (x >= 1.0) & (x <= (34.0 if far_artery else 14.0))] = BLOOD
        if far_artery:
            hu[(np.hypot(z - C, (y - C) - (x - 18.5)) <= 1.0) & (x >= 18.5) & (y <= 17.0)] = BLOOD
        hu[(np.hypot(z - C, y - (C - 3.1)) <= 1.0) & (x >= 3.0) & (x <= 12.0)] = BLOOD
        if crossing:
            hu[(np.hypot(x - cx, y - (C - 3.2)) <= 1.0) & (z >= 2.0) & (z <= 14.0)] = BLOOD
        return hu

    arr, vol, (zz, yy, xx), axial = _noisy_scene(shape, inside)
    tree = (arr > 0.5 * BLOOD) & (axial <= 2.0) & (xx < 14.0)
    x = np.arange(1.5, 13.76, 0.25)
    pts = np.stack([x, np.full_like(x, C), np.full_like(x, C)], axis=1) - 0.5 * SP  # LPS = index * SP
    branch = TracedBranch(pts, np.full(len(x), 1.2), None, None)
    far = (axial <= 0.8) & (xx > 18.0) & (xx < 33.0)
    cross = (np.hypot(xx - cx, yy - (C - 3.2)) <= 0.5) & (zz >= 2.5) & (zz <= 13.5)
    return vol, tree, branch, far, cross


def test_vessel_beyond_a_tight_lesion_is_joined():
    vol, tree, branch, far, _ = _scene(crossing=False)
    none = np.zeros_like(tree)
    mask = tree.copy()
    added = bridge_lesions(vol, mask, none, [branch], BLOOD, none)
    assert (mask & far).sum() >= 0.9 * far.sum()
    # joined through the lesion, along the artery's axis, not round it
    z, y, x = np.nonzero(added)
    gap = ((x + 0.5) * SP > 14.0) & ((x + 0.5) * SP < 17.0)
    assert gap.any() and np.hypot((z[gap] + 0.5) * SP - C, (y[gap] + 0.5) * SP - C).max() <= 1.0


@pytest.mark.parametrize("far_artery", [True, False])
def test_tube_crossing_ahead_of_a_branch_end_is_not_joined(far_artery):
    """A tube crossing side-on 4-7 mm ahead of the tip is not the vessel beyond it, whether the
    artery goes on past a tight lesion (then that is joined) or ends there (the tube is the only
    piece ahead)."""
    vol, tree, branch, far, cross = _scene(crossing=True, far_artery=far_artery)
    none = np.zeros_like(tree)
    mask = tree.copy()
    bridge_lesions(vol, mask, none, [branch], BLOOD, none)
    assert not (mask & cross).any()
    if far_artery:
        assert (mask & far).sum() >= 0.9 * far.sum()


def test_far_piece_joined_through_a_tight_lesion_beside_myocardium():
    """Seed 103's lost distal LCX: the artery lies on myocardium (105 HU) and its 75 % lesion
    (x = 14-18 mm) blurs to fat-to-tissue HU, so the cheapest path from the far piece to the tree
    (which does not end at the lesion: no branch tip here) runs round it through the myocardium,
    7.4 mm below half contrast. The path in line through the lesion is taken instead."""
    shape = (32, 36, 72)

    def inside(z, y, x):
        hu = np.full(z.shape, FAT, np.float32)
        hu[(y >= C + 1.0) & (y <= C + 5.0) & (np.abs(z - C) <= 3.0) & (x >= 4.0) & (x <= 32.0)] = 105.0
        r = np.where((x > 14.0) & (x < 18.0), 0.3, 1.2)
        hu[(np.hypot(z - C, y - C) <= r) & (x >= 1.0) & (x <= 34.0)] = BLOOD
        return hu

    arr, vol, (zz, yy, xx), axial = _noisy_scene(shape, inside)
    mask = (arr > 0.5 * BLOOD) & (axial <= 2.0) & (xx < 14.0)
    far = (axial <= 0.8) & (xx > 19.0) & (xx < 33.0)
    none = np.zeros_like(mask)
    added = bridge_lesions(vol, mask, none, [], BLOOD, none)
    assert (mask & far).sum() >= 0.9 * far.sum()
    z, y, x = np.nonzero(added)
    gap = ((x + 0.5) * SP > 14.0) & ((x + 0.5) * SP < 18.0)
    assert gap.any() and np.hypot((z[gap] + 0.5) * SP - C, (y[gap] + 0.5) * SP - C).max() <= 1.0
