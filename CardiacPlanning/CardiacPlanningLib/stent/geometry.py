"""Shared geometry of the reconstructions: the result type, the principal axis of the metal, frames
along an axis, CT sampling at LPS points and tube meshes from a radial surface r(theta, s)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..imaging.volume import Volume

logger = logging.getLogger(__name__)


@dataclass
class Reconstruction:
    """One algorithm's result: closed envelope ``mesh`` (vtkPolyData, LPS mm), ``axis`` (K, 3) LPS mm
    and the envelope radius (mm, to the strut centres) ``radius_profile`` (K,) along it."""

    name: str
    mesh: object
    axis: np.ndarray
    radius_profile: np.ndarray
    metadata: dict = field(default_factory=dict)


def metal_points(ct: Volume, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LPS points (N, 3) mm of the metal voxels and their HU."""
    kji = np.argwhere(mask)
    return ct.index_to_lps(kji[:, ::-1].astype(float)), np.asarray(ct.array, np.float32)[mask]


def principal_axis(points: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(centre, unit direction) of the cloud's long axis. A short wide frame (valve) is a ring whose
    smallest principal variance is along the axis; a long stent's largest is: pick the eigenvector
    whose variance differs most from the other two."""
    w = np.ones(len(points)) if weights is None else np.asarray(weights, float)
    c = (points * w[:, None]).sum(0) / w.sum()
    d = points - c
    cov = (d * w[:, None]).T @ d / w.sum()
    evals, evecs = np.linalg.eigh(cov)
    odd = int(np.argmax([abs(evals[i] - np.mean(np.delete(evals, i))) for i in range(3)]))
    axis = evecs[:, odd]
    if axis[int(np.argmax(np.abs(axis)))] < 0:
        axis = -axis
    return c, axis


def perpendicular_pair(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (u, v) with (t, u, v) right-handed orthonormal."""
    seed = np.eye(3)[int(np.argmin(np.abs(t)))]
    u = seed - seed.dot(t) * t
    u /= np.linalg.norm(u)
    return u, np.cross(t, u)


def sample(ct: Volume, points_lps: np.ndarray, order: int = 1, cval: float = -1024.0) -> np.ndarray:
    """CT values (HU) at LPS points (..., 3) by interpolation (``order``), ``cval`` outside."""
    pts = np.asarray(points_lps, float)
    ijk = ct.lps_to_index(pts.reshape(-1, 3))
    vals = ndimage.map_coordinates(
        np.asarray(ct.array, np.float32), ijk[:, ::-1].T, order=order, mode="constant", cval=cval
    )
    return vals.reshape(pts.shape[:-1])


def radial_surface_points(
    centres: np.ndarray, t: np.ndarray, radius: np.ndarray, n_theta: int | None = None
) -> np.ndarray:
    """Points (K, T, 3) LPS of r(theta, s): ``centres`` (K, 3) on a straight axis of direction ``t``,
    ``radius`` (K,) or (K, T) mm, theta_j = 2 pi j / T measured from :func:`perpendicular_pair`'s u."""
    u, v = perpendicular_pair(t)
    r = np.asarray(radius, float)
    if r.ndim == 1:
        r = np.repeat(r[:, None], n_theta or 72, axis=1)
    th = 2 * np.pi * np.arange(r.shape[1]) / r.shape[1]
    ring = np.cos(th)[:, None] * u + np.sin(th)[:, None] * v  # (T, 3)
    return centres[:, None, :] + r[:, :, None] * ring[None, :, :]


def tube_mesh(points: np.ndarray, centres: np.ndarray):
    """Closed triangle mesh (vtkPolyData, LPS) of a grid of surface points (K, T, 3) around
    ``centres`` (K, 3): quads between rings split in two, fan caps at both ends."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

    k, t = points.shape[:2]
    verts = np.vstack([points.reshape(-1, 3), centres[0], centres[-1]])
    a = np.arange(k - 1)[:, None] * t + np.arange(t)[None, :]
    b = np.arange(k - 1)[:, None] * t + (np.arange(t)[None, :] + 1) % t
    tris = [np.stack([a, b, b + t], -1).reshape(-1, 3), np.stack([a, b + t, a + t], -1).reshape(-1, 3)]
    c0, c1 = k * t, k * t + 1
    j = np.arange(t)
    tris.append(np.stack([np.full(t, c0), (j + 1) % t, j], -1))
    tris.append(np.stack([np.full(t, c1), (k - 1) * t + j, (k - 1) * t + (j + 1) % t], -1))
    faces = np.vstack(tris)
    poly = vtk.vtkPolyData()
    vp = vtk.vtkPoints()
    vp.SetData(numpy_to_vtk(np.ascontiguousarray(verts, dtype=float), deep=True))
    poly.SetPoints(vp)
    cells = np.hstack([np.full((len(faces), 1), 3), faces]).astype(np.int64).ravel()
    ca = vtk.vtkCellArray()
    ca.ImportLegacyFormat(numpy_to_vtkIdTypeArray(cells, deep=True))
    poly.SetPolys(ca)
    return poly


def mesh_arrays(poly) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, 3), triangles (M, 3)) of a triangle vtkPolyData."""
    from vtk.util.numpy_support import vtk_to_numpy

    pts = vtk_to_numpy(poly.GetPoints().GetData()).astype(float)
    conn = vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    return pts, conn


def triangle_samples(poly) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centroids (M, 3), areas (M,) mm^2, unit normals (M, 3)) of the mesh triangles."""
    pts, tri = mesh_arrays(poly)
    p0, p1, p2 = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    n = np.cross(p1 - p0, p2 - p0)
    area = 0.5 * np.linalg.norm(n, axis=1)
    n = n / np.maximum(2 * area, 1e-12)[:, None]
    return (p0 + p1 + p2) / 3.0, area, n
