"""Volume curves over the cardiac cycle, end-diastole / end-systole and ejection fraction.

End-diastole (ED) is the phase of largest LV blood pool volume and end-systole (ES) that of the
smallest. Without an LV curve, the nominal percentages decide: ED is the phase nearest 0 % R-R (the
R wave) and ES the phase nearest 40 % (typical end-systole of a 60-75 bpm cycle). EF (%) =
100 (EDV - ESV) / EDV.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import labels as label_table
from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

NOMINAL_ED_PERCENT = 0.0
NOMINAL_ES_PERCENT = 40.0


def label_volumes_ml(label_array: np.ndarray, spacing, values=None) -> dict[int, float]:
    """Volume (mL) of each label value (default: every non-zero value present); spacing in mm."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    counts = np.bincount(label_array.ravel().astype(np.int64))
    if values is None:
        values = [v for v in np.nonzero(counts)[0] if v != 0]
    return {int(v): float(counts[v] if v < len(counts) else 0) * voxel_ml for v in values}


def ejection_fraction(volumes_ml) -> float:
    """EF in % from a volume curve (mL per phase): 100 (max - min) / max."""
    v = np.asarray(volumes_ml, dtype=float)
    if v.size < 2 or v.max() <= 0:
        raise CardiacInputError("an ejection fraction needs the LV volume of at least two phases")
    return float(100.0 * (v.max() - v.min()) / v.max())


def ed_es_phases(lv_volumes_ml=None, percents=None) -> tuple[int, int, str]:
    """(ED index, ES index, how): from the LV volume curve if given, else from nominal percents."""
    if lv_volumes_ml is not None and len(lv_volumes_ml) >= 2 and max(lv_volumes_ml) > 0:
        v = np.asarray(lv_volumes_ml, dtype=float)
        return int(np.argmax(v)), int(np.argmin(v)), "LV volume curve"
    if percents is not None and len(percents) >= 2 and all(p is not None for p in percents):
        p = np.asarray(percents, dtype=float)
        cyc = lambda target: np.minimum(np.abs(p - target), 100 - np.abs(p - target))  # noqa: E731
        return (
            int(np.argmin(cyc(NOMINAL_ED_PERCENT))),
            int(np.argmin(cyc(NOMINAL_ES_PERCENT))),
            "nominal percent",
        )
    raise CardiacInputError(
        "cannot find end-diastole/end-systole: no LV volume curve and no phase percentages"
    )


@dataclass
class VolumeCurves:
    """Per-label volume (mL) at each phase, in cycle order."""

    phase_labels: list[str]
    percents: list[float | None]
    volumes_ml: dict[int, list[float]] = field(default_factory=dict)

    def curve(self, value: int) -> list[float] | None:
        return self.volumes_ml.get(int(value))

    def summary(self) -> dict:
        """ED/ES phases, EF (%), stroke volume (mL) of the LV, and LA min/max volumes."""
        lv = self.curve(label_table.LV_BLOOD_POOL)
        ed, es, how = ed_es_phases(lv, self.percents)
        out: dict = {"end_diastole_phase": ed, "end_systole_phase": es, "ed_es_from": how}
        out["end_diastole_label"] = self.phase_labels[ed]
        out["end_systole_label"] = self.phase_labels[es]
        if lv is not None and len(lv) >= 2:
            out["lv_edv_ml"] = round(lv[ed], 2)
            out["lv_esv_ml"] = round(lv[es], 2)
            out["lv_stroke_volume_ml"] = round(lv[ed] - lv[es], 2)
            out["lv_ef_percent"] = round(ejection_fraction(lv), 2)
        la = self.curve(label_table.LA)
        if la is not None:
            out["la_max_ml"] = round(max(la), 2)
            out["la_min_ml"] = round(min(la), 2)
            out["la_ef_percent"] = round(100 * (max(la) - min(la)) / max(la), 2) if max(la) > 0 else None
        return out

    def to_json(self) -> dict:
        return {
            "phases": [
                {"index": n, "label": lab, "percent": p}
                for n, (lab, p) in enumerate(zip(self.phase_labels, self.percents))
            ],
            "volumes_ml": {_name(v): [round(x, 3) for x in c] for v, c in sorted(self.volumes_ml.items())},
            "label_values": {_name(v): v for v in sorted(self.volumes_ml)},
            "summary": self.summary(),
        }

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``volume_curves.json`` and ``volume_curves.csv`` (one row per phase) to ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        js = out / "volume_curves.json"
        js.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")
        cs = out / "volume_curves.csv"
        values = sorted(self.volumes_ml)
        with cs.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["phase", "label", "percent"] + [f"{_name(v)}_ml" for v in values])
            for n, (lab, p) in enumerate(zip(self.phase_labels, self.percents)):
                writer.writerow(
                    [n, lab, "" if p is None else p] + [f"{self.volumes_ml[v][n]:.3f}" for v in values]
                )
        return js, cs


def _name(value: int) -> str:
    try:
        return label_table.by_value(int(value)).key
    except (KeyError, ValueError, AttributeError):
        return f"label_{int(value)}"
