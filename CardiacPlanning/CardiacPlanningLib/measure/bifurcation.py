"""Where a vessel's lumen divides into two branches (the crotch of a bifurcation), LPS mm.

Definition (one definition for the measurement on a label map, :func:`.valves.mpa_length`, and for
the phantom's truth on its analytic tubes, :func:`..phantom.anatomy.mpa_length_truth`): along the
trunk axis (``start`` on the valve plane, unit direction ``axis``) the **crotch level** is the lowest
level ``t`` at which the lumen lying above the section at ``t`` (within a cylinder of radius
``reach_mm`` about the axis) falls into two or more pieces that each lead away from the bifurcation
(reach the cylinder's side or top: the branches). Pieces that end inside the cylinder, such as the
rounded dome of a trunk that ends between its branches, do not count. Put differently, ``t`` is the
height of the highest point of the lowest lumen path from one branch to the other: the lowest point
of the carina (the crotch), where a clinician ends the main pulmonary artery ("from the valve to the
bifurcation"). Near the crotch the lumen's surface faces along the axis, so a shift of the wall by a
fraction of a voxel moves the level by about as much, unlike the level where the last lumen leaves a
disc (the old "carina level" definition, which a grazing wall made ill-conditioned).

The lumen is sampled on a grid aligned with the axis (``spacing_mm`` in-plane and along the axis);
a first pass at 4 x the spacing finds the level within a few mm, a second at the full spacing
refines it; the level is reported halfway between the last section below the split and the first one
above it (quantisation +-``spacing_mm`` / 2). Pieces are 6-connected.

On a label map the apex of the carina is rounded off by partial volume (a wall thinner than about two
voxels is partly lost), so the split of the sampled lumen lies above it; :func:`crotch_from_wall`
finds the apex from the carina's sides (the wall width between the branches, extrapolated to zero).
The truth on analytic tubes needs no such step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy import ndimage

logger = logging.getLogger(__name__)


def axis_frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``axis`` and to each other (LPS)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    e1 = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(a, e1)


def _two_leading(lab: np.ndarray, rim: np.ndarray) -> tuple[int, int] | None:
    """The labels of the two largest pieces of the sampled lumen ``lab`` that lead on out of it
    (touch the cylinder's ``rim`` or its top section), smaller first; None with fewer than two."""
    lead = sorted((set(np.unique(lab[:, rim])) | set(np.unique(lab[-1]))) - {0})
    if len(lead) < 2:
        return None
    sizes = ndimage.sum(np.ones_like(lab), lab, lead)
    a, b = (lead[i] for i in np.argsort(sizes)[-2:])
    return a, b


def _sample(inside, start, axis, t_lo, t_hi, reach, spacing):
    """Boolean lumen grid (t, u, v) of the cylinder, the section heights t, and the disc's rim mask."""
    e1, e2 = axis_frame(axis)
    g = np.arange(-reach, reach + 1e-9, spacing)
    gu, gv = np.meshgrid(g, g, indexing="ij")
    disc = gu**2 + gv**2 <= reach**2
    rim = disc & (gu**2 + gv**2 > (reach - 1.5 * spacing) ** 2)
    t = np.arange(t_lo, t_hi + 1e-9, spacing)
    flat = start + gu[disc][:, None] * e1 + gv[disc][:, None] * e2
    grid = np.zeros((len(t),) + gu.shape, bool)
    for k, tk in enumerate(t):
        grid[k][disc] = inside(flat + tk * axis)
    return grid, t, rim


def _leading_pieces(grid: np.ndarray, rim: np.ndarray, k: int) -> int:
    """Number of pieces of the lumen above (and at) section ``k`` that reach the rim or the top."""
    lab, n = ndimage.label(grid[k:])
    if n == 0:
        return 0
    reach = set(np.unique(lab[:, rim])) | set(np.unique(lab[-1]))
    reach.discard(0)
    return len(reach)


def _first_split(grid: np.ndarray, rim: np.ndarray, stride: int) -> int | None:
    """Index of the first section (scanning up every ``stride``, then refining) above which the lumen
    is in two or more leading pieces; None when it never is."""
    prev = 0
    for k in range(0, len(grid), stride):
        if _leading_pieces(grid, rim, k) >= 2:
            lo, hi = prev, k
            while hi - lo > 1:
                m = (lo + hi) // 2
                lo, hi = (lo, m) if _leading_pieces(grid, rim, m) >= 2 else (m, hi)
            return hi
        prev = k
    return None


def crotch_level(
    inside: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    axis: np.ndarray,
    reach_mm: float,
    t_range: tuple[float, float],
    spacing_mm: float = 0.25,
) -> float | None:
    """Crotch level (mm along ``axis`` from ``start``, LPS) of the lumen ``inside`` (a function of
    LPS points (N, 3) -> bool); see the module docstring. Searched within ``t_range``; the section at
    ``t_range[0]`` must cut the trunk only. None when the lumen does not divide there."""
    start = np.asarray(start, float)
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    coarse = 4.0 * spacing_mm
    grid, t, rim = _sample(inside, start, axis, t_range[0], t_range[1], reach_mm, coarse)
    k = _first_split(grid, rim, 2)
    if k is None:
        return None
    lo = max(t_range[0], float(t[k]) - max(2.0 * coarse, 2.0))
    # refine: the fine grid reaches ``reach_mm`` above the split, so a branch (running at <= 90 deg
    # from the axis) leaves through the side or the top of the cylinder
    hi = min(t_range[1], float(t[k]) + reach_mm)
    grid, t, rim = _sample(inside, start, axis, lo, hi, reach_mm, spacing_mm)
    k = _first_split(grid, rim, 4)
    if k is None or k == 0:
        return None
    return float(0.5 * (t[k - 1] + t[k]))


def wall_widths(
    inside: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    axis: np.ndarray,
    reach_mm: float,
    level: float,
    height_mm: float,
    spacing_mm: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """(levels, widths) of the wall between the two largest leading pieces of the lumen above
    ``level`` (a crotch level), in the sections from ``level`` up to ``level + height_mm``: the
    shortest in-plane distance between the two pieces' sampled points less one sample spacing (the
    thresholded lumen reaches half a sample beyond each outermost point). NaN where a section holds
    only one of them."""
    start = np.asarray(start, float)
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    grid, t, rim = _sample(
        inside, start, axis, level + 0.5 * spacing_mm, level + height_mm, reach_mm, spacing_mm
    )
    lab, n = ndimage.label(grid)
    widths = np.full(len(t), np.nan)
    pair = _two_leading(lab, rim)
    if pair is None:
        return t, widths
    a, b = pair
    for j in range(len(t)):
        pa, pb = lab[j] == a, lab[j] == b
        if pa.any() and pb.any():
            d = ndimage.distance_transform_edt(~pa, sampling=spacing_mm)
            widths[j] = float(d[pb].min()) - spacing_mm
    return t, widths


def crotch_point(
    inside: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    axis: np.ndarray,
    reach_mm: float,
    level: float,
    spacing_mm: float = 0.25,
) -> np.ndarray | None:
    """Where the lumen parts (LPS mm): midway between the two largest leading pieces of the lumen
    above ``level`` (a crotch level) where they come closest, in the first section above ``level``
    that holds both. None when no section within 3 mm does."""
    start = np.asarray(start, float)
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    grid, t, rim = _sample(inside, start, axis, level + 0.5 * spacing_mm, level + 3.0, reach_mm, spacing_mm)
    lab, _ = ndimage.label(grid)
    pair = _two_leading(lab, rim)
    if pair is None:
        return None
    a, b = pair
    e1, e2 = axis_frame(axis)
    for j in range(len(t)):
        pa, pb = lab[j] == a, lab[j] == b
        if pa.any() and pb.any():
            d, near = ndimage.distance_transform_edt(~pa, sampling=spacing_mm, return_indices=True)
            k = np.unravel_index(np.argmin(np.where(pb, d, np.inf)), d.shape)
            uv = (0.5 * (np.array(k) + np.array([near[0][k], near[1][k]]))) * spacing_mm - reach_mm
            return start + t[j] * axis + uv[0] * e1 + uv[1] * e2
    return None


def crotch_from_wall(
    inside: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    axis: np.ndarray,
    reach_mm: float,
    level: float,
    min_width_mm: float,
    fit_mm: float = 10.0,
    spacing_mm: float = 0.25,
) -> float | None:
    """The crotch level refined from the carina's sides: the level at which a straight line fitted
    to the wall width between the two branches (:func:`wall_widths`, widths from ``min_width_mm`` to
    ``min_width_mm + fit_mm``) reaches zero. Near its apex the wall between two branches is a wedge
    (its width grows linearly with the level), but on a sampled, smoothed image the apex is rounded
    off: a wall narrower than about two voxels is partly or wholly lost to partial volume, so the
    lumen above it seems to part later (on the phantom's tubes at 1.25 mm voxels the wall was
    0.45 mm too thin at 0.6 mm above its apex and within noise from 1 mm up, and the split was found
    0.4-0.5 mm high). Where the wall is at least ``min_width_mm`` (two voxels) wide its sides are
    resolved; extrapolating them to zero width finds the apex (a corner located from its edges).
    For a carina rounded with radius r the apex of its sides lies below its lowest point by
    ``r (1 / sin(b) - 1)`` for a wedge half-angle b (0.15 r at 60 deg). Returns None when fewer
    than four sections fall in the width range or the fit is not a widening wedge; the result is
    kept within 2 mm below ``level`` and never above it."""
    t, w = wall_widths(inside, start, axis, reach_mm, level, min_width_mm + fit_mm + 4.0, spacing_mm)
    ok = np.isfinite(w)
    # the wedge's sides: the widening stretch from the first section where the wall is resolved
    first = np.flatnonzero(ok & (w >= min_width_mm))
    if len(first) == 0:
        return None
    sel = ok & (t >= t[first[0]]) & (w <= min_width_mm + fit_mm)
    if sel.sum() < 4:
        return None
    slope, icpt = np.polyfit(t[sel], w[sel], 1)
    if slope <= 0.2:
        return None
    apex = -icpt / slope
    return float(np.clip(apex, level - 2.0, level))
