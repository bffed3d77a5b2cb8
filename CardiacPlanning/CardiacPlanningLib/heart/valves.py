"""Semilunar valve planes: where a ventricle's outflow tract ends and its great artery begins.

The watershed of the blood pool cuts the outflow tract at its narrowest neck, which often lies below
the valve: the right ventricular outflow tract (infundibulum) and the LV outflow tract are tubes
themselves. What changes at the valve is the wall around the lumen: the outflow tract is enclosed by
ventricular muscle (the infundibular free wall, the septum), the arterial root above the valve by a
thin arterial wall in epicardial fat. Walking up the vessel from the ventricle, the valve is where
the tissue around the lumen changes from the myocardium band to fat.

The lumen of the vessel is ordered by its geodesic distance from the ventricle contact; the voxels
just outside the lumen (not blood) are given the distance of their nearest lumen voxel; the
fraction of them in the myocardium band is profiled along the distance. When the proximal part
(the sleeve) is clearly more muscular than the distal part, the lumen up to the first distance where
the profile falls to half-way between the two becomes ventricle.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.graph import MCP_Geometric

logger = logging.getLogger(__name__)

STEP_MM = 1.5  # profile bin
SLEEVE_MM = 4.5  # the first this many mm of the vessel: the proximal (sleeve) level
DISTAL_MM = (20.0, 35.0)  # the distal (arterial) level is measured over this distance range
MIN_DROP = 0.2  # the sleeve must be this much more muscular (fraction) than the distal part
MAX_SHIFT_MM = 20.0  # the valve lies at most this far above the watershed neck
RING_MM = (1.0, 4.5)  # distance outside the blood pool where the wall is read


def move_valve_plane(
    seg: np.ndarray,
    band: np.ndarray,
    chamber: int,
    vessel: int,
    spacing_mm: float,
) -> int:
    """Relabel as ``chamber`` the part of ``vessel`` (connected to it) below its valve (in place).

    ``band``: voxels in the myocardium HU band. Returns the number of voxels moved."""
    ch, ves = seg == chamber, seg == vessel
    if not (ch.any() and ves.any()):
        return 0
    start = ves & ndi.binary_dilation(ch)
    if start.sum() < 5:
        return 0
    # geodesic distance from the contact, inside the vessel's bounding box
    box = tuple(slice(max(int(a.min()) - 1, 0), int(a.max()) + 2) for a in np.nonzero(ves))
    sub = ves[box]
    cost = np.where(sub, 1.0, np.inf)
    mcp = MCP_Geometric(cost)
    dist, _ = mcp.find_costs(np.argwhere(start[box]))
    geo = np.full(seg.shape, np.inf, np.float32)
    geo[box] = np.where(sub, dist * spacing_mm, np.inf)
    finite = np.isfinite(geo) & ves
    if not finite.any() or geo[finite].max() < DISTAL_MM[0]:
        return 0
    # the wall ring around the vessel, each voxel with the distance of its nearest lumen voxel
    blood = seg > 0
    d_out, idx = ndi.distance_transform_edt(~blood, return_indices=True)
    d_out *= spacing_mm
    ring = (d_out >= RING_MM[0]) & (d_out <= RING_MM[1])
    owner = tuple(i[ring] for i in idx)
    mine = finite[owner]
    where = geo[owner][mine]
    muscular = band[ring][mine]
    bins = (where // STEP_MM).astype(int)
    n = np.bincount(bins)
    frac = np.bincount(bins, weights=muscular.astype(float), minlength=n.size) / np.maximum(n, 1)
    centres = (np.arange(n.size) + 0.5) * STEP_MM
    ok = n >= 5
    near = ok & (centres <= SLEEVE_MM)
    far = ok & (centres >= DISTAL_MM[0]) & (centres <= DISTAL_MM[1])
    if near.sum() < 2 or far.sum() < 2:
        return 0
    sleeve, distal = float(frac[near].mean()), float(frac[far].mean())
    if sleeve - distal < MIN_DROP:
        return 0
    level = 0.5 * (sleeve + distal)
    below = np.where(ok & (centres > SLEEVE_MM) & (frac < level))[0]
    if below.size == 0:
        return 0
    valve_mm = min(float(below[0] * STEP_MM), MAX_SHIFT_MM)
    moved = finite & (geo < valve_mm)
    seg[moved] = chamber
    logger.info(
        "valve plane of label %d: muscular wall fraction %.2f -> %.2f, moved %.1f mm up (%d voxels)",
        vessel,
        sleeve,
        distal,
        valve_mm,
        int(moved.sum()),
    )
    return int(moved.sum())
