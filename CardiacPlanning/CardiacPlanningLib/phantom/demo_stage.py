"""Demo stage ``phantom``: the built-in default case (a small 10-phase cardiac CTA with a coronary
stent-free tree, seed 0) that later demo stages read from ``context["phantom"]``."""

from __future__ import annotations

import logging
from pathlib import Path

from ..progress import Progress
from .generate import PhantomParameters, generate_case

logger = logging.getLogger(__name__)

DEMO_PARAMETERS = PhantomParameters()


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Generate the default case into ``out_dir``; puts its file paths and ground truth summary in
    ``context["phantom"]``; returns a summary for ``summary.json``."""
    meta = generate_case(DEMO_PARAMETERS, out_dir, progress)
    files = meta["files"]
    context["phantom"] = {
        "dir": str(out_dir),
        "metadata": str(Path(out_dir) / "phantom.json"),
        "ct": [p["ct"] for p in files["phases"]],
        "labels": [p["labels"] for p in files["phases"]],
        "dicom": [p.get("dicom") for p in files["phases"]],
        "percent": [p["percent"] for p in files["phases"]],
        "centerlines": files.get("centerlines"),
        "ostia": files.get("ostia"),
        "devices": files.get("devices"),
        "aortic_root": meta["aorticRoot"],
        "ejection_fraction": meta["ejectionFraction"]["measured"],
    }
    return {
        "case": str(out_dir),
        "phases": len(files["phases"]),
        "ejection_fraction": round(meta["ejectionFraction"]["measured"], 4),
        "seconds": round(meta["seconds"], 1),
    }
