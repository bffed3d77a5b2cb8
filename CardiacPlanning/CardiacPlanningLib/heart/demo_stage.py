"""Demo stage ``heart``: whole-heart segmentation (classical engine) of the phantom's first phase,
scored against its ground truth; puts the label map path in ``context["heart"]``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .. import labels as lbl
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..metrics import dice
from ..progress import Progress
from .api import segment

logger = logging.getLogger(__name__)

SCORED = (lbl.LV_BLOOD_POOL, lbl.LV_MYOCARDIUM, lbl.RV, lbl.LA, lbl.RA, lbl.AORTA, lbl.PULMONARY_ARTERY)
# the valve preset carves sub-regions out of whole structures; scored as the structure they belong to
# (the annulus ring and the mitral annulus region straddle two structures and are left out)
PARENT = {
    lbl.value_of("aortic_root"): lbl.AORTA,
    lbl.value_of("lvot"): lbl.LV_BLOOD_POOL,
    lbl.value_of("rvot"): lbl.RV,
}


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Segment ``context["phantom"]["ct"][0]`` (whole heart, valve preset landmarks) into ``out_dir``."""
    phantom = context.get("phantom")
    if not phantom or not phantom.get("ct"):
        raise CardiacInputError("the heart demo stage needs the phantom stage's case (context['phantom'])")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ct = Volume.read(phantom["ct"][0])
    seg = segment(ct, "whole", "valve", progress=progress.sub(0.0, 0.95), name=str(phantom["ct"][0]))
    path = seg.write(out_dir / "heart_labels.nii.gz")
    scores: dict[str, float] = {}
    truth_files = phantom.get("labels") or []
    if truth_files:
        truth = Volume.read(truth_files[0]).array
        ours = seg.array.copy()
        for part, whole in PARENT.items():
            ours[ours == part] = whole
        for value in SCORED:
            scores[lbl.by_value(value).key] = round(dice(truth == value, ours == value), 4)
    landmarks = seg.metadata.get("landmarks_lps", {})
    (out_dir / "heart.json").write_text(
        json.dumps({"dice": scores, "landmarks_lps": landmarks}, indent=2), encoding="utf-8"
    )
    context["heart"] = {"labels": str(path), "landmarks_lps": landmarks, "dice": scores}
    progress(1.0, "heart done")
    present = [lbl.by_value(int(v)).key for v in np.unique(seg.array) if v]
    return {
        "labels": str(path),
        "structures": present,
        "mean_dice": round(float(np.mean(list(scores.values()))), 4) if scores else None,
    }
