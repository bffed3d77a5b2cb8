"""Brush strokes on a label map: the voxels within ``radius_mm`` of a polyline (a chain of capsules,
i.e. a sphere swept along the stroke), optionally confined to one slice (a disk brush drawn in a
slice view). Points are LPS mm or continuous voxel indices (i, j, k); the work is limited to the
stroke's bounding box, so a stroke on a 512x512x300 map costs only the voxels near it."""

from __future__ import annotations

import logging

import numpy as np

from ...errors import CardiacInputError
from ...imaging.volume import Volume

logger = logging.getLogger(__name__)

SPACES = ("lps", "ijk")


def stroke_points_lps(seg: Volume, points, space: str = "lps") -> np.ndarray:
    """The stroke as (N, 3) LPS mm points; ``space`` "ijk" converts voxel indices (i, j, k)."""
    if space not in SPACES:
        raise CardiacInputError(f"stroke point space must be one of {', '.join(SPACES)}, got {space!r}")
    pts = np.asarray(points, dtype=float)
    if pts.ndim == 1 and pts.size == 3:
        pts = pts[None, :]
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0 or not np.all(np.isfinite(pts)):
        raise CardiacInputError(f"a stroke needs one or more finite 3D points, got shape {pts.shape}")
    lps = seg.index_to_lps(pts) if space == "ijk" else pts
    seg.require_inside(lps, "stroke point")
    return lps


def _distance_to_polyline(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Euclidean distance (mm) of each of ``points`` (P, 3) to the polyline (N, 3) (N may be 1)."""
    best = np.linalg.norm(points - polyline[0], axis=1)
    for a, b in zip(polyline[:-1], polyline[1:]):
        ab = b - a
        length2 = float(ab @ ab)
        if length2 == 0.0:
            continue
        t = np.clip((points - a) @ ab / length2, 0.0, 1.0)
        d = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
        np.minimum(best, d, out=best)
    return best


def stroke_mask(
    seg: Volume, points_lps: np.ndarray, radius_mm: float, slice_axis: int | None = None
) -> tuple[tuple[slice, slice, slice], np.ndarray]:
    """(box, mask): ``mask`` (bool, shape of ``seg.array[box]``) marks the voxel centres within
    ``radius_mm`` of the stroke (LPS mm). With ``slice_axis`` (0 = i, 1 = j, 2 = k: the index axis
    normal to the slice view) only the slice holding the stroke is touched (disk brush)."""
    if not np.isfinite(radius_mm) or radius_mm <= 0:
        raise CardiacInputError(f"brush radius must be a positive number of mm, got {radius_mm}")
    ijk = seg.lps_to_index(points_lps)
    reach = radius_mm / np.asarray(seg.spacing)  # voxels along i, j, k (direction is orthonormal)
    size = np.array(seg.shape[::-1])
    lo = np.maximum(np.floor(ijk.min(0) - reach), 0).astype(int)
    hi = np.minimum(np.ceil(ijk.max(0) + reach) + 1, size).astype(int)
    if slice_axis is not None:
        if slice_axis not in (0, 1, 2):
            raise CardiacInputError(f"slice axis must be 0 (i), 1 (j) or 2 (k), got {slice_axis}")
        layers = np.unique(np.rint(ijk[:, slice_axis]).astype(int))
        if len(layers) != 1:
            raise CardiacInputError(
                f"a slice-view stroke must lie in one slice, but its points span index "
                f"{layers.min()}..{layers.max()} along axis {'ijk'[slice_axis]}"
            )
        lo[slice_axis], hi[slice_axis] = layers[0], layers[0] + 1
    box = (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))  # [z, y, x]
    kk, jj, ii = np.meshgrid(*(np.arange(s.start, s.stop) for s in box), indexing="ij")
    centres = seg.index_to_lps(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1).astype(float))
    if slice_axis is not None:  # distances within the slice plane: project the stroke onto it
        normal = seg.direction[:, slice_axis]
        offset = (points_lps - seg.index_to_lps(np.eye(3)[slice_axis] * lo[slice_axis])) @ normal
        points_lps = points_lps - offset[:, None] * normal
    mask = (_distance_to_polyline(centres, np.asarray(points_lps, float)) <= radius_mm).reshape(kk.shape)
    return box, mask


def painted(array: np.ndarray, box, mask: np.ndarray, label: int, overwrite: bool = True) -> np.ndarray:
    """A copy of ``array`` with ``label`` painted into ``mask`` (within ``box``); without
    ``overwrite`` only background voxels change (other segments are kept)."""
    out = array.copy()
    sub = out[box]
    sub[mask if overwrite else mask & (sub == 0)] = label
    return out


def erased(array: np.ndarray, box, mask: np.ndarray, label: int | None) -> np.ndarray:
    """A copy of ``array`` with ``label`` (every segment when None) set to background in ``mask``."""
    out = array.copy()
    sub = out[box]
    sub[mask if label is None else mask & (sub == label)] = 0
    return out
