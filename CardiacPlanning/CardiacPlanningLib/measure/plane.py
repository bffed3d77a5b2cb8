"""Planes in LPS millimetres: the annulus plane from three hinge points, point-to-plane distances
(coronary heights) and an in-plane orthonormal frame used by the cross-section code."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)


def _as_point(p, what: str) -> np.ndarray:
    arr = np.asarray(p, dtype=float).reshape(-1)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise CardiacInputError(f"{what} must be a finite 3D point (LPS mm), got {p!r}")
    return arr


@dataclass(frozen=True)
class Plane:
    """A plane through ``origin`` (LPS mm) with unit ``normal`` (LPS)."""

    origin: np.ndarray
    normal: np.ndarray

    def __post_init__(self) -> None:
        o = _as_point(self.origin, "plane origin")
        n = _as_point(self.normal, "plane normal")
        norm = float(np.linalg.norm(n))
        if norm < 1e-9:
            raise CardiacInputError("plane normal must not be the zero vector")
        object.__setattr__(self, "origin", o)
        object.__setattr__(self, "normal", n / norm)

    def signed_distance(self, points) -> np.ndarray | float:
        """Signed distance (mm) of LPS points from the plane, positive on the normal's side."""
        pts = np.asarray(points, dtype=float)
        d = (pts - self.origin) @ self.normal
        return float(d) if pts.ndim == 1 else d

    def project(self, points) -> np.ndarray:
        """Orthogonal projection of LPS points (mm) onto the plane."""
        pts = np.asarray(points, dtype=float)
        d = (pts - self.origin) @ self.normal
        return pts - np.multiply.outer(d, self.normal)

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        """Two unit in-plane axes ``(u, v)`` with ``u x v = normal``. ``u`` is the LPS axis least aligned
        with the normal, projected into the plane (deterministic)."""
        n = self.normal
        axis = np.eye(3)[int(np.argmin(np.abs(n)))]
        u = axis - (axis @ n) * n
        u /= np.linalg.norm(u)
        v = np.cross(n, u)
        return u, v

    def to_plane_coords(self, points) -> np.ndarray:
        """LPS points (mm) -> in-plane 2D coordinates (mm) in the :meth:`basis` frame."""
        u, v = self.basis()
        rel = np.asarray(points, dtype=float) - self.origin
        return np.stack([rel @ u, rel @ v], axis=-1)

    def from_plane_coords(self, uv) -> np.ndarray:
        """In-plane 2D coordinates (mm) -> LPS points (mm)."""
        u, v = self.basis()
        uv = np.asarray(uv, dtype=float)
        return self.origin + uv[..., :1] * u + uv[..., 1:2] * v

    def shifted(self, distance_mm: float) -> Plane:
        """The parallel plane ``distance_mm`` along the normal."""
        return Plane(self.origin + float(distance_mm) * self.normal, self.normal)


def plane_from_points(p1, p2, p3, toward=None) -> Plane:
    """The plane through three LPS points (e.g. the three aortic cusp hinge points, mm).

    The origin is the centroid of the three points. The normal is oriented towards the LPS point
    ``toward`` when given (e.g. a point in the ascending aorta, so heights above the annulus are
    positive). Raises :class:`CardiacInputError` when the points are (nearly) collinear.
    """
    a, b, c = (_as_point(p, f"hinge point {i + 1}") for i, p in enumerate((p1, p2, p3)))
    n = np.cross(b - a, c - a)
    scale = max(np.linalg.norm(b - a), np.linalg.norm(c - a), 1e-12)
    if np.linalg.norm(n) < 1e-6 * scale**2:
        raise CardiacInputError(
            f"the three points {a.tolist()}, {b.tolist()}, {c.tolist()} are collinear; a plane needs "
            "three points that span a triangle"
        )
    plane = Plane((a + b + c) / 3.0, n)
    if toward is not None and plane.signed_distance(_as_point(toward, "orientation point")) < 0:
        plane = Plane(plane.origin, -plane.normal)
    return plane


def fit_plane(points, toward=None) -> Plane:
    """Least-squares plane through >= 3 LPS points (mm): centroid + smallest singular vector."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 3:
        raise CardiacInputError(f"fitting a plane needs an (N >= 3, 3) array of LPS points, got {pts.shape}")
    c = pts.mean(axis=0)
    _, s, vt = np.linalg.svd(pts - c)
    if s[1] < 1e-9:
        raise CardiacInputError("the points are collinear; a plane cannot be fitted")
    plane = Plane(c, vt[2])
    if toward is not None and plane.signed_distance(_as_point(toward, "orientation point")) < 0:
        plane = Plane(plane.origin, -plane.normal)
    return plane


def height_above_plane(point, plane: Plane) -> float:
    """Signed distance (mm) of an LPS point above ``plane`` along its normal, e.g. the coronary height:
    the distance from a coronary ostium to the annulus plane (positive towards the aorta when the
    plane's normal points into the aorta)."""
    return float(plane.signed_distance(_as_point(point, "point")))
