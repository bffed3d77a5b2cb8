"""PCI lesion list on analytic centrelines with known narrowings."""

import json

import numpy as np
import pytest

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.measure import lesion_list, load_branches, suggest_stent


def _helix(n: int, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Points of a helix (radius 20 mm, pitch 60 mm) sampled by arc length; returns (points, s)."""
    s = np.linspace(0, length, n)
    k = np.hypot(2 * np.pi * 20, 60.0)  # arc length per turn
    t = 2 * np.pi * s / k
    return np.stack([20 * np.cos(t), 20 * np.sin(t), 60 * t / (2 * np.pi)], 1), s


def _trapezoid(s, start, shoulder, flat, depth):
    """Relative narrowing 0..depth: ramps over `shoulder` mm, flat for `flat` mm."""
    x = s - start
    up = np.clip(x / shoulder, 0, 1)
    down = np.clip((start + 2 * shoulder + flat - s) / shoulder, 0, 1)
    return depth * np.minimum(up, down)


def test_single_lesion_on_a_curved_straight_calibre_vessel():
    pts, s = _helix(1201, 60.0)
    d = 3.5 * (1 - _trapezoid(s, 20.0, 2.0, 6.0, 0.6))
    (les,) = lesion_list([{"name": "LAD", "points": pts.tolist(), "radii": (d / 2).tolist()}])
    # boundary 10 %: d = 3.15 is reached 1/6 of the way down each 2 mm shoulder
    expected_length = 6.0 + 2 * (2.0 - 2.0 / 6)
    assert les["length_mm"] == pytest.approx(expected_length, abs=0.5)
    assert les["start_mm"] == pytest.approx(20.0 + 2.0 / 6, abs=0.5)
    assert les["mld_mm"] == pytest.approx(1.4, abs=0.01)
    assert les["proximal_reference_mm"] == pytest.approx(3.5, abs=0.01)
    assert les["distal_reference_mm"] == pytest.approx(3.5, abs=0.01)
    assert les["diameter_stenosis_pct"] == pytest.approx(60.0, abs=0.5)
    assert les["area_stenosis_pct"] == pytest.approx(84.0, abs=0.5)
    assert les["significant"] is True
    assert les["stent_diameter_mm"] == 3.5
    assert les["stent_length_mm"] == 15.0  # 9.33 + 2 x 2.5 = 14.3 -> 15
    mld_point = pts[np.argmin(np.abs(s - 24.0))]
    assert np.linalg.norm(np.array(les["mld_point_lps"]) - mld_point) < 3.1  # anywhere on the 6 mm flat


def test_tapering_vessel_with_two_lesions_uses_interpolated_references():
    pts, s = _helix(2001, 80.0)
    healthy = 4.0 - 1.0 * s / 80.0  # 4.0 -> 3.0 mm
    d = healthy * (1 - _trapezoid(s, 15.0, 1.5, 4.0, 0.45) - _trapezoid(s, 55.0, 3.0, 8.0, 0.75))
    branches = [
        {"name": "RCA", "points": pts.tolist(), "radii": (d / 2).tolist()},
        {"name": "healthy", "points": pts.tolist(), "radii": (healthy / 2).tolist()},
    ]
    lesions = lesion_list(branches)
    assert [les["branch"] for les in lesions] == ["RCA", "RCA"]
    severe, mild = lesions  # most severe first
    assert severe["diameter_stenosis_pct"] == pytest.approx(75.0, abs=1.0)
    assert mild["diameter_stenosis_pct"] == pytest.approx(45.0, abs=1.0)
    # proximal reference: mean healthy diameter over the 5 mm before the lesion start
    start = severe["start_mm"]
    assert severe["proximal_reference_mm"] == pytest.approx(4.0 - (start - 2.5) / 80.0, abs=0.02)
    assert severe["length_mm"] == pytest.approx(8.0 + 2 * 3.0 * (1 - 0.10 / 0.75), abs=0.5)
    assert mild["length_mm"] == pytest.approx(4.0 + 2 * 1.5 * (1 - 0.10 / 0.45), abs=0.5)
    assert severe["stent_diameter_mm"] == 3.0  # distal reference ~3.1 mm -> 3.0
    assert mild["stent_diameter_mm"] == 3.5  # distal reference ~3.76 mm -> 3.5


def test_options_thresholds_and_errors(tmp_path):
    pts, s = _helix(601, 30.0)
    d = 3.0 * (1 - _trapezoid(s, 10.0, 1.0, 3.0, 0.15))
    branch = {"name": "D1", "points": pts.tolist(), "radii": (d / 2).tolist()}
    assert lesion_list([branch]) == []  # 15 % is under the default 20 % threshold
    (les,) = lesion_list([branch], min_stenosis_pct=10.0)
    assert les["diameter_stenosis_pct"] == pytest.approx(15.0, abs=0.5)
    assert les["significant"] is False
    assert suggest_stent(3.2, 30.0)["needs_overlap"] is False
    assert suggest_stent(3.2, 40.0) == {
        "stent_diameter_mm": 3.0,
        "stent_length_mm": 45.0,
        "needs_overlap": True,
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"branches": [branch]}))
    assert load_branches(path)[0]["name"] == "D1"
    path.write_text("{}")
    with pytest.raises(CardiacInputError, match="branches"):
        load_branches(path)
    with pytest.raises(CardiacInputError, match="'bad'"):
        lesion_list([{"name": "bad", "points": [[0, 0, 0]], "radii": [1.0, 2.0]}])
    with pytest.raises(CardiacInputError, match="positive"):
        lesion_list([{"name": "neg", "points": [[0, 0, 0], [1, 0, 0]], "radii": [1.0, -2.0]}])
