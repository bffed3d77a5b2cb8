"""Slicer markups JSON (.mrk.json): round trips, LPS/RAS handling, errors, and Slicer's own reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.markups import (
    SCHEMA_URL,
    Markups,
    read_all_markups,
    read_markups,
    write_markups,
)

OSTIA_LPS = np.array([[12.5, -30.25, 101.0], [-8.0, 4.5, 96.75]])


def _ostia() -> Markups:
    return Markups.from_points(OSTIA_LPS, ["LCA ostium", "RCA ostium"], name="ostia")


def test_point_list_round_trip_lps(tmp_path):
    path = write_markups(_ostia(), tmp_path / "ostia.mrk.json")
    doc = json.loads(path.read_text())
    assert doc["@schema"] == SCHEMA_URL
    item = doc["markups"][0]
    assert item["type"] == "Fiducial" and item["coordinateSystem"] == "LPS" and item["name"] == "ostia"
    assert item["controlPoints"][1]["position"] == [-8.0, 4.5, 96.75]
    assert item["controlPoints"][0]["positionStatus"] == "defined" and item["controlPoints"][0]["id"] == "1"
    back = read_markups(path)
    assert back.kind == "Fiducial" and back.labels == ["LCA ostium", "RCA ostium"]
    np.testing.assert_array_equal(back.points_lps, OSTIA_LPS)
    np.testing.assert_array_equal(back.point("RCA ostium"), OSTIA_LPS[1])


def test_ras_file_is_converted_to_lps(tmp_path):
    path = write_markups(_ostia(), tmp_path / "ras.mrk.json", coordinate_system="RAS")
    item = json.loads(path.read_text())["markups"][0]
    assert item["coordinateSystem"] == "RAS"
    assert item["controlPoints"][0]["position"] == [-12.5, 30.25, 101.0]  # RAS = diag(-1, -1, 1) LPS
    np.testing.assert_array_equal(read_markups(path).points_lps, OSTIA_LPS)


def test_hand_written_files_ras_and_default_lps(tmp_path):
    ras = {
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": "RAS",
                "controlPoints": [{"label": "annulus", "position": [1.0, 2.0, 3.0]}],
            }
        ]
    }
    (tmp_path / "a.mrk.json").write_text(json.dumps(ras))
    np.testing.assert_array_equal(read_markups(tmp_path / "a.mrk.json").points_lps, [[-1.0, -2.0, 3.0]])
    del ras["markups"][0]["coordinateSystem"]  # Slicer's default is LPS
    (tmp_path / "b.mrk.json").write_text(json.dumps(ras))
    np.testing.assert_array_equal(read_markups(tmp_path / "b.mrk.json").points_lps, [[1.0, 2.0, 3.0]])


def test_curves_and_several_markups_in_one_file(tmp_path):
    t = np.linspace(0, np.pi, 7)
    curve = Markups("Curve", "LAD", [], np.column_stack([10 * np.cos(t), 10 * np.sin(t), 2 * t]))
    ring = Markups("ClosedCurve", "annulus", [], np.column_stack([12 * np.cos(t), 12 * np.sin(t), 0 * t]))
    path = write_markups([_ostia(), curve, ring], tmp_path / "all.mrk.json", coordinate_system="RAS")
    items = read_all_markups(path)
    assert [m.kind for m in items] == ["Fiducial", "Curve", "ClosedCurve"]
    assert items[1].labels == [f"LAD-{i}" for i in range(1, 8)]
    np.testing.assert_allclose(items[1].points_lps, curve.points_lps, atol=1e-12)
    np.testing.assert_allclose(read_markups(path, kind="ClosedCurve").points_lps, ring.points_lps, atol=1e-12)
    with pytest.raises(CardiacInputError, match="holds no Line markups"):
        read_markups(path, kind="Line")


def test_undefined_points_keep_their_label(tmp_path):
    pts = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]])
    m = Markups.from_points(pts, ["LCA ostium", "RCA ostium"], name="ostia")
    assert m.position_status == ["defined", "undefined"]
    back = read_markups(write_markups(m, tmp_path / "u.mrk.json"))
    assert back.position_status == ["defined", "undefined"] and back.labels == m.labels
    assert np.isnan(back.points_lps[1]).all() and back.defined_mask.tolist() == [True, False]
    with pytest.raises(CardiacInputError, match="'RCA ostium' has not been placed"):
        back.point("RCA ostium")
    with pytest.raises(CardiacInputError, match="no point labelled 'LM'"):
        back.point("LM")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a valid markups JSON file"),
        ('{"points": []}', "no 'markups' list"),
        ('{"markups": [{"type": "Plane", "controlPoints": []}]}', "unsupported markups type 'Plane'"),
        (
            '{"markups": [{"type": "Fiducial", "coordinateSystem": "XYZ"}]}',
            "coordinateSystem must be LPS or RAS",
        ),
        ('{"markups": [{"type": "Fiducial", "coordinateUnits": "um"}]}', "coordinateUnits 'um'"),
        (
            '{"markups": [{"type": "Curve", "controlPoints": [{"label": "p", "position": [1, 2]}]}]}',
            "control point 'p' needs a position of 3 numbers",
        ),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.mrk.json"
    path.write_text(content)
    with pytest.raises(CardiacInputError, match=message) as e:
        read_markups(path)
    assert "bad.mrk.json" in str(e.value)


def test_missing_file_and_mismatched_lengths(tmp_path):
    with pytest.raises(CardiacInputError, match="no such markups file"):
        read_markups(tmp_path / "absent.mrk.json")
    with pytest.raises(CardiacInputError, match="1 labels for 2 points"):
        Markups.from_points(OSTIA_LPS, ["only one"])


def test_slicer_reads_and_writes_the_same_points(tmp_path):
    slicer = pytest.importorskip("slicer")
    scene = slicer.vtkMRMLScene()
    for system in ("LPS", "RAS"):
        path = write_markups(_ostia(), tmp_path / f"ostia_{system}.mrk.json", coordinate_system=system)
        storage = slicer.vtkMRMLMarkupsJsonStorageNode()
        scene.AddNode(storage)
        node = storage.AddNewMarkupsNodeFromFile(str(path))
        assert node.GetClassName() == "vtkMRMLMarkupsFiducialNode"
        ras = np.array([node.GetNthControlPointPosition(i) for i in range(node.GetNumberOfControlPoints())])
        np.testing.assert_allclose(ras, OSTIA_LPS * [-1, -1, 1], atol=1e-9)
        assert node.GetNthControlPointLabel(0) == "LCA ostium"
    # A file written by Slicer's own storage node reads back to the same LPS points.
    out = slicer.vtkMRMLMarkupsJsonStorageNode()
    scene.AddNode(out)
    out.SetFileName(str(tmp_path / "slicer.mrk.json"))
    assert out.WriteData(node) == 1
    back = read_markups(tmp_path / "slicer.mrk.json")
    np.testing.assert_allclose(back.points_lps, OSTIA_LPS, atol=1e-9)
    assert back.labels == ["LCA ostium", "RCA ostium"]
