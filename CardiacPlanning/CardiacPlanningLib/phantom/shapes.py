"""Analytic shapes painted into the phantom's reference tissue grid: tubes along smooth centrelines
(vessels, appendage) and the aortic root (annulus, three sinuses of Valsalva, sinotubular junction).

All points are LPS mm. The grid is axis-aligned: ``tissue[z, y, x]`` at ``origin + (x, y, z) * spacing``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

logger = logging.getLogger(__name__)


@dataclass
class Grid:
    """An axis-aligned grid (identity direction): origin (LPS mm of voxel 0), spacing (mm), shape zyx."""

    origin: np.ndarray
    spacing: float
    shape: tuple[int, int, int]

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index slices (z, y, x) of the voxels whose centres lie within [lo, hi] (LPS mm)."""
        i0 = np.maximum(np.ceil((np.asarray(lo) - self.origin) / self.spacing), 0).astype(int)
        i1 = np.minimum(
            np.floor((np.asarray(hi) - self.origin) / self.spacing), np.array(self.shape[::-1]) - 1
        )
        i1 = i1.astype(int)
        if np.any(i1 < i0):
            return None
        return (slice(i0[2], i1[2] + 1), slice(i0[1], i1[1] + 1), slice(i0[0], i1[0] + 1))

    def coords(self, box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable LPS coordinate arrays x[1,1,X], y[1,Y,1], z[Z,1,1] (float32) of a box."""
        zs, ys, xs = box
        x = (self.origin[0] + np.arange(xs.start, xs.stop) * self.spacing).astype(np.float32)
        y = (self.origin[1] + np.arange(ys.start, ys.stop) * self.spacing).astype(np.float32)
        z = (self.origin[2] + np.arange(zs.start, zs.stop) * self.spacing).astype(np.float32)
        return x[None, None, :], y[None, :, None], z[:, None, None]


def smooth_centerline(control_points, radii, step_mm: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A C2 curve through ``control_points`` (LPS mm), resampled every ``step_mm``, with radii (mm)
    interpolated linearly in arc length between the control points."""
    cp = np.asarray(control_points, dtype=float)
    r = np.asarray(radii, dtype=float)
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(cp, axis=0), axis=1))])
    spline = CubicSpline(chord, cp, bc_type="natural")
    fine = np.linspace(0, chord[-1], max(int(chord[-1] / 0.2), 8))
    pts = spline(fine)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    n = max(int(np.ceil(arc[-1] / step_mm)), 2)
    s = np.linspace(0, arc[-1], n + 1)
    out = np.stack([np.interp(s, arc, pts[:, a]) for a in range(3)], axis=1)
    return out, np.interp(np.interp(s, arc, fine), chord, r)


