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
it (up to ~10 mm where the cut is a deep bowl) hold only part of the outflow tract's section; the
tract's own area is then read where it runs level (its flattest 3 mm below the bulge).
The area profile shares each voxel among the half-voxel slabs it overlaps (no aliasing on an
oblique axis) and the foot is where the area first rises 5 % of the bulge above that level.
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
PLATEAU_MM = 3.0  # the outflow tract's level is read on its flattest stretch of this length ...
FOOT_RISE = 0.05  # ... and the sinuses' bulge starts where the area rises past this share of it
FLAT_SHARE = 0.1  # a stretch rising by less than this share of the sinuses' bulge runs level
SMOOTH_SLABS = 5  # the area profile (half-voxel slabs) is averaged over this many slabs


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
    area, level = _area_profile((root - base) @ axis, spacing_mm)

    def in_range(lo_hi: tuple[float, float]) -> np.ndarray:
        return (level >= lo_hi[0]) & (level <= lo_hi[1])

    if in_range(OUTFLOW_MM).sum() < 1 or in_range(SINUS_MM).sum() < 3:
        return 0
    outflow = float(np.median(area[in_range(OUTFLOW_MM)]))
    sinus = float(area[in_range(SINUS_MM)].max())
    tube = area[in_range(TUBE_MM)]
    if tube.size and float(np.median(tube)) > TUBE_GROWTH * outflow:
        # the lumen widens right above the cut: the cut already lies at the valve (the sinuses'
        # bowl), unless it widens only through the cut's partial slabs into a tube still well
        # narrower than the sinuses that runs level at 4.5-9 mm (an oblique cut) or further up (a
        # deeply curved cut leaves partial slabs for up to ~10 mm)
        level_tube = tube.max() <= TUBE_GROWTH * tube.min() and tube.max() * MIN_BULGE <= sinus
        sinus_at = float(level[in_range(SINUS_MM)][np.argmax(area[in_range(SINUS_MM)])])
        plateau, plateau_rise = _plateau(area, level, sinus_at)
        flat = plateau_rise <= FLAT_SHARE * (sinus - plateau) and plateau * MIN_BULGE <= sinus
        if not (level_tube or flat):
            return 0
        outflow = float(np.median(tube)) if level_tube else plateau
    if sinus < MIN_BULGE * outflow:
        return 0
    half = 0.5 * (outflow + sinus)
    above = np.where((level > OUTFLOW_MM[1]) & (area >= half))[0]
    if above.size == 0:
        return 0
    # the annulus lies at the foot of the bulge: the last level below it where the area has not yet
    # started to rise above the outflow tract's own level (its flattest stretch below the bulge; the
    # area read just above an oblique watershed cut is only part of the tract's section)
    step = level[1] - level[0]
    plateau = _plateau(area, level, level[above[0]])[0]
    rise = plateau + FOOT_RISE * (sinus - plateau)
    foot = np.where((level < level[above[0]]) & (area < rise))[0]
    # the top of the last slab before the rise (the averaging reads a rise up to two slabs early,
    # which on a gradual bulge offsets the late read of a rise by a threshold)
    valve_mm = float(level[foot[-1]] + 0.5 * step) if foot.size else float(level[above[0]])
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


def _plateau(area: np.ndarray, level: np.ndarray, below_mm: float) -> tuple[float, float]:
    """The flattest stretch (``PLATEAU_MM`` long, the smallest rise from its start to its end)
    between the outflow reading's start and ``below_mm``: (its median area, its rise), mm^2."""
    step = level[1] - level[0]
    n = max(2, int(round(PLATEAU_MM / step)))
    idx = np.where((level >= OUTFLOW_MM[0]) & (level < below_mm))[0]
    if idx.size <= n:
        stretch = area[idx] if idx.size else area[:1]
        return float(np.median(stretch)), float(stretch.max() - stretch.min())
    starts = idx[: idx.size - n]
    rise = np.abs(area[starts + n] - area[starts])
    best = int(starts[np.argmin(rise)])
    return float(np.median(area[best : best + n + 1])), float(rise.min())


def _area_profile(
    along_mm: np.ndarray, spacing_mm: float, smooth: int = SMOOTH_SLABS
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-sectional area (mm^2) of a voxel set along an axis, and the levels (mm) it is read at
    (half a voxel apart).

    Counting voxel centres in slabs one voxel thick aliases when the axis is oblique to the grid (the
    count of a level tube swings by +-20 % from slab to slab as the slab planes cut whole rows of
    voxels or miss them), and such a swing can put the foot of the sinuses' bulge several mm too high.
    So each voxel is taken as one voxel thick along the axis and its volume shared among the
    half-voxel slabs it overlaps; the profile is then averaged over ``smooth`` slabs."""
    q = 2.0 * along_mm[along_mm >= 0] / spacing_mm - 1.0  # the voxel spans [q, q + 2) in slabs
    i0 = np.floor(q).astype(int) + 1  # +1: slab index 0 holds [-1, 0)
    f = q - np.floor(q)  # the first slab is covered by 1 - f, the third by f
    n = int(i0.max()) + 3 if i0.size else 1
    weight = np.bincount(i0, 1.0 - f, n) + np.bincount(i0 + 1, np.ones_like(f), n)
    weight += np.bincount(i0 + 2, f, n)
    area = weight * spacing_mm**2
    if smooth > 1:
        area = ndi.uniform_filter1d(area, smooth, mode="nearest")
    return area[1:], (np.arange(n - 1) + 0.5) * 0.5 * spacing_mm
