"""One entry point for every heart engine: ``segment(volume, scope, preset, engine, seeds, progress)``.

Scopes return only their structures: ``whole`` everything found, ``left`` LV blood pool, LV
myocardium, LA (+ appendage) and aorta, ``right`` RV (+ its free wall), RA and pulmonary artery.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import labels as lbl
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..markups import Markups
from ..progress import Progress, as_progress

logger = logging.getLogger(__name__)

LEFT = (lbl.LV_BLOOD_POOL, lbl.LV_MYOCARDIUM, lbl.LA, lbl.value_of("la_appendage"), lbl.AORTA)
RIGHT = (lbl.RV, lbl.value_of("rv_myocardium"), lbl.RA, lbl.PULMONARY_ARTERY)
SCOPES: dict[str, tuple[int, ...] | None] = {"whole": None, "left": LEFT, "right": RIGHT}
PRESETS = ("general", "coronary", "valve")
DEFAULT_ENGINE = "classical"


def engines() -> list[str]:
    """Names accepted by ``engine``: ``classical`` and the ids of the installed deep models."""
    from .models import installed_models

    return [DEFAULT_ENGINE] + [m.model_id for m in installed_models()]


def apply_scope(seg: np.ndarray, scope: str, extra: tuple[int, ...] = ()) -> np.ndarray:
    """``seg`` with labels outside ``scope`` set to 0 (``extra`` labels, e.g. from a preset, kept)."""
    if scope not in SCOPES:
        raise CardiacInputError(f"unknown scope {scope!r} (use {', '.join(SCOPES)})")
    keep = SCOPES[scope]
    if keep is None:
        return seg
    return np.where(np.isin(seg, keep + tuple(extra)), seg, 0).astype(seg.dtype)


def segment(
    volume: Volume,
    scope: str = "whole",
    preset: str = "general",
    engine: str = DEFAULT_ENGINE,
    seeds: Volume | Markups | str | Path | None = None,
    progress: Progress | None = None,
    name: str = "image",
) -> Volume:
    """Segment the heart of a contrast CT ``volume`` (HU) into label-table values on its own grid.

    ``seeds`` (a label map, a label-map file or a ``.mrk.json`` of labelled points, LPS/RAS as the
    file says) switches to the semi-automatic mode. The result's ``metadata`` holds ``engine``,
    ``scope``, ``preset``, the contrast model and, for presets, their landmarks (LPS mm)."""
    progress = as_progress(progress)
    if scope not in SCOPES:
        raise CardiacInputError(f"unknown scope {scope!r} (use {', '.join(SCOPES)})")
    if preset not in PRESETS:
        raise CardiacInputError(f"unknown preset {preset!r} (use {', '.join(PRESETS)})")
    if volume.array.size == 0 or not np.issubdtype(volume.array.dtype, np.number):
        raise CardiacInputError(f"{name}: not a CT image in HU")
    base = progress.sub(0.0, 0.85)
    if seeds is not None:
        from .semiauto import segment_seeded

        seg, info = segment_seeded(volume, seeds, base, name)
        info["engine"] = "seeded"
    elif engine == DEFAULT_ENGINE:
        from .classical import segment_classical

        seg, info = segment_classical(volume, base, name)
        info["engine"] = engine
    else:
        from .models import segment_with_model

        seg, info = segment_with_model(volume, engine, base, name)
        info["engine"] = engine
    extra: dict[str, tuple[int, ...]] = {}
    if preset != "general":
        from .presets import apply_preset

        seg, landmarks, extra = apply_preset(preset, volume, seg, info, progress.sub(0.85, 0.98))
        info["landmarks_lps"] = landmarks
    seg = seg.with_array(apply_scope(seg.array.astype(np.uint8), scope, extra.get(scope, ())))
    info.update(scope=scope, preset=preset)
    seg.metadata = {k: (v if not hasattr(v, "__dict__") else vars(v)) for k, v in info.items()}
    progress(1.0, "heart segmented")
    present = [lbl.by_value(int(v)).key for v in np.unique(seg.array) if v > 0]
    logger.info("heart %s/%s/%s: %s", engine, scope, preset, ", ".join(present))
    return seg
