"""The aortic valve plane: where the LV outflow tract ends and the aortic root begins.

The watershed of the blood pool cuts the LV outflow at its narrowest neck, which lies in the LV
outflow tract (a tube of about the annulus' calibre) below the valve. Above the annulus the root
bulges into the three sinuses of Valsalva (about 1.3-1.5 times the annulus diameter), so walking up
the root from the LV, the cross-section stays at the annulus' area through the outflow tract and
the annulus and grows into the sinuses. The valve plane is put at the foot of that growth (the last
level below half-way to the sinuses' largest area where the area has not yet started to rise); the
lumen below it becomes LV. Where the lumen widens right above the watershed cut, the cut already
lies at the valve (the sinuses' bowl) and nothing moves, unless that widening stops in a tube well
narrower than the sinuses: the watershed cut is a curved, oblique surface, so the first slabs above
it hold only part of the outflow tract's section; the tract's own area is then read where it runs
level (the narrowest stable section below the bulge).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.graph import MCP_Geometric

from .. import labels as lbl

logger = logging.getLogger(__name__)

ROOT_MM = 35.0  # the root's axis is fitted to the aorta within this geodesic distance of the LV
OUTFLOW_MM = (1.5, 4.5)  # the outflow tract's area is read this far above the watershed cut
SINUS_MM = (4.5, 30.0)  # the sinuses' largest area is looked for in this range
TUBE_MM = (4.5, 9.0)  # an outflow tract below the valve keeps its area over this range ...
TUBE_GROWTH = 1.2  # ... within this factor
MIN_BULGE = 1.3  # sinus area / outflow area for a clear root (no move otherwise)
MAX_SHIFT_MM = 15.0


def move_aortic_valve(seg: np.ndarray, spacing_mm: float) -> int:
    """Relabel as LV the outflow-tract part of the aorta label below the sinuses (in place); returns
    the number of voxels moved. ``seg`` on an isotropic ``spacing_mm`` grid."""
    ao, lv = seg == lbl.AORTA, seg == lbl.LV_BLOOD_POOL
    if not (ao.any() and lv.any()):
        return 0
    start = ao & ndi.binary_dilation(lv)
    if start.sum() < 5:
        return 0
    box = tuple(slice(max(int(a.min()) - 1, 0), int(a.max()) + 2) for a in np.nonzero(ao))
    sub = ao[box]
    dist, _ = MCP_Geometric(np.where(sub, 1.0, np.inf)).find_costs(np.argwhere(start[box]))
    geo = np.where(sub, dist * spacing_mm, np.inf)
    root = np.argwhere(geo <= ROOT_MM) * spacing_mm
    if len(root) < 50:
        return 0
    base = np.argwhere(start[box]).mean(0) * spacing_mm
    centre = root.mean(0)
    axis = np.linalg.svd(root - centre, full_matrices=False)[2][0]
    if np.dot(axis, centre - base) < 0:
        axis = -axis
    # cross-sectional area (mm^2) of the root lumen in 1-voxel slabs along the axis
    along = (root - base) @ axis
    bins = np.floor(along / spacing_mm).astype(int)
    ok = bins >= 0
    area = np.bincount(bins[ok]) * spacing_mm**2
    level = (np.arange(area.size) + 0.5) * spacing_mm

    def in_range(lo_hi: tuple[float, float]) -> np.ndarray:
        return (level >= lo_hi[0]) & (level <= lo_hi[1])

    if in_range(OUTFLOW_MM).sum() < 1 or in_range(SINUS_MM).sum() < 3:
        return 0
    outflow = float(np.median(area[in_range(OUTFLOW_MM)]))
    sinus = float(area[in_range(SINUS_MM)].max())
    tube = area[in_range(TUBE_MM)]
    if tube.size and float(np.median(tube)) > TUBE_GROWTH * outflow:
        # the lumen widens right above the cut: the cut already lies at the valve (the sinuses'
        # bowl), unless it widens only through the cut's partial slabs into a level tube that is
        # still well narrower than the sinuses (the outflow tract above an oblique cut)
        level_tube = tube.max() <= TUBE_GROWTH * tube.min() and tube.max() * MIN_BULGE <= sinus
        if not level_tube:
            return 0
        outflow = float(np.median(tube))
    if sinus < MIN_BULGE * outflow:
        return 0
    half = 0.5 * (outflow + sinus)
    above = np.where((level > OUTFLOW_MM[1]) & (area >= half))[0]
    if above.size == 0:
        return 0
    # the annulus lies at the foot of the bulge: the last slab below it where the area has not yet
    # started to rise
    rise = outflow + 0.15 * (sinus - outflow)
    foot = np.where((level < level[above[0]]) & (area < rise))[0]
    valve_mm = float(level[foot[-1]] + 0.5 * spacing_mm) if foot.size else float(level[above[0]])
    valve_mm = min(valve_mm, MAX_SHIFT_MM)
    pts = np.argwhere(sub) * spacing_mm
    below = ((pts - base) @ axis < valve_mm) & (geo[sub] <= ROOT_MM)
    moved = np.zeros(sub.shape, bool)
    moved[tuple(np.argwhere(sub)[below].T)] = True
    # only lumen connected to the LV through the moved part
    comp, _ = ndi.label(moved)
    touching = np.unique(comp[moved & start[box]])
    moved &= np.isin(comp, touching[touching > 0])
    seg[box][moved] = lbl.LV_BLOOD_POOL
    logger.info(
        "aortic valve plane %.1f mm above the watershed cut (outflow %.0f mm2, sinuses %.0f mm2)",
        valve_mm,
        outflow,
        sinus,
    )
    return int(moved.sum())
