"""Turn measurement results (dicts from :mod:`CardiacPlanningLib.measure`) into bilingual report
tables with the definition of every value."""

from __future__ import annotations

import logging

from .model import Measurement, MeasurementTable

logger = logging.getLogger(__name__)

D_AREA = "Area enclosed by the section outline / 截面轮廓所围面积"
D_PERIM = "Length of the section outline / 截面轮廓周长"
D_MIN = "Minimum Feret (caliper) diameter of the outline / 轮廓最小卡尺直径"
D_MAX = "Maximum Feret (caliper) diameter of the outline / 轮廓最大卡尺直径"
D_AREA_D = "2·sqrt(area/π) / 面积推算直径"
D_PERIM_D = "perimeter/π / 周长推算直径"


def _section_rows(prefix: str, name: str, name_zh: str, sec: dict | None, which: tuple[str, ...]) -> list:
    spec = {
        "area": ("area_mm2", "area", "面积", "mm2", D_AREA),
        "perimeter": ("perimeter_mm", "perimeter", "周长", "mm", D_PERIM),
        "min": ("min_diameter_mm", "minimum diameter", "最小直径", "mm", D_MIN),
        "max": ("max_diameter_mm", "maximum diameter", "最大直径", "mm", D_MAX),
        "area_d": ("area_derived_diameter_mm", "area-derived diameter", "面积推算直径", "mm", D_AREA_D),
        "perim_d": (
            "perimeter_derived_diameter_mm",
            "perimeter-derived diameter",
            "周长推算直径",
            "mm",
            D_PERIM_D,
        ),
    }
    rows = []
    for w in which:
        key, en, zh, unit, definition = spec[w]
        value = None if sec is None else sec.get(key)
        rows.append(Measurement(f"{prefix}_{key}", f"{name} {en}", f"{name_zh}{zh}", value, unit, definition))
    return rows


def tavr_tables(result: dict) -> list[MeasurementTable]:
    """Tables of :func:`CardiacPlanningLib.measure.tavr_measurements` output."""
    ann = MeasurementTable("Aortic annulus", "主动脉瓣环")
    ann.rows = _section_rows(
        "annulus",
        "Annulus",
        "瓣环",
        result.get("annulus"),
        ("area", "perimeter", "min", "max", "area_d", "perim_d"),
    )
    a = result.get("annulus") or {}
    if a.get("max_diameter_mm"):
        ecc = 1.0 - a["min_diameter_mm"] / a["max_diameter_mm"]
        ann.rows.append(
            Measurement(
                "annulus_eccentricity",
                "Annulus eccentricity",
                "瓣环偏心率",
                100 * ecc,
                "%",
                "1 - min/max diameter / 1 - 最小/最大直径",
            )
        )
    root = MeasurementTable("Aortic root", "主动脉根部")
    root.rows += _section_rows(
        "lvot", "LVOT", "左室流出道", result.get("lvot"), ("area", "min", "max", "perim_d")
    )
    root.rows[-1].definition += "; 5 mm below the annulus / 瓣环下5 mm"
    sinus = result.get("sinus")
    root.rows += _section_rows("sinus", "Sinus of Valsalva", "主动脉窦", sinus, ("max", "area_d"))
    stj = result.get("stj")
    root.rows += _section_rows("stj", "STJ", "窦管交界", stj, ("min", "max", "area_d"))
    if stj:
        root.rows.append(
            Measurement(
                "stj_height_mm",
                "STJ height above annulus",
                "窦管交界高度",
                stj["height_mm"],
                "mm",
                "Ridge where the sinuses meet the tubular aorta (blur-corrected) / 窦管交界嵴的高度",
            )
        )
    asc = result.get("ascending_aorta")
    root.rows += _section_rows("ascending", "Ascending aorta", "升主动脉", asc, ("max", "area_d"))
    root.rows[-1].definition += "; 40 mm above the annulus / 瓣环上40 mm"
    risk = MeasurementTable("Coronary heights and calcium", "冠状动脉开口高度与钙化")
    names = {
        "left": ("Left coronary height", "左冠状动脉开口高度"),
        "right": ("Right coronary height", "右冠状动脉开口高度"),
    }
    for side, h in (result.get("coronary_heights_mm") or {}).items():
        en, zh = names.get(side, (f"{side} coronary height", f"{side}冠状动脉开口高度"))
        risk.rows.append(
            Measurement(
                f"coronary_height_{side}",
                en,
                zh,
                h,
                "mm",
                "Distance of the ostium above the annulus plane / 开口到瓣环平面的距离",
            )
        )
    risk.rows.append(
        Measurement(
            "valve_calcium_volume",
            "Valve calcium volume",
            "瓣膜钙化体积",
            result.get("calcium_volume_mm3"),
            "mm3",
            "Calcium label volume in the root, LVOT to STJ / 左室流出道至窦管交界的钙化体积",
        )
    )
    proj = result.get("projection") or {}
    view = MeasurementTable("Fluoroscopic projection", "透视投照角度")
    if proj:
        c0 = proj["coplanar_lao0"]
        view.rows.append(
            Measurement(
                "coplanar_cra_at_lao0",
                "Coplanar view at LAO/RAO 0: CRA(+)/CAU(-)",
                "共面投照 (LAO/RAO 0) 头/足位角",
                c0["cra_deg"],
                "deg",
                f"{c0['label']}; annulus seen edge-on / 瓣环呈直线",
            )
        )
        for lao in (-30.0, 30.0):
            from ..measure.projection import coplanar_cra, format_angles

            n = result["annulus_plane"]["normal_lps"]
            cra = float(coplanar_cra(n, lao))
            tag = "RAO" if lao < 0 else "LAO"
            view.rows.append(
                Measurement(
                    f"coplanar_cra_at_{tag.lower()}30",
                    f"Coplanar view at {tag} 30",
                    f"共面投照 ({tag} 30)",
                    cra,
                    "deg",
                    format_angles(lao, cra),
                )
            )
        perp = proj["perpendicular"]
        view.rows.append(
            Measurement(
                "perpendicular_lao",
                "En-face view LAO(+)/RAO(-)",
                "正面观 左/右前斜角",
                perp["lao_deg"],
                "deg",
                "Looking along the annulus normal / 沿瓣环法线方向",
            )
        )
        view.rows.append(
            Measurement(
                "perpendicular_cra",
                "En-face view CRA(+)/CAU(-)",
                "正面观 头/足位角",
                perp["cra_deg"],
                "deg",
                "Looking along the annulus normal / 沿瓣环法线方向",
            )
        )
    return [ann, root, risk] + ([view] if view.rows else [])


