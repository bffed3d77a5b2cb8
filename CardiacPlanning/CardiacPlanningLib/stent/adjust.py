"""Adjusting a chosen reconstruction by hand: move, rotate about the axis centre, change the radius
along the axis; the structure matching score is recomputed on the same region. Points LPS mm.

A radius change moves every envelope point radially in the frame of the (curved) axis: the point at
curved coordinates (s, x, y) goes to (s, k(s) x, k(s) y) with k(s) = new radius / old radius at arc
length s, so the shape (ovality, dents) is kept and the end-cap centres stay on the axis. The rigid
part (rotation R about the axis centre c, then translation T) maps p -> R (p - c) + c + T.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import CardiacInputError
from .axis import CurvedAxis
from .geometry import Reconstruction, mesh_arrays
from .region import MetalDetection, Region
from .score import Score, score_for

logger = logging.getLogger(__name__)

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def axis_centre(rec: Reconstruction) -> np.ndarray:
    """The point (3,) LPS mm halfway along the reconstruction's axis (by arc length)."""
    axis = CurvedAxis(rec.axis)
    return axis.at(np.array([0.5 * axis.length]))[0][0]


def rigid_matrix(
    translate_mm: Sequence[float] = (0.0, 0.0, 0.0),
    rotate_deg: Sequence[float] = (0.0, 0.0, 0.0),
    centre_lps: Sequence[float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """4x4 LPS matrix: rotation by ``rotate_deg`` (degrees about the L, P, S axes in that order)
    about ``centre_lps``, then translation by ``translate_mm``."""
    rot = Rotation.from_euler("xyz", np.asarray(rotate_deg, float), degrees=True).as_matrix()
    c = np.asarray(centre_lps, float)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = c - rot @ c + np.asarray(translate_mm, float)
    return m


def ras_to_lps_matrix(matrix_ras: np.ndarray) -> np.ndarray:
    """A 4x4 transform given in RAS (a Slicer linear transform node) as the same transform in LPS."""
    m = np.asarray(matrix_ras, float).reshape(4, 4)
    return RAS_FROM_LPS @ m @ RAS_FROM_LPS


def map_reconstruction(
    rec: Reconstruction, fn: Callable[[np.ndarray], np.ndarray], radius: np.ndarray | None = None, **meta
) -> Reconstruction:
    """A copy of ``rec`` with mesh vertices and axis mapped by ``fn`` ((N, 3) -> (N, 3) LPS mm);
    ``radius`` replaces the radius profile (default: kept); ``meta`` is merged into the metadata."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk

    pts, _ = mesh_arrays(rec.mesh)
    mesh = vtk.vtkPolyData()
    mesh.DeepCopy(rec.mesh)
    moved = np.ascontiguousarray(fn(pts), dtype=float)
    if moved.shape != pts.shape or not np.isfinite(moved).all():
        raise CardiacInputError(f"the mapping of {rec.name} gave invalid points")
    mesh.GetPoints().SetData(numpy_to_vtk(moved, deep=True))
    mesh.Modified()
    metadata = {**rec.metadata, **meta}
    metadata.setdefault("algorithm", rec.name)
    prof = rec.radius_profile if radius is None else radius
    return Reconstruction(rec.name, mesh, np.asarray(fn(rec.axis), float), np.asarray(prof, float), metadata)


def _radius_map(rec: Reconstruction, new_profile: np.ndarray):
    axis = CurvedAxis(rec.axis, step_mm=0.1)
    seg = np.linalg.norm(np.diff(rec.axis, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    old = np.maximum(np.asarray(rec.radius_profile, float), 1e-6)

    def fn(p: np.ndarray) -> np.ndarray:
        s, x, y = axis.project(p)
        sc = np.clip(s, 0.0, arc[-1])
        k = np.interp(sc, arc, new_profile) / np.interp(sc, arc, old)
        return axis.to_world(s, k * x, k * y)

    return fn


def adjust(
    rec: Reconstruction,
    region: Region,
    metal: MetalDetection,
    kind: str = "generic",
    translate_mm: Sequence[float] = (0.0, 0.0, 0.0),
    rotate_deg: Sequence[float] = (0.0, 0.0, 0.0),
    radius_scale: float = 1.0,
    radius_profile_mm: Sequence[float] | None = None,
    matrix_lps: np.ndarray | None = None,
) -> tuple[Reconstruction, Score]:
    """A new reconstruction moved / rotated / re-sized by hand and its recomputed score.

    ``radius_profile_mm``: new radii (mm) evenly spaced from the axis start to its end (any count
    >= 2, interpolated), times ``radius_scale``; ``rotate_deg`` turns about :func:`axis_centre`;
    ``matrix_lps`` (4x4, e.g. from :func:`ras_to_lps_matrix`) is applied after the other changes."""
    if not np.isfinite(radius_scale) or radius_scale <= 0:
        raise CardiacInputError(f"radius scale must be a positive number, got {radius_scale}")
    old = np.asarray(rec.radius_profile, float)
    new = old.copy()
    if radius_profile_mm is not None:
        given = np.asarray(radius_profile_mm, float).ravel()
        if len(given) < 2 or not np.all(np.isfinite(given)) or given.min() <= 0:
            raise CardiacInputError("radius profile: give at least two positive radii (mm)")
        new = np.interp(np.linspace(0, 1, len(old)), np.linspace(0, 1, len(given)), given)
    new = new * float(radius_scale)
    out = rec
    if not np.allclose(new, old):
        out = map_reconstruction(rec, _radius_map(rec, new), radius=new)
    m = rigid_matrix(translate_mm, rotate_deg, axis_centre(rec))
    if matrix_lps is not None:
        m = np.asarray(matrix_lps, float).reshape(4, 4) @ m
    if not np.allclose(m, np.eye(4)):
        out = map_reconstruction(out, lambda p: p @ m[:3, :3].T + m[:3, 3])
    adjustment = {
        "translateMm": [float(v) for v in translate_mm],
        "rotateDeg": [float(v) for v in rotate_deg],
        "radiusScale": float(radius_scale),
        "radiusProfileChanged": radius_profile_mm is not None,
        "matrixLps": np.round(m, 6).tolist(),
    }
    if out is rec:
        out = map_reconstruction(rec, lambda p: p)
    out.metadata["adjustment"] = adjustment
    sc = score_for(out, region, metal, kind)
    logger.info("%s adjusted: score %.1f", rec.name, sc.total)
    return out, sc
