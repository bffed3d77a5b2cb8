"""Warping a reference label map (and points) with a displacement field from :mod:`.register`.

Labels are warped by linear interpolation of each label's one-hot mask followed by a per-voxel
arg-max (background included, its weight is ``1 - sum`` since linear weights sum to one): boundaries
move by sub-voxel amounts instead of the voxel steps of nearest-neighbour warping, and the label
values are kept. The interpolated weights also give a partial-volume estimate of each label's
volume (:attr:`WarpedLabels.volumes_ml`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import CardiacInputError
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)


@dataclass
class WarpedLabels:
    """A warped label map and each label's partial-volume volume (mL) on the output grid."""

    labels: Volume
    volumes_ml: dict[int, float]


def label_box(labels: Volume, margin_mm: float) -> tuple[slice, slice, slice]:
    """Index box [z, y, x] of the non-zero labels grown by ``margin_mm`` (clipped to the image)."""
    idx = np.argwhere(labels.array != 0)
    if idx.size == 0:
        raise CardiacInputError("the reference segmentation is empty: nothing to propagate")
    grow = np.ceil(margin_mm / np.asarray(labels.spacing[::-1])).astype(int)
    lo = np.maximum(idx.min(axis=0) - grow, 0)
    hi = np.minimum(idx.max(axis=0) + grow + 1, labels.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))  # type: ignore[return-value]


def sub_volume(volume: Volume, box: tuple[slice, slice, slice]) -> Volume:
    """The part ``box`` ([z, y, x] slices) of ``volume`` with its own origin (a view, no copy)."""
    start = np.array([box[2].start, box[1].start, box[0].start], dtype=float)
    origin = volume.index_to_lps(start)
    return Volume(volume.array[box], volume.spacing, tuple(origin), volume.direction.copy())


def warp_labels(
    reference_labels: Volume, field: sitk.Image, output_grid: Volume | None = None
) -> WarpedLabels:
    """Warp ``reference_labels`` (values kept) onto ``output_grid`` (default: the reference grid)
    with the pull-back displacement field ``field`` (phase point y -> reference point y + u(y), mm).

    On the reference grid each label is resampled only in its bounding box grown by the largest
    displacement (+2 voxels), so small structures cost little in a large crop."""
    grid = output_grid if output_grid is not None else reference_labels
    same_grid = grid.same_geometry(reference_labels, tol=1e-3)
    values = [int(v) for v in np.unique(reference_labels.array) if v != 0]
    transform = sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))
    max_disp = float(np.sqrt((sitk.GetArrayViewFromImage(field) ** 2).sum(axis=-1).max())) if values else 0.0
    best = np.zeros(grid.shape, dtype=np.float32)
    best_value = np.zeros(grid.shape, dtype=reference_labels.array.dtype)
    total = np.zeros(grid.shape, dtype=np.float32)
    volumes = {}
    voxel_ml = float(np.prod(grid.spacing)) / 1000.0
    full_box = tuple(slice(0, n) for n in grid.shape)
    for v in values:
        mask = reference_labels.array == v
        box = (
            label_box(reference_labels.with_array(mask), max_disp + 2 * max(grid.spacing))
            if same_grid
            else full_box
        )
        onehot = reference_labels.with_array(mask.astype(np.float32)).to_sitk()
        weight = sitk.GetArrayFromImage(
            sitk.Resample(
                onehot, _sitk_grid(sub_volume(grid, box)), transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32
            )
        )
        volumes[v] = float(weight.sum(dtype=np.float64)) * voxel_ml
        b, bv = best[box], best_value[box]  # views
        wins = weight > b
        b[wins] = weight[wins]
        bv[wins] = v
        total[box] += weight
    background = 1.0 - total
    best_value[best <= background] = 0
    out = Volume(best_value, grid.spacing, grid.origin, grid.direction.copy(), {})
    return WarpedLabels(out, volumes)


def _sitk_grid(grid: Volume) -> sitk.Image:
    image = sitk.Image(list(grid.shape[::-1]), sitk.sitkUInt8)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    image.SetDirection(tuple(grid.direction.flatten()))
    return image


def field_to_reference(field: sitk.Image, points_lps: np.ndarray) -> np.ndarray:
    """Reference positions ``y + u(y)`` (N,3 LPS mm) of phase points ``y`` (N,3 LPS mm); the field is
    interpolated trilinearly and taken as zero outside its grid."""
    pts = np.atleast_2d(np.asarray(points_lps, dtype=float))
    u = sitk.GetArrayViewFromImage(field)  # [z, y, x, 3]
    direction = np.reshape(field.GetDirection(), (3, 3))
    ijk = (pts - np.asarray(field.GetOrigin())) @ np.linalg.inv(direction @ np.diag(field.GetSpacing())).T
    coords = ijk[:, ::-1].T  # (3, N) in z, y, x order
    disp = np.stack(
        [ndimage.map_coordinates(u[..., c], coords, order=1, mode="constant") for c in range(3)], axis=1
    )
    return pts + disp


def warp_points(
    field: sitk.Image, points_ref_lps: np.ndarray, iterations: int = 50, tol_mm: float = 1e-3
) -> np.ndarray:
    """Phase positions (N,3 LPS mm) of reference points, inverting the pull-back field by fixed-point
    iteration ``y <- x - u(y)`` (contracts while the field's Lipschitz constant is below one).
    Used to move surface meshes (vertices) from the reference to a phase."""
    x = np.atleast_2d(np.asarray(points_ref_lps, dtype=float))
    y = x.copy()
    for _ in range(iterations):
        u = field_to_reference(field, y) - y
        y_new = x - u
        step = float(np.abs(y_new - y).max()) if len(y) else 0.0
        y = y_new
        if step < tol_mm:
            break
    return y
