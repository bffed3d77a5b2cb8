"""Centerline tree of a segmented coronary lumen by TEASAR-style minimal paths (Sato et al., "TEASAR:
tree-structure extraction algorithm for accurate and robust skeletons", 2000).

From the ostium seed, a geodesic (path-length) field picks the farthest not-yet-covered lumen voxel;
its minimal path to the seed under a cost that is high near the lumen wall (a penalty on the distance
to the boundary) is the next branch, cut where it leaves the lumen tube of the tree already traced
(the voxels within the local radius of its points) and joined to the parent's centerline point
there, so a path that runs alongside its parent in a wide lumen still branches off where the
lumens divide. Voxels within a ball
of ``1.5 x`` the local radius ``+ 1 mm`` of each path point are then covered. Paths shorter than
``min_branch_mm`` beyond the tree (wall bumps) are dropped. Radius = distance to the lumen boundary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
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
    # (evaluated on the mask only; Fortran order is the layout MCP works in, so it keeps this array)
    cost = np.full(m.shape, np.inf, order="F")
    cost[m] = 1.0 + 5000.0 * (1.0 - dt[m] / dmax) ** 16
    mcp = MCP_Geometric(cost, sampling=tuple(sp))
    mcp.find_costs([s])
    geo = _path_length_mm(m, s, sp)
    covered = ~m
    owner = np.full(m.shape, -1, dtype=np.int32)
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
        if len(hit):
            # the branch leaves its parent's lumen tube at path[hit[-1]]: it starts at the parent's
            # centerline point nearest there (not where it happens to cross the parent's voxel path, which a
            # path running alongside the parent in a wide lumen would meet much later)
            start = int(hit[-1])
            parent = int(on[start])
            pvox = raw[parent][0]  # the parent point nearest to where the branch leaves its tube
            pidx = int(np.argmin((((pvox - path[start]) * sp) ** 2).sum(axis=1)))
            new = np.vstack([raw[parent][0][pidx], path[start + 1 :]])
        else:
            new, parent, pidx = path, None, None
        seg_len = float(np.linalg.norm(np.diff(new * sp, axis=0), axis=1).sum()) if len(new) > 1 else 0.0
        junction_r = float(dt[tuple(new[0])])
        keep = parent is None or seg_len > max(min_branch_mm, 2.0 * junction_r + 1.0)
        _cover(covered, new, dt, sp)
        covered[target] = True
        if keep and len(new) > 1:
            _own(owner, new, len(raw), dt, sp, m, first=0 if parent is None else 1)
            raw.append((new, parent, pidx))
    out = []
    for vox, parent, pidx in raw:
        pts = volume.index_to_lps((vox + lo)[:, ::-1].astype(float))
        r = np.maximum(dt[tuple(vox.T)] - 0.5 * float(sp.min()), 0.5 * float(sp.min()))
        out.append(TracedBranch(_smooth(pts), _smooth_values(r), parent, pidx))
    logger.info("traced %d branches, %.0f mm", len(out), sum(b.length_mm for b in out))
    return out


def _path_length_mm(m: np.ndarray, seed: tuple[int, int, int], sp: np.ndarray) -> np.ndarray:
    """Shortest 26-neighbour path length (mm) inside ``m`` from voxel ``seed``, -1 where not reached:
    the cumulative costs of ``MCP_Geometric`` on unit costs (a move costs its length, summed in
    the same order, so the values are the same to the last bit), by Dijkstra on the graph of the
    mask's voxels instead of the whole box (whose set-up dominated the time of a sparse tree)."""
    flat = np.flatnonzero(m)
    zyx = np.stack(np.unravel_index(flat, m.shape), axis=1)
    shape = np.array(m.shape)
    rows, cols, lengths = [], [], []
    for off in np.array([o for o in np.ndindex(3, 3, 3) if o > (1, 1, 1)]) - 1:  # 13 of the 26 moves
        nb = zyx + off
        ok = np.all((nb >= 0) & (nb < shape), axis=1)
        nb_flat = np.ravel_multi_index(tuple(nb[ok].T), m.shape)
        hit = m.reshape(-1)[nb_flat]
        rows.append(np.nonzero(ok)[0][hit])
        cols.append(np.searchsorted(flat, nb_flat[hit]))
        lengths.append(np.full(int(hit.sum()), np.sqrt(np.sum((sp * off) ** 2))))
    n = len(flat)
    graph = csr_matrix((np.concatenate(lengths), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    start = int(np.searchsorted(flat, np.ravel_multi_index(seed, m.shape)))
    d = dijkstra(graph, directed=False, indices=start)
    out = np.full(m.shape, -1.0)
    out.reshape(-1)[flat] = np.where(np.isfinite(d), d, -1.0)
    return out


def place_junction(child, parent, fit_mm: float = 6.0) -> None:
    """Move the start of ``child`` (a branch with ``points`` LPS mm, ``radii`` mm, ``parent_index``)
    to the bifurcation point on ``parent``: the point of confluence of the three vessel axes (parent
    before and after the junction, child), each a line fitted just outside the parent's lumen, as
    the least-squares intersection of the three lines; then the parent point nearest to it (within
    10 mm of the traced junction). In place; the child then runs straight from that point."""
    j0 = int(child.parent_index)
    sp = _arc(parent.points)
    sc = _arc(child.points)
    r0 = float(parent.radii[j0])
    a = r0 + 0.5
    lines = []
    for pts, sel in (
        (child.points, (sc >= a) & (sc <= a + fit_mm)),
        (parent.points, (sp >= sp[j0] + a) & (sp <= sp[j0] + a + fit_mm)),
        (parent.points, (sp <= sp[j0] - a) & (sp >= sp[j0] - a - fit_mm)),
    ):
        if sel.sum() >= 4 and np.linalg.norm(pts[sel][-1] - pts[sel][0]) >= 0.5 * fit_mm:
            c = pts[sel].mean(axis=0)
            lines.append((c, np.linalg.svd(pts[sel] - c)[2][0]))
    if len(lines) < 2 or not ((sc >= a) & (sc <= a + fit_mm)).sum() >= 4:
        return
    m, rhs = np.zeros((3, 3)), np.zeros(3)
    for c, d in lines:
        proj = np.eye(3) - np.outer(d, d)
        m += proj
        rhs += proj @ c
    if np.linalg.cond(m) > 1e3:
        return
    x = np.linalg.solve(m, rhs)
    near = np.abs(sp - sp[j0]) <= 10.0
    dist = np.linalg.norm(parent.points - x, axis=1)
    j = int(np.argmin(np.where(near, dist, np.inf)))
    logger.debug(
        "junction at parent s %.1f (traced %.1f), %.2f mm off the axes' meeting point", sp[j], sp[j0], dist[j]
    )
    if dist[j] > r0:  # the axes meet away from the parent: keep the traced junction
        return
    k = int(np.argmax(sc >= a))
    child.points = np.vstack([parent.points[j], child.points[k:]])
    child.radii = np.concatenate([[parent.radii[j]], child.radii[k:]])
    child.parent_index = j


def _arc(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _own(owner, path, b, dt, sp, m, first) -> None:
    """Give the unowned lumen voxels within the local radius of each point of ``path[first:]`` to
    branch ``b`` (in place)."""
    for i in range(first, len(path)):
        p = path[i]
        rad = max(float(dt[tuple(p)]), float(sp.max()))
        half = np.ceil(rad / sp).astype(int)
        lo = np.maximum(p - half, 0)
        hi = np.minimum(p + half + 1, owner.shape)
        g = np.ogrid[tuple(slice(a, c) for a, c in zip(lo, hi))]
        d2 = sum(((g[a] - p[a]) * sp[a]) ** 2 for a in range(3))
        box = tuple(slice(a, c) for a, c in zip(lo, hi))
        sel = (d2 <= rad * rad) & (owner[box] < 0) & m[box]
        owner[box][sel] = b


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
