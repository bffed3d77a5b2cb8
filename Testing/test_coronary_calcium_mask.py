"""Calcified plaque and its blooming halo stay out of the coronary lumen label."""

import numpy as np
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.boundary import half_maximum_layer
from CardiacPlanningLib.coronary.calcium_mask import calcium_halo, drop_calcium

BLOOD = 450.0
SP = (0.5, 0.5, 0.5)


def _vessel(plaque: bool, radius_vox: float = 4.0, plaque_hu: float = 1200.0):
    """A straight vessel along z (blood HU, radius ``radius_vox``) in fat, with a calcified nodule
    in its wall, blurred by a 0.4 mm Gaussian PSF. Returns (image, lumen truth, plaque truth)."""
    shape = (40, 32, 32)
    z, y, x = np.indices(shape)
    lumen = (y - 16) ** 2 + (x - 16) ** 2 <= radius_vox**2
    calc = np.zeros(shape, bool)
    if plaque:
        calc = (z - 20) ** 2 + (y - 16) ** 2 + (x - 16 - radius_vox - 1) ** 2 <= 2.0**2
    img = np.where(lumen, BLOOD, -100.0)
    img[calc] = plaque_hu
    lumen &= ~calc
    return ndi.gaussian_filter(img, 0.8).astype(np.float32), lumen, calc


def test_halo_covers_plaque_not_healthy_bright_lumen():
    img, lumen, calc = _vessel(True)
    halo = calcium_halo(img, BLOOD, SP)
    assert halo[calc].mean() > 0.9
    # a healthy vessel 100 HU brighter than the blood estimate (noise-free) has no halo
    bright = calcium_halo(_vessel(False)[0] + 100.0, BLOOD, SP)
    assert not bright.any()


def test_drop_calcium_removes_plaque_voxels_but_keeps_the_tree_connected():
    img, lumen, calc = _vessel(True)
    grown = (img > 0.5 * BLOOD) & ~(img > BLOOD + 250.0)  # the growth rule of segment.py
    assert (grown & calc).sum() > 10  # the old label took blurred plaque voxels as lumen
    seed = (0, 16, 16)
    out = drop_calcium(grown, seed, calcium_halo(img, BLOOD, SP))
    assert (out & calc).sum() < 0.2 * (grown & calc).sum()
    assert out[0].sum() == grown[0].sum() and out[-1].sum() == grown[-1].sum()  # lumen far away kept
    # a halo that fills the whole section would split the tree: that piece stays
    cut = np.zeros_like(grown)
    cut[18:22] = True
    kept = drop_calcium(grown, seed, cut)
    assert kept[-1].any() and kept.sum() == grown.sum()


def test_half_maximum_layer_adds_no_plaque_voxel():
    img, lumen, calc = _vessel(True)
    core = ndi.binary_erosion(lumen, iterations=2)
    layer = half_maximum_layer(img, core, np.ones_like(core), BLOOD, SP)
    assert layer.any()
    halo = calcium_halo(img, BLOOD, SP)
    assert not (layer & halo).any()

