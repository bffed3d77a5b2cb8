"""Growth past a tight stenosis: from each distal tip of a traced tree, a short minimal path through
dimmer lumen to a separate tube-like lumen piece ahead (the vessel beyond the lesion).

A severe narrowing blurs below the lumen threshold, so the growth stops there and the distal vessel
is left as a separate bright component. For each tip (end of a traced branch) a minimal path (cost
``1 / (0.05 + f)^2``, ``f`` the contrast fraction ``(I - 0.1 B) / (0.9 B)`` clipped to [0, 1], ``B``
the blood-pool HU) within ``reach_mm`` of the tip is found to the voxels of lumen components not in
any tree; it is accepted only if it continues the tip's direction (angle <= ``max_angle_deg``), its
dark part (below half contrast) is at most ``max_gap_mm`` long, and the component it reaches is a
vessel (volume below ``max_component_ml``, at least ``min_component_mm3``). The path and the
component join the tree. Where that joins nothing, the path is searched inside a cone ahead of the
tip (:func:`_bridge_ahead`); a path too dark is retried in line (:func:`_cone_path`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.graph import MCP_Geometric

from ..imaging.volume import Volume
from .centerline import TracedBranch
from .filters import near_mask
from .paths import _against_chamber, _axis, _cone_path, _dark_mm, _path_cost, _vessel_piece

logger = logging.getLogger(__name__)


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
    chamber = forbidden if excluded is None else excluded | forbidden
    lumen = (arr > 0.5 * blood_hu) & ~chamber & ~others
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
            if _against_chamber(piece, chamber):
                continue
            added[tuple((path + lo).T)] = True
            added |= piece
            mask |= added
            comps[piece] = 0
            logger.info(
                "bridged a narrowing at %s mm LPS (%d path voxels)", np.round(b.points[-1], 1), len(path)
            )
            break
        else:  # no piece joined by the cheapest path: search ahead of the tip (a tight lesion)
            found = _bridge_ahead(
                volume, mask, b, tip, heading, comps, sizes, blood_hu, forbidden | others, chamber
            )
            if found is not None:
                added[tuple(found[0].T)] = True
                added |= found[1]
                mask |= added
                comps[found[1]] = 0
    rule = PieceRule(reach_mm, max_gap_mm, min_component_mm3, max_component_ml)
    _bridge_pieces(volume, mask, others, forbidden, comps, sizes, blood_hu, added, rule, chamber)
    return added


@dataclass(frozen=True)
class AheadRule:
    """When a branch that ends abruptly is joined to a lumen piece ahead of its tip
    (:func:`_bridge_ahead`): the piece's voxels in a cone of ``cone_deg`` (plus ``lateral_mm``)
    around the tip's heading within ``reach_mm``, the minimal path kept inside that cone, its stretch
    below half contrast at most ``max_gap_mm``, the piece's voxels within ``axis_mm`` of the joined
    voxel running on ahead (their centroid at least ``min_ahead_mm`` ahead, within
    ``max_axis_deg`` of the heading), and its calibre (largest inscribed radius there)
    ``min_calibre``-``max_calibre`` x the branch's radius 3-10 mm before the tip."""

    reach_mm: float = 12.0
    cone_deg: float = 30.0
    lateral_mm: float = 1.5
    max_gap_mm: float = 6.0
    axis_mm: float = 5.0
    min_ahead_mm: float = 1.5
    max_axis_deg: float = 45.0
    min_calibre: float = 0.4
    max_calibre: float = 1.6
    min_component_mm3: float = 15.0
    max_component_ml: float = 1.0


