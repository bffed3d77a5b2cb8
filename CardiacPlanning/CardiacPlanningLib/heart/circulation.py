"""Give back to the pulmonary artery the parts of left-heart labels that carry right-heart blood.

The contrast bolus reaches the right heart first and is diluted in the lungs, so in most phases the
right heart (RV, pulmonary artery) and the left heart (LV, LA, aorta, pulmonary veins) differ in HU.
Where the pulmonary artery branches run over the LA roof and behind the ascending aorta, partial
volume joins them to those structures, and a watershed piece may straddle both. When the two
ventricles' interior enhancement differs clearly, interior voxels of a left-heart label that are
enhanced like the right heart, in a component touching the pulmonary artery, are relabelled
pulmonary artery together with the border voxels nearest to them.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from .. import labels as lbl

logger = logging.getLogger(__name__)

GAP_FRACTION = 0.2  # ventricles' interior HU differ by at least this fraction of their mean
DEPTH_MM = 3.0  # interior: this far from the blood-pool border (no partial volume from walls)
MIN_ML = 0.5
LEFT_FAMILY = (lbl.LA, lbl.AORTA, lbl.value_of("pulmonary_veins"), lbl.value_of("la_appendage"))


def _circulation_levels(seg: np.ndarray, image: np.ndarray, deep: np.ndarray):
    """The image smoothed by 0.7 voxel and the interior HU (median over ``deep`` voxels) of the left
    heart (LV blood) and the right heart (RV): ``(smooth, left, right)``, or None when either
    chamber has no interior voxel."""
    lv, rv = deep & (seg == lbl.LV_BLOOD_POOL), deep & (seg == lbl.RV)
    if not lv.any() or not rv.any():
        return None
    smooth = ndi.gaussian_filter(image.astype(np.float32), 0.7)
    return smooth, float(np.median(smooth[lv])), float(np.median(smooth[rv]))


def reclaim_pulmonary_artery(seg: np.ndarray, image: np.ndarray, spacing_mm: float) -> int:
    """Relabel right-heart-enhanced parts of left-heart labels touching the pulmonary artery (in
    place); returns the number of voxels moved. ``image`` in HU, isotropic ``spacing_mm``."""
    return _reclaim(seg, image, spacing_mm, LEFT_FAMILY, lbl.PULMONARY_ARTERY, True)


def reclaim_aorta(seg: np.ndarray, image: np.ndarray, spacing_mm: float) -> int:
    """The mirror of :func:`reclaim_pulmonary_artery`: left-heart-enhanced parts of the pulmonary
    artery touching the aorta (a watershed piece straddling the trunk and the ascending aorta where
    they run side by side) become aorta (in place); returns the number of voxels moved."""
    return _reclaim(seg, image, spacing_mm, (lbl.PULMONARY_ARTERY,), lbl.AORTA, False)


def _reclaim(
    seg: np.ndarray,
    image: np.ndarray,
    spacing_mm: float,
    family_labels: tuple[int, ...],
    target: int,
    to_right: bool,
) -> int:
    """Move interior voxels of ``family_labels`` enhanced like the other circulation, in components
    touching ``target``, to ``target`` with their nearest border voxels."""
    pa = seg == target  # named for the first use: the pulmonary artery
    lv, rv = seg == lbl.LV_BLOOD_POOL, seg == lbl.RV
    if not (pa.any() and lv.any() and rv.any()):
        return 0
    blood = seg > 0
    depth = ndi.distance_transform_edt(
        np.isin(seg, (*LEFT_FAMILY, lbl.PULMONARY_ARTERY, lbl.LV_BLOOD_POOL, lbl.RV))
    )
    deep = depth * spacing_mm >= DEPTH_MM
    levels = _circulation_levels(seg, image, deep)
    if levels is None:
        return 0
    smooth, left, right = levels
    if abs(left - right) < GAP_FRACTION * 0.5 * abs(left + right):
        return 0
    closer_right = np.abs(smooth - right) < np.abs(smooth - left)
    if not to_right:
        closer_right = ~closer_right
    family = np.isin(seg, family_labels)
    candidate = family & deep & closer_right
    comp, n = ndi.label(candidate)
    if n == 0:
        return 0
    touching = np.unique(comp[ndi.binary_dilation(pa, iterations=2) & (comp > 0)])
    sizes = np.bincount(comp.ravel()) * spacing_mm**3 / 1000.0
    keep = [c for c in touching if sizes[c] >= MIN_ML]
    if not keep:
        return 0
    core = np.isin(comp, keep)
    # border voxels of the family follow their nearest interior voxel
    interior = deep & (family | pa)
    _, nearest = ndi.distance_transform_edt(~interior, return_indices=True)
    moved = family & (core | (~deep & core[tuple(nearest)])) & blood
    seg[moved] = target
    logger.info(
        "left/right heart %.0f / %.0f HU: %.1f ml of the other circulation's blood moved to label %d",
        left,
        right,
        moved.sum() * spacing_mm**3 / 1000.0,
        target,
    )
    return int(moved.sum())


def _pool_levels(seg: np.ndarray, image: np.ndarray, spacing_mm: float):
    """For the rules on the pulmonary artery: ``(pa mask, smooth, left, right)`` with the levels of
    :func:`_circulation_levels` over the voxels at least DEPTH_MM inside the labelled blood, or None
    unless the pulmonary artery, LV and RV are all labelled."""
    pa = seg == lbl.PULMONARY_ARTERY
    if not (pa.any() and (seg == lbl.LV_BLOOD_POOL).any() and (seg == lbl.RV).any()):
        return None
    levels = _circulation_levels(seg, image, ndi.distance_transform_edt(seg > 0) * spacing_mm >= DEPTH_MM)
    return None if levels is None else (pa, *levels)


def adopt_pulmonary_branches(seg: np.ndarray, pool: np.ndarray, image: np.ndarray, spacing_mm: float) -> int:
    """Name pulmonary artery the unnamed blood-pool components touching it that are enhanced like
    the right heart (in place); returns the number of voxels named.

    A pulmonary branch whose only watershed neighbour was a piece straddling the trunk and the aorta
    is left unnamed by the naming step (it cannot join an aorta piece of the other circulation);
    once the straddling piece is split, the branch touches the pulmonary artery. Only when the two
    circulations differ in enhancement (the check of :func:`reclaim_pulmonary_artery`)."""
    levels = _pool_levels(seg, image, spacing_mm)
    if levels is None:
        return 0
    pa, smooth, left, right = levels
    if abs(left - right) < GAP_FRACTION * 0.5 * abs(left + right):
        return 0
    comp, n = ndi.label(pool & (seg == 0))
    if n == 0:
        return 0
    touching = np.unique(comp[ndi.binary_dilation(pa) & (comp > 0)])
    named = 0
    for c in touching:
        piece = comp == c
        level = float(np.median(smooth[piece]))
        if piece.sum() * spacing_mm**3 / 1000.0 >= MIN_ML and abs(level - right) < abs(level - left):
            seg[piece] = lbl.PULMONARY_ARTERY
            named += int(piece.sum())
    if named:
        logger.info(
            "%.1f ml of unnamed right-heart blood next to the pulmonary artery named so",
            named * spacing_mm**3 / 1000.0,
        )
    return named


VEIN_MIN_ML = 0.2


def release_pulmonary_veins(seg: np.ndarray, image: np.ndarray, spacing_mm: float) -> int:
    """Name pulmonary vein the left-heart-enhanced blood inside the pulmonary artery next to the LA
    or a vein (in place); returns the number of voxels moved.

    Where a pulmonary vein runs under a pulmonary artery branch, partial volume across the thin walls
    fuses the two lumens and the vein (often too thin for a core of its own, see
    :func:`reclaim_pulmonary_artery`) is named with the branch. When the left heart is clearly
    brighter than the right (the check of :func:`reclaim_pulmonary_artery`), no pulmonary-arterial
    voxel can be closer to the left heart's HU: partial volume with the wall only darkens the
    artery's border. Components (>= ``VEIN_MIN_ML``) of such voxels inside the pulmonary artery that
    touch the LA or a pulmonary vein are pulmonary vein; the others (e.g. the undiluted SVC inflow
    next to the right pulmonary artery) are left alone."""
    levels = _pool_levels(seg, image, spacing_mm)
    if levels is None:
        return 0
    pa, smooth, left, right = levels
    if left - right < GAP_FRACTION * 0.5 * abs(left + right):
        return 0  # the left heart not clearly brighter: darker voxels may be the artery's border
    # hysteresis (Canny 1986): cores closer to the left heart, grown through voxels brighter than
    # the artery by a quarter of the gap (the vein's own partial-volume border)
    strong = pa & (smooth > 0.5 * (left + right))
    weak = pa & (smooth > right + 0.25 * (left - right))
    lab, _ = ndi.label(weak)
    hit = np.unique(lab[strong])
    comp, n = ndi.label(np.isin(lab, hit[hit > 0]) & weak)
    veins = (lbl.LA, lbl.value_of("pulmonary_veins"))
    vein = np.zeros(seg.shape, bool)
    for c in range(1, n + 1):
        piece = comp == c
        if piece.sum() * spacing_mm**3 / 1000.0 < VEIN_MIN_ML:
            continue
        ring = seg[ndi.binary_dilation(piece) & ~piece]
        if np.isin(ring, veins).any():
            vein |= piece
    if not vein.any():
        return 0
    # the partial-volume border (against the walls) follows its nearest core: the vein's, or the
    # artery's own blood (within a quarter of the gap of the right heart's HU, off the border)
    inner = ndi.binary_erosion(seg > 0)
    core = vein | (pa & inner & (np.abs(smooth - right) <= 0.25 * (left - right)))
    _, nearest = ndi.distance_transform_edt(~core, return_indices=True)
    vein |= pa & ~core & vein[tuple(nearest)]
    seg[vein] = lbl.value_of("pulmonary_veins")
    moved = int(vein.sum())
    if moved:
        logger.info(
            "left/right heart %.0f / %.0f HU: %.1f ml of left-heart blood in the pulmonary artery "
            "named pulmonary vein",
            left,
            right,
            moved * spacing_mm**3 / 1000.0,
        )
    return moved


INFLOW_FRACTION = 0.2  # caval inflow is brighter than the mixed RA blood by at least this fraction
MIN_INFLOW_ML = 1.0
ROOF_FRACTION = 0.8  # the SVC opens at the RA roof: this many equivalent radii above its centre


def split_caval_inflow(seg: np.ndarray, image: np.ndarray, spacing_mm: float, to_lps) -> int:
    """Relabel as SVC the superior part of the RA filled with undiluted contrast (in place); returns
    the number of voxels moved.

    With the contrast injected into an arm vein, the SVC carries undiluted contrast while the RA
    mixes it with unopacified blood from the IVC and the coronary sinus, so the SVC and its opening
    are clearly brighter than the atrium. Interior voxels of the RA brighter than its median by
    ``INFLOW_FRACTION``, in a component of >= ``MIN_INFLOW_ML`` centred at the RA roof (higher than
    ``ROOF_FRACTION`` equivalent-sphere radii above its centre), are the SVC (with the rim voxels next
    to them); bright mixing jets inside the atrium are left alone. ``to_lps`` maps (N, 3)
    (x, y, z) indices to LPS mm."""
    ra = seg == lbl.RA
    if ra.sum() * spacing_mm**3 / 1000.0 < 10 * MIN_INFLOW_ML:
        return 0
    smooth = ndi.gaussian_filter(image.astype(np.float32), 0.7)
    deep = ndi.distance_transform_edt(seg > 0) * spacing_mm >= DEPTH_MM
    if not (ra & deep).any():
        return 0
    level = float(np.median(smooth[ra & deep]))
    hot = ra & deep & (smooth > level * (1.0 + INFLOW_FRACTION))
    comp, n = ndi.label(hot)
    if n == 0:
        return 0
    centre_z = to_lps(np.argwhere(ra)[:, ::-1].mean(0, keepdims=True))[0][2]
    sizes = np.bincount(comp.ravel())
    r_eq = (3.0 * ra.sum() * spacing_mm**3 / (4.0 * np.pi)) ** (1.0 / 3.0)
    keep = []
    for c in range(1, n + 1):
        if sizes[c] * spacing_mm**3 / 1000.0 < MIN_INFLOW_ML:
            continue
        z = to_lps(np.argwhere(comp == c)[:, ::-1].mean(0, keepdims=True))[0][2]
        if z - centre_z > ROOF_FRACTION * r_eq:
            keep.append(c)
    if not keep:
        return 0
    core = np.isin(comp, keep)
    _, nearest = ndi.distance_transform_edt(~(ra & deep), return_indices=True)
    moved = ra & (core | (~deep & core[tuple(nearest)]))
    seg[moved] = lbl.value_of("superior_vena_cava")
    logger.info(
        "RA %.0f HU: %.1f ml of brighter caval inflow moved to the SVC",
        level,
        moved.sum() * spacing_mm**3 / 1000.0,
    )
    return int(moved.sum())
