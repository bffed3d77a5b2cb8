"""Opening a multi-phase cardiac CT as a cycle-ordered, lazily loaded :class:`PhaseSeries`.

Accepted inputs (:func:`open_phases`):

* a DICOM folder (searched recursively) with one series per phase, or one series holding every phase
  (also an enhanced multi-frame series once split per frame by the DICOM reader): phases are found
  and ordered by :func:`CardiacPlanningLib.imaging.phases.group_phases` (nominal cardiac phase
  percent, else trigger time, else series description/number);
* a folder of NIfTI/NRRD/MHA phase volumes. If it holds a ``phases.json`` written by
  :func:`write_phases` that list is used. Otherwise the *last number in each file name* orders the
  phases (``ct_75%.nii.gz``, ``phase-3.nrrd``). The numbers are percentages of the R-R interval when
  a name says so (``%``, ``pct``, ``percent``) or when they are multiples of 5 below 100 that are not
  the consecutive indices 0..n-1 or 1..n (``ct_0, ct_10, ..., ct_90``); otherwise they are indices,
  which only order the phases (percent unknown) and must be consecutive;
* a Slicer sequence file ``*.seq.nrrd`` (4D NRRD whose first axis is a ``list`` of phases); its
  ``axis 0 index values`` give the percentages when they lie in 0-100 and are not just 0..n-1. The
  4D file is read whole (one copy of all phases) and each phase is extracted on demand.

Reported clearly (:class:`CardiacInputError` naming the input): no phases, a single phase (unless
``min_phases=1``), duplicate phases, a missing phase (a gap in evenly spaced percentages or in
consecutive indices), phases on different voxel grids.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import CardiacInputError
from ..imaging.volume import READABLE_SUFFIXES, Volume
from ..progress import Progress, ProgressCallback, as_progress

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PERCENT_WORD = re.compile(r"\d\s*(%|pct|percent)", re.IGNORECASE)


@dataclass
class PhaseEntry:
    """One phase: position in cycle order (``index``), ``percent`` of the R-R interval (None when
    unknown), a short ``label`` and where it comes from; :meth:`load` reads it (HU Volume, LPS)."""

    index: int
    percent: float | None
    label: str
    source: str
    loader: Callable[[], Volume]

    def load(self) -> Volume:
        vol = self.loader()
        vol.metadata.update(phase_index=self.index, phase_percent=self.percent, phase_label=self.label)
        return vol

    def to_json(self) -> dict:
        return {"index": self.index, "percent": self.percent, "label": self.label, "source": self.source}


class PhaseSeries:
    """A cycle-ordered list of :class:`PhaseEntry`; volumes are read one at a time, on demand."""

    def __init__(self, entries: list[PhaseEntry], where: str) -> None:
        self.entries = entries
        self.where = where

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> PhaseEntry:
        return self.entries[i]

    def __iter__(self) -> Iterator[PhaseEntry]:
        return iter(self.entries)

    @property
    def percents(self) -> list[float | None]:
        return [e.percent for e in self.entries]

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.entries]

    def index_of(self, key: int | float | str) -> int:
        """Phase index from an index (int), a percentage (``"40%"`` or a float) or a label."""
        if isinstance(key, str):
            text = key.strip()
            if text.endswith("%"):
                key = float(text[:-1])
            elif text.lstrip("-").isdigit():
                key = int(text)
            else:
                for e in self.entries:
                    if e.label == text:
                        return e.index
                raise CardiacInputError(f"{self.where}: no phase named {key!r} (phases: {self.labels})")
        if isinstance(key, float):
            for e in self.entries:
                if e.percent is not None and abs(e.percent - key) < 1e-6:
                    return e.index
            raise CardiacInputError(f"{self.where}: no phase at {key:g}% (phases: {self.labels})")
        if not 0 <= int(key) < len(self):
            raise CardiacInputError(f"{self.where}: phase index {key} outside 0..{len(self) - 1}")
        return int(key)

    def volumes(
        self, progress: ProgressCallback | Progress | None = None
    ) -> Iterator[tuple[PhaseEntry, Volume]]:
        """Yield (entry, Volume) in cycle order, reading one phase at a time."""
        prog = as_progress(progress)
        for n, e in enumerate(self.entries):
            prog(n / len(self), f"reading phase {e.label} ({n + 1}/{len(self)})")
            yield e, e.load()
        prog(1.0, f"read {len(self)} phases")


def open_phases(
    path: str | Path, *, min_phases: int = 2, progress: ProgressCallback | Progress | None = None
) -> PhaseSeries:
    """Open a multi-phase cardiac CT (DICOM folder, folder of phase volumes, ``.seq.nrrd``); see the
    module docstring for the ordering rules. Volumes are not read yet (except a ``.seq.nrrd``)."""
    path = Path(path)
    if not path.exists():
        raise CardiacInputError(f"{path}: no such file or folder")
    if path.is_file():
        if not str(path).lower().endswith((".nrrd", ".nhdr")):
            raise CardiacInputError(f"{path}: a single file must be a Slicer sequence (.seq.nrrd)")
        series = _open_sequence_nrrd(path)
    else:
        volume_files = [p for p in sorted(path.iterdir()) if p.is_file() and _is_volume_file(p)]
        if volume_files:
            series = _open_volume_folder(path, volume_files)
        else:
            from .dicom_phases import open_dicom_phases

            series = open_dicom_phases(path, progress)
    _check_count(series, min_phases)
    check_missing_phases(series)
    logger.info("%s: %d phases: %s", path, len(series), ", ".join(series.labels))
    return series


def series_from_files(files: list[str | Path], percents: list[float | None] | None = None) -> PhaseSeries:
    """A :class:`PhaseSeries` of phase volume files given in cycle order (``percents``: % R-R each)."""
    if not files:
        raise CardiacInputError("no phase files given")
    percents = list(percents) if percents is not None else [None] * len(files)
    if len(percents) != len(files):
        raise CardiacInputError(f"{len(files)} phase files but {len(percents)} percentages")
    entries = [
        PhaseEntry(n, p, f"{p:g}%" if p is not None else f"phase {n}", str(f), _file_loader(Path(f)))
        for n, (f, p) in enumerate(zip(files, percents))
    ]
    where = str(Path(files[0]).parent)
    _check_file_geometry(Path(where), entries)
    series = PhaseSeries(entries, where)
    check_missing_phases(series)
    return series


def _is_volume_file(p: Path) -> bool:
    return str(p).lower().endswith(READABLE_SUFFIXES) and not p.name.lower().endswith(".seg.nrrd")


def _check_count(series: PhaseSeries, min_phases: int) -> None:
    if len(series) < min_phases:
        raise CardiacInputError(
            f"{series.where}: {len(series)} cardiac phase(s) found ({', '.join(series.labels) or 'none'}); "
            f"a 4D study needs at least {min_phases}"
        )


def check_missing_phases(series: PhaseSeries) -> None:
    """Raise if evenly spaced percentages have a gap inside the reconstructed range: a missing phase.

    The spacing is the median step, the step across the R wave (last -> first + 100 %) counted too,
    so that three of four phases are enough; that wrap-around step itself is never reported (a
    study may cover only part of the cycle, e.g. 30-80 %)."""
    pct = series.percents
    if len(pct) >= 3 and all(p is not None for p in pct):
        steps = np.diff(np.asarray(pct, dtype=float))
        step = float(np.median(np.append(steps, 100.0 - pct[-1] + pct[0])))
        for a, s in zip(pct, steps):
            if step > 0 and s > 1.5 * step and np.allclose(steps[steps <= 1.5 * step], step, atol=0.51):
                missing = ", ".join(f"{a + k * step:g}%" for k in range(1, int(round(s / step))))
                raise CardiacInputError(
                    f"{series.where}: phase(s) {missing} missing between {a:g}% and {a + s:g}% "
                    f"(phases every {step:g}%: {', '.join(series.labels)})"
                )


# --- folder of volumes ---------------------------------------------------------------------------
def _open_volume_folder(folder: Path, files: list[Path]) -> PhaseSeries:
    listing = folder / "phases.json"
    if listing.exists():
        entries = _entries_from_listing(folder, listing)
    else:
        entries = _entries_from_names(folder, files)
    _check_file_geometry(folder, entries)
    return PhaseSeries(entries, str(folder))


def _entries_from_listing(folder: Path, listing: Path) -> list[PhaseEntry]:
    try:
        data = json.loads(listing.read_text(encoding="utf-8"))
        rows = data["phases"]
        entries = [
            PhaseEntry(
                n,
                r.get("percent"),
                r.get("label") or f"phase {n}",
                str(folder / r["file"]),
                _file_loader(folder / r["file"]),
            )
            for n, r in enumerate(rows)
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise CardiacInputError(
            f"{listing}: not a phase list written by 'cardiac-planning import' ({exc})"
        ) from exc
    for e in entries:
        if not Path(e.source).exists():
            raise CardiacInputError(f"{listing}: phase {e.label} file {e.source} is missing")
    return entries


def _entries_from_names(folder: Path, files: list[Path]) -> list[PhaseEntry]:
    numbered = []
    for f in files:
        numbers = _NUMBER.findall(_stem(f))
        if not numbers:
            raise CardiacInputError(
                f"{folder}: cannot tell the cardiac phase of {f.name}: name each phase file with its "
                "phase number or percentage (e.g. ct_40%.nii.gz, phase_03.nrrd)"
            )
        numbered.append((float(numbers[-1]), f))
    numbered.sort(key=lambda t: t[0])
    values = [v for v, _ in numbered]
    for (a, fa), (b, fb) in zip(numbered, numbered[1:]):
        if a == b:
            raise CardiacInputError(f"{folder}: duplicate phase {a:g}: {fa.name} and {fb.name}; keep one")
    consecutive = values == list(range(len(values))) or values == list(range(1, len(values) + 1))
    is_percent = any(_PERCENT_WORD.search(f.name) for f in files) or (
        not consecutive and max(values) < 100 and all(v % 5 == 0 for v in values)
    )
    if not is_percent:
        gaps = np.diff(values)
        if len(values) > 1 and (np.any(gaps != 1) or values[0] not in (0, 1)):
            raise CardiacInputError(
                f"{folder}: phase numbers {[f'{v:g}' for v in values]} are neither consecutive indices nor "
                "percentages (0-100): a phase is missing or a file is misnamed"
            )
    entries = []
    for n, (v, f) in enumerate(numbered):
        percent = v if is_percent else None
        label = f"{v:g}%" if is_percent else f"phase {int(v)}"
        entries.append(PhaseEntry(n, percent, label, str(f), _file_loader(f)))
    return entries


def _stem(p: Path) -> str:
    name = p.name
    for suffix in sorted(READABLE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _file_loader(path: Path) -> Callable[[], Volume]:
    return lambda: Volume.read(path)


def _file_geometry(path: Path) -> tuple:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise CardiacInputError(
            f"{path}: cannot read the image header ({str(exc).strip().splitlines()[-1]})"
        ) from exc
    if reader.GetDimension() != 3 or reader.GetNumberOfComponents() != 1:
        raise CardiacInputError(f"{path}: a phase must be a 3D scalar image (got {reader.GetDimension()}D)")
    return reader.GetSize(), reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection()


def _check_file_geometry(folder: Path, entries: list[PhaseEntry]) -> None:
    ref = _file_geometry(Path(entries[0].source))
    for e in entries[1:]:
        geo = _file_geometry(Path(e.source))
        for name, a, b in zip(("size", "spacing", "origin", "direction"), ref, geo):
            if not np.allclose(a, b, atol=1e-3):
                raise CardiacInputError(
                    f"{folder}: phases of different geometry: {name} of phase {entries[0].label} is "
                    f"{tuple(round(x, 3) for x in a)}, of phase {e.label} {tuple(round(x, 3) for x in b)}; "
                    "resample the phases to one grid"
                )


# --- Slicer sequence (4D NRRD) -------------------------------------------------------------------
def _open_sequence_nrrd(path: Path) -> PhaseSeries:
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise CardiacInputError(
            f"{path}: cannot read the sequence ({str(exc).strip().splitlines()[-1]})"
        ) from exc
    n = image.GetNumberOfComponentsPerPixel()
    if image.GetDimension() != 3 or n < 1:
        raise CardiacInputError(f"{path}: not a 4D volume sequence (a list axis of 3D volumes)")
    values = _index_values(image, n)
    consecutive = values is None or values == [float(i) for i in range(n)]
    is_percent = values is not None and not consecutive and all(0 <= v < 100 for v in values)
    order = sorted(range(n), key=lambda i: values[i]) if values is not None else list(range(n))
    entries = []
    for pos, comp in enumerate(order):
        percent = values[comp] if is_percent else None
        label = f"{percent:g}%" if percent is not None else f"phase {pos}"
        entries.append(
            PhaseEntry(pos, percent, label, f"{path}[{comp}]", _component_loader(image, comp, path))
        )
    for a, b in zip(entries, entries[1:]):
        if a.percent is not None and a.percent == b.percent:
            raise CardiacInputError(f"{path}: duplicate phase {a.label} in the sequence; keep one")
    return PhaseSeries(entries, str(path))


def _index_values(image: sitk.Image, n: int) -> list[float] | None:
    key = "axis 0 index values"
    if not image.HasMetaDataKey(key):
        return None
    try:
        values = [float(v) for v in image.GetMetaData(key).split()]
    except ValueError:
        return None
    return values if len(values) == n else None


def _component_loader(image: sitk.Image, comp: int, path: Path) -> Callable[[], Volume]:
    return lambda: Volume.from_sitk(sitk.VectorIndexSelectionCast(image, comp), {"source": f"{path}[{comp}]"})


# --- writing ------------------------------------------------------------------------------------
def write_phases(
    series: PhaseSeries, out_dir: str | Path, progress: ProgressCallback | Progress | None = None
) -> Path:
    """Write ``phase_00.nii.gz``... (cycle order) and ``phases.json`` (index, percent, label, source
    file) into ``out_dir``; one phase in memory at a time. Returns the path of ``phases.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    first: Volume | None = None  # geometry only: its array is replaced by a 1-voxel placeholder
    for e, vol in series.volumes(progress):
        if first is not None and not (
            vol.shape == first.metadata["shape"]
            and np.allclose(vol.spacing, first.spacing, atol=0.01)
            and np.allclose(vol.origin, first.origin, atol=0.01)
            and np.allclose(vol.direction, first.direction, atol=0.01)
        ):
            raise CardiacInputError(
                f"{series.where}: phase {e.label} has a different voxel grid from phase {series[0].label} "
                f"(shape {vol.shape} vs {first.metadata['shape']}); resample the phases to one grid"
            )
        if first is None:
            first = Volume(np.zeros((1, 1, 1)), vol.spacing, vol.origin, vol.direction, {"shape": vol.shape})
        name = f"phase_{e.index:02d}.nii.gz"
        vol.write(out / name)
        rows.append(
            {**e.to_json(), "file": name, "shape_zyx": list(vol.shape), "spacing_mm": list(vol.spacing)}
        )
    listing = out / "phases.json"
    listing.write_text(json.dumps({"source": series.where, "phases": rows}, indent=2), encoding="utf-8")
    return listing
