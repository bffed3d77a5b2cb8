"""Growth past a tight stenosis: from each distal tip of a traced tree, a short minimal path through
dimmer lumen to a separate tube-like lumen piece ahead (the vessel beyond the lesion).

A severe narrowing blurs below the lumen threshold, so the growth stops there and the distal vessel
is left as a separate bright component. For each tip (end of a traced branch) a minimal path (cost
``1 / (0.05 + f)^2``, ``f`` the contrast fraction ``(I - 0.1 B) / (0.9 B)`` clipped to [0, 1], ``B``
the blood-pool HU) within ``reach_mm`` of the tip is found to the voxels of lumen components not in
any tree; it is accepted only if it continues the tip's direction (angle <= ``max_angle_deg``), its
dark part (below half contrast) is at most ``max_gap_mm`` long, and the component it reaches is a
vessel (volume below ``max_component_ml``, at least ``min_component_mm3``). The path and the
component join the tree.
"""

from __future__ import annotations

import logging

import cc3d
import numpy as np
from skimage.graph import MCP_Geometric

from ..imaging.volume import Volume
from .centerline import TracedBranch

logger = logging.getLogger(__name__)

DENSE_FRACTION = 0.7


def bridge_lesions(
    volume: Volume,
    mask: np.ndarray,
    others: np.ndarray,
    branches: list[TracedBranch],
    blood_hu: float,
    forbidden: np.ndarray,
    excluded: np.ndarray | None = None,
    reach_mm: float = 12.0,
    max_gap_mm: float = 6.0,
    max_angle_deg: float = 50.0,
    min_component_mm3: float = 15.0,
    max_component_ml: float = 1.0,
) -> np.ndarray:
    """Extend ``mask`` (in place) past narrowings at the tips of ``branches`` (LPS mm); ``others``:
    voxels of the other tree; ``forbidden``: where no path may run (aorta, chambers); ``excluded``:
    voxels that are no lumen piece (default ``forbidden``). Returns the voxels added (bool)."""
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    voxel_mm3 = float(sp.prod())
    arr = volume.array
    lumen = (arr > 0.5 * blood_hu) & ~(forbidden if excluded is None else excluded | forbidden) & ~others
    comps = cc3d.connected_components(lumen & ~mask, connectivity=26)
    sizes = np.bincount(comps.reshape(-1))
    added = np.zeros_like(mask)
    pad = np.ceil(reach_mm / sp).astype(int)
    for b in branches:
        if len(b.points) < 4 or b.length_mm < 5.0:
            continue
        tip = np.round(volume.lps_to_index(b.points[-1][None])[0][::-1]).astype(int)
        if np.any(tip < 0) or np.any(tip >= mask.shape):
            continue
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(b.points, axis=0), axis=1))])
        back = b.points[np.searchsorted(s, s[-1] - 3.0)]
        heading = b.points[-1] - back
        if np.linalg.norm(heading) < 1e-6:
            continue
        heading /= np.linalg.norm(heading)
        lo, hi = np.maximum(tip - pad, 0), np.minimum(tip + pad + 1, mask.shape)
        box = tuple(slice(a, c) for a, c in zip(lo, hi))
        ids = comps[box]
        ok = (ids > 0) & (sizes[ids] * voxel_mm3 >= min_component_mm3)
        if not ok.any():
            continue
        img = arr[box].astype(np.float32)
        f = np.clip((img - 0.1 * blood_hu) / (0.9 * blood_hu), 0.0, 1.0)
        cost = 1.0 / (0.05 + f) ** 2
        cost[forbidden[box] | others[box]] = np.inf
        local_tip = tuple(int(t - a) for t, a in zip(tip, lo))
        costs, _ = MCP_Geometric(cost, sampling=tuple(sp)).find_costs([local_tip])
        targets = np.argwhere(ok & np.isfinite(costs))
        if not len(targets):
            continue
        order = np.argsort(costs[tuple(targets.T)])
        for t in targets[order[:1]]:
            mcp = MCP_Geometric(cost, sampling=tuple(sp))
            mcp.find_costs([local_tip], [tuple(t)])
            path = np.array(mcp.traceback(tuple(t)))
            if not _acceptable(
                volume, path + lo, img, path, heading, blood_hu, sp, max_gap_mm, max_angle_deg
            ):
                continue
            piece = _vessel_piece(comps == ids[tuple(t)], arr, tuple(t + lo), blood_hu)
            if piece is None or piece.sum() * voxel_mm3 > max_component_ml * 1e3:
                continue
            added[tuple((path + lo).T)] = True
            added |= piece
            mask |= added
            comps[piece] = 0
            logger.info(
                "bridged a narrowing at %s mm LPS (%d path voxels)", np.round(b.points[-1], 1), len(path)
            )
    return added


def _vessel_piece(component: np.ndarray, arr: np.ndarray, entry, blood: float) -> np.ndarray | None:
    """The part of ``component`` reached at ``entry`` (z, y, x): the whole component, or where it
    merges with a dimmer structure (partial-volume shells of a chamber) only its dense core
    (>= 70 % of the blood HU) connected to the entry."""
    dense = component & (arr >= DENSE_FRACTION * blood)
    if dense.sum() >= 0.6 * component.sum():
        return component
    comps = cc3d.connected_components(dense, connectivity=26)
    idx = np.argwhere(comps > 0)
    if not len(idx):
        return None
    near = idx[np.argmin(((idx - np.array(entry)) ** 2).sum(axis=1))]
    return comps == comps[tuple(near)]


def _acceptable(volume, path_global, img, path, heading, blood, sp, max_gap_mm, max_angle_deg) -> bool:
    """The path continues ``heading`` and its sub-half-contrast stretch is short."""
    if len(path) < 2:
        return False
    pts = volume.index_to_lps(path_global[:, ::-1].astype(float))
    direction = pts[min(len(pts) - 1, 4)] - pts[0]
    if np.linalg.norm(direction) < 1e-6:
        return False
    cos = float(direction @ heading / np.linalg.norm(direction))
    if cos < np.cos(np.deg2rad(max_angle_deg)):
        return False
    step = np.linalg.norm(np.diff(path * sp, axis=0), axis=1)
    dark = img[tuple(path.T)][1:] < 0.5 * blood
    return float(step[dark].sum()) <= max_gap_mm
