"""Images: the Volume type, DICOM series reading/writing and multi-phase grouping."""

from .dicom import read_dicom_series
from .dicom_write import write_dicom_series
from .phases import Phase, group_phases, read_phases
from .volume import Volume

__all__ = ["Phase", "Volume", "group_phases", "read_dicom_series", "read_phases", "write_dicom_series"]
