"""Report sections from the other steps of a case, when their outputs are in the case folder:

- Stent / valve-frame reconstruction (``cardiac-planning stent``): ``ranking.json`` (algorithms by
  total score, best first) and ``<best>_score.json`` (score terms of the chosen algorithm, see
  :mod:`CardiacPlanningLib.stent.score`).
- 4D propagation (``cardiac-planning propagate``): ``volume_curves.json`` (volume per label and
  phase, and the ED/ES/EF summary of :mod:`CardiacPlanningLib.motion.curves`).

Each is looked for in the case folder itself and in its direct subfolders (``stent/``,
``propagate/``, ...), first match in name order. Each becomes a coded report section (PDF table,
CDA section with one observation per value) and a picture.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import CardiacInputError
from .model import Measurement, MeasurementTable

logger = logging.getLogger(__name__)

# section codes in the project's local code system (see cda.SECTION_CODES); the LV ejection fraction
# observation also carries LOINC 10230-1 "Left ventricular Ejection fraction"
STENT_SECTION = "stent-reconstruction"
FUNCTION_SECTION = "cardiac-function-4d"
LOINC_LV_EF = "10230-1"


def _find(case_dir: Path, name: str) -> Path | None:
    root = Path(case_dir)
    if (root / name).is_file():
        return root / name
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / name).is_file():
            return sub / name
    return None


def find_stent_ranking(case_dir: str | Path) -> Path | None:
    """``ranking.json`` of a stent reconstruction in ``case_dir`` or a direct subfolder."""
    return _find(Path(case_dir), "ranking.json")


def find_volume_curves(case_dir: str | Path) -> Path | None:
    """``volume_curves.json`` of a 4D propagation in ``case_dir`` or a direct subfolder."""
    return _find(Path(case_dir), "volume_curves.json")


def _read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CardiacInputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CardiacInputError(f"{path}: expected a JSON object")
    return data


def stent_results(ranking_path: str | Path) -> dict:
    """The ranking and the chosen (best) algorithm's score terms: ``{"ranking": [...], "best": name,
    "score": {...}}``; errors name the file."""
    path = Path(ranking_path)
    ranking = _read(path)
    rows = ranking.get("ranking")
    if not isinstance(rows, list) or not rows or not ranking.get("best"):
        raise CardiacInputError(f"{path}: no ranked reconstruction ('ranking' and 'best')")
    best = str(ranking["best"])
    score_path = path.parent / f"{best}_score.json"
    score = _read(score_path) if score_path.is_file() else {}
    return {
        "ranking": rows,
        "best": best,
        "score": score,
        "metal_threshold_hu": ranking.get("metalThresholdHu"),
    }


def stent_table(results: dict) -> MeasurementTable:
    """Chosen algorithm, its score and apposition figures, and every algorithm's score."""
    s = results["score"]
    table = MeasurementTable(
        "Stent / valve-frame reconstruction", "支架/瓣架重建", section_code=STENT_SECTION
    )
    rows = [
        Measurement(
            "stent_algorithm",
            "Chosen algorithm",
            "选用算法",
            results["best"],
            "1",
            "Highest structure matching score / 结构匹配评分最高",
        ),
        Measurement(
            "stent_score",
            "Structure matching score",
            "结构匹配评分",
            s.get("total", results["ranking"][0].get("score")),
            "1",
            "0.5 apposition + 0.3 completeness + 0.2 continuity (0-100) / 贴壁、完整性、连续性加权",
        ),
        Measurement(
            "stent_apposition",
            "Wall apposition",
            "贴壁率",
            s.get("apposition"),
            "%",
            "Share of the envelope within 0.5 mm of the lumen wall / 距管壁0.5 mm以内的支架面积比例",
        ),
        Measurement(
            "stent_malapposed_area",
            "Malapposed area",
            "贴壁不良面积",
            s.get("malapposed_area_mm2"),
            "mm2",
            "Envelope area more than 0.5 mm from the wall / 距管壁超过0.5 mm的面积",
        ),
        Measurement(
            "stent_mean_wall_distance",
            "Mean wall distance",
            "平均管壁距离",
            s.get("mean_wall_distance_mm"),
            "mm",
            "Mean |distance| of the envelope to the lumen wall / 支架表面到管壁的平均距离",
            2,
        ),
        Measurement(
            "stent_completeness",
            "Contour completeness",
            "轮廓完整性",
            s.get("completeness"),
            "%",
            "Angular bins with metal, mean over sections / 含金属的角度区间比例",
        ),
        Measurement(
            "stent_max_gap",
            "Largest contour gap",
            "最大轮廓缺口",
            s.get("max_gap_deg"),
            "deg",
            "Largest run of bins without metal / 无金属的最大角度范围",
        ),
    ]
    for i, r in enumerate(results["ranking"], start=1):
        rows.append(
            Measurement(
                f"stent_rank{i}_score",
                f"Score of {r.get('name')} (rank {i})",
                f"{r.get('name')} 评分 (第{i}名)",
                r.get("score"),
                "1",
                "Structure matching score / 结构匹配评分",
            )
        )
    table.rows = rows
    return table


