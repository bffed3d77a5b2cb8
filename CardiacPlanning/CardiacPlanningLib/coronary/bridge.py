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
from dataclasses import dataclass

import cc3d
import numpy as np
from scipy.spatial import cKDTree
from skimage.graph import MCP_Geometric

from ..imaging.volume import Volume
from .centerline import TracedBranch
from .filters import near_mask

logger = logging.getLogger(__name__)

DENSE_FRACTION = 0.7


@dataclass(frozen=True)
class PieceRule:
    """When a lumen piece beyond a lesion is joined from its far side (:func:`_bridge_pieces`):
    its near end within ``reach_mm`` of the tree, the path's stretch below half contrast at most
    ``max_gap_mm``, a contrast-dense core of ``min_component_mm3`` to ``max_component_ml``, its
    axis from its voxels within ``axis_mm`` of that end, the path within ``max_angle_deg`` of that
    axis, a tree stump reaching ``stump_mm`` back in line, and the cheapest ``max_ends`` path ends
    tried."""

    reach_mm: float = 12.0
    max_gap_mm: float = 6.0
    min_component_mm3: float = 15.0
    max_component_ml: float = 1.0
    axis_mm: float = 6.0
    max_angle_deg: float = 30.0
    stump_mm: float = 6.0
    max_ends: int = 40


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
        cost = _path_cost(img, blood_hu, forbidden[box] | others[box])
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
    rule = PieceRule(reach_mm, max_gap_mm, min_component_mm3, max_component_ml)
    _bridge_pieces(volume, mask, others, forbidden, comps, sizes, blood_hu, added, rule)
    return added


def _path_cost(img: np.ndarray, blood_hu: float, blocked: np.ndarray) -> np.ndarray:
    """Minimal-path cost per voxel: low in contrast-filled lumen, rising steeply towards tissue
    (contrast fraction 10-100 % of the blood HU mapped to 0-1), infinite where ``blocked``."""
    f = np.clip((img - 0.1 * blood_hu) / (0.9 * blood_hu), 0.0, 1.0)
    cost = 1.0 / (0.05 + f) ** 2
    cost[blocked] = np.inf
    return cost


def _axis(points: np.ndarray) -> np.ndarray | None:
    """Unit principal axis of ``points`` (N x 3, mm), or None when they do not line up (the largest
    spread less than twice the second: a blob, not a tube)."""
    if len(points) < 4:
        return None
    c = points - points.mean(axis=0)
    w, v = np.linalg.eigh(c.T @ c / len(c))
    if w[2] < 4.0 * max(w[1], 1e-9):  # variance ratio 4 = spread ratio 2
        return None
    return v[:, 2]


