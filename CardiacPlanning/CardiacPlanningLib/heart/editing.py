"""Fine-tuning a label map with undo: grow/shrink inside a sphere, smooth, fill holes, remove islands,
cut with a plane. Each operation changes only one segment (``label``) and, where it grows, only
background voxels; distances are in mm on the voxel grid (anisotropic spacing honoured), points in
LPS mm. :class:`EditSession` keeps the undo/redo stack (sparse voxel diffs, so a 512x512x300 map
costs only what an edit changed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..errors import CardiacInputError
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)


def _sphere(seg: Volume, center_lps, radius_mm: float) -> np.ndarray:
    """Boolean mask of voxel centres within ``radius_mm`` of ``center_lps``."""
    if radius_mm <= 0:
        raise CardiacInputError(f"sphere radius must be positive, got {radius_mm} mm")
    seg.require_inside(np.asarray(center_lps, float), "sphere centre")
    zz, yy, xx = np.indices(seg.shape, sparse=True)
    pts = seg.index_to_lps(np.stack(np.broadcast_arrays(xx, yy, zz), -1).reshape(-1, 3))
    d = np.linalg.norm(pts - np.asarray(center_lps, float), axis=1).reshape(seg.shape)
    return d <= radius_mm


def _dist_to(mask: np.ndarray, spacing) -> np.ndarray:
    """Distance (mm) from each voxel centre to the nearest voxel of ``mask``."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndi.distance_transform_edt(~mask, sampling=tuple(spacing[::-1]))


def _check_label(label: int) -> int:
    if not 0 < int(label) < 256:
        raise CardiacInputError(f"segment label must be 1..255, got {label}")
    return int(label)


def grow_in_sphere(seg: Volume, label: int, center_lps, radius_mm: float, amount_mm: float) -> np.ndarray:
    """Grow ``label`` by ``amount_mm`` into background voxels inside the sphere."""
    label = _check_label(label)
    out = seg.array.copy()
    add = (
        (_dist_to(out == label, seg.spacing) <= amount_mm) & (out == 0) & _sphere(seg, center_lps, radius_mm)
    )
    out[add] = label
    return out


def shrink_in_sphere(seg: Volume, label: int, center_lps, radius_mm: float, amount_mm: float) -> np.ndarray:
    """Peel ``amount_mm`` off ``label`` inside the sphere (removed voxels become background)."""
    label = _check_label(label)
    out = seg.array.copy()
    mask = out == label
    # pad so that the image border counts as outside the segment
    inside = np.pad(mask, 1, constant_values=False)
    depth = ndi.distance_transform_edt(inside, sampling=tuple(seg.spacing[::-1]))[1:-1, 1:-1, 1:-1]
    out[mask & (depth <= amount_mm) & _sphere(seg, center_lps, radius_mm)] = 0
    return out


def smooth(seg: Volume, label: int, sigma_mm: float = 1.0) -> np.ndarray:
    """Gaussian-smooth the surface of ``label`` (threshold 0.5); it gains background voxels only."""
    label = _check_label(label)
    out = seg.array.copy()
    mask = out == label
    sigma = [sigma_mm / s for s in seg.spacing[::-1]]
    smoothed = ndi.gaussian_filter(mask.astype(np.float32), sigma) >= 0.5
    out[mask & ~smoothed] = 0
    out[smoothed & ~mask & (out == 0)] = label
    return out


def fill_holes(seg: Volume, label: int) -> np.ndarray:
    """Fill background cavities fully enclosed by ``label`` (3D)."""
    label = _check_label(label)
    out = seg.array.copy()
    mask = out == label
    out[ndi.binary_fill_holes(mask) & ~mask & (out == 0)] = label
    return out


