"""Write a :class:`Volume` as a CT Image Storage DICOM series (one file per slice) with pydicom.

Used for phantom cases, test fixtures and exports. The geometry follows DICOM PS3.3 C.7.6.2 (Image
Plane): ``ImageOrientationPatient`` holds the LPS unit vectors of the row (i, x) and column (j, y)
directions, ``PixelSpacing`` is (spacing between rows, spacing between columns) = (sy, sx) mm, and
``ImagePositionPatient`` is the LPS position (mm) of the first voxel of each slice. Stored values are
``round((HU - intercept) / slope)`` as signed 16-bit integers.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from ..errors import CardiacInputError
from .volume import Volume

logger = logging.getLogger(__name__)

INT16_MIN, INT16_MAX = -32768, 32767


def _ds_number(value: float, width: int = 16) -> str:
    """A Decimal String value of at most ``width`` characters (PS3.5 6.2)."""
    text = f"{float(value):.10g}"
    if len(text) > width:
        text = f"{float(value):.{max(width - 7, 1)}g}"
    return text


def _stored_values(array: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """HU array -> stored int16 pixel values; raises if they do not fit."""
    stored = np.rint((np.asarray(array, dtype=np.float64) - intercept) / slope)
    lo, hi = float(stored.min()), float(stored.max())
    if lo < INT16_MIN or hi > INT16_MAX:
        raise CardiacInputError(
            f"values {array.min()}..{array.max()} do not fit 16-bit stored values with slope {slope} and "
            f"intercept {intercept}; choose another rescale slope/intercept"
        )
    return stored.astype("<i2")


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    *,
    patient_name: str = "PHANTOM^CARDIAC",
    patient_id: str = "PHANTOM",
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    series_description: str = "",
    frame_of_reference_uid: str | None = None,
    nominal_cardiac_phase_percent: float | None = None,
    trigger_time_ms: float | None = None,
    rescale_slope: float = 1.0,
    rescale_intercept: float = -1024.0,
    extra: dict | None = None,
    file_prefix: str = "CT",
) -> list[Path]:
    """Write ``volume`` (HU, LPS geometry) as CT Image Storage files ``<folder>/<prefix>_<k>.dcm``.

    One file per k-slice (``volume.array[k]``), in k order. UIDs not given are generated. When
    ``nominal_cardiac_phase_percent`` (0..100 %, tag (0020,9241)) or ``trigger_time_ms`` (ms after the
    R wave, tag (0018,1060)) is given, the series is marked ECG-gated (retrospective). ``extra`` maps
    DICOM keywords to values set on every file after the defaults (e.g. ``{"Modality": "MR"}``).
    Returns the written paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nz, ny, nx = volume.shape
    direction = np.asarray(volume.direction, dtype=float)
    row_dir, col_dir, k_dir = direction[:, 0], direction[:, 1], direction[:, 2]
    for name, vec in (("i (row)", row_dir), ("j (column)", col_dir)):
        if abs(np.linalg.norm(vec) - 1.0) > 1e-6:
            raise CardiacInputError(f"direction {name} axis {vec} is not a unit vector")
    if abs(float(row_dir @ col_dir)) > 1e-6:
        raise CardiacInputError("the row and column directions of the volume are not perpendicular")
    sx, sy, sz = volume.spacing
    normal = np.cross(row_dir, col_dir)
    # Distance between slice planes along the normal (differs from sz only for a tilted stack).
    plane_spacing = abs(float(k_dir @ normal)) * sz
    stored = _stored_values(volume.array, rescale_slope, rescale_intercept)

    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_of_reference_uid = frame_of_reference_uid or generate_uid()
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    gated = nominal_cardiac_phase_percent is not None or trigger_time_ms is not None

    paths = []
    for k in range(nz):
        position = np.asarray(volume.origin, dtype=float) + k * sz * k_dir
        sop_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]

        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
        ds.AccessionNumber = ""
        ds.Modality = "CT"
        ds.Manufacturer = "SlicerCardiacPlanning"
        ds.ReferringPhysicianName = ""
        ds.SeriesDescription = series_description
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.KVP = ""
        ds.PatientPosition = "HFS"
        ds.BodyPartExamined = "HEART"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = int(series_number)
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ds.PatientOrientation = ""
        ds.ImagePositionPatient = [_ds_number(v) for v in position]
        ds.ImageOrientationPatient = [_ds_number(v) for v in (*row_dir, *col_dir)]
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds_number(float(position @ normal))
        ds.SliceThickness = _ds_number(plane_spacing)
        ds.SpacingBetweenSlices = _ds_number(plane_spacing)
        ds.PixelSpacing = [_ds_number(sy), _ds_number(sx)]  # (between rows, between columns)
        if gated:
            ds.CardiacSynchronizationTechnique = "RETROSPECTIVE"
            ds.CardiacSignalSource = "ECG"
        if nominal_cardiac_phase_percent is not None:
            ds.NominalPercentageOfCardiacPhase = float(nominal_cardiac_phase_percent)
        if trigger_time_ms is not None:
            ds.TriggerTime = _ds_number(trigger_time_ms)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = _ds_number(rescale_intercept)
        ds.RescaleSlope = _ds_number(rescale_slope)
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = "300", "1500"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        for keyword, value in (extra or {}).items():
            setattr(ds, keyword, value)
        path = folder / f"{file_prefix}_{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    logger.info("wrote %d CT slices of series %s to %s", nz, series_uid, folder)
    return paths
