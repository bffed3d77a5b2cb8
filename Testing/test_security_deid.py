"""De-identified export (PS3.15 Annex E basic profile subset): identity removed at every depth, UIDs
remapped consistently, pixels kept, burned-in annotation refused; researchers see only the result."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian
from security_fixtures import FakeClock, make_ring

from CardiacPlanningLib.errors import DicomInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.security.deid import Deidentifier, deidentify_case, export_deidentified_dicom
from CardiacPlanningLib.security.errors import PermissionDenied
from CardiacPlanningLib.security.workstation import Workstation

PW = "Initial-Passw0rd"
STUDY, FOR = "1.2.826.0.1.3680043.8.498.4242", "1.2.826.0.1.3680043.8.498.4243"


def _ct(instance: int, burned: str = "NO") -> bytes:
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "LI^SIMING", "HOSP-123456", "19580302"
    ds.PatientSex, ds.PatientAge, ds.InstitutionName = "M", "067Y", "First People's Hospital"
    ds.ReferringPhysicianName, ds.StudyDate, ds.AccessionNumber = "DR^ZHAO", "20260101", "ACC99"
    ds.StudyDescription, ds.OperatorsName = "CTA heart of LI SIMING", "TECH^WU"
    ds.Modality, ds.SOPClassUID = "CT", "1.2.840.10008.5.1.4.1.1.2"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY, STUDY + ".1", FOR
    ds.SOPInstanceUID, ds.InstanceNumber, ds.BurnedInAnnotation = f"{STUDY}.1.{instance}", instance, burned
    ds.NominalPercentageOfCardiacPhase = 70
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, STUDY + ".99"
    ref.PatientName = "LI^SIMING"  # identity hidden inside a sequence
    ds.ReferencedImageSequence = Sequence([ref])
    ds.add_new(0x00291010, "LO", "LI SIMING private")
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = (np.arange(16, dtype=np.int16) * instance).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
        ds.SOPClassUID,
        ds.SOPInstanceUID,
    )
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_profile_on_one_file():
    deid = Deidentifier(b"k" * 32, "RES-0001")
    raw = _ct(2)
    src = pydicom.dcmread(io.BytesIO(raw))
    out_bytes = deid.dicom_bytes(raw)
    for needle in (
        b"LI^SIMING",
        b"LI SIMING",
        b"HOSP-123456",
        b"19580302",
        b"People",
        b"ZHAO",
        b"ACC99",
        b"WU",
    ):
        assert needle not in out_bytes, needle
    assert STUDY.encode() not in out_bytes and FOR.encode() not in out_bytes
    out = pydicom.dcmread(io.BytesIO(out_bytes))
    assert (str(out.PatientName), out.PatientID, out.PatientBirthDate, out.StudyDate) == (
        "RES-0001",
        "RES-0001",
        "",
        "",
    )
    assert "PatientAge" not in out and "InstitutionName" not in out and "StudyDescription" not in out
    assert "ReferringPhysicianName" in out and out.ReferringPhysicianName == ""
    assert out.ReferencedImageSequence[0].PatientName == ""
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == deid.new_uid(STUDY + ".99")
    assert not any(e.tag.is_private for e in out)
    assert out.SOPClassUID == src.SOPClassUID and out.Modality == "CT"
    assert out.NominalPercentageOfCardiacPhase == 70
    assert out.SOPInstanceUID == deid.new_uid(src.SOPInstanceUID) == out.file_meta.MediaStorageSOPInstanceUID
    assert out.SOPInstanceUID.startswith("2.25.") and len(out.SOPInstanceUID) <= 64
    assert out.PixelData == src.PixelData
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    with pytest.raises(DicomInputError, match="Burned In Annotation"):
        deid.dicom_bytes(_ct(3, burned="YES"))
    with pytest.raises(DicomInputError, match="not a readable DICOM"):
        deid.dicom_bytes(b"not dicom at all")


def test_deidentified_case_for_researchers(tmp_path):
    ws = Workstation(tmp_path / "s", make_ring(tmp_path / "s"), clock=FakeClock(), hash_iterations=1000)
    ws.users.add_user(None, "sys", "system_admin", PW)
    sys_s = ws.login("sys", PW)
    ws.users.add_user(sys_s, "doc", "clinician", PW)
    ws.users.add_user(sys_s, "res", "researcher", PW)
    doc, res = ws.login("doc", PW), ws.login("res", PW)
    ws.users.change_password(doc, PW, "Clinic-Passw0rd-2")
    ws.users.change_password(res, PW, "Study-Passw0rd-2")
    clin = ws.store(doc)
    for i in (1, 2):
        clin.put_bytes("MRN-123456", f"dicom/{i}.dcm", _ct(i), "application/dicom")
    vol = Volume(
        np.zeros((2, 2, 2)),
        metadata={"PatientName": "LI^SIMING", "Patient ID": "HOSP-123456", "Modality": "CT"},
    )
    clin.put_volume("MRN-123456", "ct", vol)
    clin.put_bytes("MRN-123456", "report.pdf", b"%PDF LI^SIMING", "application/pdf")
    research = ws.store(res)
    with pytest.raises(PermissionDenied):
        deidentify_case(research, "MRN-123456", "RES-0001")
    assert deidentify_case(clin, "MRN-123456", "RES-0001") == 3  # 2 DICOM + 1 volume; the report stays
    assert research.list_cases() == ["RES-0001"]
    files = export_deidentified_dicom(research, "RES-0001", tmp_path / "export")
    assert len(files) == 2
    dss = [pydicom.dcmread(f) for f in files]
    assert dss[0].StudyInstanceUID == dss[1].StudyInstanceUID != STUDY
    assert dss[0].FrameOfReferenceUID == dss[1].FrameOfReferenceUID != FOR
    assert dss[0].SOPInstanceUID != dss[1].SOPInstanceUID
    for f in files:
        assert b"LI^SIMING" not in f.read_bytes()
    vname = [n for n in research.list_objects("RES-0001") if n.startswith("volume")][0]
    v = research.get_volume("RES-0001", vname)
    assert v.metadata == {"PatientName": "RES-0001", "PatientID": "RES-0001", "Modality": "CT"}
    with pytest.raises(PermissionDenied):
        export_deidentified_dicom(research, "MRN-123456", tmp_path / "x")
    with pytest.raises(DicomInputError, match="not de-identified"):
        export_deidentified_dicom(clin, "MRN-123456", tmp_path / "x")
