"""Finding DICOM files and reading their headers (no pixels) into :class:`SliceHeader` records.

Shared by :mod:`.dicom` (one series -> Volume) and :mod:`.phases` (a folder -> cardiac phases).
Files with a suffix that is clearly not DICOM (``.txt``, ``.json``, ``.nii.gz``, ...), hidden files
and ``DICOMDIR`` are skipped; any other file that cannot be parsed as DICOM is reported as corrupt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from ..errors import DicomInputError
from ..progress import Progress, ProgressCallback, as_progress

logger = logging.getLogger(__name__)

# Suffixes of files that may sit next to DICOM files and are not DICOM: skipped, not reported.
NON_DICOM_SUFFIXES = {
    ".txt", ".json", ".xml", ".md", ".csv", ".html", ".pdf", ".png", ".jpg", ".jpeg", ".bmp", ".gif",
    ".nii", ".gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".raw", ".zip", ".py", ".log", ".ini", ".db",
    ".mrb", ".mrml", ".vtk", ".stl", ".obj", ".exe", ".bat", ".sh", ".inf", ".tar", ".7z",
}  # fmt: skip


@dataclass
class SliceHeader:
    """The header fields of one DICOM image file that series assembly and phase grouping need.

    ``position`` is ImagePositionPatient (LPS mm), ``orientation`` ImageOrientationPatient (row
    cosines then column cosines, LPS), ``pixel_spacing`` (between rows, between columns) in mm.
    """

    path: Path
    series_uid: str
    study_uid: str = ""
    patient_id: str = ""
    patient_name: str = ""
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    instance_number: int | None = None
    acquisition_number: int | None = None
    frame_of_reference_uid: str = ""
    image_type: tuple[str, ...] = ()
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 1
    pixel_spacing: tuple[float, float] | None = None
    orientation: tuple[float, ...] | None = None
    position: tuple[float, float, float] | None = None
    slice_thickness: float | None = None
    phase_percent: float | None = None
    trigger_time_ms: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in self.image_type


def short_error(exc: BaseException, limit: int = 160) -> str:
    """``Type: message`` of an exception on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_candidate(path: Path) -> bool:
    """True if ``path`` may be a DICOM file (not hidden, not DICOMDIR, no clearly non-DICOM suffix)."""
    name = path.name
    if name.startswith(".") or name.upper() == "DICOMDIR":
        return False
    return path.suffix.lower() not in NON_DICOM_SUFFIXES


def collect_files(folder_or_files: str | Path | Iterable[str | Path], recursive: bool = True) -> list[Path]:
    """The candidate DICOM files of a folder (recursively) or of an explicit list of files, sorted."""
    if isinstance(folder_or_files, (str, Path)):
        root = Path(folder_or_files)
        if not root.exists():
            raise DicomInputError(f"{root}: no such file or folder")
        if root.is_file():
            return [root]
        walker = root.rglob("*") if recursive else root.glob("*")
        return sorted(p for p in walker if p.is_file() and is_candidate(p))
    files = [Path(p) for p in folder_or_files]
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise DicomInputError(f"{missing[0]}: no such file")
    return sorted(files)


def _number(ds: pydicom.Dataset, keyword: str, cast=float):
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return cast(value)


def _numbers(ds: pydicom.Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    values = tuple(float(v) for v in (value if isinstance(value, (list, tuple)) else list(value)))
    if len(values) != count:
        raise ValueError(f"{keyword} has {len(values)} values, expected {count}")
    return values


def read_header(path: Path) -> SliceHeader | None:
    """Parse one file's header. None for a DICOM file that is not an image (no pixel data / SR...).

    Raises :class:`DicomInputError` naming the file if it is not readable DICOM (corrupt/truncated).
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise DicomInputError(f"{path}: not a valid DICOM file (no DICM header; corrupt?)") from exc
    except Exception as exc:  # pydicom raises many exception types on damaged input
        raise DicomInputError(f"{path}: corrupt or truncated DICOM file ({short_error(exc)})") from exc
    try:
        return _header_from_dataset(path, ds)
    except DicomInputError:
        raise
    except Exception as exc:  # values are decoded lazily; damaged ones raise many exception types
        raise DicomInputError(
            f"{path}: invalid or truncated DICOM header value ({short_error(exc)})"
        ) from exc


def _header_from_dataset(path: Path, ds: pydicom.Dataset) -> SliceHeader | None:
    if "SOPClassUID" not in ds:
        raise DicomInputError(f"{path}: corrupt or incomplete DICOM file (no SOP Class UID in the header)")
    if "Rows" not in ds or "Columns" not in ds:
        sop = pydicom.uid.UID(str(ds.SOPClassUID))
        if sop.name == str(sop) or "Image Storage" in sop.name:  # unknown (damaged) or an image class
            raise DicomInputError(
                f"{path}: truncated or incomplete DICOM image (no Rows/Columns in the header)"
            )
        logger.debug("%s: DICOM without an image (SOP class %s), skipped", path, ds.get("SOPClassUID"))
        return None
    return SliceHeader(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        study_uid=str(ds.get("StudyInstanceUID", "")),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        modality=str(ds.get("Modality", "")),
        series_number=_number(ds, "SeriesNumber", int),
        series_description=str(ds.get("SeriesDescription", "")),
        instance_number=_number(ds, "InstanceNumber", int),
        acquisition_number=_number(ds, "AcquisitionNumber", int),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
        image_type=tuple(str(v).upper() for v in (ds.get("ImageType") or ())),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        number_of_frames=_number(ds, "NumberOfFrames", int) or 1,
        pixel_spacing=_numbers(ds, "PixelSpacing", 2),  # type: ignore[arg-type]
        orientation=_numbers(ds, "ImageOrientationPatient", 6),
        position=_numbers(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        slice_thickness=_number(ds, "SliceThickness"),
        phase_percent=_number(ds, "NominalPercentageOfCardiacPhase"),
        trigger_time_ms=_number(ds, "TriggerTime"),
    )


def scan_headers(
    folder_or_files: str | Path | Iterable[str | Path],
    progress: ProgressCallback | Progress | None = None,
    recursive: bool = True,
) -> list[SliceHeader]:
    """Headers of every DICOM image file in a folder (recursively) or list of files.

    Raises :class:`DicomInputError` if there are no DICOM image files or one file is corrupt.
    """
    prog = as_progress(progress)
    files = collect_files(folder_or_files, recursive)
    where = folder_or_files if isinstance(folder_or_files, (str, Path)) else f"{len(files)} given files"
    headers = []
    for n, path in enumerate(files):
        if n % 20 == 0:
            prog(n / max(len(files), 1), f"reading DICOM headers {n}/{len(files)}")
        header = read_header(path)
        if header is not None:
            headers.append(header)
    if not headers:
        raise DicomInputError(f"{where}: no DICOM image files found")
    prog(1.0, f"{len(headers)} DICOM images")
    return headers


def group_by_series(headers: list[SliceHeader]) -> dict[str, list[SliceHeader]]:
    """Headers grouped by SeriesInstanceUID (insertion order = first appearance)."""
    groups: dict[str, list[SliceHeader]] = {}
    for h in headers:
        groups.setdefault(h.series_uid, []).append(h)
    return groups


def describe_series(uid: str, headers: list[SliceHeader]) -> str:
    """One-line description of a series: number, description, UID, number of files."""
    h = headers[0]
    desc = f" '{h.series_description}'" if h.series_description else ""
    num = f"#{h.series_number}" if h.series_number is not None else "#?"
    return f"{num}{desc} {h.modality or '?'} ({len(headers)} files, SeriesInstanceUID {uid})"
