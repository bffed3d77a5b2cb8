"""Coronary growth at coarse voxels (1.25 mm, the demo's reconstruction) with known answers: a
distal branch thinner than a voxel in epicardial fat is followed to its end (the fixed floor of a
quarter of the blood HU cut it where its axis passes between voxel centres), the myocardium beside
it is not entered, and the wall layer of a thin tube keeps to its partial-volume truth (a peak
read within 2 voxels of a sub-voxel lumen dropped the half-maximum level into the fat)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.boundary import half_maximum_layer
from CardiacPlanningLib.coronary.segment import extend_small_vessels
from CardiacPlanningLib.coronary.thin import LocalContrast
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.metrics import dice

SP = 1.25
BLOOD, FAT, MYO = 450.0, -100.0, 115.0
SHAPE = (24, 24, 48)  # z, y, x


def _occupancy(a: np.ndarray, b: np.ndarray, r0: float, r1: float | None = None, ss: int = 5) -> np.ndarray:
    """Fraction of each voxel (centres at index x SP, [z, y, x]) within the radius (``r0`` at a,
    ``r1`` at b, linear between) of the segment a-b (z, y, x mm), by ss^3 supersampling."""
    r1 = r0 if r1 is None else r1
    axes = [(np.arange(n * ss) + 0.5) / ss * SP - SP / 2 for n in SHAPE]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    p = np.stack([z, y, x], axis=-1)
    d = b - a
    u = np.clip(((p - a) @ d) / (d @ d), 0.0, 1.0)
    dist = np.linalg.norm(p - (a + u[..., None] * d), axis=-1)
    inside = (dist <= r0 + (r1 - r0) * u).astype(np.float32)
    return inside.reshape(SHAPE[0], ss, SHAPE[1], ss, SHAPE[2], ss).mean(axis=(1, 3, 5))


def _branch_case(noise_hu: float = 15.0):
    """An artery tapering from 1.6 mm to 0.45 mm radius over 59 mm along x, its axis drifting 1.5 mm
    across the voxel grid, in fat, with a myocardial wall 1.5 mm below its start; 1 mm FWHM blur,
    noise. Returns (volume, the first 12 mm above half the blood HU, lumen occupancy, myocardium)."""
    lumen = _occupancy(np.array([14.1, 14.4, 0.0]), np.array([14.1, 15.9, 59.0]), 1.6, 0.45)
    z = np.arange(SHAPE[0])[:, None, None] * SP
    myo = np.broadcast_to(z <= 14.1 - 1.6 - 1.5, SHAPE) & (lumen == 0)
    arr = np.where(myo, MYO, FAT).astype(np.float32)
    arr = arr * (1.0 - lumen) + BLOOD * lumen
    arr = ndi.gaussian_filter(arr, 1.0 / 2.3548 / SP, mode="nearest")
    arr += np.random.default_rng(5).normal(0.0, noise_hu, arr.shape).astype(np.float32)
    vol = Volume(arr, (SP, SP, SP), (0.0, 0.0, 0.0), np.eye(3))
    mask = (arr > 0.5 * BLOOD) & (np.arange(SHAPE[2]) * SP < 12.0)[None, None, :]
    return vol, mask, lumen, myo


def test_thin_branch_in_fat_is_followed_to_its_end_and_the_myocardium_is_not_entered():
    """The tapering artery is grown to its 59 mm end (the fixed floor stopped it at 46 mm, where a
    0.5 mm lumen averaged with fat fell below a quarter of the blood HU)."""
    vol, mask, lumen, myo = _branch_case()
    seed = tuple(int(v) for v in np.argwhere(mask)[0])
    sp = np.array([SP, SP, SP])
    extend_small_vessels(vol, mask, seed, BLOOD, np.zeros_like(mask), sp, lumen_hu=0.5 * BLOOD)
    xs = np.nonzero(mask.any(axis=(0, 1)))[0]
    assert xs.max() * SP >= 55.0
    assert not (mask & myo).any()
    assert not (mask & (ndi.distance_transform_edt(lumen == 0) > 1.5)).any()  # nothing off the vessel


def test_local_contrast_takes_a_faint_vessel_in_fat_but_not_the_myocardium_beside_it():
    """In a window of fat (-100 HU) and a thick 115 HU wall, a 60 HU voxel in the fat (a third of
    a thin lumen) passes, a 115 HU voxel inside the wall does not (not brighter than its median)."""
    img = np.full((12, 12, 12), FAT, np.float32)
    img[:, :, 6:] = MYO
    img[6, 6, 3] = 60.0
    lc = LocalContrast(img, BLOOD, 0.25)
    where = np.zeros(img.shape, bool)
    where[6, 6, 3] = where[6, 6, 8] = where[6, 6, 6] = True
    out = lc.test(where)
    assert out[6, 6, 3] and not out[6, 6, 8] and not out[6, 6, 6]


def test_local_contrast_keeps_the_old_floor_where_there_is_no_fat():
    """On a uniform 20 HU background (no fat) the floor is a quarter of the blood HU, as before."""
    img = np.full((9, 9, 9), 20.0, np.float32)
    img[4, 4, 4] = 0.25 * BLOOD + 5.0
    img[4, 4, 5] = 0.25 * BLOOD - 5.0
    lc = LocalContrast(img, BLOOD, 0.25)
    where = np.zeros(img.shape, bool)
    where[4, 4, 4] = where[4, 4, 5] = True
    out = lc.test(where)
    assert out[4, 4, 4] and not out[4, 4, 5] and out.sum() == 1


def test_wall_layer_of_a_sub_voxel_tube_keeps_to_the_partial_volume_truth():
    """A tube tapering from 0.9 to 0.7 mm radius, its axis drifting 3 mm across the 1.25 mm grid in
    fat (1 mm FWHM blur, 10 HU noise): the half-blood threshold plus the wall layer against the
    voxels at least half inside the lumen. With the peak read within 2 voxels the layer took 10
    voxels of fat beside the stretches where the axis runs between voxel centres (Dice 0.864);
    with the peak over 4 voxels 6 (0.909)."""
    occ = _occupancy(np.array([13.0, 13.9, 2.0]), np.array([16.1, 17.6, 57.0]), 0.9, 0.7)
    arr = (FAT + (BLOOD - FAT) * occ).astype(np.float32)
    arr = ndi.gaussian_filter(arr, 1.0 / 2.3548 / SP, mode="nearest")
    arr += np.random.default_rng(3).normal(0.0, 10.0, occ.shape)
    truth = occ >= 0.5
    mask = arr > 0.5 * BLOOD
    grown = mask | half_maximum_layer(arr, mask, np.ones_like(mask), BLOOD, (SP, SP, SP))
    assert int((grown & ~truth).sum()) <= 6
    assert dice(grown, truth) >= 0.9


def test_local_contrast_passes_a_narrowed_stretch_inside_a_wide_lumen():
    """A 180 HU voxel (a tight lesion's residual lumen) inside a wide 450 HU artery in fat: its
    window is mostly lumen, whose median (450) hid it; the tissue's median (the fat) does not."""
    img = np.full((12, 12, 12), FAT, np.float32)
    img[:, 3:8, 3:9] = BLOOD
    img[6, 6, 6] = 180.0
    lc = LocalContrast(img, BLOOD, 0.25)
    where = np.zeros(img.shape, bool)
    where[6, 6, 6] = True
    assert lc.test(where)[6, 6, 6]
