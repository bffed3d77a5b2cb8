"""The planning report data model: who, what, which measurements, which pictures, how made.

Every writer (PDF, HL7 CDA, DICOM) reads only this model, so all formats say the same thing.
Units are UCUM codes (``mm``, ``mm2``, ``mm3``, ``mL``, ``%``, ``deg``); :func:`display_unit` gives
the printed form.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

PROCEDURES = {
    "tavr": ("Transcatheter aortic valve replacement (TAVR)", "经导管主动脉瓣置换术 (TAVR)"),
    "pci": ("Percutaneous coronary intervention (PCI)", "经皮冠状动脉介入治疗 (PCI)"),
    "teer": ("Mitral transcatheter edge-to-edge repair (TEER)", "经导管二尖瓣缘对缘修复术 (TEER)"),
    "ppvi": ("Percutaneous pulmonary valve implantation (PPVI)", "经皮肺动脉瓣植入术 (PPVI)"),
}

DISCLAIMER_EN = (
    "This report was produced by planning-support software from CT images. Every measurement and "
    "suggestion must be checked by a qualified physician on the images before any clinical decision. "
    "It is not a diagnosis."
)
DISCLAIMER_ZH = (
    "本报告由手术规划辅助软件根据CT影像生成。所有测量值和建议须经有资质的医师在影像上核实后"
    "方可用于临床决策，不作为诊断依据。"
)

_UNITS = {"mm2": "mm²", "mm3": "mm³", "deg": "°", "1": ""}


def display_unit(ucum: str) -> str:
    """Printed form of a UCUM unit (``mm2`` -> ``mm²``, ``deg`` -> ``°``)."""
    return _UNITS.get(ucum, ucum)


@dataclass
class Patient:
    """Patient identifiers as in DICOM (name in DICOM PN form ``Family^Given``; birth date YYYYMMDD;
    sex M/F/O)."""

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""


@dataclass
class Study:
    """Study identifiers as in DICOM (date YYYYMMDD)."""

    study_uid: str = ""
    accession_number: str = ""
    study_date: str = ""
    description: str = ""
    institution: str = ""


@dataclass
class Measurement:
    """One measurement row: ``code`` (stable key, used as the CDA observation code), English and
    Chinese names, value (None = not measured), UCUM unit, definition, decimals for printing."""

    code: str
    name: str
    name_zh: str
    value: float | None
    unit: str
    definition: str = ""
    decimals: int = 1

    def text(self) -> str:
        """The printed value (``"n/a"`` when not measured)."""
        if self.value is None:
            return "n/a"
        if isinstance(self.value, str):
            return self.value
        return f"{float(self.value):.{self.decimals}f}"


@dataclass
class MeasurementTable:
    """A titled group of measurements (e.g. "Aortic annulus"). ``section_code``: a key of
    :data:`~.cda.SECTION_CODES` for results of another step (stent, 4D) that the CDA writes as their
    own coded section instead of a Findings subsection."""

    title: str
    title_zh: str
    rows: list[Measurement] = field(default_factory=list)
    section_code: str | None = None


@dataclass
class Picture:
    """A PNG picture with bilingual caption."""

    path: Path
    caption: str
    caption_zh: str = ""


@dataclass
class PlanningReport:
    """Everything a planning report says. ``settings`` holds algorithm names/parameters (str -> str)."""

    procedure: str
    patient: Patient = field(default_factory=Patient)
    study: Study = field(default_factory=Study)
    tables: list[MeasurementTable] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    operator: str = ""
    created: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    software_version: str = __version__
    settings: dict[str, str] = field(default_factory=dict)
    institution: str = ""
    report_id: str = ""
    language: str = "zh-CN"
    disclaimer: str = DISCLAIMER_EN
    disclaimer_zh: str = DISCLAIMER_ZH
    deidentified: bool = False

    def __post_init__(self) -> None:
        if self.procedure not in PROCEDURES:
            raise CardiacInputError(
                f"unknown procedure {self.procedure!r}; choose one of {', '.join(sorted(PROCEDURES))}"
            )
        if self.created.tzinfo is None:
            self.created = self.created.replace(tzinfo=datetime.timezone.utc)
        if not self.report_id:
            seed = f"{self.study.study_uid}|{self.procedure}|{self.created.isoformat()}"
            self.report_id = hashlib.sha256(seed.encode()).hexdigest()[:16]

    @property
    def procedure_names(self) -> tuple[str, str]:
        """(English, Chinese) procedure name."""
        return PROCEDURES[self.procedure]

    def measurements(self) -> list[Measurement]:
        """All measurement rows of all tables."""
        return [m for t in self.tables for m in t.rows]

    def with_deidentified_patient(self, salt: str = "") -> PlanningReport:
        """A copy without direct identifiers: name and birth date removed, patient ID replaced by a
        stable pseudonym (SHA-256 of salt + ID), accession number removed, study UID replaced by a UID
        derived from the original (DICOM PS3.15 Annex E basic profile, stable across exports)."""
        from pydicom.uid import generate_uid

        pseudo = "ANON-" + hashlib.sha256((salt + self.patient.patient_id).encode()).hexdigest()[:10].upper()
        study_uid = generate_uid(entropy_srcs=[salt, self.study.study_uid]) if self.study.study_uid else ""
        return dataclasses.replace(
            self,
            patient=Patient(name="ANONYMOUS", patient_id=pseudo, birth_date="", sex=self.patient.sex),
            study=dataclasses.replace(self.study, study_uid=study_uid, accession_number=""),
            deidentified=True,
        )


def identifiers_from_dicom(ds) -> tuple[Patient, Study]:
    """Patient and study identifiers from a pydicom Dataset, or a path to a DICOM file."""
    import pydicom

    if isinstance(ds, (str, Path)):
        try:
            ds = pydicom.dcmread(str(ds), stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise CardiacInputError(f"cannot read DICOM file {ds}: {exc}") from exc

    def get(keyword: str) -> str:
        value = ds.get(keyword, "")
        return str(value) if value is not None else ""

    patient = Patient(get("PatientName"), get("PatientID"), get("PatientBirthDate"), get("PatientSex"))
    study = Study(
        get("StudyInstanceUID"),
        get("AccessionNumber"),
        get("StudyDate"),
        get("StudyDescription"),
        get("InstitutionName"),
    )
    return patient, study
