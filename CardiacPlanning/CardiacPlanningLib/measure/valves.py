"""Valve planes found automatically from the label map, and the TEER / PPVI / volume measurements.

- Interface plane of two labels (e.g. LV blood pool and aorta = the aortic annulus level; LV and LA
  = the mitral annulus; RV and pulmonary artery = the pulmonary valve): the least-squares plane
  through the voxels of either label near the other (see :func:`interface_plane`), oriented
  towards label B.
- Automatic aortic annulus (:func:`automatic_hinge_points`): the plane at the LV-aorta interface
  level, perpendicular to the root axis (centroid line of the LVOT and sinus sections,
  :func:`root_axis_plane`); the hinge points are its lumen outline points in the directions of the
  three sinus lobes.
- Mitral annulus (TEER): the LV blood pool's face towards the LA projected onto the LV-LA
  interface plane (see :mod:`.mitral`); the anteroposterior (AP) diameter is the outline's width
  along the in-plane direction towards the aortic annulus centre, the intercommissural (IC)
  diameter its width perpendicular to it.
- PPVI: RVOT = section of RV and pulmonary artery 5 mm below the pulmonary valve plane; main
  pulmonary artery (MPA) = section of the pulmonary artery 10 mm above it; MPA length = distance
  along the trunk axis from the valve plane to the bifurcation, the lowest level where the lumen
  above the section divides into the two branches (the crotch, :func:`mpa_length`,
  :mod:`.bifurcation`).
- Chamber volumes: voxel count x voxel volume per label (mL); ejection fraction from the largest
  and smallest LV blood-pool volume over the phases.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from .plane import Plane, fit_plane
from .section import MaskSampler

logger = logging.getLogger(__name__)


def _values(label) -> list[int]:
    return [int(label)] if np.isscalar(label) else [int(v) for v in label]


def interface_plane(
    labelmap: Volume, label_a, label_b, max_gap_mm: float = 8.0, min_spread_mm: float = 0.0
) -> Plane:
    """Plane between two labels (LPS mm), normal pointing from A towards B: fitted to the voxels of
    each label that lie within the smallest gap (one voxel, then 2, 3, 4, 6, 8 mm up to
    ``max_gap_mm``) of the other, so a wall between the labels (mitral, pulmonary valve) is bridged.
    A gap is taken once it gives >= 50 voxels whose spread in the plane (the smaller in-plane
    standard deviation) is at least ``min_spread_mm``: a small patch of a thick, uneven wall does
    not define a plane.
    ``label_a``/``label_b``: a label value or several (e.g. LV blood pool + LVOT)."""
    a = np.isin(labelmap.array, _values(label_a))
    b = np.isin(labelmap.array, _values(label_b))
    names = " and ".join("/".join(labels.by_value(v).name for v in _values(x)) for x in (label_a, label_b))
    if not a.any() or not b.any():
        raise CardiacInputError(f"the label map lacks {names}; place the valve points by hand")
    # work in the box where the two labels come within max_gap_mm of each other
    sampling = labelmap.spacing[::-1]
    pad = [int(np.ceil(max_gap_mm / s)) + 1 for s in sampling]
    box_b = ndimage.find_objects(b.astype(np.uint8))[0]
    grown = tuple(slice(max(sl.start - p, 0), sl.stop + p) for sl, p in zip(box_b, pad))
    near_a = np.argwhere(a[grown])
    if len(near_a) == 0:
        raise CardiacInputError(
            f"{names} are more than {max_gap_mm} mm apart; place the valve points by hand"
        )
    lo = np.array([sl.start for sl in grown]) + near_a.min(0) - pad
    hi = np.array([sl.start for sl in grown]) + near_a.max(0) + 1 + pad
    box = tuple(slice(max(int(lo_), 0), int(hi_)) for lo_, hi_ in zip(lo, hi))
    offset = np.array([sl.start for sl in box])
    a, b = a[box], b[box]
    if not b.any():
        raise CardiacInputError(
            f"{names} are more than {max_gap_mm} mm apart; place the valve points by hand"
        )
    dist_b = ndimage.distance_transform_edt(~b, sampling=sampling)
    dist_a = ndimage.distance_transform_edt(~a, sampling=sampling)
    for gap in [max(labelmap.spacing) * 1.01, 2.0, 3.0, 4.0, 6.0, 8.0]:
        if gap > max_gap_mm:
            break
        near = (a & (dist_b <= gap)) | (b & (dist_a <= gap))
        if near.sum() >= 50:
            idx = np.argwhere(near) + offset
            pts = labelmap.index_to_lps(idx[:, ::-1].astype(float))
            spread = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)[1] / np.sqrt(len(pts))
            if spread < min_spread_mm and gap < max_gap_mm:
                continue
            b_centroid = labelmap.index_to_lps((np.argwhere(b) + offset).mean(axis=0)[::-1])
            plane = fit_plane(pts, toward=b_centroid)
            return Plane(pts.mean(axis=0), plane.normal)
    raise CardiacInputError(f"{names} are more than {max_gap_mm} mm apart; place the valve points by hand")


# label groups of the left ventricular outflow and the aortic root; the heart module's valve preset
# splits them into LVOT (21), annulus region (20) and root (19) labels
LV_SIDE = (labels.LV_BLOOD_POOL, 21)
AORTIC_SIDE = (labels.AORTA, 19)
AORTIC_LUMEN = (labels.LV_BLOOD_POOL, labels.AORTA, 19, 20, 21)


def _oriented_to_aorta(labelmap: Volume, plane: Plane, reach_mm: float = 15.0) -> Plane:
    """``plane`` with its normal pointing to the aortic-side voxels within ``reach_mm`` of its origin
    (the whole aorta's centroid can lie below the annulus: the descending aorta is long)."""
    idx = np.argwhere(np.isin(labelmap.array, AORTIC_SIDE))
    pts = labelmap.index_to_lps(idx[:, ::-1].astype(float))
    near = pts[np.linalg.norm(pts - plane.origin, axis=1) <= reach_mm]
    if len(near) and float(np.mean(plane.signed_distance(near))) < 0:
        return Plane(plane.origin, -plane.normal)
    return plane


def root_axis_plane(
    labelmap: Volume, start: Plane, below_mm: float = 5.0, above_mm: float = 15.0, iterations: int = 6
) -> Plane:
    """The annulus plane perpendicular to the root axis, at the level of ``start`` (LPS mm).

    The axis is the line fitted to the centroids of the lumen sections (:data:`AORTIC_LUMEN`) 1 mm
    apart from ``below_mm`` under to ``above_mm`` over the plane (LVOT and sinuses), the sections
    taken perpendicular to the current axis and the fit repeated until it moves < 0.01 deg. The
    plane's origin is where the axis crosses ``start``. Why: a label interface (LV-aorta) seen on a
    grid is a staircase; when the annulus lies near a lattice diagonal the steps (0.88 mm at 1.25 mm
    voxels and 45 deg) tilt a fitted plane by up to ~2.5 deg over an annulus, while the lumen wall
    fixes the axis over 20 mm. ``start`` must point into the aorta."""
    sampler = MaskSampler(labelmap, AORTIC_LUMEN, start.origin, below_mm + above_mm + 40.0)
    origin, normal = start.origin, start.normal
    for _ in range(iterations):
        cents = []
        for h in np.arange(-below_mm, above_mm + 1e-9, 1.0):
            try:
                sec = sampler.section(Plane(origin + h * normal, normal), 32.0, 0.5, diameters=False)
            except CardiacInputError:
                continue
            cents.append(sec.centroid)
        if len(cents) < 0.6 * (below_mm + above_mm):
            logger.info("root axis: only %d sections; keeping the interface plane", len(cents))
            return start
        cents = np.asarray(cents)
        mid = cents.mean(axis=0)
        axis = np.linalg.svd(cents - mid)[2][0]
        axis = axis if axis @ normal > 0 else -axis
        moved = float(np.degrees(np.arccos(min(1.0, float(axis @ normal)))))
        # where the axis line crosses the start plane
        origin = mid + (float((start.origin - mid) @ start.normal) / float(axis @ start.normal)) * axis
        normal = axis
        if moved < 0.01:
            break
    return Plane(origin, normal)


def _sinus_angles(sampler: MaskSampler, plane: Plane, height_mm: float = 8.0) -> np.ndarray:
    """In-plane angles (rad, :meth:`Plane.basis` frame) of the three sinus lobes, midway between the
    commissures: the rotation of a 120-degree star that minimises the mean lumen radius of the
    section ``height_mm`` above the annulus gives the commissures (the sharp inward corners between
    the lobes; the lobes' flat tops place a maximum less well)."""
    sec = sampler.section(plane.shifted(height_mm), radius_mm=32.0, step_mm=0.5, diameters=False)
    up = plane.shifted(height_mm)
    uv = up.to_plane_coords(sec.contour) - up.to_plane_coords(sec.centroid)
    ang, rad = np.arctan2(uv[:, 1], uv[:, 0]), np.linalg.norm(uv, axis=1)
    order = np.argsort(ang)
    ang, rad = ang[order], rad[order]
    grid = np.radians(np.arange(0.0, 120.0, 0.5))
    star = grid[:, None] + np.radians([0.0, 120.0, 240.0])[None, :]
    r = np.interp(np.angle(np.exp(1j * star)), ang, rad, period=2 * np.pi)
    return star[int(np.argmin(r.mean(axis=1)))] + np.pi / 3


def automatic_hinge_points(labelmap: Volume) -> np.ndarray:
    """Three annulus hinge points (LPS mm): on the annulus plane (the LV-aorta interface level,
    perpendicular to the root axis, :func:`root_axis_plane`), the lumen outline points in the
    directions of the three sinus lobes (the cusp nadirs: the lowest points of the leaflet
    attachments lie at the sinus centres on the basal ring)."""
    start = _oriented_to_aorta(labelmap, interface_plane(labelmap, LV_SIDE, AORTIC_SIDE))
    plane = root_axis_plane(labelmap, start)
    sampler = MaskSampler(labelmap, AORTIC_LUMEN, plane.origin, 50.0)
    sec = sampler.section(plane, radius_mm=45.0, step_mm=0.25)
    try:
        angles = _sinus_angles(sampler, plane)
    except CardiacInputError as exc:
        logger.info("no sinus section (%s); hinge points at 0/120/240 degrees", exc)
        angles = np.radians([0.0, 120.0, 240.0])
    uv = plane.to_plane_coords(sec.contour) - plane.to_plane_coords(sec.centroid)
    ang = np.arctan2(uv[:, 1], uv[:, 0])
    picks = [int(np.argmin(np.abs(np.angle(np.exp(1j * (ang - t)))))) for t in angles]
    return sec.contour[picks]


def _width_along(contour_uv: np.ndarray, direction: np.ndarray) -> float:
    d = direction / np.linalg.norm(direction)
    proj = contour_uv @ d
    return float(proj.max() - proj.min())


def teer_measurements(labelmap: Volume) -> dict:
    """Mitral annulus AP and intercommissural diameters (mm), area and perimeter, LA volume (mL)."""
    from .mitral import mitral_annulus

    start = interface_plane(labelmap, labels.LV_BLOOD_POOL, labels.LA, min_spread_mm=3.0)
    plane, sec = mitral_annulus(labelmap, start)
    uv = plane.to_plane_coords(sec.contour)
    try:
        aortic = interface_plane(labelmap, LV_SIDE, AORTIC_SIDE).origin
    except CardiacInputError:
        aortic = plane.origin + np.array([0.0, -1.0, 0.0])  # no aorta: use the anterior direction
    ap_dir = plane.to_plane_coords(plane.project(aortic))
    if np.linalg.norm(ap_dir) < 1e-6:
        ap_dir = np.array([1.0, 0.0])
    ic_dir = np.array([-ap_dir[1], ap_dir[0]])
    la_ml = float((labelmap.array == labels.LA).sum() * labelmap.voxel_volume_mm3 / 1000.0)
    return {
        "mitral_plane": {"origin_lps": plane.origin.tolist(), "normal_lps": plane.normal.tolist()},
        "mitral_annulus": sec.to_dict(),
        "ap_diameter_mm": _width_along(uv, ap_dir),
        "intercommissural_diameter_mm": _width_along(uv, ic_dir),
        "la_volume_ml": la_ml,
    }


def ppvi_measurements(labelmap: Volume) -> dict:
    """RVOT and main pulmonary artery sections (mm, mm^2) and MPA length (mm)."""
    plane = interface_plane(labelmap, labels.RV, labels.PULMONARY_ARTERY)
    out: dict = {
        "pulmonary_valve_plane": {"origin_lps": plane.origin.tolist(), "normal_lps": plane.normal.tolist()}
    }
    both = MaskSampler(labelmap, (labels.RV, labels.PULMONARY_ARTERY), plane.origin, 60.0)
    try:
        out["rvot"] = both.section(
            plane.shifted(-5.0), radius_mm=45.0, step_mm=0.3, method="ellipse"
        ).to_dict()
    except CardiacInputError as exc:
        logger.info("RVOT section failed: %s", exc)
        out["rvot"] = None
    pa = MaskSampler(labelmap, labels.PULMONARY_ARTERY, plane.origin + 25 * plane.normal, 60.0)
    try:
        out["mpa"] = pa.section(plane.shifted(10.0), radius_mm=45.0, step_mm=0.3, method="ellipse").to_dict()
    except CardiacInputError as exc:
        logger.info("MPA section failed: %s", exc)
        out["mpa"] = None
    radius = np.sqrt(out["mpa"]["area_mm2"] / np.pi) if out["mpa"] else 15.0
    out["mpa_length_mm"], out["mpa_axis_lps"] = mpa_length(pa, plane, radius)
    return out


def mpa_length(sampler: MaskSampler, valve: Plane, radius_mm: float) -> tuple[float | None, list]:
    """Main pulmonary artery length (mm): from the pulmonary valve plane ``valve`` (normal into the
    trunk) along the trunk axis to the crotch of the bifurcation, the lowest level at which the lumen
    above the section (within 2 trunk radii of the axis) falls into two pieces leading into the two
    pulmonary arteries (:func:`.bifurcation.crotch_level`, the same definition as the phantom's truth);
    the smoothed mask read at 0.5, sampled every 0.25 mm. The axis is the line through the section
    centroids 2-12 mm above the valve (the trunk proper). Also returns the axis (origin on the valve
    plane, direction; LPS). The length is None (not measured) when the trunk does not divide within
    80 mm or the lumen near the split reaches the scan's edge (the bifurcation is not wholly in the
    scan, so the "split" may be the edge cutting the lumen). Until 2026-11-28 the end was the "carina
    level" (the last lumen in a 1.5-radius disc), which the phantom's grazing trunk dome made
    ill-conditioned, and which on most demo-size phantom cases was the scan's top edge. Since
    2026-11-29 the split level is refined to the apex of the carina's sides
    (:func:`.bifurcation.crotch_from_wall`): partial volume rounds the apex off, so the sampled lumen
    parted 0.4-0.5 mm above it on the phantom."""
    from .bifurcation import crotch_from_wall, crotch_level, crotch_point

    cents = []
    for h in np.arange(2.0, 12.01, 1.0):
        try:
            cents.append(sampler.section(valve.shifted(h), 45.0, 0.5, diameters=False).centroid)
        except CardiacInputError:
            continue
    axis = valve.normal
    if len(cents) >= 5:
        cents = np.asarray(cents)
        mid = cents.mean(axis=0)
        d = np.linalg.svd(cents - mid)[2][0]
        axis = d if d @ valve.normal > 0 else -d
        start = mid + (float((valve.origin - mid) @ valve.normal) / float(axis @ valve.normal)) * axis
    else:
        start = valve.origin

    def inside(p: np.ndarray) -> np.ndarray:
        idx = sampler.labelmap.lps_to_index(p) - sampler.lo
        return ndimage.map_coordinates(sampler.smooth, [idx[:, 2], idx[:, 1], idx[:, 0]], order=1) > 0.5

    reach = 2.0 * radius_mm
    level = crotch_level(inside, start, axis, reach, (10.0, 80.0), spacing_mm=0.25)
    if level is None:
        logger.info("the pulmonary trunk does not divide within 80 mm of the valve")
        return None, [start.tolist(), axis.tolist()]
    if _lumen_at_scan_edge(sampler.labelmap, inside, start, axis, reach, level):
        # the scan ends at (or below) the bifurcation: the "split" may be the scan's edge cutting the
        # lumen, not the crotch (on the demo-size phantom the bifurcation lies above the scan)
        logger.info("the pulmonary bifurcation reaches the edge of the scan: MPA length not measured")
        return None, [start.tolist(), axis.tolist()]
    # the split of the sampled lumen lies above the carina's apex, which partial volume rounds off:
    # the apex is found from the carina's sides where the wall is >= 2 voxels wide. Not where the
    # aorta forms the crotch (its wall against the PA's, e.g. the ascending aorta over a right PA
    # compressed behind it): that "wall" is thick and round, no thin wedge is lost, and the sides
    # (the aorta's curve) extrapolate far below it (-0.95 mm on phantom seed 23)
    point = crotch_point(inside, start, axis, reach, level)
    if point is not None and _aortic_lumen_within(sampler.labelmap, point, AORTA_ABUTS_MM):
        logger.info("the aorta forms the pulmonary crotch: its split level is the crotch")
        return level, [start.tolist(), axis.tolist()]
    apex = crotch_from_wall(inside, start, axis, reach, level, 2.0 * max(sampler.labelmap.spacing))
    if apex is not None:
        level = apex
    return level, [start.tolist(), axis.tolist()]


# two great-artery walls back to back (aortic ~2 mm, pulmonary ~1.5-2 mm in adults): the aortic lumen
# this close to the pulmonary crotch means the aorta's wall forms it
AORTA_ABUTS_MM = 4.0


def _aortic_lumen_within(labelmap: Volume, point: np.ndarray, dist_mm: float) -> bool:
    """Whether aortic lumen (:data:`AORTIC_SIDE` labels) lies within ``dist_mm`` of LPS ``point``: a
    voxel centre within ``dist_mm`` plus half a voxel (the label's edge lies half a voxel out)."""
    sp = np.asarray(labelmap.spacing, float)
    c = labelmap.lps_to_index(np.asarray(point, float)[None])[0]
    half = np.ceil((dist_mm + sp.max()) / sp).astype(int)
    lo = np.maximum(np.floor(c).astype(int) - half, 0)
    hi = np.minimum(np.ceil(c).astype(int) + half + 1, np.array(labelmap.shape[::-1]))
    if np.any(hi <= lo):
        return False
    box = labelmap.array[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]
    idx = np.argwhere(np.isin(box, AORTIC_SIDE))[:, ::-1] + lo
    if len(idx) == 0:
        return False
    d = np.linalg.norm(labelmap.index_to_lps(idx.astype(float)) - point, axis=1)
    return bool(d.min() <= dist_mm + 0.5 * float(sp.mean()))


def _lumen_at_scan_edge(labelmap: Volume, inside, start, axis, reach: float, level: float) -> bool:
    """Whether lumen within ``reach`` of the axis and 3 mm of ``level`` (the sections where the split
    was seen) lies within 1.5 voxels of the scan's edge or beyond it (LPS mm). A branch leaving the
    scan further on does not matter."""
    from .bifurcation import axis_frame

    e1, e2 = axis_frame(axis)
    g = np.arange(-reach, reach + 1e-9, 1.0)
    gu, gv = np.meshgrid(g, g, indexing="ij")
    disc = gu**2 + gv**2 <= reach**2
    flat = start + gu[disc][:, None] * e1 + gv[disc][:, None] * e2
    pts = np.concatenate([flat + t * axis for t in np.arange(level - 3.0, level + 3.0 + 1e-9, 1.0)])
    idx = labelmap.lps_to_index(pts)
    edge = np.any((idx < 1.0) | (idx > np.array(labelmap.shape[::-1]) - 2.0), axis=1)
    if not edge.any():
        return False
    # outside the scan the smoothed mask reads 0: look at the lumen next to the edge from inside
    inner = pts[edge] - 1.5 * np.asarray(labelmap.spacing).max() * axis
    return bool(inside(pts[edge]).any() or inside(inner).any())


def chamber_volumes(labelmap: Volume, keys=("lv_blood_pool", "la", "rv", "ra")) -> dict[str, float]:
    """Volumes (mL) of the labels ``keys``."""
    counts = np.bincount(labelmap.array.ravel().astype(np.int64), minlength=64)
    return {k: float(counts[labels.value_of(k)] * labelmap.voxel_volume_mm3 / 1000.0) for k in keys}


def ejection_fraction(lv_volumes_ml) -> float:
    """(EDV - ESV) / EDV from LV volumes over the phases (fraction 0..1)."""
    v = np.asarray(lv_volumes_ml, dtype=float)
    if len(v) < 2 or v.max() <= 0:
        raise CardiacInputError("an ejection fraction needs LV volumes of at least two phases")
    return float(1.0 - v.min() / v.max())
