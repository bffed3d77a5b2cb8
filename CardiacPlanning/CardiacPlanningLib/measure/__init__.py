"""Procedure measurements (LPS mm): planes, cross-sections, fluoroscopic projections, TAVR root
measurements and the PCI lesion list. Each function documents its definition."""

from .lesions import branch_lesions, lesion_list, load_branches, suggest_stent
from .plane import Plane, fit_plane, height_above_plane, plane_from_points
from .projection import (
    angles_of_view,
    coplanar_cra,
    coplanar_curve,
    coplanar_view_at,
    format_angles,
    perpendicular_view,
    view_vector,
)
from .section import Section, feret_diameters, outline_metrics, section_of_labelmap, section_of_surface
from .tavr import calcium_volume, tavr_measurements

__all__ = [
    "Plane",
    "Section",
    "angles_of_view",
    "branch_lesions",
    "calcium_volume",
    "coplanar_cra",
    "coplanar_curve",
    "coplanar_view_at",
    "feret_diameters",
    "fit_plane",
    "format_angles",
    "height_above_plane",
    "lesion_list",
    "load_branches",
    "outline_metrics",
    "perpendicular_view",
    "plane_from_points",
    "section_of_labelmap",
    "section_of_surface",
    "suggest_stent",
    "tavr_measurements",
    "view_vector",
]
