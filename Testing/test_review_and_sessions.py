"""Library parts behind the module Logic: measurement review/correction (measure.review) and the
per-segmentation edit sessions (heart.session), without Slicer."""

import math

import numpy as np
import pytest

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart.session import EditSessions, landmark_points, resolve_label
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure.review import correction_settings, measurement_rows, set_measurement


def _result():
    return {
        "procedure": "pci",
        "lv_ejection_fraction": 61.5,
        "pci": {
            "lesions": [
                {
                    "branch": "LAD",
                    "length_mm": 11.0,
                    "diameter_stenosis_pct": 55.0,
                    "mld_point_lps": [1, 2, 3],
                },
                {"branch": "RCA", "length_mm": 6.0, "diameter_stenosis_pct": math.nan, "significant": True},
            ]
        },
    }


def test_rows_list_numbers_only_and_corrections_are_recorded_once():
    result = _result()
    rows = measurement_rows(result)
    assert rows == [
        ("pci.lesions.0.length_mm", 11.0),
        ("pci.lesions.0.diameter_stenosis_pct", 55.0),
        ("pci.lesions.1.length_mm", 6.0),
        ("lv_ejection_fraction", 61.5),
    ]  # strings, booleans, NaN and point lists are not reviewable numbers
    assert set_measurement(result, "pci.lesions.1.length_mm", 8.5) == 6.0
    assert set_measurement(result, "pci.lesions.1.length_mm", 9.0) == 8.5
    assert result["pci"]["lesions"][1]["length_mm"] == 9.0
    assert result["user_corrections"] == {"pci.lesions.1.length_mm": {"measured": 6.0, "corrected": 9.0}}
    assert correction_settings(result) == {
        "Corrected by operator / 操作者修正: pci.lesions.1.length_mm": "9 (measured 6)"
    }
    set_measurement(result, "lv_ejection_fraction", 58)
    assert result["lv_ejection_fraction"] == 58.0 and len(result["user_corrections"]) == 2
    for path, value, message in (
        ("pci.lesions.2.length_mm", 1.0, "not a reviewable"),
        ("pci.lesions.0.branch", 1.0, "not a reviewable"),
        ("pci.lesions.0.length_mm", math.inf, "finite"),
    ):
        with pytest.raises(CardiacInputError, match=message):
            set_measurement(result, path, value)
    with pytest.raises(CardiacInputError, match="no 'tavr' section"):
        measurement_rows({"procedure": "tavr"})


def test_resolve_label_accepts_value_key_and_name():
    assert (
        resolve_label(3)
        == resolve_label("3")
        == resolve_label("rv")
        == resolve_label("right VENTRICLE")
        == lbl.RV
    )
    with pytest.raises(CardiacInputError):
        resolve_label("spleen")


def test_sessions_are_per_key_and_reset_when_the_grid_changes():
    array = np.zeros((9, 9, 9), np.uint8)
    array[2:7, 2:7, 2:7] = lbl.LA
    seg = Volume(array, (1.0, 1.0, 1.0), (-4.0, -4.0, -4.0))
    sessions = EditSessions()
    cut, changed = sessions.edit("a", seg, "cut", "la", (0.0, 0.0, 0.0), normal_lps=(0.0, 0.0, 1.0))
    assert changed == 5 * 5 * 2  # z index 5 and 6 lie above the plane z = 0
    assert sessions.history("a") == [f"cut {lbl.LA}"] and sessions.history("b") == []
    moved = Volume(cut.array, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))  # another grid: a fresh stack
    sessions.session("a", moved)
    assert sessions.history("a") == []
    with pytest.raises(CardiacInputError, match="unknown edit"):
        sessions.edit("a", moved, "dilate", "la")
    sessions.forget("a")
    assert sessions.history("a") == []


def test_landmark_points_leave_out_directions():
    seg = Volume(np.zeros((2, 2, 2), np.uint8))
    seg.metadata = {
        "landmarks_lps": {"left_coronary_origin": [1.0, 2.0, 3.0], "aortic_valve_normal": [0, 0, 1]}
    }
    points, names = landmark_points(seg)
    assert names == ["left_coronary_origin"] and points.tolist() == [[1.0, 2.0, 3.0]]
    seg.metadata = {}
    assert landmark_points(seg)[0].shape == (0, 3)


def test_a_section_is_reviewed_by_its_reported_diameters_only():
    section = {
        "area_mm2": 400.0,
        "min_diameter_mm": 21.0,
        "max_diameter_mm": 26.0,
        "diameter_method": "ellipse",
        "feret_min_diameter_mm": 21.3,
        "feret_max_diameter_mm": 26.4,
        "ellipse_minor_diameter_mm": 21.0,
        "ellipse_major_diameter_mm": 26.0,
    }
    rows = measurement_rows({"procedure": "tavr", "tavr": {"annulus": section}})
    assert rows == [
        ("tavr.annulus.area_mm2", 400.0),
        ("tavr.annulus.min_diameter_mm", 21.0),
        ("tavr.annulus.max_diameter_mm", 26.0),
    ]
