"""DICOM sources of a :class:`~.phase_io.PhaseSeries`: classic series (one per phase, grouped by
:mod:`CardiacPlanningLib.imaging.phases`) or enhanced multi-frame CT files (:mod:`.enhanced`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pydicom

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from .enhanced import frame_phases, read_frame_phase
from .phase_io import PhaseEntry, PhaseSeries

logger = logging.getLogger(__name__)


def open_dicom_phases(folder: Path, progress=None) -> PhaseSeries:
    """Phases of a DICOM folder: enhanced multi-frame CT files if any, else one series per phase
    (:func:`CardiacPlanningLib.imaging.phases.group_phases`)."""
    from ..imaging.dicom_scan import scan_headers
    from ..imaging.phases import group_phases

    multi = sorted(
        {h.path for h in scan_headers(folder) if h.number_of_frames > 1 and h.modality.upper() == "CT"}
    )
    if multi:
        return _open_enhanced(folder, multi)
    phases = group_phases(folder, progress=progress)
    entries = [
        PhaseEntry(p.index, p.percent, p.label, f"{folder} series {p.series_number}", _dicom_loader(p))
        for p in phases
    ]
    return PhaseSeries(entries, str(folder))


def _open_enhanced(folder: Path, files: list[Path]) -> PhaseSeries:
    """Phases of enhanced (multi-frame) CT files: every file's frames grouped per phase."""
    found = []
    for f in files:
        for ph in frame_phases(pydicom.dcmread(f, stop_before_pixels=True), str(f)):
            found.append((ph, f))
    key = "percent" if all(ph.percent is not None for ph, _ in found) else "trigger_ms"
    if not all(getattr(ph, key) is not None for ph, _ in found):
        if len(found) > 1:
            raise CardiacInputError(
                f"{folder}: enhanced CT frames without cardiac phase percent or trigger delay"
            )
        key = ""
    found.sort(key=lambda t: getattr(t[0], key) if key else 0)
    entries = []
    for n, (ph, f) in enumerate(found):
        pct = ph.percent if key == "percent" else None
        label = f"{pct:g}%" if pct is not None else f"{ph.trigger_ms:g} ms" if key else "phase 0"
        if entries and entries[-1].label == label:
            raise CardiacInputError(
                f"{folder}: duplicate phase {label} in the enhanced CT {f.name}; keep one"
            )
        entries.append(
            PhaseEntry(
                n, pct, label, f"{f} ({len(ph.frames)} frames)", _enhanced_loader(f, ph, read_frame_phase)
            )
        )
    return PhaseSeries(entries, str(folder))


def _enhanced_loader(path: Path, phase, reader) -> Callable[[], Volume]:
    return lambda: reader(path, phase)


def _dicom_loader(phase) -> Callable[[], Volume]:
    return lambda: phase.load()
