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
from .myocardium import MAX_WALL_MM, lv_myocardium

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
        # fill small fat/blood-free gaps inside the wall (trabeculae, papillary roots)
        closed = ndi.binary_closing(shell | lv, iterations=2) & (seg == 0)
        shell |= closed & (d_lv <= MAX_WALL_MM) & (smooth > FAT_HU - 40)
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


LA_BODY_RADIUS_MM = 9.0


def split_left_atrium(seg: np.ndarray, spacing_mm: float, to_lps) -> np.ndarray:
    """Separate the pulmonary veins and the appendage from the LA body (in place).

    The LA body is the LA opened by a ball of ``LA_BODY_RADIUS_MM`` (veins and the appendage are
    narrower); each removed piece touching the body is the appendage when it lies anterior-left of
    the body's centre (LPS: +x left, -y anterior), a pulmonary vein otherwise; pieces touching the
    LV (the mitral funnel) stay LA. ``to_lps`` maps
    (N, 3) (x, y, z) indices to LPS mm."""
    la = seg == lbl.LA
    if not la.any():
        return seg
    r = max(1, int(round(LA_BODY_RADIUS_MM / spacing_mm)))
    zz, yy, xx = np.ogrid[-r : r + 1, -r : r + 1, -r : r + 1]
    ball = zz**2 + yy**2 + xx**2 <= r * r
    body = ndi.binary_opening(la, ball)
    if not body.any():
        return seg
    lab, _ = ndi.label(body)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    body = lab == int(np.argmax(sizes))
    centre = to_lps(np.argwhere(body)[:, ::-1].mean(0, keepdims=True))[0]
    rest, n = ndi.label(la & ~body)
    pv, laa = lbl.value_of("pulmonary_veins"), lbl.value_of("la_appendage")
    for i in range(1, n + 1):
        piece = rest == i
        if piece.sum() * spacing_mm**3 < 300.0:  # < 0.3 ml: rim of the body, keep as LA
            continue
        if (seg[ndi.binary_dilation(piece)] == lbl.LV_BLOOD_POOL).any():
            continue  # the mitral funnel: a narrow part of the LA next to the LV, not a vessel
        c = to_lps(np.argwhere(piece)[:, ::-1].mean(0, keepdims=True))[0] - centre
        seg[piece] = laa if (c[0] > 0 and c[1] < 0) else pv
    return seg
