"""Walls around the blood pool: LV myocardium, RV free wall and atrial walls (soft tissue shells).

Myocardium enhances to roughly 80-150 HU, below the opacified blood and above epicardial fat
(< -30 HU). The LV myocardium is grown from the LV blood pool into soft tissue up to a maximum wall
thickness (`myocardium.py`: image-driven, bounded by fat, lung and the cavities); voxels nearer another
chamber's blood than the LV's are left to that chamber's wall.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from .. import labels as lbl
from .myocardium import MAX_WALL_MM, lv_myocardium, outer_level

logger = logging.getLogger(__name__)

FAT_HU = -30.0
RV_WALL_MM = 3.0
ATRIAL_WALL_MM = 2.5


def _distance(mask: np.ndarray, spacing_mm: float) -> np.ndarray:
    return ndi.distance_transform_edt(~mask) * spacing_mm


def refine_left_heart(seg: np.ndarray, image: np.ndarray, myocardium_hu: float) -> float:
    """Move the LV, LA and aorta borders to their own half-way level (in place); returns the LV's.

    The global threshold sits halfway to the brightest blood mode, which may be the right heart's;
    left-heart blood is uniform (mixed in the lungs), so each left structure gets the level halfway
    between its own median HU and the myocardium (the usual half-maximum edge)."""
    smooth = ndi.gaussian_filter(image.astype(np.float32), 0.7)
    lv_level = -np.inf
    for label in (lbl.LV_BLOOD_POOL, lbl.LA, lbl.AORTA):
        mask = seg == label
        if not mask.any():
            continue
        level = 0.5 * (float(np.median(smooth[mask])) + myocardium_hu)
        seg[mask & (smooth < level)] = 0
        if label == lbl.LV_BLOOD_POOL:
            lv_level = level
    return lv_level


def add_walls(
    seg: np.ndarray,
    image: np.ndarray,
    threshold_hu: float,
    spacing_mm: float,
    lv_level: float = -np.inf,
    myocardium_hu: float | None = None,
) -> np.ndarray:
    """Return ``seg`` with LV myocardium, RV myocardium and atrial wall labels added (in place);
    soft tissue lies between fat and ``threshold_hu`` (near the LV: up to ``lv_level``); the LV wall's
    outer border is half-way between ``myocardium_hu`` and fat (``myocardium.py``)."""
    smooth = ndi.gaussian_filter(image.astype(np.float32), 0.7)
    tissue = (smooth > FAT_HU) & (smooth < max(threshold_hu, lv_level)) & (seg == 0)
    lv = seg == lbl.LV_BLOOD_POOL
    if lv.any():
        # the interventricular septum belongs to the LV myocardium (AHA convention): the RV blood
        # does not compete for it, the other chambers and vessels do
        shell = lv_myocardium(seg, smooth, max(threshold_hu, lv_level), spacing_mm, myocardium_hu)
        d_lv = _distance(lv, spacing_mm)
        shell = ndi.binary_opening(shell, iterations=1) | (shell & (d_lv <= 1.6 * spacing_mm))
        # fill small gaps inside the wall (trabeculae, papillary roots): muscle-level tissue only,
        # not the epicardial fat in dents of the outer surface (darker than the half-way level)
        closed = ndi.binary_closing(shell | lv, iterations=2) & (seg == 0)
        shell |= closed & (d_lv <= MAX_WALL_MM) & (smooth > outer_level(myocardium_hu))
        seg[shell] = lbl.LV_MYOCARDIUM
        tissue &= ~shell
    for chamber, wall, thick in (
        (lbl.RV, lbl.value_of("rv_myocardium"), RV_WALL_MM),
        (lbl.RA, lbl.value_of("atrial_wall"), ATRIAL_WALL_MM),
        (lbl.LA, lbl.value_of("atrial_wall"), ATRIAL_WALL_MM),
    ):
        m = seg == chamber
        if not m.any():
            continue
        d = _distance(m, spacing_mm)
        shell = tissue & (d <= thick)
        seg[shell] = wall
        tissue &= ~shell
    return seg