def _bridge_pieces(volume, mask, others, forbidden, comps, sizes, blood_hu, added, rule: PieceRule) -> None:
    """The vessel beyond a tight lesion where the tree does not end at the lesion (the traced path
    turned into a side branch leaving at the lesion, so no tip points at it): seen from the far
    piece instead (the lengths and angles below are ``rule``'s fields, :class:`PieceRule`). A lumen
    piece whose near end lies within ``reach_mm`` of the tree is joined by
    the minimal path between them when: its voxels within ``axis_mm`` of that end line up (a tube);
    the tree voxel reached lies ahead on that axis (within ``max_angle_deg``, plus a 1.5 mm lateral
    allowance); the tree has a stump in line behind it (tree voxels reaching ``stump_mm`` back in a
    cone of ``max_angle_deg`` around the path; the cheapest ``max_ends`` ends are tried); the path's
    stretch below half contrast is at most ``max_gap_mm``; and the piece has a contrast-dense core
    of ``min_component_mm3`` to ``max_component_ml``. A lesion narrows a vessel along its course, so
    both stumps point at each other, while a vein or another artery beside the tree meets it
    side-on.
    Updates ``mask`` and ``added`` in place."""
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    voxel_mm3 = float(sp.prod())
    arr = volume.array
    tree = mask & ~added
    if not tree.any():
        return
    ext = [np.nonzero(tree.any(axis=tuple(b for b in range(3) if b != a)))[0] for a in range(3)]
    pad = np.ceil(rule.reach_mm / sp).astype(int)
    lo = np.maximum(np.array([e[0] for e in ext]) - pad, 0)
    hi = np.minimum(np.array([e[-1] for e in ext]) + pad + 1, mask.shape)
    box = tuple(slice(a, c) for a, c in zip(lo, hi))
    ids = comps[box]
    near = near_mask(tree[box], sp, rule.reach_mm)
    vol_ok = (sizes * voxel_mm3 >= rule.min_component_mm3) & (
        sizes * voxel_mm3 <= rule.max_component_ml * 1e3
    )
    vol_ok[0] = False
    cand = np.unique(ids[near & vol_ok[ids]])
    if not len(cand):
        return
    tree_idx = np.argwhere(tree[box])
    tree_mm = tree_idx * sp
    kd = cKDTree(tree_mm)
    bbs = cc3d.statistics(comps)["bounding_boxes"]  # whole pieces, also beyond the box
    for cid in cand:
        bb = bbs[cid]
        sub = comps[bb] == cid
        if not sub.any():  # taken by an earlier piece
            continue
        pts = np.argwhere(sub) + np.array([s.start for s in bb]) - lo  # box coordinates
        d, j = kd.query(pts * sp)
        k = int(np.argmin(d))
        if d[k] > rule.reach_mm:
            continue
        logger.debug("piece %d: %d voxels, %.1f mm from the tree", cid, len(pts), d[k])
        entry = pts[k]
        local = pts[np.linalg.norm((pts - entry) * sp, axis=1) <= rule.axis_mm] * sp
        a_piece = _axis(local)
        if a_piece is None:
            logger.debug("piece %d: no axis at its end", cid)
            continue
        # path from the piece's end to the tree, in the box around both
        target = tree_idx[j[k]]
        g = np.ceil((rule.reach_mm + 2.0) / sp).astype(int)
        blo = np.maximum(np.minimum(entry, target) - g // 2, 0)
        bhi = np.minimum(np.maximum(entry, target) + g // 2 + 1, np.array(ids.shape))
        gbox = tuple(slice(a + o, c + o) for a, c, o in zip(blo, bhi, lo))
        img = arr[gbox].astype(np.float32)
        cost = _path_cost(img, blood_hu, forbidden[gbox] | others[gbox])
        mcp = MCP_Geometric(cost, sampling=tuple(sp))
        costs, _ = mcp.find_costs([tuple(entry - blo)])
        # the tree lies ahead of the piece, on the line of its axis (the gap is short, so the
        # angle of a chord is noisy: a lateral offset of a vessel radius is allowed on top of it);
        # of those tree voxels the path reaches the cheapest
        if float((local.mean(axis=0) - entry * sp) @ a_piece) > 0:
            a_piece = -a_piece  # pointing out of the piece
        tgt = np.argwhere(tree[gbox] & np.isfinite(costs))
        rel = (tgt - (entry - blo)) * sp
        ahead = rel @ a_piece
        lateral = np.linalg.norm(rel - ahead[:, None] * a_piece, axis=1)
        tgt = tgt[(ahead > 0) & (lateral <= 1.5 + np.tan(np.deg2rad(rule.max_angle_deg)) * ahead)]
        if not len(tgt):
            logger.debug("piece %d: no tree ahead of it", cid)
            continue
        cos_max = np.cos(np.deg2rad(rule.max_angle_deg))
        # the tree's stump runs on behind the path's end: tree voxels in a cone of ``max_angle_deg``
        # around the path's line reach ``stump_mm`` back (a vessel met side-on is at most its own
        # width deep there; the stump may end in a junction, so no axis of all nearby voxels). The
        # cheapest ends are tried in turn (the nearest tree voxel may be a side branch's wall).
        end = None
        for cand_end in tgt[np.argsort(costs[tuple(tgt.T)])[: rule.max_ends]]:
            chord = (cand_end - (entry - blo)) * sp
            u = chord / np.linalg.norm(chord)
            end_mm = (cand_end + blo) * sp
            back = tree_mm[kd.query_ball_point(end_mm, rule.stump_mm + 2.0)] - end_mm
            along = back @ u  # u points from the piece to the tree
            cone = along >= cos_max * np.linalg.norm(back, axis=1)
            if cone.any() and float(along[cone].max()) >= rule.stump_mm:
                end = cand_end
                break
        if end is None:
            logger.debug("piece %d: no tree stump in line with a path", cid)
            continue
        path = np.array(mcp.traceback(tuple(end)))
        step = np.linalg.norm(np.diff(path * sp, axis=0), axis=1)
        dark = img[tuple(path.T)][1:] < 0.5 * blood_hu
        if float(step[dark].sum()) > rule.max_gap_mm:
            logger.debug("piece %d: dark gap %.1f mm", cid, float(step[dark].sum()))
            continue
        start = np.array([s.start for s in bb])
        crop = _vessel_piece(sub, arr[bb], tuple(entry + lo - start), blood_hu)
        # a vessel worth a bridge has a contrast-dense core (>= 70 % of the blood HU) of its own: a
        # piece that is all partial volume (a chamber's rim, noise) is not joined on its shape alone
        if (
            crop is None
            or not rule.min_component_mm3 <= crop.sum() * voxel_mm3 <= rule.max_component_ml * 1e3
        ):
            logger.debug("piece %d: dense core %.0f mm^3", cid, 0 if crop is None else crop.sum() * voxel_mm3)
            continue
        piece = np.zeros_like(mask)
        piece[bb] = crop
        added[tuple((path + blo + lo).T)] = True
        added |= piece
        mask |= added
        comps[piece] = 0
        logger.info(
            "bridged a narrowing from a lumen piece of %.0f mm^3 (of %.0f) at voxel %s (z, y, x; path %d)",
            piece.sum() * voxel_mm3,
            sub.sum() * voxel_mm3,
            tuple(int(v) for v in entry + lo),
            len(path),
        )


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
