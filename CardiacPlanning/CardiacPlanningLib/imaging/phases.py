"""Grouping a DICOM folder (searched recursively) into the cardiac phases of a 4D CT, in cycle order.

A phase is identified, in this order of preference, by
1. Nominal Percentage of Cardiac Phase (0020,9241), in % of the R-R interval;
2. Trigger Time (0018,1060), in ms after the R wave;
3. a percentage in the series description (e.g. ``"CTA 75%"``), else the series number.

Each series is one phase, unless it holds several slices at the same position: then it is split by
phase percent, else trigger time (some scanners store every phase in one series). Localizers and
non-CT images are left out (logged). Duplicate phases (two series at 75 %), phases with different
geometry and too few phases raise a :class:`DicomInputError` that names them. The order of files on
disk does not matter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DicomInputError
from ..progress import Progress, ProgressCallback, as_progress
from .dicom import volume_from_headers
from .dicom_scan import SliceHeader, describe_series, group_by_series, scan_headers
from .volume import Volume

logger = logging.getLogger(__name__)

_PERCENT_IN_TEXT = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*%")


@dataclass
class Phase:
    """One cardiac phase: its cycle position and the files of its slices.

    ``percent`` is the nominal phase in % of the R-R interval, ``trigger_time_ms`` the trigger delay
    in ms after the R wave (None when unknown); ``index`` is the position in cycle order (0-based).
    """

    index: int
    percent: float | None
    trigger_time_ms: float | None
    series_uid: str
    series_number: int | None
    description: str
    files: list[Path]
    headers: list[SliceHeader] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        """Short name: ``"75%"``, ``"560 ms"`` or the series number/description."""
        if self.percent is not None:
            return f"{self.percent:g}%"
        if self.trigger_time_ms is not None:
            return f"{self.trigger_time_ms:g} ms"
        number = self.series_number if self.series_number is not None else "?"
        return f"series {number} {self.description}".strip()

    def load(self, progress: ProgressCallback | Progress | None = None, tilt: str = "reject") -> Volume:
        """Read this phase's slices as a HU Volume (LPS mm); metadata carries the phase fields."""
        vol = volume_from_headers(self.headers, f"phase {self.label}", tilt=tilt, progress=progress)
        vol.metadata.update(
            phase_index=self.index,
            phase_label=self.label,
            phase_percent=self.percent,
            trigger_time_ms=self.trigger_time_ms,
        )
        return vol


def group_phases(
    folder: str | Path | Iterable[str | Path],
    *,
    series_uids: Iterable[str] | None = None,
    min_phases: int = 1,
    require_same_geometry: bool = True,
    progress: ProgressCallback | Progress | None = None,
) -> list[Phase]:
    """The cardiac phases of a DICOM folder (recursive) or list of files, ordered by cycle position.

    ``series_uids`` restricts the grouping to these series (e.g. to leave out a duplicate
    reconstruction). Raises :class:`DicomInputError` for duplicate phases, fewer than
    ``min_phases`` phases, or (with ``require_same_geometry``) phases on different voxel grids.
    """
    where = str(folder) if isinstance(folder, (str, Path)) else "the given files"
    headers = _usable(scan_headers(folder, progress), where)
    if series_uids is not None:
        wanted = set(series_uids)
        headers = [h for h in headers if h.series_uid in wanted]
        if not headers:
            raise DicomInputError(f"{where}: none of the series {sorted(wanted)} is present")
    groups: list[list[SliceHeader]] = []
    for uid, series in group_by_series(headers).items():
        groups.extend(_split_series(uid, series, where))
    phases = _ordered_phases(groups)
    _check_duplicates(phases, where)
    if len(phases) < min_phases:
        found = ", ".join(f"{p.label} ({describe_series(p.series_uid, p.headers)})" for p in phases)
        raise DicomInputError(
            f"{where}: only {len(phases)} cardiac phase(s) found ({found}); at least {min_phases} needed"
        )
    if len(phases) == 1:
        logger.warning("%s: a single cardiac phase (%s)", where, phases[0].label)
    if require_same_geometry:
        _check_geometry(phases, where)
    logger.info("%s: %d phases: %s", where, len(phases), ", ".join(p.label for p in phases))
    return phases


def read_phases(
    folder: str | Path | Iterable[str | Path],
    progress: ProgressCallback | Progress | None = None,
    *,
    series_uids: Iterable[str] | None = None,
    min_phases: int = 1,
    require_same_geometry: bool = True,
    tilt: str = "reject",
) -> list[tuple[Phase, Volume]]:
    """Group a DICOM folder into phases (see :func:`group_phases`) and read each as a HU Volume."""
    prog = as_progress(progress)
    phases = group_phases(
        folder,
        series_uids=series_uids,
        min_phases=min_phases,
        require_same_geometry=require_same_geometry,
        progress=prog.sub(0.0, 0.1),
    )
    out = []
    for n, phase in enumerate(phases):
        sub = prog.sub(0.1 + 0.9 * n / len(phases), 0.1 + 0.9 * (n + 1) / len(phases))
        sub(0.0, f"reading phase {phase.label} ({n + 1}/{len(phases)})")
        vol = phase.load(sub, tilt=tilt)
        if require_same_geometry and out and not vol.same_geometry(out[0][1], tol=0.01):
            raise DicomInputError(
                f"phase {phase.label} has a different voxel grid from phase {out[0][0].label} "
                f"(shape {vol.shape} vs {out[0][1].shape}); resample the phases to one grid"
            )
        out.append((phase, vol))
    prog(1.0, f"read {len(out)} phases")
    return out


