"""Demo stage ``propagate``: propagate the phantom's end-diastolic (phase 0) segmentation of the
heart chambers and great vessels to every phase and compare with the phantom's exact labels."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress
from .phase_io import series_from_files
from .propagate import propagate_labels

logger = logging.getLogger(__name__)

# LV blood pool, LV myocardium, RV, LA, RA, aorta, pulmonary artery (thin coronaries, calcium and
# devices are left to the coronary and stent stages)
DEMO_LABELS = (1, 2, 3, 4, 5, 6, 7)


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Propagate phase 0 of ``context["phantom"]`` to all phases; returns EF (propagated and true)."""
    phantom = context.get("phantom")
    if not phantom:
        raise CardiacInputError("the propagate stage needs the phantom stage's case (context['phantom'])")
    series = series_from_files(phantom["ct"], phantom.get("percent"))
    truth0 = Volume.read(phantom["labels"][0])
    keep = np.isin(truth0.array, DEMO_LABELS)
    reference = truth0.with_array(np.where(keep, truth0.array, 0).astype(np.uint8))
    result = propagate_labels(series, 0, reference, out_dir, progress=progress)
    true_lv = [
        float((Volume.read(p).array == labels.LV_BLOOD_POOL).sum()) * truth0.voxel_volume_mm3 / 1000.0
        for p in phantom["labels"]
    ]
    true_ef = 100.0 * (max(true_lv) - min(true_lv)) / max(true_lv)
    context["propagate"] = {
        "dir": str(out_dir),
        "labels": [str(p) for p in result.label_files],
        "volume_curves": str(Path(out_dir) / "volume_curves.json"),
        "end_diastole_phase": result.summary["end_diastole_phase"],
        "end_systole_phase": result.summary["end_systole_phase"],
    }
    return {
        "lv_ef_percent": result.summary.get("lv_ef_percent"),
        "true_lv_ef_percent": round(true_ef, 2),
        "end_systole": result.summary["end_systole_label"],
        "seconds_per_phase": result.summary["mean_seconds_per_propagated_phase"],
    }
