"""Pulling a label-index map back through a displacement field, fast (used by :func:`.warp.warp_labels`).

The result is the per-voxel arg-max of the linearly interpolated one-hot masks of every label
(background included), but the field is evaluated once per voxel for all labels, and only where the
answer is not already known:

* a reference voxel is *tagged* when its 3x3x3 neighbourhood may hold another label: the nearest
  reference voxel of a pulled-back point that is not tagged gives the point's label exactly (the 8
  interpolation corners lie in that neighbourhood);
* when the output, field and reference grids share one direction (the propagation's crops), each
  cell of the field grid is tested at once: the points of a cell are pulled back inside the box
  spanned by its 8 corners (trilinear interpolation is a convex combination), so a box without a
  tagged voxel (a 3-D summed-area table answers that) is pure; only the output voxels of the other
  cells are pulled back one by one;
* points whose nearest reference voxel is tagged get the trilinear weights of all labels.

The field is interpolated linearly; within half a voxel beyond its grid the nearest field value is
used, farther out the displacement is zero (ITK's ``DisplacementFieldTransform``).
"""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk

from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

SLAB_VOXELS = 2_000_000  # output voxels per slab (bounds the temporary memory)


def pull_back_labels(
    index: np.ndarray, reference: Volume, field: sitk.Image, grid: Volume, n: int, extend: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(label indices on ``grid`` [z, y, x], partial-volume voxel count of each index 0..n-1) of the
    label-index map ``index`` (on ``reference``'s grid, values < n) pulled back through ``field``.
    Points pulled back beyond the reference image are background, or with ``extend`` take the
    nearest edge voxel (structures cut by the field of view continue beyond it)."""
    tagged = _tagged(index)
    field_grid = _FieldGrid(field, reference)
    out = np.empty(grid.shape, dtype=index.dtype)
    counts = np.zeros(n, dtype=np.float64)
    nz, ny, nx = grid.shape
    slab = max(1, SLAB_VOXELS // (ny * nx))
    aligned = field_grid.aligned_with(grid)
    cells = _pure_cells(index, tagged, field_grid, extend) if aligned else None
    axes = [field_grid.axis_positions(grid, a) for a in range(3)] if aligned else None
    for k0 in range(0, nz, slab):
        k1 = min(nz, k0 + slab)
        shape = (k1 - k0, ny, nx)
        if cells is not None and axes is not None:
            cell_label, pure = cells
            ci, cj, ck = (axes[0][1], axes[1][1], axes[2][1][k0:k1])
            ok = axes[0][2][None, None, :] & axes[1][2][None, :, None] & axes[2][2][k0:k1, None, None]
            sel = (ck[:, None, None], cj[None, :, None], ci[None, None, :])
            lab = np.where(ok & pure[sel], cell_label[sel], 0).astype(index.dtype).ravel()
            todo = np.flatnonzero(~(ok & pure[sel]).ravel())
            kk, jj, ii = np.unravel_index(todo, shape)
            pos = field_grid.pull_points(grid, ii, jj, kk + k0)
        else:
            kk, jj, ii = np.meshgrid(np.arange(k0, k1), np.arange(ny), np.arange(nx), indexing="ij")
            lab = np.zeros(int(np.prod(shape)), dtype=index.dtype)
            todo = np.arange(lab.size)
            pos = field_grid.pull_points(grid, ii.ravel(), jj.ravel(), kk.ravel())
        counts += np.bincount(lab, minlength=n)
        if todo.size:
            got, weight_sum = _label_points(index, tagged, pos, n, extend)
            lab[todo] = got
            counts += weight_sum - np.bincount(np.zeros(todo.size, np.int64), minlength=n)
        out[k0:k1] = lab.reshape(shape)
    return out, counts


def _label_points(
    index: np.ndarray, tagged: np.ndarray, pos, n: int, extend: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(label index, summed one-hot weights per index) of points at continuous reference indices
    ``pos`` = (i, j, k) arrays (``extend``: clamped to the image)."""
    rz, ry, rx = index.shape
    if extend:
        pos = [np.clip(c, 0, size - 1) for c, size in zip(pos, (rx, ry, rz))]
    i, j, k = (np.rint(c).astype(np.int64) for c in pos)
    inside = (i >= 0) & (i < rx) & (j >= 0) & (j < ry) & (k >= 0) & (k < rz)
    lin = np.where(inside, (k * ry + j) * rx + i, 0)
    lab = np.where(inside, index.ravel()[lin], 0)
    sums = np.bincount(lab, minlength=n).astype(np.float64)
    sel = np.flatnonzero(inside & tagged.ravel()[lin])
    if sel.size:
        weights = _trilinear_weights(index, pos[0][sel], pos[1][sel], pos[2][sel], n)
        sums += weights.sum(axis=0) - np.bincount(lab[sel], minlength=n)
        best = np.argmax(weights[:, 1:], axis=1) + 1 if n > 1 else np.zeros(sel.size, np.int64)
        keep = weights[np.arange(sel.size), best] > weights[:, 0]
        lab[sel] = np.where(keep, best, 0)
    return lab.astype(index.dtype), sums


def _tagged(index: np.ndarray) -> np.ndarray:
    """True where the 3x3x3 neighbourhood may hold another label index (a superset: voxels within one
    step of a face-neighbour change) or reaches beyond the image."""
    edge = np.zeros(index.shape, dtype=bool)
    for axis in range(3):
        lo, hi = _halves(axis)
        step = index[lo] != index[hi]
        edge[lo] |= step
        edge[hi] |= step
    for axis in range(3):
        lo, hi = _halves(axis)
        grown = edge.copy()
        grown[lo] |= edge[hi]
        grown[hi] |= edge[lo]
        edge = grown
        first = [slice(None)] * 3
        first[axis] = 0
        last = [slice(None)] * 3
        last[axis] = -1
        edge[tuple(first)] = True
        edge[tuple(last)] = True
    return edge


def _halves(axis: int) -> tuple[tuple, tuple]:
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis], hi[axis] = slice(0, -1), slice(1, None)
    return tuple(lo), tuple(hi)


def _trilinear_weights(index: np.ndarray, ci, cj, ck, n: int) -> np.ndarray:
    """(N, n) trilinear weights of each label index at continuous indices (i, j, k) = (x, y, z) of
    ``index`` ([z, y, x] label indices < n) within the image's buffer (-0.5 .. size - 0.5, the edge
    voxels extended as in ITK's linear interpolator)."""
    size = index.shape[::-1]
    pos = [np.clip(np.asarray(c, dtype=np.float64), 0, size[a] - 1) for a, c in enumerate((ci, cj, ck))]
    base = [np.minimum(np.floor(p).astype(np.int64), max(size[a] - 2, 0)) for a, p in enumerate(pos)]
    frac = [p - b for p, b in zip(pos, base)]
    rows = np.arange(len(ci))
    weights = np.zeros((len(ci), n), dtype=np.float64)
    for corner in range(8):
        off = [(corner >> a) & 1 for a in range(3)]
        c = [np.minimum(b + o, size[a] - 1) for a, (b, o) in enumerate(zip(base, off))]
        w = np.ones(len(ci))
        for a in range(3):
            w *= frac[a] if off[a] else 1.0 - frac[a]
        weights[rows, index[c[2], c[1], c[0]].astype(np.int64)] += w
    return weights


class _FieldGrid:
    """The displacement field in reference-index units: ``v[a]`` ([z, y, x] of the field grid) is the
    a-th component (i, j, k) of the displacement divided into reference voxels."""

    def __init__(self, field: sitk.Image, reference: Volume) -> None:
        self.reference = reference
        self.direction = np.reshape(field.GetDirection(), (3, 3))
        self.spacing = np.asarray(field.GetSpacing(), dtype=float)
        self.origin = np.asarray(field.GetOrigin(), dtype=float)
        u = sitk.GetArrayViewFromImage(field)
        to_ref = np.linalg.inv(reference.direction @ np.diag(reference.spacing))
        self.v = [np.ascontiguousarray((u @ to_ref[a]).astype(np.float32)) for a in range(3)]
        self.shape = self.v[0].shape  # [z, y, x]

    def aligned_with(self, grid: Volume) -> bool:
        return bool(
            np.allclose(grid.direction, self.direction, atol=1e-6)
            and np.allclose(grid.direction, self.reference.direction, atol=1e-6)
        )

    def axis_positions(self, grid: Volume, a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the output voxels along axis ``a`` (aligned grids): field continuous index, field
        cell index, and whether the index lies within the field's nodes."""
        off = (grid.direction.T @ (np.asarray(grid.origin) - self.origin))[a]
        pos = (off + grid.spacing[a] * np.arange(grid.shape[2 - a])) / self.spacing[a]
        n = self.shape[2 - a]
        cell = np.clip(np.floor(pos).astype(np.int64), 0, max(n - 2, 0))
        return pos, cell, (pos >= 0) & (pos <= n - 1) & (n > 1)

    def pull_points(self, grid: Volume, i, j, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Continuous reference indices (i, j, k) of output voxels (integer index arrays of ``grid``)."""
        if self.aligned_with(grid):
            c, r = [], []
            for a, idx in enumerate((i, j, k)):
                c.append(self.axis_positions(grid, a)[0][idx])
                off = (grid.direction.T @ (np.asarray(grid.origin) - np.asarray(self.reference.origin)))[a]
                r.append((off + grid.spacing[a] * idx) / self.reference.spacing[a])
        else:
            ijk = np.stack([i, j, k], axis=1).astype(float)
            y = grid.index_to_lps(ijk)
            cc = (y - self.origin) @ np.linalg.inv(self.direction @ np.diag(self.spacing)).T
            rr = self.reference.lps_to_index(y)
            c, r = [cc[:, a] for a in range(3)], [rr[:, a] for a in range(3)]
        disp = self._interpolate(c)
        return r[0] + disp[0], r[1] + disp[1], r[2] + disp[2]

    def _interpolate(self, c: list) -> list[np.ndarray]:
        """Trilinear field values (reference-index units) at field continuous indices ``c`` = [i, j, k]
        arrays; nearest within half a voxel beyond the grid, zero farther out."""
        size = self.shape[::-1]
        inside = np.ones(len(c[0]), dtype=bool)
        base, frac = [], []
        for a in range(3):
            inside &= (c[a] >= -0.5) & (c[a] <= size[a] - 0.5)
            pos = np.clip(c[a], 0, size[a] - 1)
            b = np.minimum(np.floor(pos).astype(np.int64), max(size[a] - 2, 0))
            base.append(b)
            frac.append(pos - b)
        out = [np.zeros(len(c[0])) for _ in range(3)]
        for corner in range(8):
            off = [(corner >> a) & 1 for a in range(3)]
            idx = [np.minimum(base[a] + off[a], size[a] - 1) for a in range(3)]
            w = np.ones(len(c[0]))
            for a in range(3):
                w *= frac[a] if off[a] else 1.0 - frac[a]
            flat = (idx[2] * size[1] + idx[1]) * size[0] + idx[0]
            for a in range(3):
                out[a] += w * self.v[a].ravel()[flat]
        for a in range(3):
            out[a][~inside] = 0.0
        return out


def _pure_cells(
    index: np.ndarray, tagged: np.ndarray, fg: _FieldGrid, extend: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(label index, pure) of every field cell [z, y, x] (aligned grids): the reference positions of
    a cell's points lie in the box of its 8 corners' positions; the cell is pure when no voxel of
    that box (rounded) is tagged or, unless ``extend`` clamps the box, outside the reference."""
    nz, ny, nx = fg.shape
    ref = fg.reference
    d = ref.direction
    base = (d.T @ (fg.origin - np.asarray(ref.origin))) / np.asarray(ref.spacing)
    step = fg.spacing / np.asarray(ref.spacing)
    grids = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    node = [base[a] + step[a] * grids[2 - a] + fg.v[a] for a in range(3)]  # reference i, j, k
    lo, hi = [], []
    for a in range(3):
        p = node[a]
        corners = [
            p[dz : nz - 1 + dz, dy : ny - 1 + dy, dx : nx - 1 + dx]
            for dz in (0, 1)
            for dy in (0, 1)
            for dx in (0, 1)
        ]
        lo.append(np.rint(np.min(corners, axis=0)).astype(np.int64))
        hi.append(np.rint(np.max(corners, axis=0)).astype(np.int64))
    rz, ry, rx = index.shape
    limits = (rx, ry, rz)
    inside = np.ones(lo[0].shape, dtype=bool)
    for a in range(3):
        if not extend:
            inside &= (lo[a] >= 0) & (hi[a] < limits[a])
        lo[a] = np.clip(lo[a], 0, limits[a] - 1)
        hi[a] = np.clip(hi[a], 0, limits[a] - 1)
    table = np.zeros((rz + 1, ry + 1, rx + 1), dtype=np.int32)
    table[1:, 1:, 1:] = tagged
    for axis in range(3):
        np.cumsum(table, axis=axis, out=table)
    count = np.zeros(lo[0].shape, dtype=np.int64)
    for corner in range(8):
        pick = [(corner >> a) & 1 for a in range(3)]
        sign = (-1) ** (3 - sum(pick))
        ii, jj, kk = (np.where(pick[a], hi[a] + 1, lo[a]) for a in range(3))
        count += sign * table[kk, jj, ii]
    pure = inside & (count == 0)
    label = np.where(pure, index[lo[2], lo[1], lo[0]], 0)
    return label, pure
