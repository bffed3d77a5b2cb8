"""Paths on the epicardium for the phantom coronary tree (LPS mm).

:class:`HeartFrame` is a cylindrical frame of the heart built from the anatomy interface only:
origin at the aortic annulus centre, long axis ``u`` towards the apex (the epicardium point farthest
from the annulus on the ventricular side), angle 0 anterior and +90 degrees towards the patient's
left. :class:`SurfacePather` turns paths given as (height, angle) into smooth centrelines lying on the
epicardium, offset outwards by the vessel radius plus a thin fat layer.
"""

from __future__ import annotations

import logging

import numpy as np
import vtk
from scipy.ndimage import gaussian_filter1d
from vtk.util.numpy_support import vtk_to_numpy

from ..errors import CardiacInputError
from ..metrics import resample_polyline

logger = logging.getLogger(__name__)

FAT_GAP_MM = 0.6  # epicardial fat between the vessel wall and the myocardial surface
AV_GROOVE_FRACTION = 0.08  # AV groove height below the aortic annulus, fraction of base-apex height
TAKEOFF_MM = 8.0  # a side branch's first run at its take-off angle (see SurfacePather.side_branch)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


class HeartFrame:
    """Cylindrical heart frame: ``point = center + h u + rho (cos(phi) e1 + sin(phi) e2)``."""

    def __init__(self, epicardium: vtk.vtkPolyData, center: np.ndarray, apex: np.ndarray) -> None:
        self.epicardium = epicardium
        self.center = np.asarray(center, dtype=float)
        self.apex = np.asarray(apex, dtype=float)
        self.u = _unit(self.apex - self.center)
        self.height = float(np.linalg.norm(self.apex - self.center))
        anterior = np.array([0.0, -1.0, 0.0])  # LPS: -y is anterior
        e1 = anterior - anterior.dot(self.u) * self.u
        if np.linalg.norm(e1) < 1e-3:
            e1 = np.array([1.0, 0.0, 0.0]) - self.u[0] * self.u
        self.e1 = _unit(e1)
        e2 = np.cross(self.u, self.e1)
        self.e2 = e2 if e2[0] >= 0 else -e2  # towards the patient's left (+x)
        self.h_av = AV_GROOVE_FRACTION * self.height
        # Cap open valve rings so that rays cannot escape through them (outermost hit = outline).
        fill = vtk.vtkFillHolesFilter()
        fill.SetInputData(epicardium)
        fill.SetHoleSize(1.0e4)
        tri = vtk.vtkTriangleFilter()
        tri.SetInputConnection(fill.GetOutputPort())
        tri.Update()
        epicardium = tri.GetOutput()
        pts = vtk_to_numpy(epicardium.GetPoints().GetData()).astype(float)
        cells = vtk_to_numpy(epicardium.GetPolys().GetConnectivityArray()).reshape(-1, 3)
        normals = np.cross(pts[cells[:, 1]] - pts[cells[:, 0]], pts[cells[:, 2]] - pts[cells[:, 0]])
        self._normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        self._rays = vtk.vtkStaticCellLocator()  # ~25x faster line intersections than vtkOBBTree
        self._rays.SetDataSet(epicardium)
        self._rays.BuildLocator()
        self._cell_locator = vtk.vtkStaticCellLocator()
        self._cell_locator.SetDataSet(epicardium)
        self._cell_locator.BuildLocator()

    @classmethod
    def from_anatomy(cls, anatomy) -> HeartFrame:
        epi = getattr(anatomy, "epicardium", None)
        if not isinstance(epi, vtk.vtkPolyData) or epi.GetNumberOfCells() == 0:
            raise CardiacInputError("anatomy.epicardium must be a non-empty vtkPolyData (LPS mm)")
        root = anatomy.aortic_root
        for key in ("annulus_center", "annulus_normal", "ostia"):
            if key not in root:
                raise CardiacInputError(f"anatomy.aortic_root lacks {key!r}")
        center = np.asarray(root["annulus_center"], dtype=float)
        normal = _unit(np.asarray(root["annulus_normal"], dtype=float))
        pts = vtk_to_numpy(epi.GetPoints().GetData()).astype(float)
        rel = pts - center
        ventricular = rel @ -normal > 0
        if not ventricular.any():
            raise CardiacInputError("the epicardium has no point below the aortic annulus (check the normal)")
        dist = np.linalg.norm(rel, axis=1) * ventricular
        return cls(epi, center, pts[int(np.argmax(dist))])

    def height_of(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=float) - self.center) @ self.u

    def angle(self, points: np.ndarray) -> np.ndarray:
        """Angle (rad, unwrapped along the sequence) of LPS points around the long axis."""
        rel = np.atleast_2d(np.asarray(points, dtype=float)) - self.center
        return np.unwrap(np.arctan2(rel @ self.e2, rel @ self.e1))

    def direction(self, phi: float) -> np.ndarray:
        return np.cos(phi) * self.e1 + np.sin(phi) * self.e2

    def ray(self, origin: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(outermost epicardium hit, its unit triangle normal facing along the ray) on the ray from
        ``origin`` along unit ``direction`` (LPS mm), or None when the ray misses. Beyond the
        outermost hit nothing is inside any chamber surface, even where chamber surfaces overlap."""
        hits, ids = vtk.vtkPoints(), vtk.vtkIdList()
        self._rays.IntersectWithLine(origin, origin + 400.0 * direction, 1e-6, hits, ids)
        if hits.GetNumberOfPoints() == 0:
            return None
        arr = vtk_to_numpy(hits.GetData()).astype(float)
        k = int(np.argmax(np.linalg.norm(arr - origin, axis=1)))
        normal = self._normals[ids.GetId(k)]
        return arr[k], normal if normal.dot(direction) >= 0 else -normal

    def radial_hit(self, point: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(hit, normal, axis foot, unit radial direction) of :meth:`ray` from the axis foot of
        ``point`` through it, or None (point on the axis or ray missing)."""
        rel = np.asarray(point, dtype=float) - self.center
        foot = self.center + rel.dot(self.u) * self.u
        radial = point - foot
        norm = float(np.linalg.norm(radial))
        if norm < 1e-6:
            return None
        d = radial / norm
        hit = self.ray(foot, d)
        return None if hit is None else (hit[0], hit[1], foot, d)

    def cast(self, h: float, phi: float) -> np.ndarray | None:
        """The outermost epicardium point on the ray from the axis at height ``h`` (mm) along angle
        ``phi`` (rad), or None when the ray misses."""
        hit = self.ray(self.center + h * self.u, self.direction(phi))
        return None if hit is None else hit[0]

    def surface_point(self, h: float, phi: float) -> np.ndarray:
        """:meth:`cast`, or the surface point closest to the axis point when the ray misses."""
        hit = self.cast(h, phi)
        if hit is not None:
            return hit
        closest = [0.0, 0.0, 0.0]
        cid, sid, d2 = vtk.reference(0), vtk.reference(0), vtk.reference(0.0)
        self._cell_locator.FindClosestPoint(self.center + h * self.u, closest, cid, sid, d2)
        return np.array(closest)

    def groove(
        self, fixed: np.ndarray, candidates: np.ndarray, along: str, prior: float, smooth: float = 0.15
    ) -> np.ndarray:
        """Surface points of a groove (a crease of the heart outline). ``along="phi"``: ``fixed`` are
        angles (rad) and the height (mm) is chosen among ``candidates`` (AV groove); ``along="h"``:
        ``fixed`` heights, angle chosen (interventricular grooves). Cost per point: the concavity of
        the outline (distance from the axis minus the mean of its neighbours 3 candidates away) plus
        0.01 mm^-1 * (mm from ``prior``)^2; plus ``smooth`` * (step in mm)^2 between points; solved by
        dynamic programming."""
        nf, nc = len(fixed), len(candidates)
        rho = np.full((nf, nc), np.nan)
        pts = np.zeros((nf, nc, 3))
        for a, fv in enumerate(fixed):
            for b, cv in enumerate(candidates):
                h, phi = (cv, fv) if along == "phi" else (fv, cv)
                hit = self.cast(h, phi)
                if hit is not None:
                    pts[a, b] = hit
                    rel = hit - self.center
                    rho[a, b] = np.linalg.norm(rel - rel.dot(self.u) * self.u)
        if np.all(np.isnan(rho)):
            raise CardiacInputError("no epicardium found around the heart axis (check the anatomy)")
        scale = 1.0 if along == "phi" else float(np.nanmedian(rho))
        mm = (candidates - prior) * scale
        k = 3
        concave = np.full((nf, nc), 1e6)
        concave[:, k:-k] = rho[:, k:-k] - 0.5 * (rho[:, : -2 * k] + rho[:, 2 * k :])
        concave = np.where(np.isnan(concave), 1e6, concave) + 0.01 * mm[None, :] ** 2
        ok = concave < 1e5
        rho = concave
        jump = smooth * (mm[:, None] - mm[None, :]) ** 2
        cost = rho[0].copy()
        back = np.zeros((nf, nc), dtype=int)
        for a in range(1, nf):
            total = cost[:, None] + jump  # [previous, current]
            back[a] = np.argmin(total, axis=0)
            cost = rho[a] + total[back[a], np.arange(nc)]
        path = [int(np.argmin(cost))]
        for a in range(nf - 1, 0, -1):
            path.append(int(back[a, path[-1]]))
        path = path[::-1]
        return np.array([pts[a, b] for a, b in enumerate(path) if ok[a, b]])


class SurfacePather:
    """Smooth centrelines (LPS mm, ``step_mm`` apart) hugging the epicardium of ``frame``."""

    def __init__(self, epicardium: vtk.vtkPolyData, frame: HeartFrame, step_mm: float = 0.4) -> None:
        if not 0.05 <= step_mm <= 1.0:
            raise CardiacInputError(f"centreline step must be 0.05-1 mm, got {step_mm}")
        self.frame = frame
        self.step = float(step_mm)
        self._implicit = vtk.vtkImplicitPolyDataDistance()
        self._implicit.SetInput(epicardium)

    # --- primitives ------------------------------------------------------------------------------
    def straight_from(self, start: np.ndarray, target: np.ndarray) -> np.ndarray:
        pts, _ = resample_polyline(np.stack([start, target]), None, self.step)
        return pts

    def truncate(self, pts: np.ndarray, length_mm: float) -> np.ndarray:
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        n = int(np.searchsorted(s, length_mm, side="right"))
        return pts[: max(n, 2)]

    def snap(self, pts: np.ndarray, offsets: np.ndarray, blend_mm: float = 6.0) -> np.ndarray:
        """Move points onto the epicardium + ``offsets`` mm along its outward normal; the first point
        stays, the move ramps up over ``blend_mm`` of arc length. The surface point is the outermost
        hit of the radial ray from the heart axis through the point (robust where chamber surfaces
        overlap); the closest surface point is used where that ray misses (beyond the apex)."""
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        weight = np.clip(s / blend_mm, 0.0, 1.0) if blend_mm > 0 else np.ones(len(pts))
        out = pts.copy()
        for n, p in enumerate(pts):
            if weight[n] == 0.0:
                continue
            hit = self.frame.radial_hit(p)
            if hit is None:
                target = self._closest_offset(p, offsets[n])
            else:
                target = hit[0] + offsets[n] * hit[1]
                again = self.frame.radial_hit(target)
                if again is not None:  # still inside (or too close to) another part of the outline
                    h2, _, foot, d = again
                    if np.linalg.norm(target - foot) < np.linalg.norm(h2 - foot) + 0.5 * offsets[n]:
                        target = h2 + offsets[n] * d
            out[n] = p + weight[n] * (target - p)
        return out

    def _closest_offset(self, p: np.ndarray, offset: float) -> np.ndarray:
        closest = [0.0, 0.0, 0.0]
        signed = self._implicit.EvaluateFunctionAndGetClosestPoint(p, closest)
        c = np.array(closest)
        normal = p - c
        norm = np.linalg.norm(normal)
        if norm < 1e-6:
            grad = [0.0, 0.0, 0.0]
            self._implicit.EvaluateGradient(p, grad)
            normal, norm = np.array(grad), np.linalg.norm(grad)
        return c + offset * normal / max(norm, 1e-12) * (1.0 if signed >= 0 else -1.0)

    def finish(self, control: np.ndarray, r0: float, blend_mm: float = 6.0) -> np.ndarray:
        """Control points -> smooth centreline on the surface, the first point kept exactly."""
        dense, _ = resample_polyline(control, None, 1.0)
        start = dense[0].copy()
        dense = gaussian_filter1d(dense, sigma=3.0, axis=0, mode="nearest")
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
        dense += (start - dense[0]) * np.exp(-s / blend_mm)[:, None]
        pts, _ = resample_polyline(dense, None, self.step)
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        offsets = r0 * 0.45 ** (s / max(s[-1], 1e-6)) + FAT_GAP_MM  # approximates the radius taper
        pts = self.snap(pts, offsets, blend_mm)
        smooth = gaussian_filter1d(pts, sigma=max(1.0 / self.step, 1.0), axis=0, mode="nearest")
        smooth[0] = pts[0]
        out, _ = resample_polyline(smooth, None, self.step)
        return out

    # --- named path shapes -------------------------------------------------------------------------
    def groove_path(
        self,
        start: np.ndarray,
        kind: str,
        phi,
        r0: float,
        h_end: float | None = None,
        window_deg: float = 48.0,
        descend_mm: float = 0.0,
    ) -> np.ndarray:
        """A centreline from ``start`` along a groove. ``kind="iv"``: interventricular groove near
        angle ``phi`` (rad) from the start down to height ``h_end`` (default: the apex); ``kind="av"``:
        AV groove from angle ``phi[0]`` to ``phi[1]`` (rad). ``window_deg``: how far (degrees) an
        interventricular groove may stray from ``phi``; ``descend_mm``: an AV-groove path then turns
        towards the apex for this far (a non-dominant LCX ending as the last marginal)."""
        f = self.frame
        if kind == "iv":
            h_start = float(f.height_of(start))
            h0 = max(h_start + 4.0, f.h_av + 12.0)
            h1 = 0.97 * f.height if h_end is None else h_end
            hs = np.linspace(h0, h1, max(int(abs(h1 - h0) / 4.0), 4))
            ctrl = f.groove(
                hs, phi + np.deg2rad(np.arange(-window_deg, window_deg + 0.1, 4.0)), along="h", prior=phi
            )
            if h0 - h_start > 8.0:  # from above the AV groove (left main): come down beside the
                # outflow tracts first, then turn into the groove
                phi_s = float(f.angle(start)[0])
                turn = float(np.angle(np.exp(1j * (phi - phi_s))))  # shortest way round
                bend = f.surface_point(0.5 * (h_start + h0) + 2.0, phi_s + 0.3 * turn)
                ctrl = np.vstack([bend[None], ctrl])
        elif kind == "av":
            phis = np.linspace(phi[0], phi[1], max(int(np.rad2deg(abs(phi[1] - phi[0])) / 5.0), 4))
            ctrl = f.groove(phis, f.h_av + np.arange(-20.0, 50.1, 2.5), along="phi", prior=f.h_av)
            if descend_mm > 0:
                h_last = float(f.height_of(ctrl[-1:])[0])
                hs = h_last + np.arange(6.0, descend_mm + 0.1, 4.0)
                down = [f.surface_point(min(h, 0.9 * f.height), phi[1]) for h in hs]
                ctrl = np.vstack([ctrl, np.array(down)])
        else:
            raise CardiacInputError(f"unknown groove kind {kind!r}")
        return self.finish(np.vstack([start[None], ctrl]), r0)

    def side_branch(
        self,
        start: np.ndarray,
        dphi: float,
        dh: float,
        length_mm: float,
        r0: float,
        parent_course: np.ndarray | None = None,
        takeoff: float = 0.0,
        takeoff_mm: float = TAKEOFF_MM,
        side: float | None = None,
    ) -> np.ndarray:
        """A branch from ``start`` running ``dh`` mm towards the apex while turning ``dphi`` rad.

        ``parent_course`` (unit LPS vector: the parent's chord over the ``takeoff_mm`` past
        ``start``) and ``takeoff`` (rad): where the branch's first ``takeoff_mm`` would leave that
        course at less than ``takeoff`` (a branch off a parent that already runs towards the apex,
        e.g. a marginal off a descending circumflex), it first runs ``takeoff_mm`` at ``takeoff`` from
        the parent, to the side its course lies on, and then follows that course moved sideways by
        as much, so that the two lumens part within a few mm as at a real bifurcation instead of
        overlapping for tens of mm. ``side`` (+1 / -1): turn to that side of the parent's course
        instead (seen from outside the heart, +1 anticlockwise)."""
        f = self.frame
        start = np.asarray(start, dtype=float)
        h0, phi0 = float(f.height_of(start)), float(f.angle(start)[0])
        ts = np.linspace(0.1, 1.0, 12)
        ctrl = np.array([f.surface_point(min(h0 + t * dh, 0.97 * f.height), phi0 + t * dphi) for t in ts])
        pts = self.finish(np.vstack([start[None], ctrl]), r0, blend_mm=4.0)
        if parent_course is not None and takeoff > 0.0:
            moved = self._take_off(start, ctrl, pts, parent_course, takeoff, takeoff_mm, side)
            if moved is not None:
                pts = self.finish(np.vstack([start[None], moved]), r0, blend_mm=4.0)
        return self.truncate(pts, length_mm)

    def _take_off(self, start, ctrl, pts, course, takeoff, run_mm, side=None) -> np.ndarray | None:
        """Control points of :meth:`side_branch` with the take-off run put in front (in the plane
        tangent to the epicardium at ``start``), or None where the path ``pts`` already leaves the
        parent's ``course`` at ``takeoff`` or more over its first ``run_mm``."""
        f = self.frame
        hit = f.radial_hit(start)
        if hit is None:
            return None
        n = hit[1]
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        c = pts[min(int(np.searchsorted(s, run_mm)), len(pts) - 1)] - start
        a = course - course.dot(n) * n
        c = c - c.dot(n) * n
        if np.linalg.norm(a) < 1e-6 or np.linalg.norm(c) < 1e-6:
            return None
        a, c = a / np.linalg.norm(a), c / np.linalg.norm(c)
        if np.arccos(np.clip(a @ c, -1.0, 1.0)) >= takeoff:
            return None
        b = np.cross(n, a)  # in the tangent plane, 90 degrees from the parent's course
        if side is None:
            side = 1.0 if c @ b >= 0.0 else -1.0  # the side the branch's course lies on
        run = run_mm * (np.cos(takeoff) * a + side * np.sin(takeoff) * b)
        shifted = ctrl + (run - (run @ a) * a)  # the course moved sideways by the run's offset
        keep = (shifted - start) @ a > run @ a + 1.0  # control points beyond the run along the parent
        out = np.vstack([(start + run)[None], shifted[keep]])
        hs, phis = f.height_of(out), f.angle(out)
        return np.array([f.surface_point(min(h, 0.97 * f.height), p) for h, p in zip(hs, phis)])
