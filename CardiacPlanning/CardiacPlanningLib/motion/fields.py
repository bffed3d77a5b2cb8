"""Displacement-field helpers of :mod:`.register` (pull-back convention: the point ``y`` of the fixed
grid corresponds to ``y + u(y)`` in the moving image)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def compose_fields(first: sitk.Image, second: sitk.Image) -> sitk.Image:
    """Pull-back field of ``second`` followed by ``first`` (mm, ``second``'s grid):
    ``u(y) = s(y) + f(y + s(y))``, ``f`` linearly interpolated and zero beyond its grid."""
    moved = sitk.Resample(
        first, second, field_transform(second), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64
    )
    return sitk.Add(moved, sitk.Cast(second, sitk.sitkVectorFloat64))


def field_transform(field: sitk.Image) -> sitk.DisplacementFieldTransform:
    """A displacement-field transform of a float64 copy of ``field``."""
    # the transform takes ownership of (and empties) the image it is given: pass a copy
    return sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))


def warp_image(image: sitk.Image, grid: sitk.Image, field: sitk.Image) -> sitk.Image:
    """``image`` pulled back through ``field`` onto ``grid`` (linear, float32; the nearest voxel's value
    beyond ``image``'s grid, so the box faces make no false edge)."""
    return sitk.Resample(image, grid, field_transform(field), sitk.sitkLinear, 0.0, sitk.sitkFloat32, True)


def shrink_image(image: sitk.Image, factor: int) -> sitk.Image:
    """``image`` smoothed (Gaussian of half the new voxel) and resampled on a grid ``factor`` times
    coarser, keeping its physical extent."""
    if factor <= 1:
        return image
    sigma = 0.5 * factor * image.GetSpacing()[0]
    smooth = sitk.SmoothingRecursiveGaussian(image, sigma)
    size = [max(int(round(s / factor)), 4) for s in image.GetSize()]
    spacing = [sp * s0 / s for sp, s0, s in zip(image.GetSpacing(), image.GetSize(), size)]
    # keep the physical extent: the first voxel centre moves by half the change of spacing
    origin = np.asarray(image.GetOrigin()) + np.reshape(image.GetDirection(), (3, 3)) @ (
        0.5 * (np.asarray(spacing) - np.asarray(image.GetSpacing()))
    )
    grid = sitk.Image(size, sitk.sitkFloat32)
    grid.SetSpacing(spacing)
    grid.SetOrigin(tuple(origin))
    grid.SetDirection(image.GetDirection())
    return sitk.Resample(smooth, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def zero_field(grid: sitk.Image) -> sitk.Image:
    """A zero displacement field (vector float64) on ``grid``."""
    field = sitk.Image(grid.GetSize(), sitk.sitkVectorFloat64, 3)
    field.CopyInformation(grid)
    return field


def resample_field(field: sitk.Image, grid: sitk.Image) -> sitk.Image:
    """A displacement field linearly resampled onto ``grid`` (zero outside)."""
    if field.GetSize() == grid.GetSize() and np.allclose(field.GetSpacing(), grid.GetSpacing()):
        return field
    return sitk.Resample(field, grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
