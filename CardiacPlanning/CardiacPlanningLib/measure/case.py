"""Measure a case folder: find its label map(s), CT, DICOM, centrelines and points, run the
procedure's measurements and return one JSON-friendly dict.

A case folder may hold (the phantom writes this layout; a user case may too):
``labels/*.nii.gz`` (one label map per phase, sorted by name; the first is the reference phase) or
``labels.nii.gz`` / ``labels.nrrd`` / ``segmentation.nii.gz``; ``ct/*.nii.gz`` or ``ct.nii.gz``;
``dicom/<series>/`` or ``dicom/`` with the CT files; ``coronary_centerlines.json`` or
``centerlines.json`` (branches with points and radii); ``ostia.mrk.json`` (points labelled with
"left"/"right"); ``annulus_hinges.mrk.json`` (three user-placed hinge points; otherwise found
automatically from the LV-aorta interface).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .lesions import lesion_list, load_branches
from .tavr import tavr_measurements
from .valves import (
    automatic_hinge_points,
    chamber_volumes,
    ejection_fraction,
    ppvi_measurements,
    teer_measurements,
)

logger = logging.getLogger(__name__)

PROCEDURES = ("tavr", "pci", "teer", "ppvi")


@dataclass
class CaseFiles:
    """Paths found in a case folder (None / empty when absent)."""

    root: Path
    labels: list[Path] = field(default_factory=list)
    ct: Path | None = None
    dicom_dir: Path | None = None
    centerlines: Path | None = None
    ostia: Path | None = None
    hinges: Path | None = None


def _first(root: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        if (root / n).exists():
            return root / n
    return None


def find_case_files(case_dir: str | Path) -> CaseFiles:
    """Locate the inputs of a case folder (see module docstring); errors name the folder."""
    root = Path(case_dir)
    if not root.is_dir():
        raise CardiacInputError(f"case folder {root} does not exist")
    files = CaseFiles(root)
    if (root / "labels").is_dir():
        files.labels = sorted((root / "labels").glob("*.nii*")) + sorted((root / "labels").glob("*.nrrd"))
    single = _first(
        root, ("labels.nii.gz", "labels.nii", "labels.nrrd", "segmentation.nii.gz", "segmentation.nrrd")
    )
    if not files.labels and single:
        files.labels = [single]
    if not files.labels:
        raise CardiacInputError(f"case folder {root} has no label map (labels/*.nii.gz or labels.nii.gz)")
    cts = sorted((root / "ct").glob("*.nii*")) if (root / "ct").is_dir() else []
    files.ct = cts[0] if cts else _first(root, ("ct.nii.gz", "ct.nii", "ct.nrrd"))
    if (root / "dicom").is_dir():
        subs = sorted(p for p in (root / "dicom").iterdir() if p.is_dir())
        files.dicom_dir = subs[0] if subs else root / "dicom"
    files.centerlines = _first(root, ("coronary_centerlines.json", "centerlines.json"))
    files.ostia = _first(root, ("ostia.mrk.json",))
    files.hinges = _first(root, ("annulus_hinges.mrk.json",))
    return files


def _phase_percent(path: Path, index: int, count: int) -> float:
    m = re.search(r"(\d+(?:\.\d+)?)", path.name.split(".")[0])
    return float(m.group(1)) if m else 100.0 * index / max(count, 1)


def read_ostia(path: Path) -> dict[str, np.ndarray]:
    """``{"left": p, "right": p}`` (LPS mm) from a markups file whose labels mention left/right."""
    from ..markups import read_markups

    mk = read_markups(path)
    out = {}
    for label, p, ok in zip(mk.labels, mk.points_lps, mk.defined_mask):
        side = "left" if "left" in label.lower() else "right" if "right" in label.lower() else None
        if side and ok:
            out[side] = p
    if not out:
        raise CardiacInputError(f"{path}: no point labelled with 'left' or 'right' (coronary ostia)")
    return out


def measure_case(
    case_dir: str | Path,
    procedure: str,
    *,
    hinges_file: str | Path | None = None,
    progress: Progress | None = None,
) -> dict:
    """Measurements of one case for ``procedure`` (tavr|pci|teer|ppvi), with chamber volumes of
    every phase and the ejection fraction when there are several phases. Points are LPS mm."""
    progress = as_progress(progress)
    if procedure not in PROCEDURES:
        raise CardiacInputError(f"unknown procedure {procedure!r}; choose one of {', '.join(PROCEDURES)}")
    files = find_case_files(case_dir)
    progress(0.02, "reading labels")
    lab = Volume.read(files.labels[0])
    out: dict = {
        "procedure": procedure,
        "software_version": __version__,
        "coordinate_system": "LPS",
        "inputs": {"labels": str(files.labels[0])},
    }
    # volumes over the phases
    phases = []
    for i, path in enumerate(files.labels):
        progress.check()
        vol = lab if i == 0 else Volume.read(path)
        phases.append({"percent": _phase_percent(path, i, len(files.labels)), **chamber_volumes(vol)})
    out["volumes_ml"] = phases
    if len(phases) >= 2:
        out["lv_ejection_fraction"] = ejection_fraction([p["lv_blood_pool"] for p in phases])
    progress(0.3, f"{procedure.upper()} measurements")
    sub = progress.sub(0.3, 1.0)
    if procedure == "tavr":
        hinges_path = hinges_file or files.hinges
        if hinges_path:
            from ..markups import read_markups

            mk = read_markups(hinges_path)
            hinges = mk.points_lps[mk.defined_mask]
            out["inputs"]["hinges"] = str(hinges_path)
            out["hinge_source"] = "user"
        else:
            hinges = automatic_hinge_points(lab)
            out["hinge_source"] = "automatic (root axis at the LV-aorta interface, sinus lobes)"
        if len(hinges) != 3:
            raise CardiacInputError(
                f"{hinges_path}: need exactly three placed hinge points, got {len(hinges)}"
            )
        ostia = read_ostia(files.ostia) if files.ostia else None
        if files.ostia:
            out["inputs"]["ostia"] = str(files.ostia)
        out["tavr"] = tavr_measurements(lab, hinges, ostia, progress=sub)
    elif procedure == "pci":
        if files.centerlines is None:
            raise CardiacInputError(f"case folder {files.root} has no coronary_centerlines.json for PCI")
        out["inputs"]["centerlines"] = str(files.centerlines)
        out["pci"] = {"lesions": lesion_list(load_branches(files.centerlines))}
    elif procedure == "teer":
        out["teer"] = teer_measurements(lab)
    else:
        out["ppvi"] = ppvi_measurements(lab)
    progress(1.0, "measurements done")
    return out
