"""Tissue codes of the phantom's reference grid, their output label values and CT numbers (HU).

Codes 1-18 are the label-table values themselves (labels.json); codes >= 32 are tissues that the label
map leaves as background (0). HU values are typical of a contrast-enhanced ECG-gated cardiac CTA in the
arterial phase (left heart 350-550 HU, right heart lower as contrast washes out; myocardium ~100 HU,
fat -100 HU, lung -850 HU, cancellous/cortical bone ~250/900 HU).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import labels

logger = logging.getLogger(__name__)

AIR = 31
PERICARDIAL_FAT = 32
PERICARDIUM = 33
VESSEL_WALL = 34
FAT = 40
MUSCLE = 41
LUNG = 42
CORTICAL_BONE = 43
MARROW = 44
CARTILAGE = 45
LIVER = 46
CSF = 47
DISC = 48
PULMONARY_VESSEL = 49
STOMACH = 50
ESOPHAGUS = 51

MYOCARDIUM_HU = 105.0


def hu_table(blood_hu: float = 450.0, right_heart_hu: float | None = None) -> np.ndarray:
    """256-entry lookup table tissue code -> HU; ``blood_hu`` is the left-heart/aortic contrast level."""
    rh = 0.7 * blood_hu if right_heart_hu is None else right_heart_hu
    t = np.full(256, 0.0, dtype=np.float32)
    t[0] = -1000.0
    t[labels.LV_BLOOD_POOL] = blood_hu
    t[labels.LV_MYOCARDIUM] = MYOCARDIUM_HU
    t[labels.RV] = rh
    t[labels.LA] = blood_hu * 0.97
    t[labels.RA] = rh * 0.95
    t[labels.AORTA] = blood_hu
    t[labels.PULMONARY_ARTERY] = rh
    t[labels.LEFT_CORONARY] = blood_hu
    t[labels.RIGHT_CORONARY] = blood_hu
    t[10] = blood_hu * 0.9  # LA appendage (slower flow)
    t[11] = blood_hu * 0.95  # pulmonary veins
    t[12] = rh * 1.3  # SVC: undiluted contrast inflow from the arm
    t[13] = 120.0  # IVC: unenhanced blood from below
    t[14] = 850.0  # calcium
    t[15] = 2500.0  # stent metal (cobalt-chromium)
    t[16] = 2200.0  # valve frame (nitinol / cobalt-chromium)
    t[17] = MYOCARDIUM_HU - 5
    t[18] = MYOCARDIUM_HU - 15
    t[AIR] = -1000.0
    t[PERICARDIAL_FAT] = -95.0
    t[PERICARDIUM] = 30.0
    t[VESSEL_WALL] = 45.0
    t[FAT] = -105.0
    t[MUSCLE] = 55.0
    t[LUNG] = -850.0
    t[CORTICAL_BONE] = 950.0
    t[MARROW] = 260.0
    t[CARTILAGE] = 140.0
    t[LIVER] = 75.0
    t[CSF] = 15.0
    t[DISC] = 85.0
    t[PULMONARY_VESSEL] = rh * 0.9
    t[STOMACH] = 35.0
    t[ESOPHAGUS] = 40.0
    return t


def label_table_lut() -> np.ndarray:
    """256-entry lookup table tissue code -> output label value (0 for non-cardiac tissues)."""
    lut = np.zeros(256, dtype=np.uint8)
    for lab in labels.label_table():
        if lab.value < AIR:
            lut[lab.value] = lab.value
    return lut
