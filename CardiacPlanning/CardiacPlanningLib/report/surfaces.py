"""Surface meshes per label for 3D printing: STL and OBJ in LPS millimetres.

Each label is extracted with VTK's discrete flying edges (a marching-cubes variant for label maps),
smoothed with a windowed-sinc filter (Taubin-like, volume preserving, pass band 0.1, 20 iterations),
given consistent outward normals, and mapped from voxel indices to LPS with the volume's
spacing/origin/direction, so the surfaces overlay the CT in any DICOM viewer or slicer software that
reads LPS (Slicer reads STL/OBJ as LPS when the file says so in its name or by the user's choice).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from scipy import ndimage
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import VTK_UNSIGNED_CHAR
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D, vtkTransformPolyDataFilter
from vtkmodules.vtkIOGeometry import vtkOBJWriter, vtkSTLWriter

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress

logger = logging.getLogger(__name__)


def label_surface(
    labelmap: Volume, value: int, smoothing_iterations: int = 20, bbox: tuple[slice, ...] | None = None
) -> vtkPolyData:
    """Closed triangle surface (LPS mm) of the voxels equal to ``value``; empty polydata if absent.
    ``bbox``: the label's bounding box (slices z, y, x, e.g. from ``ndimage.find_objects``)."""
    if bbox is None:
        found = ndimage.find_objects((labelmap.array == value).astype(np.uint8))
        if not found or found[0] is None:
            return vtkPolyData()
        bbox = found[0]
    offset = np.array([bbox[2].start, bbox[1].start, bbox[0].start], dtype=float)  # (i, j, k)
    arr = np.ascontiguousarray((labelmap.array[bbox] == value).astype(np.uint8))
    if not arr.any():
        return vtkPolyData()
    arr = np.pad(arr, 1)  # close surfaces touching the image border
    image = vtkImageData()
    image.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    image.SetOrigin(*(offset - 1.0))  # index space; padding shifts by one voxel
    image.GetPointData().SetScalars(numpy_to_vtk(arr.ravel(), deep=True, array_type=VTK_UNSIGNED_CHAR))
    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(image)
    fe.SetValue(0, 1)
    fe.ComputeNormalsOff()
    # go to physical units before smoothing so the smoothing is isotropic in mm
    transform = vtkTransform()
    matrix = vtkMatrix4x4()
    m = labelmap.index_to_lps_matrix()
    for i in range(4):
        for j in range(4):
            matrix.SetElement(i, j, float(m[i, j]))
    transform.SetMatrix(matrix)
    tf = vtkTransformPolyDataFilter()
    tf.SetInputConnection(fe.GetOutputPort())
    tf.SetTransform(transform)
    last = tf
    if smoothing_iterations > 0:
        smooth = vtkWindowedSincPolyDataFilter()
        smooth.SetInputConnection(tf.GetOutputPort())
        smooth.SetNumberOfIterations(smoothing_iterations)
        smooth.SetPassBand(0.1)
        smooth.BoundarySmoothingOff()
        smooth.FeatureEdgeSmoothingOff()
        smooth.NonManifoldSmoothingOn()
        smooth.NormalizeCoordinatesOn()
        last = smooth
    normals = vtkPolyDataNormals()
    normals.SetInputConnection(last.GetOutputPort())
    normals.ConsistencyOn()
    normals.AutoOrientNormalsOn()
    normals.SplittingOff()
    normals.Update()
    return normals.GetOutput()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def label_surfaces(labelmap: Volume, values: list[int] | None = None) -> dict[int, vtkPolyData]:
    """Surfaces (LPS mm) of the labels ``values`` (default: every label present), keyed by value."""
    boxes = ndimage.find_objects(labelmap.array.astype(np.int32))
    present = [v + 1 for v, b in enumerate(boxes) if b is not None]
    values = present if values is None else [int(v) for v in values if int(v) in present]
    return {v: label_surface(labelmap, v, bbox=boxes[v - 1]) for v in values}


def write_surfaces(
    labelmap: Volume,
    out_dir: str | Path,
    formats: tuple[str, ...] = ("stl", "obj"),
    values: list[int] | None = None,
    progress: Progress | None = None,
    surfaces: dict[int, vtkPolyData] | None = None,
) -> list[Path]:
    """Write one surface file per label present (or per ``values``) and per format into ``out_dir``
    as ``<value>_<key>_LPS.<ext>``; returns the paths. STL is binary. ``surfaces``: already
    computed surfaces (from :func:`label_surfaces`) to write instead of extracting them again."""
    progress = as_progress(progress)
    bad = set(formats) - {"stl", "obj"}
    if bad:
        raise CardiacInputError(f"unknown surface format(s) {sorted(bad)}; use stl and/or obj")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    boxes = ndimage.find_objects(labelmap.array.astype(np.int32))
    present = [v + 1 for v, b in enumerate(boxes) if b is not None]
    values = present if values is None else [int(v) for v in values]
    paths = []
    for n, value in enumerate(values):
        progress(n / max(len(values), 1), f"surface of label {value}")
        try:
            key = labels.by_value(value).key
        except KeyError:
            key = f"label{value}"
        box = boxes[value - 1] if 0 < value <= len(boxes) else None
        if box is None:
            logger.warning("label %d is absent; no surface written", value)
            continue
        poly = surfaces[value] if surfaces and value in surfaces else label_surface(labelmap, value, bbox=box)
        if poly.GetNumberOfPoints() == 0:
            logger.warning("label %d is empty; no surface written", value)
            continue
        stem = out_dir / f"{value:02d}_{_slug(key)}_LPS"
        if "stl" in formats:
            w = vtkSTLWriter()
            w.SetFileName(str(stem.with_suffix(".stl")))
            w.SetInputData(poly)
            w.SetFileTypeToBinary()
            w.SetHeader(f"SlicerCardiacPlanning {key} LPS mm")
            w.Write()
            paths.append(stem.with_suffix(".stl"))
        if "obj" in formats:
            w = vtkOBJWriter()
            w.SetFileName(str(stem.with_suffix(".obj")))
            w.SetInputData(poly)
            w.Write()
            paths.append(stem.with_suffix(".obj"))
    progress(1.0, "surfaces written")
    return paths
