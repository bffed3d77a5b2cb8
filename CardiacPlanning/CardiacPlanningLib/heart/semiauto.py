"""Seeded (semi-automatic) heart segmentation on the working grid of the classical engine."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .classical import WORK_SPACING_MM, resample
from .contrast import body_mask, estimate_contrast
from .regions import blood_mask
from .seeded import complete_seeds, load_seeds
from .walls import add_walls

logger = logging.getLogger(__name__)


def segment_seeded(
    volume: Volume, seeds: Volume | str | Path, progress: Progress | None = None, name: str = "image"
) -> tuple[Volume, dict]:
    """Complete user seeds (label map / label-map file / labelled .mrk.json points) over the contrast
    blood pool of ``volume`` (HU), then add the walls; returns labels on the input grid and info."""
    progress = as_progress(progress)
    seed_vol = load_seeds(seeds, volume)
    work_mm = max(WORK_SPACING_MM, min(volume.spacing))
    same = np.allclose(volume.spacing, work_mm)
    work = volume if same else resample(volume, work_mm)
    work_seeds = seed_vol if same else resample(seed_vol, work_mm, label=True, reference=work)
    image = work.array.astype(np.float32)
    body = body_mask(image)
    model = estimate_contrast(image, work_mm**3 / 1000.0, body, name)
    pool = blood_mask(image, model.threshold_hu, work_mm) & body
    progress(0.2, "completing the seeds")
    seg = complete_seeds(image, work_seeds.array, pool, work_mm, progress=progress.sub(0.2, 0.8))
    add_walls(seg, image, model.threshold_hu, work_mm)
    out = work.with_array(seg)
    if not same:
        out = resample(out, work_mm, label=True, reference=volume)
    out.array = out.array.astype(np.uint8)
    return out, {"contrast": model, "work_spacing_mm": work_mm}
