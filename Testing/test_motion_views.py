"""The pure multi-phase view logic: which phases to show, the layout XML, playback offsets."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.motion.views import (
    choose_view_phases,
    grid_shape,
    layout_xml,
    playback_phases,
    view_assignments,
)


def test_chosen_phases_always_include_ed_and_es_and_spread_over_the_cycle():
    assert choose_view_phases(10, 0, 4, 2) == [0, 4]
    assert choose_view_phases(10, 0, 4, 4) == [0, 2, 4, 7]
    assert choose_view_phases(10, 9, 3, 3) == [3, 6, 9]
    assert choose_view_phases(10, 2, 5, 10) == list(range(10))
    with pytest.raises(CardiacInputError, match="2 to 10"):
        choose_view_phases(10, 0, 4, 1)
    with pytest.raises(CardiacInputError, match="only 3 phases"):
        choose_view_phases(3, 0, 1, 4)
    with pytest.raises(CardiacInputError, match="end-systole phase 7"):
        choose_view_phases(5, 0, 7, 2)


def test_layout_xml_has_linked_slice_views_and_a_3d_view():
    assert grid_shape(2) == (1, 3) and grid_shape(4) == (2, 3) and grid_shape(10) == (3, 4)
    root = ET.fromstring(layout_xml(4, labels=["0% ED", "20%", "40% ES", "70%"]))
    views = root.findall(".//view")
    assert [v.get("class") for v in views] == ["vtkMRMLSliceNode"] * 4 + ["vtkMRMLViewNode"]
    assert [v.get("singletontag") for v in views[:4]] == ["Phase1", "Phase2", "Phase3", "Phase4"]
    props = {(v.get("singletontag"), p.get("name")): p.text for v in views for p in v.findall("property")}
    assert props[("Phase3", "viewlabel")] == "40% ES"
    assert {props[(f"Phase{i}", "viewgroup")] for i in range(1, 5)} == {"1"}
    assert {props[(f"Phase{i}", "orientation")] for i in range(1, 5)} == {"Axial"}
    rows = root.findall("./item/layout")
    assert [len(r.findall("./item")) for r in rows] == [3, 2]
    with pytest.raises(CardiacInputError, match="orientation"):
        layout_xml(2, orientation="Oblique")


def test_view_assignments_and_playback_keep_offsets():
    labels = [f"{10 * i}%" for i in range(10)]
    views = view_assignments(labels, [0, 4], ed=0, es=4)
    assert views == [
        {"view": "Phase1", "phase": 0, "label": "0% ED"},
        {"view": "Phase2", "phase": 4, "label": "40% ES"},
    ]
    assert playback_phases([0, 4], 0, 10) == [0, 4]
    assert playback_phases([0, 4], 7, 10) == [7, 1]
