"""The surgical planning report: data model, PDF (Chinese and English, embedded CJK font), HL7 CDA
R2, DICOM Encapsulated PDF and SEG, STL/OBJ surfaces, and the case-level builder."""

from .model import (
    Measurement,
    MeasurementTable,
    Patient,
    Picture,
    PlanningReport,
    Study,
    display_unit,
    identifiers_from_dicom,
)

__all__ = [
    "Measurement",
    "MeasurementTable",
    "Patient",
    "Picture",
    "PlanningReport",
    "Study",
    "display_unit",
    "identifiers_from_dicom",
]
