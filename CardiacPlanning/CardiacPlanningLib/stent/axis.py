"""A device axis as a curve: arc length, rotation-minimising frames and curved (s, x, y) coordinates.

The frame (t, n1, n2) is carried along the curve by parallel transport (double reflection, Wang et
al. 2008, "Computation of rotation minimizing frames", ACM TOG 27(1)), so a curved coronary stent's
cross-sections are perpendicular to the local axis direction and do not twist. Points are LPS mm.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.spatial import cKDTree

logger = logging.getLogger(__name__)


def _seed_normal(t: np.ndarray) -> np.ndarray:
    seed = np.eye(3)[int(np.argmin(np.abs(t)))]
    n = seed - seed.dot(t) * t
    return n / np.linalg.norm(n)


class CurvedAxis:
    """Axis polyline ``points`` (K, 3) LPS mm, resampled uniformly every ``step_mm``.

    ``n1_start`` (optional) fixes the first normal (projected perpendicular to the first tangent),
    so that frames of two axes of one device (e.g. two cardiac phases) are comparable."""

    def __init__(self, points: np.ndarray, step_mm: float = 0.25, n1_start: np.ndarray | None = None) -> None:
        pts = np.asarray(points, float).reshape(-1, 3)
        keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9])
        pts = pts[keep]
        if len(pts) < 2:
            raise ValueError("an axis needs at least two distinct points")
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        n = max(int(np.ceil(s[-1] / step_mm)), 1) + 1
        self.s = np.linspace(0.0, s[-1], n)
        self.points = np.stack([np.interp(self.s, s, pts[:, a]) for a in range(3)], 1)
        t = np.gradient(self.points, self.s, axis=0) if n > 2 else np.repeat(pts[-1:] - pts[:1], n, 0)
        self.t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        n1 = np.zeros_like(self.points)
        first = _seed_normal(self.t[0]) if n1_start is None else np.asarray(n1_start, float)
        first = first - first.dot(self.t[0]) * self.t[0]
        n1[0] = first / np.linalg.norm(first) if np.linalg.norm(first) > 1e-9 else _seed_normal(self.t[0])
        for i in range(1, n):  # double reflection
            v1 = self.points[i] - self.points[i - 1]
            c1 = v1 @ v1
            if c1 < 1e-18:
                n1[i] = n1[i - 1]
                continue
            r_l = n1[i - 1] - (2.0 / c1) * (v1 @ n1[i - 1]) * v1
            t_l = self.t[i - 1] - (2.0 / c1) * (v1 @ self.t[i - 1]) * v1
            v2 = self.t[i] - t_l
            c2 = v2 @ v2
            n1[i] = r_l - (2.0 / c2) * (v2 @ r_l) * v2 if c2 > 1e-18 else r_l
            n1[i] -= n1[i].dot(self.t[i]) * self.t[i]
            n1[i] /= np.linalg.norm(n1[i])
        self.n1 = n1
        self.n2 = np.cross(self.t, n1)
        self._tree: cKDTree | None = None

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(centre, t, n1, n2), each (N, 3), at arc lengths ``s`` (mm; extrapolated linearly past
        the ends along the end tangents)."""
        s = np.atleast_1d(np.asarray(s, float))
        sc = np.clip(s, 0.0, self.s[-1])

        def lerp(a):
            return np.stack([np.interp(sc, self.s, a[:, k]) for k in range(3)], 1)

        c = lerp(self.points)
        t, n1 = lerp(self.t), lerp(self.n1)
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        n1 -= (n1 * t).sum(1, keepdims=True) * t
        n1 /= np.maximum(np.linalg.norm(n1, axis=1, keepdims=True), 1e-12)
        c = c + (s - sc)[:, None] * t
        return c, t, n1, np.cross(t, n1)

    def to_world(self, s: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """LPS points (N, 3) of curved coordinates (arc length s, offsets x along n1, y along n2; mm)."""
        c, _, n1, n2 = self.at(s)
        return c + np.asarray(x, float)[:, None] * n1 + np.asarray(y, float)[:, None] * n2

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Curved coordinates (s, x, y) mm of LPS points (N, 3): the nearest axis sample, refined to
        the foot of the perpendicular along its tangent (s may run past the ends)."""
        p = np.asarray(points, float).reshape(-1, 3)
        if self._tree is None:
            self._tree = cKDTree(self.points)
        _, i = self._tree.query(p)
        s = self.s[i] + ((p - self.points[i]) * self.t[i]).sum(1)
        inner = (i > 0) & (i < len(self.s) - 1)
        lo, hi = self.s[np.maximum(i - 1, 0)], self.s[np.minimum(i + 1, len(self.s) - 1)]
        s = np.where(inner, np.clip(s, lo, hi), s)
        for _ in range(3):  # fixed point of (p - c(s)) . t(s) = 0 (contracts while offset < 1/curvature)
            c, t, _, _ = self.at(s)
            s = np.where(inner, np.clip(s + ((p - c) * t).sum(1), lo, hi), s)
        c, _, n1, n2 = self.at(s)
        d = p - c
        return s, (d * n1).sum(1), (d * n2).sum(1)

    def rings(self, s: np.ndarray, radius: np.ndarray, n_theta: int | None = None) -> np.ndarray:
        """Surface points (K, T, 3) of r(theta, s): ``radius`` (K,) or (K, T) mm at arc lengths ``s``
        (K,); theta_j = 2 pi j / T from n1 towards n2."""
        r = np.asarray(radius, float)
        if r.ndim == 1:
            r = np.repeat(r[:, None], n_theta or 72, axis=1)
        c, _, n1, n2 = self.at(s)
        th = 2 * np.pi * np.arange(r.shape[1]) / r.shape[1]
        ring = np.cos(th)[None, :, None] * n1[:, None, :] + np.sin(th)[None, :, None] * n2[:, None, :]
        return c[:, None, :] + r[:, :, None] * ring

    def local_tangent(self, points: np.ndarray) -> np.ndarray:
        """Unit axis direction (N, 3) at the axis position nearest to each LPS point."""
        s, _, _ = self.project(points)
        return self.at(s)[1]

    def extended(self, mm: float) -> CurvedAxis:
        """The axis prolonged by ``mm`` at both ends along its end tangents (same first normal)."""
        pre = (
            self.points[0] - self.t[0] * np.linspace(mm, 0.0, max(int(mm / 0.5), 1), endpoint=False)[:, None]
        )
        post = self.points[-1] + self.t[-1] * np.linspace(0.0, mm, max(int(mm / 0.5), 1) + 1)[1:, None]
        return CurvedAxis(np.vstack([pre, self.points, post]), n1_start=self.n1[0])
