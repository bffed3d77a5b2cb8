"""Demo stage ``report``: measure the default phantom case for TAVR and PCI and write the planning
reports (PDF, HL7 CDA, DICOM Encapsulated PDF + SEG, STL/OBJ for TAVR; PDF + CDA for PCI), and
compare the TAVR measurements with the phantom's known aortic root."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..progress import Progress
from .build import generate_report

logger = logging.getLogger(__name__)


def _ground_truth_check(measurements: dict, root: dict) -> dict:
    """Measured vs known: annulus plane tilt (deg) and centre offset (mm) and coronary heights (mm)."""
    t = measurements["tavr"]
    n = np.asarray(t["annulus_plane"]["normal_lps"])
    true_n = np.asarray(root["annulus_normal"], float)
    tilt = float(np.degrees(np.arccos(min(1.0, abs(float(n @ true_n))))))
    offset = float(
        abs((np.asarray(root["annulus_center"]) - np.asarray(t["annulus_plane"]["origin_lps"])) @ n)
    )
    height_true = {
        k: float((np.asarray(p) - np.asarray(root["annulus_center"])) @ true_n)
        for k, p in root["ostia"].items()
    }
    return {
        "annulus_plane_tilt_deg": round(tilt, 2),
        "annulus_plane_offset_mm": round(offset, 2),
        "coronary_height_error_mm": {
            k: round(t["coronary_heights_mm"][k] - h, 2)
            for k, h in height_true.items()
            if k in t["coronary_heights_mm"]
        },
        "annulus_area_mm2": {
            "measured": round(t["annulus"]["area_mm2"], 1),
            "phantom_circle": round(np.pi * root["annulus_radius_mm"] ** 2, 1),
        },
    }


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Write the reports of the phantom case (``context["phantom"]``, generated here when the
    phantom stage did not run) into ``out_dir``; returns paths, timings and the ground-truth check."""
    out_dir = Path(out_dir)
    phantom = context.get("phantom")
    if phantom is None:
        from ..phantom import demo_stage as phantom_stage

        phantom_stage.run(out_dir / "case", progress.sub(0.0, 0.5), context)
        phantom = context["phantom"]
        progress = progress.sub(0.5, 1.0)
    case_dir = Path(phantom["dir"])
    # the 4D stage's volume curves (and a stent ranking, when a stage writes one) become sections
    others = tuple(context[k]["dir"] for k in ("propagate", "stent") if context.get(k, {}).get("dir"))
    tavr = generate_report(
        case_dir,
        "tavr",
        out_dir / "tavr",
        operator="Demo operator / 演示操作者",
        institution="Demo hospital",
        other_dirs=others,
        progress=progress.sub(0.0, 0.75),
    )
    pci = generate_report(
        case_dir,
        "pci",
        out_dir / "pci",
        operator="Demo operator / 演示操作者",
        formats=("pdf", "cda"),
        progress=progress.sub(0.75, 1.0),
    )
    summary = {
        "tavr": tavr["files"],
        "pci": pci["files"],
        "seconds_tavr": tavr["seconds"],
        "seconds_pci": pci["seconds"],
    }
    root = phantom.get("aortic_root")
    if root:
        import json

        measured = json.loads(Path(tavr["files"]["measurements"]).read_text(encoding="utf-8"))
        summary["tavr_vs_phantom"] = _ground_truth_check(measured, root)
        heart = context.get("heart")
        if heart and heart.get("labels"):
            summary["tavr_on_heart_segmentation_vs_phantom"] = _on_segmentation(heart["labels"], root)
    context["report"] = summary
    return summary


def _on_segmentation(labels_path: str, root: dict) -> dict:
    """The TAVR check again on the heart stage's automatic segmentation instead of the phantom's
    labels (the whole pipeline: segmentation -> automatic annulus plane -> measurements)."""
    from ..errors import CardiacInputError
    from ..imaging.volume import Volume
    from ..measure import tavr_measurements
    from ..measure.valves import automatic_hinge_points

    try:
        lab = Volume.read(labels_path)
        ostia = {k: np.asarray(v, float) for k, v in root["ostia"].items()}
        result = tavr_measurements(lab, automatic_hinge_points(lab), ostia)
    except CardiacInputError as exc:
        return {"status": f"failed: {exc}"}
    return {"status": "done", **_ground_truth_check({"tavr": result}, root)}
