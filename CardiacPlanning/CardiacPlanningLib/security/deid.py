"""De-identification of DICOM for research, following DICOM PS3.15 Annex E, Basic Application Level
Confidentiality Profile (Table E.1-1), for the attributes of cardiac CT listed below (a documented
subset of the table; where the table allows a choice, e.g. X/Z/D, the strictest one is taken).

* ``Z`` attributes keep a zero-length or dummy value (the name and ID get the research pseudonym);
* ``X`` attributes are removed, at any depth of sequences;
* ``U`` UIDs are replaced consistently: ``2.25.<first 128 bits of HMAC-SM3(key, old UID)>``, so files of
  one study keep their relations (study / series / frame of reference / references) without the
  original UIDs being recoverable;
* all private attributes, overlays (60xx) and curves (50xx) are removed; images whose Burned In
  Annotation is ``YES`` are refused (their pixels would need cleaning);
* Patient Identity Removed = YES, De-identification Method (Code Sequence: DCM 113100) are added.
"""

from __future__ import annotations

import copy
import io
import logging
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ..errors import DicomInputError
from ..store.atomic import atomic_write, make_dirs
from ..store.crypto import hmac_sm3
from ..store.store import CaseStore

logger = logging.getLogger(__name__)

DICOM_TYPE = "application/dicom"
METHOD = "PS3.15 E.1 Basic Profile (CardiacPlanning subset)"  # LO: <= 64 characters

ZERO = (  # Z: emptied (name and ID receive the pseudonym)
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyDate",
    "StudyTime", "ReferringPhysicianName", "StudyID", "ContentDate", "ContentTime",
)  # fmt: skip
REMOVE = (  # X: removed
    "PatientBirthTime", "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames",
    "PatientBirthName", "PatientAge", "PatientSize", "PatientWeight", "PatientAddress",
    "PatientMotherBirthName", "PatientTelephoneNumbers", "EthnicGroup", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "MedicalRecordLocator", "MilitaryRank",
    "BranchOfService", "CountryOfResidence", "RegionOfResidence", "IssuerOfPatientID",
    "PatientInsurancePlanCodeSequence", "ResponsiblePerson", "ResponsibleOrganization", "MedicalAlerts",
    "Allergies", "PregnancyStatus", "SmokingStatus", "LastMenstrualDate", "CurrentPatientLocation",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "StationName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "OperatorsName",
    "PhysiciansOfRecord", "RequestingPhysician", "AdmittingDiagnosesDescription", "DeviceSerialNumber",
    "ProtocolName", "StudyDescription", "SeriesDescription", "RequestAttributesSequence",
    "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "SeriesDate", "SeriesTime",
    "InstanceCreationDate", "InstanceCreationTime", "ImageComments", "DerivationDescription",
    "PerformedProcedureStepID", "PerformedProcedureStepDescription", "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime", "ScheduledProcedureStepID", "RequestedProcedureID",
    "ReferencedPatientSequence", "ReferencedStudySequence", "SoftwareVersions", "TextComments",
)  # fmt: skip
UID_REMAP = (  # U: replaced consistently
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "ReferencedSOPInstanceUID", "ReferencedFrameOfReferenceUID", "IrradiationEventUID",
    "SynchronizationFrameOfReferenceUID", "DimensionOrganizationUID", "ConcatenationUID",
    "DeviceUID", "StorageMediaFileSetUID", "MediaStorageSOPInstanceUID",
)  # fmt: skip
PHI_METADATA_KEYS = frozenset(k.lower() for k in ZERO + REMOVE) | {"patientname", "patientid"}


