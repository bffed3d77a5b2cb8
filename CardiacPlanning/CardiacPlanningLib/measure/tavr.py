"""TAVR measurements from a label map and the three annulus hinge points (all LPS mm).

Definitions:
- Annulus plane: through the three cusp hinge points (nadirs), normal pointing into the aorta.
- Annulus / LVOT / sinus / STJ / ascending aorta sections: sections of the blood pool (aorta and LV
  blood pool labels) by planes parallel to the annulus plane, centred on the root axis (the line
  through the annulus centroid along the normal); sizes as in :mod:`.section`.
  LVOT: ``lvot_offset_mm`` (default 5 mm) below the annulus. Sinus of Valsalva: the level of largest
  section area between the annulus and 30 mm above it (1 mm steps, refined to 0.25 mm); its maximum
  Feret diameter is the sinus diameter. STJ: the level of smallest area above the sinus level (up to
  25 mm above it). Ascending aorta: ``ascending_offset_mm`` (default 40 mm) above the annulus.
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
from .projection import coplanar_curve, coplanar_view_at, perpendicular_view
from .section import MaskSampler, Section

logger = logging.getLogger(__name__)

CALCIUM = 14


def _section_at(sampler: MaskSampler, plane: Plane, h: float, diameters: bool = True) -> Section | None:
    """Section ``h`` mm above the annulus; searches (no diameters) sample every 0.5 mm, final
    measurements every 0.3 mm."""
    try:
        step = 0.3 if diameters else 0.5
        return sampler.section(plane.shifted(h), radius_mm=45.0, step_mm=step, diameters=diameters)
    except CardiacInputError as exc:
        logger.info("no section %.1f mm from the annulus: %s", h, exc)
        return None


def _refine(sampler, plane, best: tuple[float, Section], largest: bool) -> tuple[float, Section]:
    h0 = best[0]
    for h in np.arange(h0 - 0.75, h0 + 0.76, 0.25):
        sec = _section_at(sampler, plane, float(h), diameters=False)
        if sec is not None and (sec.area_mm2 > best[1].area_mm2) == largest:
            best = (float(h), sec)
    return best[0], _section_at(sampler, plane, best[0])


def _largest_level(sampler, plane, lo: float, hi: float) -> tuple[float, Section] | None:
    best = None
    for h in np.arange(lo, hi + 1e-9, 1.0):
        sec = _section_at(sampler, plane, float(h), diameters=False)
        if sec is not None and (best is None or sec.area_mm2 > best[1].area_mm2):
            best = (float(h), sec)
    return _refine(sampler, plane, best, True) if best else None


def _first_minimum_level(sampler, plane, lo: float, hi: float) -> tuple[float, Section] | None:
    """The first level going up whose area is not exceeded by a smaller one within the next 3 mm
    (the first waist above the sinus)."""
    levels = []
    for h in np.arange(lo, hi + 1e-9, 1.0):
        sec = _section_at(sampler, plane, float(h), diameters=False)
        if sec is None:
            break
        levels.append((float(h), sec))
    if not levels:
        return None
    areas = np.array([sec.area_mm2 for _, sec in levels])
    for i in range(len(levels)):
        ahead = areas[i + 1 : i + 4]
        if len(ahead) and ahead.min() >= areas[i] * 0.995:
            return _refine(sampler, plane, levels[i], False)
    return _refine(sampler, plane, levels[int(np.argmin(areas))], False)


def _axis_section(sampler, plane: Plane, h: float) -> Section | None:
    """Section at height ``h`` perpendicular to the local vessel axis (through the centroids of the
    sections 5 mm below and above), centred on the vessel."""
    below, above = _section_at(sampler, plane, h - 5.0, False), _section_at(sampler, plane, h + 5.0, False)
    mid = _section_at(sampler, plane, h, False)
    if below is None or above is None or mid is None:
        return _section_at(sampler, plane, h)
    axis = above.centroid - below.centroid
    try:
        return sampler.section(Plane(mid.centroid, axis), radius_mm=45.0, step_mm=0.3)
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
    )
    ann = sampler.section(plane, radius_mm=45.0, step_mm=0.2)
    out["annulus"] = ann.to_dict()
    progress(0.2, "LVOT")
    lvot = _section_at(sampler, plane, -lvot_offset_mm)
    out["lvot"] = lvot.to_dict() if lvot else None
    progress(0.3, "sinus of Valsalva")
    sinus = _largest_level(sampler, plane, 2.0, 30.0)
    out["sinus"] = {"height_mm": sinus[0], **sinus[1].to_dict()} if sinus else None
    progress(0.6, "sinotubular junction")
    stj = _first_minimum_level(sampler, plane, sinus[0] + 1.0, sinus[0] + 25.0) if sinus else None
    out["stj"] = {"height_mm": stj[0], **stj[1].to_dict()} if stj else None
    asc = _axis_section(sampler, plane, ascending_offset_mm)
    out["ascending_aorta"] = {"height_mm": ascending_offset_mm, **asc.to_dict()} if asc else None
    progress(0.8, "coronary heights")
    out["coronary_heights_mm"] = {k: height_above_plane(p, plane) for k, p in (ostia or {}).items()}
    top = stj[0] if stj else 25.0
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
