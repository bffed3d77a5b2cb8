"""Extend a coronary tree to user-given points (a branch that growth alone missed) by a minimal path.

The path from each point to the nearest tree runs on a cost that is low in bright lumen and high
elsewhere, ``1 / (0.05 + clip((I - 0.25 B) / (0.75 B), 0, 1))^2`` with ``B`` the blood-pool HU, through
a box around the point and the tree; the aorta and chambers (the opening mask) are impassable. The
path voxels and their bright neighbours are added to the tree's mask.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.graph import MCP_Geometric

from ..errors import CardiacInputError
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)


def extend_to_point(
    volume: Volume,
    masks: dict[str, np.ndarray],
    point: np.ndarray,
    blood_hu: float,
    forbidden: np.ndarray,
    label: str = "point",
    margin_mm: float = 10.0,
) -> str:
    """Join ``point`` (LPS mm) to the geodesically nearest tree in ``masks`` (in place); returns the
    tree name. Raises :class:`CardiacInputError` if the point is outside the image or unreachable."""
    volume.require_inside(np.asarray(point, float)[None], label)
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    p = tuple(np.round(volume.lps_to_index(np.asarray(point, float)[None])[0][::-1]).astype(int))
    best = None
    for tree, m in masks.items():
        if not m.any():
            continue
        idx = np.argwhere(m)
        d2 = (((idx - np.array(p)) * sp) ** 2).sum(axis=1)
        near = idx[np.argmin(d2)]
        lo = np.maximum(np.minimum(near, p) - np.ceil(margin_mm / sp).astype(int), 0)
        hi = np.minimum(np.maximum(near, p) + np.ceil(margin_mm / sp).astype(int) + 1, m.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        img = volume.array[box].astype(float)
        f = np.clip((img - 0.25 * blood_hu) / (0.75 * blood_hu), 0.0, 1.0)
        cost = 1.0 / (0.05 + f) ** 2
        cost[forbidden[box] & ~m[box]] = np.inf
        mcp = MCP_Geometric(cost, sampling=tuple(sp))
        ends = [tuple(v) for v in np.argwhere(m[box])]
        local_p = tuple(int(p[a] - lo[a]) for a in range(3))
        costs, _ = mcp.find_costs(ends, [local_p])
        c = float(costs[local_p])
        if np.isfinite(c) and (best is None or c < best[0]):
            best = (c, tree, np.array(mcp.traceback(local_p)) + lo, box)
    if best is None:
        raise CardiacInputError(
            f"{label} at {np.round(point, 1).tolist()} mm LPS cannot be joined to a coronary tree"
        )
    _, tree, path, box = best
    add = np.zeros(masks[tree].shape, bool)
    add[tuple(path.T)] = True
    grown = ndi.binary_dilation(add, np.ones((3, 3, 3), bool))
    add |= grown & (volume.array > 0.5 * blood_hu) & ~forbidden
    masks[tree] |= add
    logger.info("%s joined to the %s tree by a %d-voxel path", label, tree, len(path))
    return tree