def _usable(headers: list[SliceHeader], where: str) -> list[SliceHeader]:
    """Leave out localizers and non-CT images (logged); error if nothing is left."""
    kept = [h for h in headers if not h.is_localizer and h.modality.upper() == "CT"]
    if len(kept) < len(headers):
        kept_ids = {id(h) for h in kept}
        left_out = {(h.series_uid, h.modality, h.is_localizer) for h in headers if id(h) not in kept_ids}
        logger.warning(
            "%s: left out %d localizer/non-CT images %s", where, len(headers) - len(kept), left_out
        )
    if not kept:
        modalities = sorted({h.modality or "?" for h in headers})
        raise DicomInputError(f"{where}: no CT images (found modality {', '.join(modalities)})")
    return kept


def _split_series(uid: str, series: list[SliceHeader], where: str) -> list[list[SliceHeader]]:
    """One group per phase: the series itself, or split by phase tags if positions repeat."""
    positions = {tuple(np.round(h.position, 2)) for h in series if h.position is not None}
    if len(positions) == len(series):
        return [series]
    for attr in ("phase_percent", "trigger_time_ms"):
        values = {getattr(h, attr) for h in series}
        if len(values) > 1 and None not in values:
            groups: dict[float, list[SliceHeader]] = {}
            for h in series:
                groups.setdefault(getattr(h, attr), []).append(h)
            return list(groups.values())
    raise DicomInputError(
        f"{where}: series {describe_series(uid, series)} repeats slice positions without phase percent "
        "or trigger time to tell the phases apart"
    )


def _common(values: list[float | None]) -> float | None:
    """The value shared by all slices (median if they differ slightly); None if any is missing."""
    if not values or any(v is None for v in values):
        return None
    return float(np.median(values))


def _percent_from_description(description: str) -> float | None:
    match = _PERCENT_IN_TEXT.search(description)
    if match and 0 <= float(match.group(1)) <= 100:
        return float(match.group(1))
    return None


def _ordered_phases(groups: list[list[SliceHeader]]) -> list[Phase]:
    phases = []
    for g in groups:
        g = sorted(g, key=lambda h: str(h.path))
        first = g[0]
        percent = _common([h.phase_percent for h in g])
        if percent is None:
            percent = _percent_from_description(first.series_description)
        phases.append(
            Phase(
                index=-1,
                percent=percent,
                trigger_time_ms=_common([h.trigger_time_ms for h in g]),
                series_uid=first.series_uid,
                series_number=first.series_number,
                description=first.series_description,
                files=[h.path for h in g],
                headers=g,
            )
        )
    if all(p.percent is not None for p in phases):
        phases.sort(key=lambda p: (p.percent, p.series_uid))
    elif all(p.trigger_time_ms is not None for p in phases):
        for p in phases:
            p.percent = None  # a partial set of percentages would be misleading next to trigger times
        phases.sort(key=lambda p: (p.trigger_time_ms, p.series_uid))
    else:
        for p in phases:
            p.percent = p.trigger_time_ms = None
        phases.sort(key=lambda p: (p.series_number if p.series_number is not None else 10**9, p.description))
    for n, p in enumerate(phases):
        p.index = n
    return phases


def _check_duplicates(phases: list[Phase], where: str) -> None:
    for a, b in zip(phases, phases[1:]):
        same = (a.percent is not None and a.percent == b.percent) or (
            a.percent is None and a.trigger_time_ms is not None and a.trigger_time_ms == b.trigger_time_ms
        )
        if same:
            raise DicomInputError(
                f"{where}: duplicate phase {a.label}: {describe_series(a.series_uid, a.headers)} and "
                f"{describe_series(b.series_uid, b.headers)}; keep one (series_uids=...)"
            )


def _geometry(phase: Phase) -> tuple:
    h = phase.headers[0]
    o = np.array(h.orientation or (1, 0, 0, 0, 1, 0), dtype=float)
    normal = np.cross(o[:3], o[3:])
    dist = [float(np.dot(x.position, normal)) for x in phase.headers if x.position is not None]
    return (
        ("size", (h.rows, h.columns, len(phase.headers))),
        ("pixel spacing", tuple(np.round(h.pixel_spacing or (0, 0), 3))),
        ("orientation", tuple(np.round(o, 3))),
        ("slice range", (round(min(dist), 1), round(max(dist), 1)) if dist else None),
    )


def _check_geometry(phases: list[Phase], where: str) -> None:
    ref = _geometry(phases[0])
    for p in phases[1:]:
        geo = _geometry(p)
        for (name, a), (_, b) in zip(ref, geo):
            if a != b:
                raise DicomInputError(
                    f"{where}: phases of different geometry: {name} of phase {phases[0].label} is {a}, "
                    f"of phase {p.label} {b}; resample them to one grid or pass require_same_geometry=False"
                )
