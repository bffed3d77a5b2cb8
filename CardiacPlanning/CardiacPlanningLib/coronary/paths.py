"""Minimal-path primitives of the lesion bridges (:mod:`.bridge`): the contrast cost of a path, the
length of its dark stretch, a path kept inside a cone, the dense core of a lumen piece, and the
principal axis of a piece's end."""

from __future__ import annotations

import logging

import cc3d
import numpy as np
from scipy import ndimage as ndi
from skimage.graph import MCP_Geometric

logger = logging.getLogger(__name__)

DENSE_FRACTION = 0.7
# a piece joined by its dense core and rim needs one continuous core: its largest connected set of
# dense voxels holds at least this share of them. Scattered noise voxels above the dense level in a
# partial-volume strip (a remnant of a chamber's lumen outside its mask) link up once each is grown by
# its rim (seed 119: a right-atrium strip, 16 dense voxels of 137, the largest connected 5 (31 %),
# joined to the RCA as a branch); a vessel's core is one line (seed 113's distal LCX: 89-94 %)
MIN_CORE_SHARE = 0.5
HALF_CONTRAST_COST = 1.0 / (0.05 + 0.5) ** 2  # _path_cost at half contrast


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


def _dark_mm(img: np.ndarray, path: np.ndarray, sp: np.ndarray, blood_hu: float) -> float:
    """Length (mm) of ``path``'s steps onto voxels below half the blood HU."""
    step = np.linalg.norm(np.diff(path * sp, axis=0), axis=1)
    return float(step[img[tuple(path.T)][1:] < 0.5 * blood_hu].sum())


def _cone_path(cost, start, end, axis, sp, angle_deg: float, lateral_mm: float = 1.5):
    """Minimal path from ``start`` to ``end`` (voxels of ``cost``'s grid) kept inside the cone of
    ``angle_deg`` (plus ``lateral_mm``) around ``axis`` (unit, z-y-x mm) from ``start``, or None.
    Every voxel below half contrast costs the same here: a lumen narrowed to a fraction of a voxel
    reads fat-to-tissue HU, no brighter than the myocardium the cheapest path would run through
    instead, so across the dark stretch the shortest way, through the narrowing, is taken."""
    cost = np.minimum(cost, HALF_CONTRAST_COST)
    rel = (np.indices(cost.shape).reshape(3, -1).T - np.asarray(start)) * sp
    ahead = rel @ axis
    lateral = np.linalg.norm(rel - ahead[:, None] * axis, axis=1)
    inside = (ahead >= -lateral_mm) & (
        lateral <= lateral_mm + np.tan(np.deg2rad(angle_deg)) * np.maximum(ahead, 0)
    )
    c = np.where(inside.reshape(cost.shape), cost, np.inf)
    mcp = MCP_Geometric(c, sampling=tuple(sp))
    costs, _ = mcp.find_costs([tuple(int(v) for v in start)], [tuple(int(v) for v in end)])
    if not np.isfinite(costs[tuple(int(v) for v in end)]):
        return None
    return np.array(mcp.traceback(tuple(int(v) for v in end)))


def _vessel_piece(component: np.ndarray, arr: np.ndarray, entry, blood: float) -> np.ndarray | None:
    """The part of ``component`` reached at ``entry`` (z, y, x): the whole component, or where it
    merges with a dimmer structure (partial-volume shells of a chamber) only its dense core
    (>= 70 % of the blood HU) with the core's own blurred rim (the component's voxels within one
    voxel of a dense voxel), the connected part nearest the entry.

    The rim belongs to the vessel: a lumen blurred by the scanner's point-spread function (FWHM
    ~0.6-1 mm) falls from its core to the lumen threshold (half the blood HU) over about a voxel,
    and a thin vessel (1.5-2 mm) peaks not far above 70 %, so its dense voxels alone are a
    fraction of its lumen, broken up by noise (seed 113's distal LCX, r 1.0-0.75 mm: 14 of
    44 mm^3). A partial-volume shell more than two voxels wide between the core and another dense
    part stays cut off."""
    dense = component & (arr >= DENSE_FRACTION * blood)
    if dense.sum() >= 0.6 * component.sum():
        return component
    if not dense.any():
        return None
    where = np.argwhere(dense)
    lo, hi = np.maximum(where.min(axis=0) - 1, 0), np.minimum(where.max(axis=0) + 2, dense.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    cored = ndi.binary_dilation(dense[box], np.ones((3, 3, 3), bool)) & component[box]
    comps = cc3d.connected_components(cored, connectivity=26)
    idx = np.argwhere(dense[box])
    near = idx[np.argmin(((idx + lo - np.array(entry)) ** 2).sum(axis=1))]
    piece = np.zeros_like(dense)
    piece[box] = comps == comps[tuple(near)]
    core = cc3d.connected_components(piece[box] & dense[box], connectivity=26)
    counts = np.bincount(core.reshape(-1))[1:]
    if counts.max() < MIN_CORE_SHARE * counts.sum():
        return None  # scattered dense noise in a partial-volume strip, no vessel's continuous core
    return piece


def _against_chamber(piece: np.ndarray, chamber: np.ndarray, fraction: float = 1.0 / 3.0) -> bool:
    """True when more than ``fraction`` of the voxels touching ``piece`` (26-neighbours) lie in
    ``chamber`` (the masked chambers, aorta, bone): a remnant of a chamber's lumen left outside its
    mask (a strip of the atrium along the mask's edge), not the vessel beyond a lesion. A coronary
    runs in epicardial fat, apart from the chamber by its wall and fat, so only a small part of
    its surface meets the mask (seen cases: 0-1 %; left-atrium strips joined to the right tree on
    seeds 107 and 116: 63-66 %)."""
    where = np.argwhere(piece)
    if not len(where):
        return False
    lo, hi = np.maximum(where.min(axis=0) - 1, 0), np.minimum(where.max(axis=0) + 2, piece.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    shell = ndi.binary_dilation(piece[box], np.ones((3, 3, 3), bool)) & ~piece[box]
    n = int(shell.sum())
    return n > 0 and int((shell & chamber[box]).sum()) > fraction * n
