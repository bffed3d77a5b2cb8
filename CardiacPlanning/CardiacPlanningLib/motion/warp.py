"""Warping a reference label map (and points) with a displacement field from :mod:`.register`.

Labels are warped by linear interpolation of each label's one-hot mask followed by a per-voxel
arg-max (background included, its weight is ``1 - sum`` since linear weights sum to one): boundaries
move by sub-voxel amounts instead of the voxel steps of nearest-neighbour warping, and the label
values are kept; only voxels near a label border need the interpolation (see :func:`warp_labels`).
The interpolated weights also give a partial-volume estimate of each label's volume
(:attr:`WarpedLabels.volumes_ml`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from .pullback import pull_back_labels

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
    reference_labels: Volume,
    field: sitk.Image,
    output_grid: Volume | None = None,
    extend_edges: bool = False,
) -> WarpedLabels:
    """Warp ``reference_labels`` (values kept) onto ``output_grid`` (default: the reference grid)
    with the pull-back displacement field ``field`` (phase point y -> reference point y + u(y), mm;
    linear interpolation, zero beyond the field's grid as ITK's displacement transform).

    The result equals the per-voxel arg-max of the linearly interpolated one-hot masks; the field is
    evaluated once per voxel for all labels and only near label borders (:mod:`.pullback`). Points
    pulled back beyond the reference image are background, or with ``extend_edges`` take its nearest
    edge voxel (a vessel cut by the field of view continues beyond it)."""
    grid = output_grid if output_grid is not None else reference_labels
    ref = np.asarray(reference_labels.array)
    values = [int(v) for v in np.unique(ref) if v != 0]
    n = len(values) + 1
    lut = np.zeros(int(max(values, default=0)) + 1, dtype=np.int32)
    lut[values] = np.arange(1, n)
    index = lut[ref].astype(np.uint8 if n <= 255 else np.int32)
    out_index, counts = pull_back_labels(index, reference_labels, field, grid, n, extend_edges)
    table = np.array([0, *values], dtype=ref.dtype)
    out = Volume(table[out_index], grid.spacing, grid.origin, grid.direction.copy(), {})
    voxel_ml = float(np.prod(grid.spacing)) / 1000.0
    return WarpedLabels(out, {v: float(counts[m + 1]) * voxel_ml for m, v in enumerate(values)})


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