class Deidentifier:
    """Applies the profile with one UID key and one pseudonym (consistent across a case's files)."""

    def __init__(self, uid_key: bytes, pseudonym: str) -> None:
        if not pseudonym:
            raise ValueError("a research pseudonym is required")
        self.uid_key = uid_key
        self.pseudonym = pseudonym

    def new_uid(self, old: str) -> str:
        """``2.25.<integer>``: the UUID-derived UID form of PS3.5 B.2, from HMAC-SM3 of the old UID."""
        return "2.25." + str(int.from_bytes(hmac_sm3(self.uid_key, str(old).encode())[:16], "big"))

    def _clean(self, ds: Dataset) -> None:
        ds.remove_private_tags()
        for elem in list(ds):
            group = elem.tag.group
            if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                del ds[elem.tag]
        for kw in REMOVE:
            if kw in ds:
                delattr(ds, kw)
        for kw in ZERO:
            if kw in ds:
                setattr(ds, kw, "")
        for kw in UID_REMAP:
            if kw in ds and ds.data_element(kw).value:
                elem = ds.data_element(kw)
                elem.value = (
                    [self.new_uid(v) for v in elem.value] if elem.VM > 1 else self.new_uid(elem.value)
                )
        for elem in ds:
            if elem.VR == "SQ":
                for item in elem.value:
                    self._clean(item)

    def dataset(self, ds: Dataset, what: str = "DICOM file") -> Dataset:
        """A de-identified copy of ``ds``."""
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
            raise DicomInputError(f"{what}: Burned In Annotation is YES; pixel data would need cleaning")
        out = copy.deepcopy(ds)
        self._clean(out)
        out.PatientName = self.pseudonym
        out.PatientID = self.pseudonym
        out.PatientIdentityRemoved = "YES"
        out.LongitudinalTemporalInformationModified = "REMOVED"
        out.DeidentificationMethod = METHOD
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
        code.CodeMeaning = "Basic Application Confidentiality Profile"
        out.DeidentificationMethodCodeSequence = Sequence([code])
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            out.file_meta = copy.deepcopy(meta)
            if "MediaStorageSOPInstanceUID" in out.file_meta:
                out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
        return out

    def dicom_bytes(self, data: bytes, what: str = "DICOM file") -> bytes:
        """De-identify a DICOM file held in memory; returns the new file's bytes."""
        try:
            ds = pydicom.dcmread(io.BytesIO(data))
        except (pydicom.errors.InvalidDicomError, ValueError, EOFError) as exc:
            raise DicomInputError(f"{what}: not a readable DICOM file ({exc})") from exc
        buf = io.BytesIO()
        self.dataset(ds, what).save_as(buf, enforce_file_format=True)
        return buf.getvalue()

    def metadata(self, meta: dict) -> dict:
        """Volume metadata without the identifying keys of the profile (matched case-insensitively)."""
        clean = {k: v for k, v in meta.items() if k.replace(" ", "").lower() not in PHI_METADATA_KEYS}
        clean["PatientName"] = clean["PatientID"] = self.pseudonym
        return clean


def deidentify_case(store: CaseStore, source_case: str, target_case: str) -> int:
    """Copy every object of ``source_case`` into a new de-identified case ``target_case`` (which a
    researcher may read): DICOM files through the profile, volumes with cleaned metadata, other
    objects (reports, which carry identity) are not copied. Needs case.read + export.deidentified
    (clinician). The target id is the research pseudonym. Returns the number of objects copied."""
    store.guard.authorize("export.deidentified", source_case)
    deid = Deidentifier(
        hmac_sm3(store.ring.secret("index"), b"deid-uids|" + source_case.encode()), target_case
    )
    copied = 0
    for name in store.list_objects(source_case):
        data, info = store.get_bytes(source_case, name)
        if info["content_type"] == DICOM_TYPE:
            new = deid.dicom_bytes(data, f"case {source_case!r} object {name!r}")
            store.put_bytes(target_case, f"deid-{copied:05d}.dcm", new, DICOM_TYPE, {}, deidentified=True)
        elif info["content_type"].startswith("application/x-cardiac-volume"):
            meta = dict(info["meta"], metadata=deid.metadata(info["meta"].get("metadata", {})))
            store.put_bytes(
                target_case, f"volume-{copied:05d}", data, info["content_type"], meta, deidentified=True
            )
        else:
            continue
        copied += 1
    store.guard.record("export.deidentified", source_case, "success", f"{copied} objects -> {target_case}")
    return copied


def export_deidentified_dicom(store: CaseStore, case_id: str, out_dir: Path) -> list[Path]:
    """Write the DICOM files of a de-identified case to ``out_dir`` for research (plain files: they
    carry no identity). Refuses a case that is not marked de-identified."""
    store.guard.authorize("export.deidentified", case_id)
    names = store.list_objects(case_id)  # read permission first: researchers may not probe other cases
    if not store.is_deidentified(case_id):
        store.guard.record("export.deidentified", case_id, "denied", "case is not de-identified")
        raise DicomInputError(f"case {case_id!r} is not de-identified: run deidentify_case first")
    out_dir = Path(out_dir)
    make_dirs(out_dir)
    written = []
    for name in names:
        data, info = store.get_bytes(case_id, name)
        if info["content_type"] == DICOM_TYPE:
            atomic_write(out_dir / Path(name).name, data)
            written.append(out_dir / Path(name).name)
    store.guard.record("export.deidentified", case_id, "success", f"{len(written)} files to {out_dir}")
    return written
