"""DICOM exports for PACS: the report PDF as Encapsulated PDF Storage, and the label map as a
DICOM Segmentation (highdicom) referencing the CT series it was made on.

Encapsulated PDF (PS3.3 A.45.1): Patient, General Study, Encapsulated Document Series (Modality DOC),
General Equipment, SC Equipment (ConversionType WSD), Encapsulated Document and SOP Common modules;
patient/study attributes are copied from the source CT so PACS files it with the study.
Segmentation: BINARY segments, one per label present, coded with the label table's SNOMED-CT
property category/type (``labels.json``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .. import __version__, labels
from ..errors import CardiacInputError, DicomInputError
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
)


def read_source_series(files: Sequence[str | Path]) -> list[Dataset]:
    """Read the headers of CT files (highdicom needs no pixels) sorted along the slice normal."""
    datasets = []
    for f in files:
        try:
            datasets.append(pydicom.dcmread(str(f), stop_before_pixels=True))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise DicomInputError(f"cannot read DICOM file {f}: {exc}") from exc
    if not datasets:
        raise DicomInputError("no source DICOM files given")
    iop = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(datasets, key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float))))


def write_encapsulated_pdf(
    pdf_path: str | Path,
    out_path: str | Path,
    source: Dataset | None = None,
    *,
    title: str = "Surgical planning report",
    series_number: int = 900,
    patient: dict | None = None,
) -> Path:
    """Write ``pdf_path`` as a DICOM Encapsulated PDF at ``out_path``. Patient/study attributes come
    from ``source`` (a CT dataset of the study) or ``patient`` (DICOM keyword -> value)."""
    pdf = Path(pdf_path).read_bytes()
    if not pdf.startswith(b"%PDF"):
        raise CardiacInputError(f"{pdf_path} is not a PDF file")
    now = datetime.datetime.now()
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENCAPSULATED_PDF_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    for kw in PATIENT_STUDY_KEYWORDS:  # type 2 attributes: present, maybe empty
        setattr(ds, kw, source.get(kw, "") if source is not None else "")
    for kw, value in (patient or {}).items():
        setattr(ds, kw, value)
    if not ds.StudyInstanceUID:
        ds.StudyInstanceUID = generate_uid()
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = title[:64]
    ds.Manufacturer = "SlicerCardiacPlanning"
    ds.ConversionType = "WSD"  # workstation
    ds.InstanceNumber = 1
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.SoftwareVersions = __version__
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(out_path), enforce_file_format=True)
    logger.info("wrote %s", out_path)
    return out_path


def _check_grid(labelmap: Volume, source: list[Dataset]) -> None:
    if len(source) != labelmap.shape[0]:
        raise CardiacInputError(
            f"the label map has {labelmap.shape[0]} slices but the CT series has {len(source)}; "
            "the segmentation must be on the CT grid"
        )
    rows, cols = int(source[0].Rows), int(source[0].Columns)
    if (rows, cols) != labelmap.shape[1:]:
        raise CardiacInputError(f"label map slices are {labelmap.shape[1:]} but CT images are {(rows, cols)}")
    for k in (0, len(source) - 1):
        expected = labelmap.index_to_lps([0.0, 0.0, float(k)])
        got = np.asarray(source[k].ImagePositionPatient, dtype=float)
        if np.linalg.norm(expected - got) > 1e-2:
            raise CardiacInputError(
                f"label map slice {k} starts at {expected.round(3).tolist()} mm but CT image {k} at "
                f"{got.round(3).tolist()} mm; resample the labels onto the CT grid first"
            )


def write_dicom_seg(
    labelmap: Volume,
    source: list[Dataset],
    out_path: str | Path,
    *,
    series_number: int = 901,
    algorithm: str = "SlicerCardiacPlanning",
    algorithm_type: str = "SEMIAUTOMATIC",
) -> Path:
    """Write the labels of ``labelmap`` (on the grid of ``source``, sorted as
    :func:`read_source_series` does) as a DICOM Segmentation with one segment per label present."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    _check_grid(labelmap, source)
    values = [int(v) for v in np.flatnonzero(np.bincount(labelmap.array.ravel().astype(np.intp))) if v != 0]
    if not values:
        raise CardiacInputError("the label map is empty; nothing to write as DICOM SEG")
    remap = np.zeros(int(labelmap.array.max()) + 1, dtype=np.uint8)
    descriptions = []
    algo = hd.AlgorithmIdentificationSequence(
        name=algorithm, version=__version__, family=codes.cid7162.ArtificialIntelligence
    )
    for number, value in enumerate(values, start=1):
        try:
            lab = labels.by_value(value)
        except KeyError as exc:
            raise CardiacInputError(f"label value {value} is not in the label table") from exc
        remap[value] = number
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=lab.name[:64],
                segmented_property_category=Code(lab.category_sct, "SCT", lab.category),
                segmented_property_type=Code(lab.sct, "SCT", lab.sct_meaning),
                algorithm_type=algorithm_type,
                algorithm_identification=algo if algorithm_type != "MANUAL" else None,
                tracking_uid=generate_uid(),
                tracking_id=lab.key,
            )
        )
    seg = hd.seg.Segmentation(
        source_images=source,
        pixel_array=remap[labelmap.array],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="SlicerCardiacPlanning",
        manufacturer_model_name="SlicerCardiacPlanning",
        software_versions=__version__,
        device_serial_number="0",
        series_description="Cardiac segmentation",
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(str(out_path))
    logger.info("wrote %s (%d segments)", out_path, len(descriptions))
    return out_path
