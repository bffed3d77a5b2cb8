"""Coronary artery reconstruction from marked ostia: lumen growth with leakage control, centerline
tree (minimal paths), branch names, radii, stenoses, curved planar reformations (all LPS mm)."""

from .inputs import Ostium, check_ostia, read_ostia
from .naming import NamedBranch
from .output import straightened_cpr, write_result
from .pipeline import CoronaryResult, reconstruct_coronaries
from .stenosis import Lesion, find_lesions, reference_radius

__all__ = [
    "CoronaryResult",
    "Lesion",
    "NamedBranch",
    "Ostium",
    "check_ostia",
    "find_lesions",
    "read_ostia",
    "reconstruct_coronaries",
    "reference_radius",
    "straightened_cpr",
    "write_result",
]