def tube_sdf(
    grid: Grid, points: np.ndarray, radii: np.ndarray, margin: float, open_start: bool | str = False
):
    """Signed distance (mm, negative inside) to a tube of ``radii`` along polyline ``points``, on the
    grid box around it (extended by ``margin`` mm). Returns (box, sdf float32) or None if off-grid.
    Each segment is a truncated cone approximated by ``|p - c(t)| - r(t)`` (exact for constant r).
    ``open_start``: True cuts the first segment's rounded start only (the aorta at the STJ, where the
    root covers what the later joints bulge behind it); "plane" cuts the tube by the plane through
    its first point perpendicular to its first segment, for every segment that starts within the
    largest radius of that point (the rounded joints of a tube wider than its 1.5 mm steps would
    otherwise bulge behind the start: the pulmonary trunk at the valve)."""
    pts = np.asarray(points, dtype=np.float32)
    rad = np.asarray(radii, dtype=np.float32)
    reach = float(rad.max()) + margin
    box = grid.box(pts.min(0) - reach, pts.max(0) + reach)
    if box is None:
        return None
    shape = tuple(s.stop - s.start for s in box)
    sdf = np.full(shape, np.inf, dtype=np.float32)
    offset = np.array([box[2].start, box[1].start, box[0].start])
    start_dir = pts[1] - pts[0]
    for i in range(len(pts) - 1):
        a, b = pts[i], pts[i + 1]
        rr = max(rad[i], rad[i + 1]) + margin
        lo = (np.minimum(a, b) - rr - grid.origin) / grid.spacing
        hi = (np.maximum(a, b) + rr - grid.origin) / grid.spacing
        i0 = np.maximum(np.ceil(lo).astype(int) - offset, 0)
        i1 = np.minimum(np.floor(hi).astype(int) - offset + 1, np.array(shape[::-1]))
        if np.any(i1 <= i0):
            continue
        sub = (slice(i0[2], i1[2]), slice(i0[1], i1[1]), slice(i0[0], i1[0]))
        gb = tuple(slice(s.start + o.start, s.stop + o.start) for s, o in zip(sub, box))
        x, y, z = grid.coords(gb)
        d = b - a
        dd = float(np.dot(d, d)) or 1e-12
        t_raw = ((x - a[0]) * d[0] + (y - a[1]) * d[1] + (z - a[2]) * d[2]) / dd
        t = np.clip(t_raw, 0.0, 1.0)
        dist = np.sqrt((x - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2 + (z - a[2] - t * d[2]) ** 2)
        val = dist - (rad[i] + t * (rad[i + 1] - rad[i]))
        if open_start == "plane" and np.linalg.norm(a - pts[0]) <= float(rad.max()) + margin:
            behind = (x - pts[0][0]) * start_dir[0] + (y - pts[0][1]) * start_dir[1]
            behind = behind + (z - pts[0][2]) * start_dir[2] < 0
            val = np.where(behind, np.float32(np.inf), val)
        elif open_start and i == 0:
            val = np.where(t_raw < 0, np.float32(np.inf), val)
        np.minimum(sdf[sub], val, out=sdf[sub])
    return box, sdf


@dataclass
class AorticRoot:
    """Aortic root in its own frame: annulus centre (LPS mm), unit axis into the aorta, in-plane unit
    vectors e1/e2, radii (mm) of annulus, sinuses, STJ and the annulus-to-STJ height (mm).
    ``sinus_angles`` (rad, from e1 towards e2) of the right, left and non-coronary sinus centres.

    The lumen is continuous through the annulus: below it an LVOT cylinder of the annulus radius
    (``lvot_length`` mm, painted as LV blood pool), above it the sinuses, which widen smoothly from
    the annulus (zero slope there, as the sinus floors rise from the basal ring) and close at the
    sinotubular junction with a ridge (a kink: the narrowest level, where the tubular aorta starts).
    """

    center: np.ndarray
    axis: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    annulus_radius: float
    sinus_radius: float
    stj_radius: float
    height: float
    sinus_angles: dict[str, float]
    lvot_length: float = 6.5

    def radius(self, h: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Lumen radius (mm) at height ``h`` (mm above the annulus) and angle ``theta`` (rad)."""
        f = np.clip(h / self.height, 0.0, 1.0)
        base = self.annulus_radius + (self.stj_radius - self.annulus_radius) * f
        mid = 0.5 * (self.annulus_radius + self.stj_radius)
        lobe = np.abs(np.cos(1.5 * (theta - self.sinus_angles["right"])))
        s = np.sin(np.pi * f)
        bulge = np.where(f < 0.5, s**2, s**0.9)  # smooth start at the annulus, ridge at the STJ
        return base + (self.sinus_radius - mid) * bulge * lobe**0.8

    def point(self, h: float, theta: float, radial: float | None = None) -> np.ndarray:
        """LPS point at height ``h``, angle ``theta`` and distance ``radial`` (default: on the wall)."""
        r = float(self.radius(np.array(h), np.array(theta))) if radial is None else radial
        return self.center + h * self.axis + r * (np.cos(theta) * self.e1 + np.sin(theta) * self.e2)

    def sdf(self, grid: Grid, margin: float):
        """(box, signed distance-like value ``rho - R(h, theta)`` in mm, +inf outside 0 <= h <= H)."""
        reach = self.sinus_radius + margin
        ends = np.stack([self.center, self.center + self.height * self.axis])
        box = grid.box(ends.min(0) - reach, ends.max(0) + reach)
        if box is None:
            return None
        x, y, z = grid.coords(box)
        qx, qy, qz = x - self.center[0], y - self.center[1], z - self.center[2]
        h = qx * self.axis[0] + qy * self.axis[1] + qz * self.axis[2]
        u = qx * self.e1[0] + qy * self.e1[1] + qz * self.e1[2]
        v = qx * self.e2[0] + qy * self.e2[1] + qz * self.e2[2]
        rho = np.sqrt(u * u + v * v)
        val = rho - self.radius(h, np.arctan2(v, u)).astype(np.float32)
        val = np.where((h >= 0) & (h <= self.height), val, np.float32(np.inf))
        return box, val.astype(np.float32)

    def lvot_mask(self, grid: Grid):
        """(box, mask) of the LVOT cylinder: annulus radius, ``lvot_length`` mm below the annulus
        (``-lvot_length <= h < 0``), on a box reaching 6 mm beyond it; None if off-grid."""
        ends = np.stack([self.center, self.center - self.lvot_length * self.axis])
        reach = self.annulus_radius + 6.0
        box = grid.box(ends.min(0) - reach, ends.max(0) + reach)
        if box is None:
            return None
        x, y, z = grid.coords(box)
        qx, qy, qz = x - self.center[0], y - self.center[1], z - self.center[2]
        h = qx * self.axis[0] + qy * self.axis[1] + qz * self.axis[2]
        rho2 = qx * qx + qy * qy + qz * qz - h * h
        return box, (h >= -self.lvot_length) & (h < 0) & (rho2 <= self.annulus_radius**2)


def paint(tissue: np.ndarray, box, mask: np.ndarray, code: int, overwrite=None) -> None:
    """Set ``tissue[box][mask] = code`` where the current code is in ``overwrite`` (None: anywhere)."""
    view = tissue[box]
    if overwrite is not None:
        mask = mask & np.isin(view, np.asarray(sorted(overwrite), dtype=view.dtype))
    view[mask] = code


def keep_shapes(tissue: np.ndarray, shapes, lumen_code: int, wall_code: int, taken) -> int:
    """Give a vessel back what chambers painted after it took: where the current code is in
    ``taken``, each shape's lumen (``sdf < 0``) becomes ``lumen_code`` and then its wall
    (``0 <= sdf < wall_mm``) ``wall_code``. ``shapes``: (box, sdf, wall_mm) as painted (lumens first,
    so one shape's wall never cuts another's lumen). Returns the number of voxels changed."""
    codes = np.asarray(sorted(taken), dtype=tissue.dtype)
    changed = 0
    for lumen in (True, False):
        for box, sdf, wall_mm in shapes:
            view = tissue[box]
            sel = (sdf < 0) if lumen else (sdf >= 0) & (sdf < wall_mm)
            sel = sel & np.isin(view, codes)
            view[sel] = lumen_code if lumen else wall_code
            changed += int(sel.sum())
    return changed
