"""DICOM exports: Encapsulated PDF and Segmentation read back with pydicom/highdicom and pass
dciodvfy (dicom3tools) without errors."""

import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.dicom_write import write_dicom_series
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.report.dicom_export import read_source_series, write_dicom_seg, write_encapsulated_pdf


def _dciodvfy_errors(path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) not installed")
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def ct_case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ct")
    direction = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    ct = Volume(np.full((10, 24, 32), 40, np.int16), (0.8, 0.8, 1.25), (-12.0, 30.0, -50.0), direction)
    files = write_dicom_series(ct, folder / "dicom", patient_name="Li^Lei", patient_id="PID-5")
    lab = ct.with_array(np.zeros(ct.shape, np.uint8))
    lab.array[2:7, 4:14, 5:20] = labels.AORTA
    lab.array[3:5, 15:20, 22:30] = labels.LEFT_CORONARY
    lab.array[6, 16:18, 10:12] = 14  # calcium
    return ct, lab, files


def test_dicom_seg_round_trip_and_validation(tmp_path, ct_case):
    ct, lab, files = ct_case
    source = read_source_series(list(reversed(files)))  # sorted back along the slice normal
    path = write_dicom_seg(lab, source, tmp_path / "seg.dcm")
    assert _dciodvfy_errors(path) == []
    ds = pydicom.dcmread(path)
    assert ds.Modality == "SEG" and ds.PatientID == "PID-5"
    assert ds.StudyInstanceUID == source[0].StudyInstanceUID
    seg = hd.seg.segread(path)
    present = [labels.AORTA, labels.LEFT_CORONARY, 14]
    assert seg.number_of_segments == 3
    for number, value in enumerate(present, start=1):
        desc = seg.get_segment_description(number)
        assert desc.segmented_property_type.value == labels.by_value(value).sct
        assert desc.segmented_property_category.value == labels.by_value(value).category_sct
        assert desc.segment_label == labels.by_value(value).name
    # the masks come back on the CT slices
    uids = [s.SOPInstanceUID for s in source]
    masks = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, combine_segments=True, relabel=True, skip_overlap_checks=True
    )
    expected = np.searchsorted([0, *present], lab.array) * np.isin(lab.array, present)
    assert np.array_equal(masks, expected)


def test_seg_rejects_a_label_map_off_the_ct_grid(tmp_path, ct_case):
    ct, lab, files = ct_case
    source = read_source_series(files)
    shifted = Volume(lab.array, lab.spacing, (-10.0, 30.0, -50.0), lab.direction)
    with pytest.raises(CardiacInputError, match="resample"):
        write_dicom_seg(shifted, source, tmp_path / "x.dcm")
    with pytest.raises(CardiacInputError, match="slices"):
        write_dicom_seg(Volume(lab.array[:5], lab.spacing, lab.origin), source, tmp_path / "x.dcm")
    with pytest.raises(CardiacInputError, match="empty"):
        write_dicom_seg(lab.with_array(np.zeros_like(lab.array)), source, tmp_path / "x.dcm")


def test_encapsulated_pdf_round_trip_and_validation(tmp_path, ct_case):
    _, _, files = ct_case
    pdf_bytes = b"%PDF-1.4\n% test\n" + bytes(range(256)) + b"\n%%EOF\n"  # odd length: padded in DICOM
    assert len(pdf_bytes) % 2 == 1
    (tmp_path / "r.pdf").write_bytes(pdf_bytes)
    source = pydicom.dcmread(files[0])
    path = write_encapsulated_pdf(tmp_path / "r.pdf", tmp_path / "r.dcm", source, title="Planning report")
    assert _dciodvfy_errors(path) == []
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert ds.Modality == "DOC" and ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.PatientID == "PID-5" and str(ds.PatientName) == "Li^Lei"
    assert ds.StudyInstanceUID == source.StudyInstanceUID
    assert ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength] == pdf_bytes
    anon = write_encapsulated_pdf(
        tmp_path / "r.pdf",
        tmp_path / "a.dcm",
        source,
        patient={"PatientName": "ANONYMOUS", "PatientID": "ANON-1"},
    )
    assert pydicom.dcmread(anon).PatientID == "ANON-1"
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf")
    with pytest.raises(CardiacInputError, match="not a PDF"):
        write_encapsulated_pdf(tmp_path / "bad.pdf", tmp_path / "b.dcm", source)
