"""Files of a phantom case: per phase CT (NIfTI + DICOM series) and label map (NIfTI); per case
coronary centrelines (JSON), ostia (``.mrk.json``), device geometry per phase (JSON) and metadata."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from ..imaging.dicom_write import write_dicom_series
from ..imaging.volume import Volume
from ..markups import Markups, write_markups

logger = logging.getLogger(__name__)


def _plain(obj):
    """JSON-serialisable copy (numpy arrays/scalars -> lists/floats)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj) -> Path:
    """Write ``obj`` as indented JSON (numpy values converted); the folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(obj), indent=1), encoding="utf-8")
    return path


class CaseWriter:
    """Writes the files of one case under ``out_dir``; DICOM series share one study and frame of
    reference (``nominal_cardiac_phase_percent`` and ``trigger_time_ms`` set per phase)."""

    def __init__(self, out_dir: Path, dicom: bool = True, patient_id: str = "PHANTOM") -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.dicom = dicom
        self.patient_id = patient_id
        self.study_uid = generate_uid()
        self.frame_uid = generate_uid()
        self.files: dict = {"phases": []}

    def phase(self, index: int, percent: float, trigger_ms: float, ct: Volume, labels: Volume) -> dict:
        """Write CT and labels of one phase; returns the paths written."""
        tag = f"phase_{int(round(percent)):02d}"
        entry = {
            "index": index,
            "percent": percent,
            "triggerTimeMs": trigger_ms,
            "ct": str(ct.write(self.out_dir / "ct" / f"{tag}.nii.gz")),
            "labels": str(labels.write(self.out_dir / "labels" / f"{tag}.nii.gz")),
        }
        if self.dicom:
            folder = self.out_dir / "dicom" / tag
            write_dicom_series(
                ct,
                folder,
                patient_id=self.patient_id,
                study_uid=self.study_uid,
                frame_of_reference_uid=self.frame_uid,
                series_number=index + 1,
                series_description=f"Cardiac CTA {percent:.0f}%",
                nominal_cardiac_phase_percent=percent,
                trigger_time_ms=trigger_ms,
            )
            entry["dicom"] = str(folder)
        self.files["phases"].append(entry)
        return entry

    def centerlines(self, tree_json: dict) -> Path:
        path = write_json(self.out_dir / "coronary_centerlines.json", tree_json)
        self.files["centerlines"] = str(path)
        return path

    def ostia(self, ostia: dict) -> Path:
        keys = [k for k in ("left", "right") if k in ostia]
        pts = np.array([ostia[k] for k in keys], dtype=float)
        names = [f"{k.capitalize()} coronary ostium" for k in keys]
        path = write_markups(Markups.from_points(pts, names, name="Ostia"), self.out_dir / "ostia.mrk.json")
        self.files["ostia"] = str(path)
        return path

    def devices(self, per_phase: list[dict]) -> Path:
        path = write_json(self.out_dir / "devices.json", {"coordinateSystem": "LPS", "phases": per_phase})
        self.files["devices"] = str(path)
        return path

    def metadata(self, meta: dict) -> Path:
        path = self.out_dir / "phantom.json"
        write_json(path, {**meta, "files": self.files})
        return path
