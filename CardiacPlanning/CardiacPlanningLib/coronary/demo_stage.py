"""Demo stage: reconstruct the coronary trees of the demo phantom's first phase from its ostia and
score them (Dice per tree) against the phantom's labels; puts the outputs in ``context["coronary"]``."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..metrics import dice
from ..progress import Progress
from .output import write_result
from .pipeline import reconstruct_coronaries

logger = logging.getLogger(__name__)


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Reconstruct ``context["phantom"]["ct"][0]`` from ``context["phantom"]["ostia"]`` into ``out_dir``."""
    phantom = context.get("phantom")
    if not phantom or not phantom.get("ostia"):
        raise CardiacInputError("the coronary demo stage needs the phantom stage's case and ostia")
    ct = Volume.read(phantom["ct"][0])
    result = reconstruct_coronaries(ct, phantom["ostia"], progress=progress.sub(0.0, 0.9))
    files = write_result(result, ct, out_dir)
    truth = Volume.read(phantom["labels"][0]).array
    scores = {
        f"dice_{tree}": round(dice(result.labelmap.array == v, truth == v), 4)
        for tree, v in (("left", 8), ("right", 9))
    }
    context["coronary"] = {k: str(v) for k, v in files.items()}
    progress(1.0, "coronary trees written")
    return {
        **scores,
        "branches": [b.name for b in result.branches],
        "stenoses": len(result.lesions),
        "seconds": round(result.timings["total_s"], 1),
    }