def remove_islands(seg: Volume, label: int, min_ml: float | None = None) -> np.ndarray:
    """Keep the largest connected piece of ``label`` (6-connected), or every piece of at least
    ``min_ml`` ml; the rest becomes background."""
    label = _check_label(label)
    out = seg.array.copy()
    comp, n = ndi.label(out == label)
    if n <= 1:
        return out
    sizes = np.bincount(comp.ravel())
    sizes[0] = 0
    if min_ml is None:
        keep = np.array([int(np.argmax(sizes))])
    else:
        keep = np.where(sizes * np.prod(seg.spacing) / 1000.0 >= min_ml)[0]
    out[(comp > 0) & ~np.isin(comp, keep)] = 0
    return out


def cut_with_plane(seg: Volume, label: int, point_lps, normal_lps) -> np.ndarray:
    """Remove the part of ``label`` on the side of the plane the normal points to."""
    label = _check_label(label)
    n = np.asarray(normal_lps, float)
    if np.linalg.norm(n) == 0:
        raise CardiacInputError("plane normal must not be zero")
    n = n / np.linalg.norm(n)
    out = seg.array.copy()
    idx = np.argwhere(out == label)  # (z, y, x)
    if idx.size == 0:
        return out
    side = (seg.index_to_lps(idx[:, ::-1]) - np.asarray(point_lps, float)) @ n > 0
    out[tuple(idx[side].T)] = 0
    return out


@dataclass
class _Step:
    description: str
    index: np.ndarray
    before: np.ndarray
    after: np.ndarray


class EditSession:
    """A label map under edit with an undo/redo stack of at most ``max_steps`` steps."""

    def __init__(self, seg: Volume, max_steps: int = 50) -> None:
        self.seg = seg.with_array(seg.array.copy())
        self.max_steps = max_steps
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []

    @property
    def array(self) -> np.ndarray:
        return self.seg.array

    def apply(self, description: str, new: np.ndarray) -> int:
        """Record the change to ``new``; returns the number of voxels changed."""
        flat_old, flat_new = self.seg.array.ravel(), new.ravel()
        index = np.flatnonzero(flat_old != flat_new)
        if index.size:
            self._undo.append(_Step(description, index, flat_old[index].copy(), flat_new[index].copy()))
            self._undo = self._undo[-self.max_steps :]
            self._redo.clear()
            self.seg.array = new
        logger.info("edit %s: %d voxels", description, index.size)
        return int(index.size)

    def _move(self, src: list[_Step], dst: list[_Step], forward: bool) -> str:
        if not src:
            raise CardiacInputError(f"nothing to {'redo' if forward else 'undo'}")
        step = src.pop()
        flat = self.seg.array.reshape(-1)
        flat[step.index] = step.after if forward else step.before
        dst.append(step)
        return step.description

    def undo(self) -> str:
        return self._move(self._undo, self._redo, False)

    def redo(self) -> str:
        return self._move(self._redo, self._undo, True)

    @property
    def history(self) -> list[str]:
        return [s.description for s in self._undo]

    def grow(self, label: int, center_lps, radius_mm: float, amount_mm: float) -> int:
        return self.apply(f"grow {label}", grow_in_sphere(self.seg, label, center_lps, radius_mm, amount_mm))

    def shrink(self, label: int, center_lps, radius_mm: float, amount_mm: float) -> int:
        return self.apply(
            f"shrink {label}", shrink_in_sphere(self.seg, label, center_lps, radius_mm, amount_mm)
        )

    def smooth(self, label: int, sigma_mm: float = 1.0) -> int:
        return self.apply(f"smooth {label}", smooth(self.seg, label, sigma_mm))

    def fill_holes(self, label: int) -> int:
        return self.apply(f"fill holes {label}", fill_holes(self.seg, label))

    def remove_islands(self, label: int, min_ml: float | None = None) -> int:
        return self.apply(f"remove islands {label}", remove_islands(self.seg, label, min_ml))

    def cut(self, label: int, point_lps, normal_lps) -> int:
        return self.apply(f"cut {label}", cut_with_plane(self.seg, label, point_lps, normal_lps))
