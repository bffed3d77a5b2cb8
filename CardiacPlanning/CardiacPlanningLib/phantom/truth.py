"""Ground truth the phantom's anatomy implies for the planning measurements (LPS mm): the mitral
annulus of the heart mesh, the aortic root's painted lumen section, the main pulmonary artery's length
to the crotch of its bifurcation. Kept apart from the painting (``anatomy``) so each stays short."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from .. import labels
from .heartmesh import CAVITY, HeartMesh

if TYPE_CHECKING:
    from .anatomy import Anatomy

HEART_CODES = (1, 2, 3, 4, 5, 6, 7, 10, 17, 18)  # tissue codes of the heart's label map
AORTA_WALL_MM = 1.6  # the aorta tube's painted wall
PA_WALL_MM = 1.6  # the pulmonary artery's painted wall
PA_CLEARANCE_MM = AORTA_WALL_MM + PA_WALL_MM  # the PA's lumen keeps out of both walls


def _cap_ring(mesh: HeartMesh, name: str) -> np.ndarray:
    """Boundary points (LPS mm) of the cap surface ``name`` (its edges used by one triangle only), in
    their order along the boundary loop (the ring need not be star-shaped about any point: the LA's
    mitral opening is kidney-shaped, concave at the aorto-mitral curtain, so ordering the points by
    their angle about the mean, as this did until 2026-11-29, crossed the polygon over itself on some
    seeds: area off by up to 0.25 %, perimeter up to 9 % long)."""
    tri = mesh.triangles([mesh.surface_id(name)])
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    boundary = uniq[count == 1]
    nbrs: dict[int, list[int]] = {}
    for a, b in boundary:
        nbrs.setdefault(int(a), []).append(int(b))
        nbrs.setdefault(int(b), []).append(int(a))
    if any(len(v) != 2 for v in nbrs.values()):
        raise ValueError(f"the boundary of the mesh cap {name!r} is not one simple loop")
    loop, prev = [int(boundary[0, 0])], -1
    while True:
        nxt = next(x for x in nbrs[loop[-1]] if x != prev)
        if nxt == loop[0]:
            break
        prev = loop[-1]
        loop.append(nxt)
    if len(loop) != len(nbrs):
        raise ValueError(f"the boundary of the mesh cap {name!r} is not one simple loop")
    return mesh.points[loop]


def mitral_annulus_truth(mesh: HeartMesh, aortic_center: np.ndarray) -> dict:
    """The mitral annulus of the heart mesh (LPS mm) as CT shows it: the ring where LA blood meets
    LV blood across the valve (the leaflets' hinge line) = the outline of the LA cavity's mitral cap,
    in that cap's plane; normal LV -> LA; AP (septal-lateral) width towards the aortic annulus
    centre, intercommissural width perpendicular to it, area, perimeter. Until 2026-11-28 this was
    the LV cavity's mitral cap, which is larger (atrial wall sits on its rim, no LA blood faces it,
    so no label map shows it); its widths stay as ``lv_cap_*``. The LA opening (AP 16-21 mm on seeds 0-17) is
    smaller than a typical adult annulus."""
    lv = mesh.points[np.unique(mesh.triangles([CAVITY["lv"]]))].mean(0)
    cap = mesh.cap("mitral-valve-atrium", away_from=lv)
    e1 = np.cross(cap.normal, [0.0, 0.0, 1.0] if abs(cap.normal[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(cap.normal, e1)
    ao = np.asarray(aortic_center) - cap.center
    ap = np.array([ao @ e1, ao @ e2])
    ap /= np.linalg.norm(ap)
    ic = np.array([-ap[1], ap[0]])

    def in_plane(name: str) -> np.ndarray:
        q = _cap_ring(mesh, name) - cap.center
        return np.stack([q @ e1, q @ e2], 1)  # in loop order (see _cap_ring)

    uv = in_plane("mitral-valve-atrium")
    lv_cap = in_plane("mitral-valve")
    x, y = uv[:, 0], uv[:, 1]
    return {
        "definition": "LA-LV contact ring (the LA cavity's mitral opening)",
        "center": cap.center.copy(),
        "normal": cap.normal.copy(),
        "ap_diameter_mm": float(np.ptp(uv @ ap)),
        "intercommissural_diameter_mm": float(np.ptp(uv @ ic)),
        "area_mm2": float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))),
        "perimeter_mm": float(np.linalg.norm(np.roll(uv, -1, axis=0) - uv, axis=1).sum()),
        "lv_cap_ap_diameter_mm": float(np.ptp(lv_cap @ ap)),
        "lv_cap_intercommissural_diameter_mm": float(np.ptp(lv_cap @ ic)),
    }


def root_section_truth(anatomy: Anatomy, h: float, step_mm: float = 0.1) -> dict:
    """The aortic root's lumen in the section ``h`` mm above the annulus, perpendicular to the root
    axis, as the phantom's anatomy has it (mm, mm^2): the analytic root outline (``analytic_*``)
    less the part of it that the heart chambers painted after the root take (``overpainted_mm2``:
    points of the outline, every ``step_mm``, whose reference-grid tissue is a heart code other than
    the aorta; 0 since the atria are clipped by the aortic wall, ``keep_shapes``). The image is
    rendered from that tissue, so no label map of the case has lumen there. The coronary arteries
    (painted over the sinus wall from the ostia) are not subtracted: a lumen measurement fills their
    dents. Needs ``anatomy`` built on the case's own reference grid (nearest-voxel lookup, as the
    renderer does)."""
    from matplotlib.path import Path as MplPath

    root = anatomy.root
    theta = np.linspace(-np.pi, np.pi, 1440, endpoint=False)
    r = root.radius(np.full_like(theta, h), theta)
    ring = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    reach = float(r.max()) + step_mm
    g = np.arange(-reach, reach + 1e-9, step_mm)
    uv = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    uv = uv[MplPath(ring).contains_points(uv)]
    pts = root.center + h * root.axis + uv[:, :1] * root.e1 + uv[:, 1:] * root.e2
    grid = anatomy.grid
    ijk = np.rint((pts - grid.origin) / grid.spacing).astype(int)
    ijk = np.clip(ijk, 0, np.array(grid.shape[::-1]) - 1)
    codes = anatomy.tissue[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    chambers = [c for c in HEART_CODES if c != labels.AORTA]
    over = float(np.isin(codes, chambers).sum() * step_mm**2)
    x, y = ring[:, 0], ring[:, 1]
    analytic = float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return {
        "height_mm": float(h),
        "area_mm2": analytic - over,
        "analytic_area_mm2": analytic,
        "overpainted_mm2": over,
    }


def mpa_length_truth(centerlines: dict, spacing_mm: float = 0.2) -> dict:
    """Main pulmonary artery truth of the phantom (LPS mm): the trunk starts at the pulmonary valve
    cap centre (open start, the valve plane) and runs straight along ``axis`` to its branch point; its
    length is the distance along the axis from the valve to the **crotch** of the bifurcation, the
    lowest level at which the lumen above the section (trunk and both pulmonary arteries, within 2
    trunk radii of the axis) falls into two pieces leading into the two branches
    (:func:`CardiacPlanningLib.measure.bifurcation.crotch_level`, the definition the measurement
    :func:`CardiacPlanningLib.measure.valves.mpa_length` applies to the label map), evaluated on the
    analytic tubes sampled every ``spacing_mm``. Replaces an earlier carina-level truth (where the
    last lumen left a 1.5-radius disc: ill-conditioned, and cut by the scan's top on demo-size cases).
    Where the pulmonary arteries pass the ascending aorta, the painted lumen ends at the aorta's wall
    and the PA's own (``PA_CLEARANCE_MM`` from the aorta tube's lumen, ``anatomy.build_anatomy``), so
    the lumen searched here does too (with ``centerlines["aorta"]`` given).
    ``centerlines``: name -> (points, radii)."""
    from ..measure.bifurcation import crotch_level
    from .vessels import _union_sdf

    trunk = centerlines["pulmonary_trunk"]
    start = np.asarray(trunk[0][0], dtype=float)
    axis = np.asarray(trunk[0][-1], dtype=float) - start
    length = float(np.linalg.norm(axis))
    axis /= length
    radius = float(trunk[1][0])
    reach = 2.0 * radius
    t_range = (0.5 * length, length + 2.0 * reach)
    # only the tube segments that come near the searched cylinder
    centre = start + 0.5 * (t_range[0] + t_range[1]) * axis
    bound = np.hypot(reach, 0.5 * (t_range[1] - t_range[0])) + 1.0
    tubes = []
    for name in ("pulmonary_trunk", "left_pulmonary_artery", "right_pulmonary_artery"):
        pts, rad = (np.asarray(v, dtype=float) for v in centerlines[name])
        near = np.linalg.norm(pts - centre, axis=1) - rad <= bound + 2.0
        keep = near | np.roll(near, 1) | np.roll(near, -1)
        idx = np.flatnonzero(keep)
        if len(idx) >= 2:
            tubes.append((pts[idx[0] : idx[-1] + 1], rad[idx[0] : idx[-1] + 1]))
    # the signed distance on a 1 mm lattice over the cylinder's box decides the points further than
    # 1.5 mm from the wall (the distance changes by at most ~1 mm per mm); the others are computed
    half = 0.5 * (t_range[1] - t_range[0]) * np.abs(axis) + reach * np.sqrt(np.clip(1 - axis**2, 0, 1))
    lo = centre - half - 2.0
    n = np.ceil((2 * half + 4.0) / 1.0).astype(int) + 1
    lattice = np.stack(np.meshgrid(*[lo[i] + np.arange(n[i]) for i in range(3)], indexing="ij"), -1)
    coarse = _union_sdf(lattice.reshape(-1, 3), tubes).reshape(lattice.shape[:3])

    aorta = centerlines.get("aorta")
    if aorta is not None:  # the painted lumen keeps clear of the aorta's lumen and both walls
        aorta = tuple(np.asarray(v, dtype=float) for v in aorta)
        coarse_ao = _aorta_sdf(lattice.reshape(-1, 3), *aorta).reshape(lattice.shape[:3])

    def inside(p: np.ndarray) -> np.ndarray:
        d = ndimage.map_coordinates(coarse, (p - lo).T, order=1, mode="nearest")
        near = np.abs(d) < 1.5
        d[near] = _union_sdf(p[near], tubes)
        hit = d < 0
        if aorta is not None:
            c = ndimage.map_coordinates(coarse_ao, (p - lo).T, order=1, mode="nearest")
            near = hit & (np.abs(c - PA_CLEARANCE_MM) < 1.5)
            c[near] = _aorta_sdf(p[near], *aorta)
            hit &= c >= PA_CLEARANCE_MM
        return hit

    level = crotch_level(inside, start, axis, reach, t_range, spacing_mm=spacing_mm)
    if level is None:
        raise ValueError("the phantom's pulmonary trunk does not divide near its branch point")
    return {
        "definition": "valve plane to the crotch of the bifurcation along the trunk axis",
        "valve_center": start,
        "axis": axis,
        "branch_point_distance_mm": length,
        "mpa_length_mm": level,
        "radius_mm": radius,
    }


def _aorta_sdf(points: np.ndarray, pts: np.ndarray, rad: np.ndarray) -> np.ndarray:
    """The aorta tube's signed distance (mm, < 0 inside) at LPS ``points`` (N, 3), as painted
    (:func:`.shapes.tube_sdf` with an open start: nothing behind the STJ end of the first segment)."""
    out = np.full(len(points), np.inf)
    for i in range(len(pts) - 1):
        a, d = pts[i], pts[i + 1] - pts[i]
        t_raw = (points - a) @ d / max(float(d @ d), 1e-12)
        t = np.clip(t_raw, 0.0, 1.0)
        dist = np.linalg.norm(points - a - t[:, None] * d, axis=1) - (rad[i] + t * (rad[i + 1] - rad[i]))
        if i == 0:
            dist = np.where(t_raw < 0, np.inf, dist)
        np.minimum(out, dist, out=out)
    return out
