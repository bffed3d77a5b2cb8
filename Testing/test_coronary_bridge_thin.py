"""A thin vessel beyond a tight lesion is joined whole (seed 113's lost distal LCX): its blurred
lumen peaks not far above 70 % of the blood HU, so its contrast-dense core alone (the voxels >= 70 %)
is a fraction of its lumen and fell below the piece's minimum volume; the piece is now its dense
core with the core's own blurred rim. A dim tube whose lumen never reaches the dense level (a
partially enhanced vein) is still not joined."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.bridge import bridge_lesions
from CardiacPlanningLib.coronary.paths import _vessel_piece
from CardiacPlanningLib.imaging.volume import Volume

BLOOD, FAT, MYO = 460.0, -100.0, 105.0
SP = 0.5
C = 8.0  # the artery's axis: z = y = 8 mm (voxel centres at (index + 0.5) * SP)
SHAPE = (32, 36, 72)


def _scene(far_radius: float, far_hu: float, seed: int, taper: float = 0.0):
    """A 1.3 mm-radius artery along x on myocardium, a 75 % lesion over x = 12-15 mm, the vessel
    beyond it (x = 15-35 mm) of ``far_radius`` narrowing by ``taper`` (mm) to its end at
    ``far_hu``; 1 mm FWHM blur, 30 HU noise. Returns (volume, tree mask up to the lesion, the far
    vessel's axial core)."""
    ss = 2
    axes = [(np.arange(n * ss) + 0.5) / ss * SP for n in SHAPE]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    hu = np.full(z.shape, FAT, np.float32)
    hu[(y >= C + 1.6) & (y <= C + 6.0) & (np.abs(z - C) <= 4.0)] = MYO
    d = np.hypot(z - C, y - C)
    r_near = np.where(x < 12.0, 1.3, 0.32)
    hu[(d <= r_near) & (x >= 1.0) & (x <= 15.0)] = BLOOD
    hu[(d <= far_radius - taper * (x - 15.0) / 20.0) & (x > 15.0) & (x <= 35.0)] = far_hu
    hu = hu.reshape(SHAPE[0], ss, SHAPE[1], ss, SHAPE[2], ss).mean(axis=(1, 3, 5))
    arr = ndi.gaussian_filter(hu, 1.0 / 2.3548 / SP, mode="nearest")
    arr += np.random.default_rng(seed).normal(0.0, 30.0, SHAPE).astype(np.float32)
    vol = Volume(arr.astype(np.float32), (SP, SP, SP), (0.0, 0.0, 0.0), np.eye(3))
    zz, yy, xx = np.meshgrid(*[(np.arange(n) + 0.5) * SP for n in SHAPE], indexing="ij")
    axial = np.hypot(zz - C, yy - C)
    tree = (arr > 0.5 * BLOOD) & (axial <= 2.0) & (xx < 12.0)
    far = (axial <= 0.5) & (xx > 16.0) & (xx < 26.0)  # its first 10 mm
    return vol, tree, far


@pytest.mark.parametrize("seed", [1, 2])
def test_thin_vessel_beyond_a_tight_lesion_is_joined(seed):
    """A vessel of 2.2 mm narrowing to 1.6 mm beyond the lesion (about 33 mm^3 of lumen above half
    the blood HU, 40 % of it >= 70 %): its dense core is under 15 mm^3 (the old rule rejected the
    piece, seeds 1-6), with its rim over."""
    vol, tree, far = _scene(1.1, BLOOD, seed, taper=0.3)
    none = np.zeros_like(tree)
    mask = tree.copy()
    bridge_lesions(vol, mask, none, [], BLOOD, none)
    assert (mask & far).sum() >= 0.9 * far.sum()


def test_piece_is_the_dense_core_with_its_rim():
    """The piece returned: the dense core and the component's voxels touching it, not the dim
    component voxels farther out."""
    arr = np.zeros((9, 9, 9), np.float32)
    arr[:, 4, 4] = 400.0  # a dense line
    arr[:, 3:6, 3:6] = np.where(arr[:, 3:6, 3:6] > 0, 400.0, 260.0)  # its rim (one voxel)
    arr[:, 4, 6:9] = 260.0  # a dim shell running off, two voxels beyond the rim
    component = arr > 230.0
    piece = _vessel_piece(component, arr, (4, 4, 4), 460.0)
    assert piece[:, 3:6, 3:6].all()
    assert not piece[:, 4, 6:].any()
    assert piece.sum() == 9 * 9


@pytest.mark.parametrize("seed", [1, 2])
def test_dim_tube_in_line_is_not_joined(seed):
    """A 2.4 mm tube in line beyond the lesion whose lumen reads 55 % of the blood HU (a partially
    enhanced vein; no voxel core at the dense level) is not joined."""
    vol, tree, far = _scene(1.2, 0.55 * BLOOD, seed)
    none = np.zeros_like(tree)
    mask = tree.copy()
    added = bridge_lesions(vol, mask, none, [], BLOOD, none)
    assert not (added & far).any()


def test_strip_of_a_masked_chamber_in_line_is_not_joined():
    """Seeds 107 / 116: the right tree was joined to a strip of the left atrium's lumen left outside
    the atrium's mask (16-20 mm^3, two thirds of its surface against the mask). Here a blood-filled
    chamber lies in line beyond the lesion, masked except a 2 x 2 mm strip along its edge on the
    artery's line: the strip lines up, is dense and in line with the stump, but is not joined."""
    ss = 2
    axes = [(np.arange(n * ss) + 0.5) / ss * SP for n in SHAPE]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    hu = np.full(z.shape, FAT, np.float32)
    d = np.hypot(z - C, y - C)
    hu[(d <= np.where(x < 12.0, 1.3, 0.32)) & (x >= 1.0) & (x <= 15.0)] = BLOOD
    hu[(z >= C - 1.0) & (y >= C - 1.0) & (z <= C + 8.0) & (y <= C + 9.0) & (x > 16.0) & (x <= 33.0)] = BLOOD
    hu = hu.reshape(SHAPE[0], ss, SHAPE[1], ss, SHAPE[2], ss).mean(axis=(1, 3, 5))
    arr = ndi.gaussian_filter(hu, 1.0 / 2.3548 / SP, mode="nearest")
    arr += np.random.default_rng(3).normal(0.0, 30.0, SHAPE).astype(np.float32)
    vol = Volume(arr.astype(np.float32), (SP, SP, SP), (0.0, 0.0, 0.0), np.eye(3))
    zz, yy, xx = np.meshgrid(*[(np.arange(n) + 0.5) * SP for n in SHAPE], indexing="ij")
    tree = (arr > 0.5 * BLOOD) & (np.hypot(zz - C, yy - C) <= 2.0) & (xx < 12.0)
    chamber = (
        (zz >= C - 2.0) & (yy >= C - 2.0) & (zz <= C + 9.0) & (yy <= C + 10.0) & (xx > 15.0) & (xx <= 34.0)
    )
    strip = (zz <= C + 1.0) & (yy <= C + 1.0) & (xx > 16.5) & (xx < 32.5)
    chamber &= ~strip
    none = np.zeros_like(tree)
    mask = tree.copy()
    added = bridge_lesions(vol, mask, none, [], BLOOD, chamber)
    assert not (added & strip).any()


def test_scattered_dense_voxels_in_a_dim_strip_are_no_vessel_piece():
    """A partial-volume strip (a remnant of a chamber's lumen, ~55 % of the blood HU) in which only
    scattered noise voxels reach the dense level: grown by their one-voxel rims they link up into a
    piece, but with no continuous dense core it is no vessel (seed 119: a right-atrium strip joined
    to the RCA as a branch, its largest connected dense set 31 % of its dense voxels). The same strip
    with a continuous dense line along it (a thin vessel's core) is kept."""
    rng = np.random.default_rng(7)
    shape = (12, 12, 40)
    comp = np.zeros(shape, bool)
    comp[3:9, 3:9, 2:38] = True
    arr = np.full(shape, 0.55 * BLOOD, np.float32)
    specks = comp & (rng.random(shape) < 0.06)
    arr[specks] = 0.75 * BLOOD
    entry = tuple(np.argwhere(specks)[0])
    grown = ndi.binary_dilation(specks, np.ones((3, 3, 3), bool)) & comp
    assert ndi.label(grown, np.ones((3, 3, 3)))[1] <= 3  # the rims do link the specks up
    assert _vessel_piece(comp, arr, entry, BLOOD) is None
    arr[5:7, 5:7, 2:38] = 0.8 * BLOOD
    piece = _vessel_piece(comp, arr, (5, 5, 10), BLOOD)
    assert piece is not None and piece[5:7, 5:7, 2:38].all()
