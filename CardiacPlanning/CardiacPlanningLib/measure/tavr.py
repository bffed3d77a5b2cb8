"""TAVR measurements from a label map and the three annulus hinge points (all LPS mm).

Definitions:
- Annulus plane: through the three cusp hinge points (nadirs), normal pointing into the aorta.
- Annulus / LVOT / sinus / STJ / ascending aorta sections: sections of the blood pool (aorta and LV
  blood pool labels) by planes parallel to the annulus plane, centred on the root axis (the line
  through the annulus centroid along the normal); sizes as in :mod:`.section`. The min / max
  diameters of the annulus, LVOT, STJ and ascending aorta are the axes of the fitted ellipse, those
  of the (trilobed) sinus section its Feret diameters (both pairs are in every section's dict).
  Coronary-artery labels that reach into the root (a segmentation started at the ostium) are
  counted as lumen where they fill a dent of the lumen wall (:class:`.section.MaskSampler`).
  LVOT: ``lvot_offset_mm`` (default 5 mm) below the annulus. Sinus of Valsalva: the level of largest
  section area between the annulus and 30 mm above it (1 mm steps, refined to 0.25 mm); its maximum
  Feret diameter is the sinus diameter. STJ (sinotubular junction): the ridge where the falling
  sinus wall meets the tubular aorta, found on the area-derived diameter profile above the sinus
  level (0.5 mm steps, from 5 mm below to 6 mm above the knee: the first 1 mm level where the fall
  of the profile has slowed to a quarter of its steepest) by fitting a curved (concave) sinus side
  and a straight tubular side seen through a Gaussian blur (:mod:`.profile`): the narrowest level of
  a blurred profile lies up to two blur widths above the ridge, a cylindrical tubular aorta has no
  narrowest level, and a straight sinus side fitted to the sinus wall's arc (steepest at the ridge)
  puts the ridge 0.1-0.65 mm too high. The STJ height is the ridge level, measured along the annulus
  plane's normal from that plane (the height of the STJ above the annular plane of TAVR CT planning,
  e.g. the SCCT 2019 expert consensus); its diameters are measured on the section two fitted blur
  widths (at most 3 mm) above the ridge, clear of the sinus lobes that the blur carries over the
  ridge (that level is reported as ``section_height_mm``). Ascending aorta: ``ascending_offset_mm``
  (default 40 mm) above the annulus.
- Coronary height: distance of each ostium above the annulus plane.
- Valve calcium volume: calcium-label volume (mm^3) within the root cylinder from the LVOT level to
  the STJ, radius = the largest sinus Feret radius + 3 mm.
- Projection: the coplanar curve of the annulus plane (see :mod:`.projection`).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .plane import Plane, height_above_plane, plane_from_points
from .profile import fit_ridge
from .projection import coplanar_curve, coplanar_view_at, perpendicular_view
from .section import MaskSampler, Section

logger = logging.getLogger(__name__)

CALCIUM = 14
CORONARY_LABELS = (labels.LEFT_CORONARY, labels.RIGHT_CORONARY)
SEARCH_RADIUS_MM = 32.0  # in-plane reach of the sinus / STJ search sections (a root is < 50 mm wide)


def _section_at(
    sampler: MaskSampler,
    plane: Plane,
    h: float,
    diameters: bool = True,
    radius_mm: float = 45.0,
    method: str = "ellipse",
) -> Section | None:
    """Section ``h`` mm above the annulus within ``radius_mm`` of the root axis; searches (no
    diameters) sample every 0.5 mm, final measurements every 0.3 mm."""
    try:
        step = 0.3 if diameters else 0.5
        return sampler.section(
            plane.shifted(h), radius_mm=radius_mm, step_mm=step, diameters=diameters, method=method
        )
    except CardiacInputError as exc:
        logger.info("no section %.1f mm from the annulus: %s", h, exc)
        return None


def _refine(sampler, plane, best: tuple[float, Section], largest: bool) -> tuple[float, Section]:
    h0 = best[0]
    for h in np.arange(h0 - 0.75, h0 + 0.76, 0.25):
        sec = _section_at(sampler, plane, float(h), diameters=False, radius_mm=SEARCH_RADIUS_MM)
        if sec is not None and (sec.area_mm2 > best[1].area_mm2) == largest:
            best = (float(h), sec)
    return best[0], _section_at(sampler, plane, best[0], method="feret")


def _largest_level(sampler, plane, lo: float, hi: float) -> tuple[float, Section] | None:
    best = None
    for h in np.arange(lo, hi + 1e-9, 1.0):
        sec = _section_at(sampler, plane, float(h), diameters=False, radius_mm=SEARCH_RADIUS_MM)
        if sec is not None and (best is None or sec.area_mm2 > best[1].area_mm2):
            best = (float(h), sec)
    return _refine(sampler, plane, best, True) if best else None


def _stj(sampler, plane, sinus_h: float) -> dict | None:
    """STJ height (ridge level) and section (see module docstring)."""
    coarse: dict[float, Section] = {}  # 1 mm levels above the sinus, up to 6 mm past the knee
    knee = None
    for h in np.arange(sinus_h + 1.0, sinus_h + 25.0 + 1e-9, 1.0):
        sec = _section_at(sampler, plane, float(h), diameters=False, radius_mm=SEARCH_RADIUS_MM)
        if sec is None:
            break
        coarse[round(float(h), 2)] = sec
        levels = sorted(coarse)
        d = np.array([coarse[k].area_diameter_mm for k in levels])
        if knee is None and len(d) >= 3:
            drop = d[:-1] - d[1:]  # fall of the diameter per mm going up
            steepest = int(np.argmax(drop))
            # the knee: the first level after the steepest fall where the fall has slowed to a quarter
            # (once the sinus wall has fallen at >= 0.25 mm/mm)
            flat = [i for i in range(steepest, len(drop)) if drop[i] < 0.25 * drop[steepest]]
            knee = levels[flat[0]] if flat and drop[steepest] >= 0.25 else None
        if knee is not None and h >= knee + 6.0:
            break
    if len(coarse) < 3:
        return None
    if knee is None:
        knee = min(coarse, key=lambda k: coarse[k].area_diameter_mm)
    levels, diam = [], []
    for h in np.arange(max(sinus_h + 1.0, knee - 5.0), knee + 6.0 + 1e-9, 0.5):
        sec = coarse.get(round(float(h), 2))
        if sec is None:
            sec = _section_at(sampler, plane, float(h), diameters=False, radius_mm=SEARCH_RADIUS_MM)
        if sec is not None:
            levels.append(float(h))
            diam.append(sec.area_diameter_mm)
    try:
        ridge = fit_ridge(levels, diam)
    except CardiacInputError as exc:
        logger.info("STJ ridge fit failed (%s); using the knee of the profile", exc)
        sec = _section_at(sampler, plane, knee) or coarse[knee]
        return {"height_mm": knee, "section_height_mm": knee, "method": "knee", **sec.to_dict()}
    guard = min(2.0 * ridge.sigma_mm, 3.0)
    sec = _section_at(sampler, plane, ridge.level + guard) or coarse[knee]
    return {
        "height_mm": ridge.level,
        "section_height_mm": ridge.level + guard,
        "method": "ridge of the blurred diameter profile",
        "ridge_fit": {
            "diameter_mm": ridge.value,
            "slope_below": ridge.slope_below,
            "slope_above": ridge.slope_above,
            "curvature_below": ridge.curvature_below,
            "blur_sigma_mm": ridge.sigma_mm,
            "rms_mm": ridge.rms,
        },
        **sec.to_dict(),
    }


def _axis_section(sampler, plane: Plane, h: float) -> Section | None:
    """Section at height ``h`` perpendicular to the local vessel axis (through the centroids of the
    sections 5 mm below and above), centred on the vessel."""
    below, above = _section_at(sampler, plane, h - 5.0, False), _section_at(sampler, plane, h + 5.0, False)
    mid = _section_at(sampler, plane, h, False)
    if below is None or above is None or mid is None:
        return _section_at(sampler, plane, h)
    axis = above.centroid - below.centroid
    try:
        return sampler.section(Plane(mid.centroid, axis), radius_mm=45.0, step_mm=0.3, method="ellipse")
    except CardiacInputError:
        return _section_at(sampler, plane, h)


def tavr_measurements(
    labelmap: Volume,
    hinge_points,
    ostia: dict | None = None,
    *,
    lumen_labels=(labels.AORTA, labels.LV_BLOOD_POOL, 19, 20, 21),
    calcium_label: int = CALCIUM,
    toward=None,
    lvot_offset_mm: float = 5.0,
    ascending_offset_mm: float = 40.0,
    progress: Progress | None = None,
) -> dict:
    """TAVR measurements (see module docstring). ``hinge_points``: 3 LPS points (mm); ``ostia``:
    ``{"left": p, "right": p}`` LPS mm; ``toward``: a point in the aorta to orient the normal (default:
    centroid of the aorta and aortic root labels). ``lumen_labels`` default: LV blood pool, aorta and
    the heart module's aortic root (19), annulus region (20) and LVOT (21) labels. Values in mm, mm^2,
    mm^3 and degrees."""
    progress = as_progress(progress)
    pts = np.asarray(hinge_points, dtype=float)
    if pts.shape != (3, 3):
        raise CardiacInputError(f"TAVR measurements need exactly three hinge points (3 x 3), got {pts.shape}")
    if toward is None:
        idx = np.argwhere(np.isin(labelmap.array, (labels.AORTA, 19)))
        if len(idx) == 0:
            raise CardiacInputError("the label map has no aorta label; give 'toward' to orient the annulus")
        toward = labelmap.index_to_lps(idx.mean(axis=0)[::-1])
    plane = plane_from_points(*pts, toward=toward)
    progress(0.05, "annulus")
    out: dict = {
        "annulus_plane": {"origin_lps": plane.origin.tolist(), "normal_lps": plane.normal.tolist()},
        "hinge_points_lps": pts.tolist(),
    }
    sampler = MaskSampler(
        labelmap,
        lumen_labels,
        plane.origin + 0.5 * ascending_offset_mm * plane.normal,
        0.5 * ascending_offset_mm + 50.0,
        dent_labels=CORONARY_LABELS,
    )
    ann = sampler.section(plane, radius_mm=45.0, step_mm=0.2, method="ellipse")
    out["annulus"] = ann.to_dict()
    progress(0.2, "LVOT")
    lvot = _section_at(sampler, plane, -lvot_offset_mm)
    out["lvot"] = lvot.to_dict() if lvot else None
    progress(0.3, "sinus of Valsalva")
    sinus = _largest_level(sampler, plane, 2.0, 30.0)
    out["sinus"] = {"height_mm": sinus[0], **sinus[1].to_dict()} if sinus else None
    progress(0.6, "sinotubular junction")
    stj = _stj(sampler, plane, sinus[0]) if sinus else None
    out["stj"] = stj
    asc = _axis_section(sampler, plane, ascending_offset_mm)
    out["ascending_aorta"] = {"height_mm": ascending_offset_mm, **asc.to_dict()} if asc else None
    progress(0.8, "coronary heights")
    out["coronary_heights_mm"] = {k: height_above_plane(p, plane) for k, p in (ostia or {}).items()}
    top = stj["height_mm"] if stj else 25.0
    radius = (sinus[1].max_diameter_mm / 2 if sinus else 20.0) + 3.0
    out["calcium_volume_mm3"] = calcium_volume(labelmap, plane, -lvot_offset_mm, top, radius, calcium_label)
    out["projection"] = {
        "coplanar_curve": coplanar_curve(plane.normal, step_deg=5.0).tolist(),
        "coplanar_lao0": coplanar_view_at(plane.normal, 0.0),
        "perpendicular": dict(zip(("lao_deg", "cra_deg"), perpendicular_view(plane.normal))),
    }
    progress(1.0, "TAVR measurements done")
    return out


def calcium_volume(
    labelmap: Volume,
    plane: Plane,
    h_low: float,
    h_high: float,
    radius_mm: float,
    calcium_label: int = CALCIUM,
) -> float:
    """Volume (mm^3) of ``calcium_label`` voxels whose centres lie in the cylinder around the plane's
    normal axis between heights ``h_low`` and ``h_high`` (mm) with radius ``radius_mm``."""
    idx = np.argwhere(labelmap.array == calcium_label)
    if len(idx) == 0:
        return 0.0
    p = labelmap.index_to_lps(idx[:, ::-1].astype(float))
    h = plane.signed_distance(p)
    radial = np.linalg.norm(plane.project(p) - plane.origin, axis=1)
    inside = (h >= h_low) & (h <= h_high) & (radial <= radius_mm)
    return float(inside.sum() * labelmap.voxel_volume_mm3)