def pci_tables(lesions: list[dict]) -> list[MeasurementTable]:
    """One table per lesion (output of :func:`CardiacPlanningLib.measure.lesion_list`)."""
    tables = []
    for i, les in enumerate(lesions, start=1):
        t = MeasurementTable(
            f"Lesion {i}: {les['branch']} ({les['start_mm']:.1f}-{les['end_mm']:.1f} mm from the ostium)",
            f"病变 {i}: {les['branch']} (距开口 {les['start_mm']:.1f}-{les['end_mm']:.1f} mm)",
        )
        p = f"lesion{i}"
        t.rows = [
            Measurement(
                f"{p}_diameter_stenosis",
                "Diameter stenosis",
                "直径狭窄率",
                les["diameter_stenosis_pct"],
                "%",
                "100·(1 - MLD / interpolated reference) / 直径狭窄百分比",
            ),
            Measurement(
                f"{p}_area_stenosis",
                "Area stenosis",
                "面积狭窄率",
                les["area_stenosis_pct"],
                "%",
                "100·(1 - (MLD / reference)²) / 面积狭窄百分比",
            ),
            Measurement(
                f"{p}_length",
                "Lesion length",
                "病变长度",
                les["length_mm"],
                "mm",
                "Arc length where the lumen is >10 % below reference / 管腔低于参考10%以上的长度",
            ),
            Measurement(f"{p}_mld", "Minimal lumen diameter", "最小管腔直径", les["mld_mm"], "mm", "MLD", 2),
            Measurement(
                f"{p}_prox_ref",
                "Proximal reference diameter",
                "近端参考直径",
                les["proximal_reference_mm"],
                "mm",
                "Mean over 5 mm of healthy vessel / 近端5 mm均值",
                2,
            ),
            Measurement(
                f"{p}_dist_ref",
                "Distal reference diameter",
                "远端参考直径",
                les["distal_reference_mm"],
                "mm",
                "Mean over 5 mm of healthy vessel / 远端5 mm均值",
                2,
            ),
            Measurement(
                f"{p}_stent_diameter",
                "Suggested stent diameter",
                "建议支架直径",
                les["stent_diameter_mm"],
                "mm",
                "Distal reference, nearest size / 远端参考直径取最近规格",
                2,
            ),
            Measurement(
                f"{p}_stent_length",
                "Suggested stent length",
                "建议支架长度",
                les["stent_length_mm"],
                "mm",
                "Lesion + 2 × 2.5 mm, next size / 病变长度加两端各2.5 mm",
                0,
            ),
        ]
        tables.append(t)
    if not lesions:
        tables.append(
            MeasurementTable(
                "Coronary lesions",
                "冠状动脉病变",
                [
                    Measurement(
                        "lesion_count",
                        "Lesions ≥ 20 % diameter stenosis",
                        "狭窄≥20%的病变数",
                        0.0,
                        "1",
                        "No lesion found / 未发现病变",
                        0,
                    )
                ],
            )
        )
    return tables


def volume_table(volumes_ml: dict[str, float], ef: float | None = None) -> MeasurementTable:
    """Chamber volumes (mL) keyed by label key, and the LV ejection fraction (fraction 0..1)."""
    from .. import labels

    t = MeasurementTable("Chamber volumes", "心腔容积")
    zh = {"lv_blood_pool": "左心室", "la": "左心房", "rv": "右心室", "ra": "右心房"}
    for key, value in volumes_ml.items():
        t.rows.append(
            Measurement(
                f"volume_{key}",
                f"{labels.by_key(key).name} volume",
                f"{zh.get(key, key)}容积",
                value,
                "mL",
                "Label voxel count × voxel volume / 标签体素数×体素体积",
            )
        )
    if ef is not None:
        t.rows.append(
            Measurement(
                "lv_ejection_fraction",
                "LV ejection fraction",
                "左心室射血分数",
                100 * ef,
                "%",
                "(EDV - ESV) / EDV over the phases / 各时相中 (舒张末容积-收缩末容积)/舒张末容积",
            )
        )
    return t
