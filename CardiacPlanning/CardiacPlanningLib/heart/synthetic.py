"""A small synthetic contrast cardiac CT with exact labels, for tests and examples.

Four ellipsoidal chambers joined by valve-sized channels, an aorta leaving the LV and a pulmonary
artery leaving the RV, an LV myocardium shell, fat, lungs and a body outline. Chamber positions follow
the shape prior in :mod:`.assign` with a chosen scale and offset; this is a geometry test object, not
an accuracy benchmark (use ``CardiacPlanningLib.phantom`` and the real CTA for that).
"""

from __future__ import annotations

import numpy as np

from .. import labels as lbl
from ..imaging.volume import Volume
from .assign import PRIOR, PRIOR_ML


def _segment_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def toy_heart(
    spacing_mm: float = 2.0,
    scale: float = 1.0,
    blood_hu: float = 420.0,
    noise_hu: float = 12.0,
    seed: int = 0,
    contrast: bool = True,
) -> tuple[Volume, Volume]:
    """(CT in HU, truth labels) on a cube of 180 mm around the heart centre at LPS (0, 0, 0)."""
    n = int(round(180.0 / spacing_mm))
    origin = np.full(3, -90.0 + spacing_mm / 2)
    zz, yy, xx = np.indices((n, n, n))
    pts = np.stack([xx, yy, zz], -1) * spacing_mm + origin
    labels = np.zeros((n, n, n), np.uint8)
    ct = np.full((n, n, n), -820.0, np.float32)  # lung
    body = (pts[..., 0] / 88) ** 2 + (pts[..., 1] / 75) ** 2 <= 1.0
    ct[~body] = -1000.0
    centre = {lab: scale * PRIOR[lab] for lab in PRIOR}
    heart_fat = np.zeros(labels.shape, bool)
    for lab, ml in PRIOR_ML.items():
        r = scale * (3 * ml * 1000 / (4 * np.pi)) ** (1 / 3) * 0.78
        d = np.linalg.norm((pts - centre[lab]) / np.array([r, r, 1.15 * r]), axis=-1)
        labels[(d <= 1.0) & (labels == 0)] = lab
        heart_fat |= d <= 1.0 + 14.0 / r
    ct[heart_fat] = -80.0  # epicardial fat around the heart
    lv = centre[lbl.LV_BLOOD_POOL]
    for a, b, lab, rad in (
        (lv, centre[lbl.LA], lbl.LV_BLOOD_POOL, 7.0),  # mitral channel (LV side)
        (centre[lbl.RV], centre[lbl.RA], lbl.RV, 7.0),  # tricuspid channel
        (
            lv + 0.3 * (centre[lbl.AORTA] - lv),
            centre[lbl.AORTA] + [0, 0, 45 * scale],
            lbl.AORTA,
            10.0 * scale,
        ),
        (
            centre[lbl.RV] + 0.3 * (centre[lbl.PULMONARY_ARTERY] - centre[lbl.RV]),
            scale * np.array([35.0, -25.0, 60.0]),
            lbl.PULMONARY_ARTERY,
            9.0 * scale,
        ),
    ):
        tube = _segment_dist(pts, a, b) <= rad
        labels[tube & (labels == 0)] = lab
    lv_mask = labels == lbl.LV_BLOOD_POOL
    myo = (np.linalg.norm(pts - lv, axis=-1) <= scale * 37.0) & (labels == 0)
    labels[myo] = lbl.LV_MYOCARDIUM
    del lv_mask
    ct[labels == lbl.LV_MYOCARDIUM] = 110.0
    blood = np.isin(labels, [lbl.LV_BLOOD_POOL, lbl.RV, lbl.LA, lbl.RA, lbl.AORTA, lbl.PULMONARY_ARTERY])
    ct[blood] = blood_hu if contrast else 40.0
    rng = np.random.default_rng(seed)
    ct += rng.normal(0.0, noise_hu, ct.shape).astype(np.float32)
    spacing = (spacing_mm,) * 3
    image = Volume(ct.astype(np.int16), spacing, tuple(origin))
    truth = Volume(labels, spacing, tuple(origin))
    return image, truth
