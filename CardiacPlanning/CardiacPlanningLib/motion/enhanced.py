"""Enhanced (multi-frame) CT: one DICOM file holding every slice of every cardiac phase.

Per DICOM PS3.3 C.7.6.16 (Multi-frame Functional Groups) each frame's attributes sit in its item
of the Per-frame Functional Groups Sequence, or for all frames in the Shared Functional Groups
Sequence: Plane Position (Image Position Patient), Plane Orientation (Image Orientation Patient),
Pixel Measures (Pixel Spacing), Pixel Value Transformation (rescale slope/intercept) and Cardiac
Synchronization (Nominal Percentage of Cardiac Phase, Nominal Cardiac Trigger Delay Time). Frames
are grouped into phases by percentage (else trigger delay, else Temporal Position Index of the Frame
Content) and sorted along the slice normal; the slices of a phase must be evenly spaced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from ..errors import DicomInputError
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)


@dataclass
class FramePhase:
    """The frames of one phase of an enhanced CT file, in slice order."""

    percent: float | None
    trigger_ms: float | None
    frames: list[int]
    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: np.ndarray


def _item(ds: pydicom.Dataset, frame: int, sequence: str):
    """The first item of functional group ``sequence`` for ``frame`` (per-frame, else shared)."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(groups)
        if seq is not None and len(seq) > index:
            inner = seq[index].get(sequence)
            if inner is not None and len(inner):
                return inner[0]
    return None


def _value(ds, frame, sequence, keyword, cast=float):
    item = _item(ds, frame, sequence)
    if item is None or keyword not in item or item.get(keyword) in (None, ""):
        return None
    value = item.get(keyword)
    return [cast(v) for v in value] if isinstance(value, pydicom.multival.MultiValue) else cast(value)


def frame_phases(ds: pydicom.Dataset, where: str) -> list[FramePhase]:
    """Group the frames of an enhanced CT dataset into phases in cycle order (see module doc)."""
    n = int(ds.get("NumberOfFrames", 1) or 1)
    keys = []
    for f in range(n):
        pct = _value(ds, f, "CardiacSynchronizationSequence", "NominalPercentageOfCardiacPhase")
        trig = _value(ds, f, "CardiacSynchronizationSequence", "NominalCardiacTriggerDelayTime")
        tpi = _value(ds, f, "FrameContentSequence", "TemporalPositionIndex", int)
        keys.append((pct, trig, tpi))
    by = next((k for k in range(3) if all(key[k] is not None for key in keys)), None)
    groups: dict = {}
    for f, key in enumerate(keys):
        groups.setdefault(key[by] if by is not None else 0, []).append(f)
    phases = []
    for value in sorted(groups):
        frames = groups[value]
        first = frames[0]
        pct = keys[first][0] if by == 0 else None
        trig = keys[first][1] if by in (0, 1) else None
        phases.append(_geometry(ds, frames, pct, trig, where))
    return phases


def _geometry(ds, frames: list[int], pct, trig, where: str) -> FramePhase:
    orient = _value(ds, frames[0], "PlaneOrientationSequence", "ImageOrientationPatient")
    spacing = _value(ds, frames[0], "PixelMeasuresSequence", "PixelSpacing")
    positions = [_value(ds, f, "PlanePositionSequence", "ImagePositionPatient") for f in frames]
    label = f"{pct:g}%" if pct is not None else f"{trig:g} ms" if trig is not None else "single phase"
    if orient is None or spacing is None or any(p is None for p in positions):
        raise DicomInputError(
            f"{where}: enhanced CT without plane position/orientation/pixel spacing per frame"
        )
    row, col = np.asarray(orient[:3]), np.asarray(orient[3:])
    normal = np.cross(row, col)
    dist = np.array([np.dot(p, normal) for p in positions])
    order = np.argsort(dist)
    steps = np.diff(dist[order])
    if len(frames) > 1 and (steps.min() <= 1e-3 or np.ptp(steps) > 0.01 * max(float(np.median(steps)), 1e-3)):
        raise DicomInputError(
            f"{where}: phase {label}: slices are not evenly spaced (spacing {steps.min():.3f}-"
            f"{steps.max():.3f} mm) or repeat; cannot build a volume"
        )
    dz = float(np.median(steps)) if len(frames) > 1 else float(ds.get("SliceThickness", 1.0) or 1.0)
    return FramePhase(
        percent=pct,
        trigger_ms=trig,
        frames=[frames[i] for i in order],
        origin=tuple(float(x) for x in positions[order[0]]),  # type: ignore[arg-type]
        spacing=(float(spacing[1]), float(spacing[0]), dz),  # PixelSpacing = (row step, column step)
        direction=np.stack([row, col, normal], axis=1),
    )


def read_frame_phase(path: Path, phase: FramePhase) -> Volume:
    """The HU volume of one phase of the enhanced CT file ``path``."""
    ds = pydicom.dcmread(path)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for unsupported transfer syntaxes
        raise DicomInputError(f"{path}: cannot decode the pixel data ({str(exc).splitlines()[0]})") from exc
    if pixels.ndim == 2:
        pixels = pixels[None]
    slices = []
    for f in phase.frames:
        slope = _value(ds, f, "PixelValueTransformationSequence", "RescaleSlope") or 1.0
        intercept = _value(ds, f, "PixelValueTransformationSequence", "RescaleIntercept") or 0.0
        slices.append(pixels[f].astype(np.float32) * float(slope) + float(intercept))
    arr = np.stack(slices)
    if np.all(np.mod(arr, 1) == 0) and arr.min() >= -32768 and arr.max() <= 32767:
        arr = arr.astype(np.int16)
    return Volume(arr, phase.spacing, phase.origin, phase.direction, {"source": str(path)})
