"""LV myocardium grown from the LV blood pool through the image's myocardium band.

On contrast CT the LV wall is the intermediate-HU band (about 50-200 HU) between the opacified blood
pool and the epicardial fat (about -100 HU) or the lung. The wall is grown outward from the LV blood
surface through voxels of that band, connected to the blood, up to a plausible maximum thickness
(normal compact wall 6-12 mm at end diastole, hypertrophy up to ~15 mm). Its outer border is the
half-way level between myocardium and fat (the half-maximum edge).

Where the wall meets other soft tissue instead of fat (the diaphragm and the enhancing liver under
the inferior wall and apex, the chest wall) the band does not end: along those directions the
tissue continues past the maximum thickness. The wall there is cut at the thickness the same heart
shows where it is bounded by fat (a robust upper percentile), the thickness prior of this heart.
Directions are the LV surface points nearest each voxel (the feature transform of the blood pool).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from .. import labels as lbl

logger = logging.getLogger(__name__)

FAT_REFERENCE_HU = -100.0  # epicardial fat on CT
OUTER_LEVEL_RANGE_HU = (-40.0, 20.0)  # clamp of the myocardium/fat half-way level
MAX_WALL_MM = 15.0
BEYOND_MM = 6.0  # band reaching this far past MAX_WALL_MM: not bounded by fat
TYPICAL_PERCENTILE = 75.0  # upper quartile of the fat-bounded thickness
MIN_TYPICAL_MM = 6.0
OTHER_WALL_MM = 3.0  # atrial / aortic wall thickness


def outer_level(myocardium_hu: float | None) -> float:
    """Myocardium / epicardial fat boundary level (HU), half-way between the two tissues."""
    if myocardium_hu is None:
        return -30.0
    lo, hi = OUTER_LEVEL_RANGE_HU
    return float(np.clip(0.5 * (myocardium_hu + FAT_REFERENCE_HU), lo, hi))


def lv_myocardium(
    seg: np.ndarray,
    smooth: np.ndarray,
    upper_hu: float,
    spacing_mm: float,
    myocardium_hu: float | None = None,
) -> np.ndarray:
    """Mask of the LV myocardium: band voxels (``outer_level`` .. ``upper_hu`` HU in the smoothed
    image ``smooth``) of background in ``seg``, connected to the LV blood pool, nearer it than any
    cavity other than the RV (the septum is LV wall), within the thickness bounds above."""
    lv = seg == lbl.LV_BLOOD_POOL
    if not lv.any():
        return np.zeros(seg.shape, bool)
    band = (smooth > outer_level(myocardium_hu)) & (smooth < upper_hu) & (seg == 0)
    d_lv, idx = ndi.distance_transform_edt(~lv, return_indices=True)
    d_lv *= spacing_mm
    others = (seg > 0) & ~np.isin(seg, (lbl.LV_BLOOD_POOL, lbl.RV))
    d_other = ndi.distance_transform_edt(~others) * spacing_mm if others.any() else np.inf
    # atrial and arterial walls are thin: band tissue further than that from every other cavity is
    # ventricular muscle even where that cavity is nearer than the LV (the basal septum and the
    # muscle under the aortic root)
    ours = (d_lv <= d_other) | (d_other > OTHER_WALL_MM)
    reach = band & (d_lv <= MAX_WALL_MM + BEYOND_MM) & ours
    lab, _ = ndi.label(reach | lv)
    hit = np.unique(lab[lv])
    reach &= np.isin(lab, hit[hit > 0])
    # per LV surface point: how far the connected band runs outward along its direction
    anchor = np.ravel_multi_index(tuple(i[reach] for i in idx), seg.shape)
    extent = np.zeros(seg.size, np.float32)
    np.maximum.at(extent, anchor, d_lv[reach].astype(np.float32))
    used = extent > 0
    open_ = extent > MAX_WALL_MM + 0.5 * BEYOND_MM
    # band cut off by the edge of the scan is not bounded by fat either (an apex resting on the
    # diaphragm at the lowest slices): those directions get the typical thickness too
    border = np.zeros(seg.shape, bool)
    for axis in range(3):
        border[(slice(None),) * axis + (0,)] = True
        border[(slice(None),) * axis + (-1,)] = True
    at_edge = reach & border
    if at_edge.any():
        open_[np.ravel_multi_index(tuple(i[at_edge] for i in idx), seg.shape)] = True
    closed = used & ~open_
    if closed.sum() >= 20:
        typical = float(np.percentile(extent[closed], TYPICAL_PERCENTILE))
    else:
        typical = MAX_WALL_MM
    typical = float(np.clip(typical, MIN_TYPICAL_MM, MAX_WALL_MM))
    limit = np.where(open_, typical, MAX_WALL_MM).astype(np.float32)
    wall = np.zeros(seg.shape, bool)
    wall[reach] = d_lv[reach] <= limit[anchor]
    logger.info(
        "LV wall: %.0f%% of its surface bounded by fat, typical thickness %.1f mm",
        100.0 * closed.sum() / max(used.sum(), 1),
        typical,
    )
    return wall