def volume_curves(path: str | Path) -> dict:
    """``volume_curves.json`` as written by :class:`CardiacPlanningLib.motion.curves.VolumeCurves`;
    errors name the file."""
    path = Path(path)
    data = _read(path)
    if not isinstance(data.get("volumes_ml"), dict) or not isinstance(data.get("phases"), list):
        raise CardiacInputError(f"{path}: expected 'phases' and 'volumes_ml' (a volume curve file)")
    return data


def function_table(curves: dict) -> MeasurementTable:
    """LV end-diastolic / end-systolic / stroke volume, EF, LA maximum / minimum volume and LA
    emptying fraction of a 4D propagation."""
    s = curves.get("summary") or {}
    table = MeasurementTable("Cardiac function (4D)", "心功能 (4D)", section_code=FUNCTION_SECTION)
    spec = (
        (
            "lv_edv",
            "LV end-diastolic volume",
            "左心室舒张末容积",
            "lv_edv_ml",
            "mL",
            "Largest LV volume / 最大左心室容积",
        ),
        (
            "lv_esv",
            "LV end-systolic volume",
            "左心室收缩末容积",
            "lv_esv_ml",
            "mL",
            "Smallest LV volume / 最小左心室容积",
        ),
        (
            "lv_sv",
            "LV stroke volume",
            "左心室每搏量",
            "lv_stroke_volume_ml",
            "mL",
            "EDV - ESV / 舒张末减收缩末容积",
        ),
        (
            "lv_ef_4d",
            "LV ejection fraction (4D)",
            "左心室射血分数 (4D)",
            "lv_ef_percent",
            "%",
            "100 (EDV - ESV) / EDV",
        ),
        (
            "la_max",
            "LA maximum volume",
            "左心房最大容积",
            "la_max_ml",
            "mL",
            "Over the phases / 各时相最大值",
        ),
        (
            "la_min",
            "LA minimum volume",
            "左心房最小容积",
            "la_min_ml",
            "mL",
            "Over the phases / 各时相最小值",
        ),
        ("la_ef", "LA emptying fraction", "左心房排空分数", "la_ef_percent", "%", "100 (max - min) / max"),
    )
    for code, en, zh, key, unit, definition in spec:
        if s.get(key) is not None:
            table.rows.append(Measurement(code, en, zh, float(s[key]), unit, definition))
    phases = curves["phases"]
    for code, en, zh, key in (
        ("ed_phase", "End-diastolic phase", "舒张末期时相", "end_diastole_phase"),
        ("es_phase", "End-systolic phase", "收缩末期时相", "end_systole_phase"),
    ):
        i = s.get(key)
        if isinstance(i, int) and 0 <= i < len(phases):
            p = phases[i].get("percent")
            where = f"{p:g} % R-R; " if isinstance(p, (int, float)) else ""
            how = f"{where}from the {s.get('ed_es_from', 'LV volume curve')} / 由容积曲线确定"
            table.rows.append(Measurement(code, en, zh, str(phases[i].get("label", i)), "1", how))
    return table


def curve_series(curves: dict, keys=("lv_blood_pool", "la")) -> tuple[list[float], dict[str, list[float]]]:
    """(percent per phase, {label key: volumes mL}) for plotting; phases without a percent get their
    index-based position in the cycle."""
    phases = curves["phases"]
    n = len(phases)
    pct = [
        float(p["percent"]) if isinstance(p.get("percent"), (int, float)) else 100.0 * i / max(n, 1)
        for i, p in enumerate(phases)
    ]
    vols = {k: [float(v) for v in curves["volumes_ml"][k]] for k in keys if k in curves["volumes_ml"]}
    return pct, vols
