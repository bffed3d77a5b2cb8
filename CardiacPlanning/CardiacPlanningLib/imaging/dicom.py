"""Reading one CT DICOM series into a :class:`Volume` (HU, LPS mm), with strict checks.

Rejected with a :class:`DicomInputError` that names the file or folder: corrupt or truncated files,
folders without DICOM images, several series in one folder (pass ``series_uid``), non-CT modality,
inconsistent image size / pixel spacing / orientation, duplicate slice positions, missing slices
(a gap in the positions), non-uniform slice spacing and gantry tilt.

Gantry tilt (slices sheared along the table): rejected by default (``tilt="reject"``) because an
untilted reconstruction is standard for cardiac CTA; ``tilt="resample"`` instead resamples the
stack onto an orthogonal grid (linear interpolation, -1024 HU outside) and records
``metadata["resampled_gantry_tilt_deg"]``.

Pixels are decoded by pydicom; compressed transfer syntaxes pydicom cannot decode fall back to
SimpleITK/GDCM. HU = stored value * RescaleSlope + RescaleIntercept (per slice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from scipy import ndimage

from ..errors import DicomInputError
from ..progress import Progress, ProgressCallback, as_progress
from .dicom_scan import SliceHeader, describe_series, group_by_series, scan_headers, short_error
from .volume import Volume

logger = logging.getLogger(__name__)

ORIENTATION_TOL = 1e-4  # direction cosines
POSITION_TOL_MM = 0.01
TILT_TOL_DEG = 0.05
ACCEPTED_MODALITIES = ("CT",)


def read_dicom_series(
    folder_or_files: str | Path | Iterable[str | Path],
    series_uid: str | None = None,
    *,
    tilt: str = "reject",
    progress: ProgressCallback | Progress | None = None,
) -> Volume:
    """Read one CT series (a folder, searched recursively, or a list of files) as a HU Volume (LPS).

    With several series in the input, ``series_uid`` chooses one (the error lists the candidates);
    localizer (scout) series next to a single other series are left out.
    ``tilt`` is ``"reject"`` (default) or ``"resample"`` for gantry-tilted stacks (see module doc).
    ``Volume.metadata`` holds patient/study/series ids, description, number, modality, frame of
    reference, ``phase_percent`` (0020,9241) and ``trigger_time_ms`` (0018,1060) when present.
    """
    prog = as_progress(progress)
    where = str(folder_or_files) if isinstance(folder_or_files, (str, Path)) else "the given files"
    headers = scan_headers(folder_or_files, prog.sub(0.0, 0.2))
    series = group_by_series(headers)
    if series_uid is not None:
        if series_uid not in series:
            listing = "; ".join(describe_series(u, hs) for u, hs in series.items())
            raise DicomInputError(
                f"{where}: no series with SeriesInstanceUID {series_uid} (found: {listing})"
            )
        chosen = series[series_uid]
        return volume_from_headers(chosen, where, tilt=tilt, progress=prog.sub(0.2, 1.0))
    scouts = [u for u, hs in series.items() if all(h.is_localizer for h in hs)]
    if scouts and len(series) - len(scouts) == 1:  # a lone series next to its localizer (scout) images
        logger.info("%s: left out localizer series %s", where, ", ".join(scouts))
        series = {u: hs for u, hs in series.items() if u not in scouts}
    if len(series) > 1:
        listing = "; ".join(describe_series(u, hs) for u, hs in series.items())
        raise DicomInputError(
            f"{where}: mixed series, the folder holds {len(series)} series: {listing}; "
            "choose one with series_uid=... or put each series in its own folder"
        )
    else:
        chosen = next(iter(series.values()))
    return volume_from_headers(chosen, where, tilt=tilt, progress=prog.sub(0.2, 1.0))


def volume_from_headers(
    headers: list[SliceHeader],
    where: str,
    *,
    tilt: str = "reject",
    progress: ProgressCallback | Progress | None = None,
) -> Volume:
    """Check and assemble the slices of ONE series (any order) into a HU Volume (LPS mm).

    ``where`` names the input in error messages.
    """
    if tilt not in ("reject", "resample"):
        raise ValueError(f"tilt must be 'reject' or 'resample', got {tilt!r}")
    prog = as_progress(progress)
    _check_consistency(headers, where)
    ordered, normal, step = _order_slices(headers, where)
    tilt_deg, shear = _tilt(ordered, normal, step)
    if tilt_deg > TILT_TOL_DEG and tilt == "reject":
        raise DicomInputError(
            f"{where}: gantry tilt of {tilt_deg:.2f} deg (slices shifted {np.linalg.norm(shear):.2f} mm "
            "sideways per slice); reconstruct without tilt, or read with tilt='resample'"
        )
    first = ordered[0]
    row_dir = np.array(first.orientation[:3])
    col_dir = np.array(first.orientation[3:])
    ps_row, ps_col = first.pixel_spacing  # (between rows, between columns)
    slices = []
    for n, h in enumerate(ordered):
        if n % 10 == 0:
            prog(n / len(ordered), f"reading slice {n + 1}/{len(ordered)}")
        slices.append(_read_hu(h))
    array = np.stack(slices)
    del slices
    spacing_z = step if len(ordered) > 1 else float(first.slice_thickness or 1.0)
    direction = np.column_stack([row_dir, col_dir, normal])
    vol = Volume(array, (ps_col, ps_row, spacing_z), first.position, direction, _metadata(ordered, where))
    if tilt_deg > TILT_TOL_DEG:
        vol = _resample_tilt(vol, shear, step)
        vol.metadata["resampled_gantry_tilt_deg"] = round(tilt_deg, 3)
        logger.warning("%s: gantry tilt %.2f deg resampled onto an orthogonal grid", where, tilt_deg)
    prog(1.0, f"read {len(ordered)} slices")
    logger.info("read DICOM series %s: shape %s spacing %s", where, vol.shape, vol.spacing)
    return vol


def _check_consistency(headers: list[SliceHeader], where: str) -> None:
    for h in headers:
        if h.modality.upper() not in ACCEPTED_MODALITIES:
            raise DicomInputError(
                f"{h.path}: modality {h.modality or 'missing'} is not CT; this tool needs a CT series"
            )
        if h.number_of_frames > 1:
            raise DicomInputError(
                f"{h.path}: multi-frame (enhanced) DICOM with {h.number_of_frames} frames is not supported; "
                "export the series as single-frame CT images"
            )
        if h.orientation is None or h.position is None or h.pixel_spacing is None:
            raise DicomInputError(
                f"{h.path}: missing ImageOrientationPatient/ImagePositionPatient/PixelSpacing; "
                "cannot place the slice in space"
            )
    ref = headers[0]
    for h in headers[1:]:
        if (h.rows, h.columns) != (ref.rows, ref.columns):
            raise DicomInputError(
                f"{where}: inconsistent image sizes: {ref.path.name} is {ref.rows}x{ref.columns}, "
                f"{h.path.name} is {h.rows}x{h.columns} (rows x columns)"
            )
        if not np.allclose(h.pixel_spacing, ref.pixel_spacing, atol=1e-4):
            raise DicomInputError(
                f"{where}: inconsistent pixel spacing: {ref.path.name} {ref.pixel_spacing} mm, "
                f"{h.path.name} {h.pixel_spacing} mm"
            )
        if not np.allclose(h.orientation, ref.orientation, atol=ORIENTATION_TOL):
            raise DicomInputError(
                f"{where}: inconsistent slice orientation between {ref.path.name} and {h.path.name}"
            )


def _order_slices(headers: list[SliceHeader], where: str) -> tuple[list[SliceHeader], np.ndarray, float]:
    """Sort along the slice normal; reject duplicates, gaps and non-uniform spacing."""
    o = np.array(headers[0].orientation)
    normal = np.cross(o[:3], o[3:])
    normal /= np.linalg.norm(normal)
    dist = np.array([np.dot(h.position, normal) for h in headers])
    order = np.argsort(dist, kind="stable")
    ordered = [headers[i] for i in order]
    dist = dist[order]
    if len(ordered) == 1:
        return ordered, normal, float(ordered[0].slice_thickness or 1.0)
    steps = np.diff(dist)
    dup = np.flatnonzero(steps < POSITION_TOL_MM)
    if dup.size:
        a, b = ordered[dup[0]], ordered[dup[0] + 1]
        phases = {(h.phase_percent, h.trigger_time_ms) for h in ordered}
        hint = (
            " (several cardiac phases in one series? group them with imaging.phases)"
            if len(phases) > 1
            else ""
        )
        raise DicomInputError(
            f"{where}: {dup.size} duplicate slice position(s): {a.path.name} and {b.path.name} both at "
            f"{dist[dup[0]]:.2f} mm along the slice normal{hint}"
        )
    base = float(np.min(steps))  # the regular step: gaps and outliers only make steps longer
    ratio = steps / base
    tol = max(POSITION_TOL_MM, 0.01 * base)
    gap = np.flatnonzero((ratio > 1.5) & (np.abs(ratio - np.round(ratio)) < 0.15))
    if gap.size:
        g = gap[0]
        missing = int(sum(round(r) - 1 for r in ratio[gap]))
        raise DicomInputError(
            f"{where}: missing slice(s): about {missing} slice(s) missing, e.g. a {steps[g]:.2f} mm gap "
            f"between {ordered[g].path.name} ({dist[g]:.2f} mm) and {ordered[g + 1].path.name} "
            f"({dist[g + 1]:.2f} mm) where the spacing is {base:.2f} mm"
        )
    if np.max(np.abs(steps - base)) > tol:
        g = int(np.argmax(np.abs(steps - base)))
        raise DicomInputError(
            f"{where}: non-uniform slice spacing: steps from {steps.min():.3f} to {steps.max():.3f} mm "
            f"(e.g. {steps[g]:.3f} mm between {ordered[g].path.name} and {ordered[g + 1].path.name}); "
            "resample the series to a uniform spacing first"
        )
    return ordered, normal, float(dist[-1] - dist[0]) / (len(ordered) - 1)


def _tilt(ordered: list[SliceHeader], normal: np.ndarray, step: float) -> tuple[float, np.ndarray]:
    """Gantry tilt angle (deg) and the mean in-plane shift per slice (LPS mm)."""
    if len(ordered) < 2:
        return 0.0, np.zeros(3)
    pos = np.array([h.position for h in ordered])
    delta = (pos[-1] - pos[0]) / (len(ordered) - 1)
    shear = delta - np.dot(delta, normal) * normal
    return float(np.degrees(np.arctan2(np.linalg.norm(shear), step))), shear


def _resample_tilt(vol: Volume, shear: np.ndarray, step: float) -> Volume:
    """Resample a sheared stack (slice k at origin + k*(step*normal + shear)) onto an orthogonal grid."""
    d = vol.direction
    sx, sy, _ = vol.spacing
    sheared = np.column_stack([d[:, 0] * sx, d[:, 1] * sy, d[:, 2] * step + shear])
    nz, ny, nx = vol.shape
    corners = np.array([[i, j, k] for i in (0, nx - 1) for j in (0, ny - 1) for k in (0, nz - 1)], float)
    lps = corners @ sheared.T + np.asarray(vol.origin)
    local = (lps - np.asarray(vol.origin)) @ d  # coordinates along row, col, normal (orthonormal d)
    lo, hi = local.min(axis=0), local.max(axis=0)
    spacing = np.array([sx, sy, step])
    size = np.floor((hi - lo) / spacing + 1e-6).astype(int) + 1
    origin = np.asarray(vol.origin) + d @ lo
    out = Volume(np.zeros(size[::-1], np.float32), tuple(spacing), tuple(origin), d, dict(vol.metadata))
    inv = np.linalg.inv(sheared)
    source = vol.array.astype(np.float32)
    jj, ii = np.meshgrid(np.arange(size[1]), np.arange(size[0]), indexing="ij")
    for k in range(size[2]):  # one output slice at a time keeps memory at one slice of coordinates
        ijk = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k)], axis=-1)
        src = (out.index_to_lps(ijk) - np.asarray(vol.origin)) @ inv.T  # continuous (i, j, k) of the input
        values = ndimage.map_coordinates(source, [src[:, 2], src[:, 1], src[:, 0]], order=1, cval=-1024.0)
        out.array[k] = values.reshape(size[1], size[0])
    return out


def _read_hu(h: SliceHeader) -> np.ndarray:
    """Decode one slice and apply the rescale (HU). Integer result when slope/intercept allow."""
    try:
        return _decode_hu(h)
    except DicomInputError:
        raise
    except Exception as exc:  # pydicom decodes lazily and raises many exception types on damage
        raise DicomInputError(f"{h.path}: corrupt or truncated DICOM file ({short_error(exc)})") from exc


def _decode_hu(h: SliceHeader) -> np.ndarray:
    ds = pydicom.dcmread(h.path)
    if "PixelData" not in ds:
        raise DicomInputError(f"{h.path}: no pixel data (truncated file?)")
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts is None or not ts.is_compressed:
        expected = h.rows * h.columns * int(ds.get("SamplesPerPixel", 1)) * int(ds.BitsAllocated) // 8
        if len(ds.PixelData) < expected:
            raise DicomInputError(
                f"{h.path}: truncated DICOM file: {len(ds.PixelData)} bytes of pixel data, "
                f"{expected} expected"
            )
        pixels = ds.pixel_array
    else:
        try:
            pixels = ds.pixel_array
        except (NotImplementedError, RuntimeError, ValueError) as exc:  # no pydicom decoder: use GDCM
            logger.debug("%s: pydicom cannot decode (%s), trying SimpleITK", h.path, exc)
            try:
                image = sitk.ReadImage(str(h.path))
            except RuntimeError as exc2:
                raise DicomInputError(
                    f"{h.path}: cannot decode the pixel data ({ts.name}): {short_error(exc2)}"
                ) from exc2
            return sitk.GetArrayFromImage(image)[0]  # SimpleITK already applied the rescale
    if pixels.shape != (h.rows, h.columns):
        raise DicomInputError(f"{h.path}: pixel data shape {pixels.shape} is not {h.rows}x{h.columns}")
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    if slope == 1 and intercept == int(intercept):
        hu = pixels.astype(np.int32) + int(intercept)
        if hu.size and -32768 <= hu.min() and hu.max() <= 32767:
            return hu.astype(np.int16)  # CT HU fit 16 bits; halves the memory of the stacked volume
        return hu
    return (pixels * slope + intercept).astype(np.float32)


def _metadata(ordered: list[SliceHeader], where: str) -> dict:
    first = ordered[0]

    def unique(values):
        vals = {v for v in values if v is not None}
        return vals.pop() if len(vals) == 1 else None

    return {
        "source": where,
        "patient_name": first.patient_name,
        "patient_id": first.patient_id,
        "study_uid": first.study_uid,
        "series_uid": first.series_uid,
        "series_number": first.series_number,
        "series_description": first.series_description,
        "frame_of_reference_uid": first.frame_of_reference_uid,
        "modality": first.modality,
        "phase_percent": unique(h.phase_percent for h in ordered),
        "trigger_time_ms": unique(h.trigger_time_ms for h in ordered),
        "num_files": len(ordered),
    }