def _bridge_ahead(volume, mask, b, tip, heading, comps, sizes, blood_hu, blocked, chamber, rule=AheadRule()):
    """A branch ``b`` whose lumen ends abruptly at voxel ``tip`` (z, y, x) while the vessel goes on:
    a tight (70-90 %) lesion blurs to near tissue HU, so the cheapest path by contrast may run
    round through dim tissue to another part of the distal vessel (or nowhere acceptable). Here the
    path is kept inside a cone ahead of the tip (the vessel's course through a focal lesion is
    nearly straight), and the piece reached must continue the branch in direction and calibre (a
    vein or another artery crossing ahead meets the cone side-on; a chamber or bone is
    ``blocked``/no piece, and a remnant of a chamber's lumen lies against ``chamber``). Returns
    (path voxels (N, 3), piece mask) or None."""
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    voxel_mm3 = float(sp.prod())
    p_end = b.points[-1]
    h = (volume.lps_to_index((p_end + heading)[None])[0] - volume.lps_to_index(p_end[None])[0])[::-1] * sp
    h /= max(np.linalg.norm(h), 1e-9)
    pad = np.ceil((rule.reach_mm + rule.lateral_mm) / sp).astype(int)
    lo, hi = np.maximum(tip - pad, 0), np.minimum(tip + pad + 1, mask.shape)
    box = tuple(slice(a, c) for a, c in zip(lo, hi))
    rel = (np.indices(tuple(hi - lo)).reshape(3, -1).T + lo - tip) * sp
    along = rel @ h
    lateral = np.linalg.norm(rel - along[:, None] * h, axis=1)
    cone = (along >= -rule.lateral_mm) & (along <= rule.reach_mm)
    cone &= lateral <= rule.lateral_mm + np.tan(np.deg2rad(rule.cone_deg)) * np.maximum(along, 0.0)
    cone = cone.reshape(tuple(hi - lo))
    near_tip = (np.linalg.norm(rel, axis=1) <= rule.lateral_mm).reshape(cone.shape)
    img = arr_box = volume.array[box].astype(np.float32)
    cost = _path_cost(img, blood_hu, blocked[box] | ~cone | (mask[box] & ~near_tip))
    ids = comps[box]
    ok = (ids > 0) & (sizes[ids] * voxel_mm3 >= rule.min_component_mm3) & (along.reshape(cone.shape) > 0)
    local_tip = tuple(int(t - a) for t, a in zip(tip, lo))
    mcp = MCP_Geometric(cost, sampling=tuple(sp))
    costs, _ = mcp.find_costs([local_tip])
    targets = np.argwhere(ok & cone & np.isfinite(costs))
    if not len(targets):
        return None
    t = targets[int(np.argmin(costs[tuple(targets.T)]))]
    path = np.array(mcp.traceback(tuple(t)))
    gap = _dark_mm(arr_box, path, sp, blood_hu)
    if gap > rule.max_gap_mm:  # round the lesion through dim tissue: the shortest way through it
        path = _cone_path(cost, local_tip, t, h, sp, rule.cone_deg, rule.lateral_mm)
        gap = np.inf if path is None else _dark_mm(arr_box, path, sp, blood_hu)
    if gap > rule.max_gap_mm:
        logger.debug("ahead of %s: dark gap %.1f mm", np.round(p_end, 1), gap)
        return None
    entry = tuple(int(v) for v in t + lo)
    piece = _vessel_piece(comps == ids[tuple(t)], volume.array, entry, blood_hu)
    if piece is None or not rule.min_component_mm3 <= piece.sum() * voxel_mm3 <= rule.max_component_ml * 1e3:
        logger.debug("ahead of %s: no vessel-sized piece", np.round(p_end, 1))
        return None
    if _against_chamber(piece, chamber):
        logger.debug("ahead of %s: a piece against a chamber", np.round(p_end, 1))
        return None
    # the piece runs on ahead from the joined voxel, with the branch's calibre
    g = np.ceil((rule.axis_mm + 1.0) / sp).astype(int)
    plo, phi = np.maximum(np.array(entry) - g, 0), np.minimum(np.array(entry) + g + 1, mask.shape)
    sub = piece[tuple(slice(a, c) for a, c in zip(plo, phi))]
    pts = (np.argwhere(sub) + plo - np.array(entry)) * sp
    local = np.linalg.norm(pts, axis=1) <= rule.axis_mm
    off = pts[local].mean(axis=0)
    ahead = float(off @ h)
    if ahead < rule.min_ahead_mm or ahead < np.cos(np.deg2rad(rule.max_axis_deg)) * np.linalg.norm(off):
        logger.debug(
            "ahead of %s: piece meets the heading side-on (%.1f mm ahead)", np.round(p_end, 1), ahead
        )
        return None
    r_piece = float(ndi.distance_transform_edt(np.pad(sub, 1), sampling=sp)[1:-1, 1:-1, 1:-1][sub].max())
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(b.points, axis=0), axis=1))])
    before = (s >= s[-1] - 10.0) & (s <= s[-1] - 3.0)
    r_branch = float(np.median(b.radii[before])) if before.any() else float(np.median(b.radii))
    if not rule.min_calibre * r_branch <= r_piece <= rule.max_calibre * r_branch + float(sp.min()):
        logger.debug("ahead of %s: calibre %.2f mm vs %.2f mm", np.round(p_end, 1), r_piece, r_branch)
        return None
    logger.info(
        "bridged a tight narrowing ahead of %s mm LPS (%d path voxels, %.1f mm dark, piece %.0f mm^3)",
        np.round(p_end, 1),
        len(path),
        gap,
        piece.sum() * voxel_mm3,
    )
    return path + lo, piece


def _bridge_pieces(
    volume, mask, others, forbidden, comps, sizes, blood_hu, added, rule: PieceRule, chamber
) -> None:
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
        gap = _dark_mm(img, path, sp, blood_hu)
        if gap > rule.max_gap_mm:
            # a tight lesion blurs to near tissue HU, so the cheapest path may run round it through
            # dim tissue: the path kept in the cone along the piece's axis runs through the lesion
            logger.debug("piece %d: dark gap %.1f mm, retried in line", cid, gap)
            path = _cone_path(cost, entry - blo, end, a_piece, sp, rule.max_angle_deg)
            gap = np.inf if path is None else _dark_mm(img, path, sp, blood_hu)
        if gap > rule.max_gap_mm:
            logger.debug("piece %d: dark gap %.1f mm", cid, gap)
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
        if _against_chamber(piece, chamber):
            logger.debug("piece %d: lies against a chamber", cid)
            continue
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
