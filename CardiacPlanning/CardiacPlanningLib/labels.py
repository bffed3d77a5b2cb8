"""The one label table used everywhere (segmentation, phantom, report, tests).

Values 1-9 are fixed by the design (LV blood pool ... right coronary tree); further structures take
values >= 10. The table lives in ``labels.json`` next to this file so that C++/JS tools can read it too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

LABELS_FILE = Path(__file__).with_name("labels.json")


@dataclass(frozen=True)
class Label:
    """One entry of the label table."""

    value: int
    key: str
    name: str
    color: tuple[int, int, int]
    sct: str
    sct_meaning: str
    category: str = "Anatomical Structure"
    category_sct: str = "123037004"

    @property
    def color_float(self) -> tuple[float, float, float]:
        """Colour as RGB floats in [0, 1] (what Slicer segments take)."""
        return tuple(c / 255.0 for c in self.color)  # type: ignore[return-value]


@lru_cache(maxsize=1)
def label_table() -> tuple[Label, ...]:
    """All labels, ordered by value."""
    data = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    labels = tuple(
        sorted(
            (Label(**{**entry, "color": tuple(entry["color"])}) for entry in data["labels"]),
            key=lambda lab: lab.value,
        )
    )
    values = [lab.value for lab in labels]
    keys = [lab.key for lab in labels]
    if len(set(values)) != len(values) or len(set(keys)) != len(keys):
        raise ValueError(f"{LABELS_FILE}: label values and keys must be unique")
    return labels


def by_value(value: int) -> Label:
    """The label with this value; KeyError names the value if unknown."""
    for lab in label_table():
        if lab.value == int(value):
            return lab
    raise KeyError(f"no label with value {value} in the label table ({LABELS_FILE.name})")


def by_key(key: str) -> Label:
    """The label with this key (e.g. ``"aorta"``)."""
    for lab in label_table():
        if lab.key == key:
            return lab
    raise KeyError(f"no label named {key!r} in the label table ({LABELS_FILE.name})")


def value_of(key: str) -> int:
    """Label value of a key, e.g. ``value_of("la") == 4``."""
    return by_key(key).value


LV_BLOOD_POOL = 1
LV_MYOCARDIUM = 2
RV = 3
LA = 4
RA = 5
AORTA = 6
PULMONARY_ARTERY = 7
LEFT_CORONARY = 8
RIGHT_CORONARY = 9
