"""Centerline tree of a segmented coronary lumen by TEASAR-style minimal paths (Sato et al., "TEASAR:
tree-structure extraction algorithm for accurate and robust skeletons", 2000).

From the ostium seed, a geodesic (path-length) field picks the farthest not-yet-covered lumen voxel;
its minimal path to the seed under a cost that is high near the lumen wall (a penalty on the distance
to the boundary) is the next branch, cut where it meets the tree already traced. Voxels within a ball
of ``1.5 x`` the local radius ``+ 1 mm`` of each path point are then covered. Paths shorter than
``min_branch_mm`` beyond the tree (wall bumps) are dropped. Radius = distance to the lumen boundary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from skimage.graph import MCP_Geometric

from ..imaging.volume import Volume
from .filters import distance_mm

logger = logging.getLogger(__name__)


@dataclass
class TracedBranch:
    """One traced path: ``points`` (N, 3) LPS mm from its start (the parent junction or the ostium)
    to its end, ``radii`` (N,) mm, ``parent`` index into the branch list (None for the first) and
    ``parent_index`` the parent point where it starts."""

    points: np.ndarray
    radii: np.ndarray
    parent: int | None
    parent_index: int | None

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=1).sum())


def trace_tree(
    volume: Volume,
    mask: np.ndarray,
    seed: tuple[int, int, int],
    min_branch_mm: float = 5.0,
    max_branches: int = 200,
) -> list[TracedBranch]:
    """Trace the centerline tree of ``mask`` ([z, y, x] on ``volume``'s grid) from voxel ``seed``."""
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - 2, 0)
    hi = np.minimum(idx.max(axis=0) + 3, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    m = mask[box]
    s = tuple(int(seed[a] - lo[a]) for a in range(3))
    if not m[s]:
        return []
    dt = distance_mm(m, sp)
    dmax = float(dt.max())
    # TEASAR penalty: 1 + 5000 (1 - dt / dt_max)^16 keeps the paths on the medial axis.
    cost = np.where(m, 1.0 + 5000.0 * (1.0 - dt / dmax) ** 16, np.inf)
    mcp = MCP_Geometric(cost, sampling=tuple(sp))
    mcp.find_costs([s])
    geo, _ = MCP_Geometric(np.where(m, 1.0, np.inf), sampling=tuple(sp)).find_costs([s])
    geo = np.where(np.isfinite(geo), geo, -1.0)
    covered = ~m
    owner = np.full(m.shape, -1, dtype=np.int32)
    owner_index = np.full(m.shape, -1, dtype=np.int32)
    raw: list[tuple[np.ndarray, int | None, int | None]] = []
    flat_geo = geo.reshape(-1)
    inside = np.flatnonzero(flat_geo >= 0)
    order = inside[np.argsort(flat_geo[inside])[::-1]]  # reachable voxels, farthest first
    pos = 0
    flat_cov = covered.reshape(-1)
    while len(raw) < max_branches:
        free = np.flatnonzero(~flat_cov[order[pos:]])
        if not len(free):
            break
        pos += int(free[0])
        target = np.unravel_index(order[pos], m.shape)
        path = np.array(mcp.traceback(target))
        on = owner[tuple(path.T)]
        hit = np.nonzero(on >= 0)[0]
        start = int(hit[-1]) if len(hit) else 0
        new = path[start:]
        parent = int(on[start]) if len(hit) else None
        pidx = int(owner_index[tuple(path[start])]) if len(hit) else None
        seg_len = float(np.linalg.norm(np.diff(new * sp, axis=0), axis=1).sum()) if len(new) > 1 else 0.0
        junction_r = float(dt[tuple(new[0])])
        keep = parent is None or seg_len > max(min_branch_mm, 2.0 * junction_r + 1.0)
        _cover(covered, new, dt, sp)
        covered[target] = True
        if keep and len(new) > 1:
            b = len(raw)
            owner[tuple(new[1:].T)] = b
            owner_index[tuple(new[1:].T)] = np.arange(1, len(new))
            if parent is None:
                owner[tuple(new[0])] = b
                owner_index[tuple(new[0])] = 0
            raw.append((new, parent, pidx))
    out = []
    for vox, parent, pidx in raw:
        pts = volume.index_to_lps((vox + lo)[:, ::-1].astype(float))
        r = np.maximum(dt[tuple(vox.T)] - 0.5 * float(sp.min()), 0.5 * float(sp.min()))
        out.append(TracedBranch(_smooth(pts), _smooth_values(r), parent, pidx))
    logger.info("traced %d branches, %.0f mm", len(out), sum(b.length_mm for b in out))
    return out


def _cover(covered: np.ndarray, path: np.ndarray, dt: np.ndarray, sp: np.ndarray) -> None:
    """Mark voxels within 1.5 r + 1 mm of each path voxel as covered (in place)."""
    for p in path:
        rad = 1.5 * float(dt[tuple(p)]) + 1.0
        half = np.ceil(rad / sp).astype(int)
        lo = np.maximum(p - half, 0)
        hi = np.minimum(p + half + 1, covered.shape)
        g = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
        d2 = sum(((g[a] - p[a]) * sp[a]) ** 2 for a in range(3))
        sub = covered[tuple(slice(a, b) for a, b in zip(lo, hi))]
        sub |= d2 <= rad * rad


def _smooth(points: np.ndarray, half: int = 2) -> np.ndarray:
    """Moving average over 2 half + 1 points (removes the voxel staircase), ends kept fixed."""
    if len(points) < 2 * half + 2:
        return points.copy()
    k = np.ones(2 * half + 1) / (2 * half + 1)
    out = points.copy()
    for a in range(3):
        out[half:-half, a] = np.convolve(points[:, a], k, mode="valid")
    return out


def _smooth_values(values: np.ndarray, half: int = 2) -> np.ndarray:
    if len(values) < 2 * half + 2:
        return values.copy()
    padded = np.pad(values, half, mode="edge")
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")
