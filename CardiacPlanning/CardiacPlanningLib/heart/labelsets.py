"""Foreign label sets of heart models mapped onto the label table (by structure name).

- TotalSegmentator ``heartchambers_highres`` (Wasserthal et al., Radiol AI 2023): 1 heart_myocardium,
  2 heart_atrium_left, 3 heart_ventricle_left, 4 heart_atrium_right, 5 heart_ventricle_right,
  6 aorta, 7 pulmonary_artery.
- MONAI ``wholeBody_ct_segmentation`` bundle (the 104 TotalSegmentator v1 classes): its heart and
  great-vessel classes 7 aorta, 8 inferior_vena_cava, 44 heart_myocardium, 45 heart_atrium_left,
  46 heart_ventricle_left, 47 heart_atrium_right, 48 heart_ventricle_right, 49 pulmonary_artery;
  every other class (organs, bones) maps to background.
- ``cardiac_planning``: our own table (identity).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import labels as lbl
from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

# foreign structure name -> our label key
NAME_TO_KEY = {
    "heart_myocardium": "lv_myocardium",
    "myocardium": "lv_myocardium",
    "heart_atrium_left": "la",
    "heart_ventricle_left": "lv_blood_pool",
    "heart_atrium_right": "ra",
    "heart_ventricle_right": "rv",
    "aorta": "aorta",
    "pulmonary_artery": "pulmonary_artery",
    "inferior_vena_cava": "inferior_vena_cava",
    "superior_vena_cava": "superior_vena_cava",
    "atrial_appendage_left": "la_appendage",
    "pulmonary_vein": "pulmonary_veins",
}

LABEL_SETS: dict[str, dict[int, str]] = {
    "totalsegmentator_heartchambers_highres": {
        1: "heart_myocardium",
        2: "heart_atrium_left",
        3: "heart_ventricle_left",
        4: "heart_atrium_right",
        5: "heart_ventricle_right",
        6: "aorta",
        7: "pulmonary_artery",
    },
    "monai_wholebody_ct_segmentation": {
        7: "aorta",
        8: "inferior_vena_cava",
        44: "heart_myocardium",
        45: "heart_atrium_left",
        46: "heart_ventricle_left",
        47: "heart_atrium_right",
        48: "heart_ventricle_right",
        49: "pulmonary_artery",
    },
}


def label_lookup(label_set: str | dict, n_classes: int | None = None) -> np.ndarray:
    """Lookup table ``foreign index -> our label value`` for a named label set, an explicit
    ``{index: name}`` dict (names are ours or foreign) or ``cardiac_planning`` (identity)."""
    if label_set == "cardiac_planning":
        size = max(n_classes or 0, max(lab.value for lab in lbl.label_table()) + 1)
        lut = np.arange(size, dtype=np.uint8)
        lut[lut > max(lab.value for lab in lbl.label_table())] = 0
        return lut
    if isinstance(label_set, str):
        if label_set not in LABEL_SETS:
            raise CardiacInputError(
                f"unknown label set {label_set!r} (use {', '.join(['cardiac_planning', *LABEL_SETS])} "
                "or an explicit index -> name map)"
            )
        mapping = LABEL_SETS[label_set]
    else:
        mapping = {int(k): str(v) for k, v in label_set.items()}
    size = max(max(mapping, default=0) + 1, n_classes or 0)
    lut = np.zeros(size, np.uint8)
    for index, name in mapping.items():
        key = NAME_TO_KEY.get(name, name)
        try:
            lut[index] = lbl.by_key(key).value
        except (KeyError, ValueError, CardiacInputError):
            logger.info(
                "label %d (%s) has no counterpart in the label table; mapped to background", index, name
            )
    return lut


def map_labels(foreign: np.ndarray, label_set: str | dict) -> np.ndarray:
    """A foreign label array mapped onto the label table (unknown indices -> 0)."""
    foreign = np.asarray(foreign)
    if foreign.size and foreign.min() < 0:
        raise CardiacInputError("a label map cannot hold negative labels")
    lut = label_lookup(label_set, int(foreign.max()) + 1 if foreign.size else 1)
    return lut[foreign]
