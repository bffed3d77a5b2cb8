"""Closed triangle surfaces -> boolean masks on the phantom's axis-aligned reference grid (VTK's
scan-line stencil, so any closed surface works regardless of triangle orientation)."""

from __future__ import annotations

import logging

import numpy as np
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from .heartmesh import make_polydata
from .shapes import Grid

logger = logging.getLogger(__name__)


def surface_mask(points: np.ndarray, triangles: np.ndarray, grid: Grid):
    """(box, bool mask) of the grid voxels whose centres lie inside the closed surface (LPS mm)."""
    used, inverse = np.unique(triangles, return_inverse=True)
    pts = points[used]
    box = grid.box(pts.min(0) - grid.spacing, pts.max(0) + grid.spacing)
    if box is None:
        return None
    poly = make_polydata(pts, inverse.reshape(-1, 3))
    zs, ys, xs = box
    stencil = vtk.vtkPolyDataToImageStencil()
    stencil.SetInputData(poly)
    stencil.SetOutputOrigin(*grid.origin.tolist())
    stencil.SetOutputSpacing(grid.spacing, grid.spacing, grid.spacing)
    stencil.SetOutputWholeExtent(xs.start, xs.stop - 1, ys.start, ys.stop - 1, zs.start, zs.stop - 1)
    stencil.SetTolerance(0.0)
    to_image = vtk.vtkImageStencilToImage()
    to_image.SetInputConnection(stencil.GetOutputPort())
    to_image.SetInsideValue(1)
    to_image.SetOutsideValue(0)
    to_image.SetOutputScalarTypeToUnsignedChar()
    to_image.Update()
    image = to_image.GetOutput()
    arr = vtk_to_numpy(image.GetPointData().GetScalars())
    shape = (zs.stop - zs.start, ys.stop - ys.start, xs.stop - xs.start)
    return box, arr.reshape(shape).astype(bool)
