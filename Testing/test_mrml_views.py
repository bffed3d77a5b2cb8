"""Synchronised multi-phase slice views on the real Slicer core (headless): layout, which phase in
which view, zoom/pan/slice position and window/level synchronisation, playback."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.mrml

slicer = pytest.importorskip("slicer")

from CardiacPlanningLib import mrml  # noqa: E402
from CardiacPlanningLib.errors import CardiacInputError  # noqa: E402
from CardiacPlanningLib.imaging.volume import Volume  # noqa: E402
from CardiacPlanningLib.motion import views as motion_views  # noqa: E402

N_PHASES = 5


def _phases():
    """Phase k: every voxel 100*k except a marker voxel at x = k (so each phase is recognisable)."""
    out = []
    for k in range(N_PHASES):
        array = np.full((6, 8, 10), 100 * k, np.int16)
        array[0, 0, k] = 2000
        out.append(Volume(array, (1.0, 1.0, 2.0), (-5.0, -4.0, 10.0)))
    return out


def _labels(k: int) -> Volume:
    """Phase k's label map: the LV holds 4 + k voxels."""
    array = np.zeros((6, 8, 10), np.uint8)
    array[2, 3, 1 : 5 + k] = 1
    return Volume(array, (1.0, 1.0, 2.0), (-5.0, -4.0, 10.0))


@pytest.fixture
def built():
    scene = mrml.new_scene()
    sequence, browser = mrml.phases_to_sequence(
        _phases(), scene, index_values=["0%", "20%", "40%", "60%", "80%"]
    )
    views = mrml.build_phase_views(sequence, [0, 2, 4], scene, labels=["0% ED", "40% ES", "80%"])
    yield scene, sequence, browser, views
    views.detach()


def _phase_of(volume_node) -> int:
    array = slicer.util.arrayFromVolume(volume_node)
    return int(np.flatnonzero(array[0, 0] == 2000)[0])


def test_layout_and_phase_volumes(built):
    scene, sequence, _browser, views = built
    layout = scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
    assert layout.GetViewArrangement() == motion_views.LAYOUT_ID
    assert layout.GetLayoutDescription(motion_views.LAYOUT_ID) == motion_views.layout_xml(
        3, labels=["0% ED", "40% ES", "80%"]
    )
    assert views.names == ["Phase1", "Phase2", "Phase3"]
    for k, (node, composite) in enumerate(zip(views.slice_nodes, views.composite_nodes)):
        assert node.GetScene() is scene and node.GetViewGroup() == 1
        assert node.GetOrientation() == "Axial"
        assert composite.GetLayoutName() == f"Phase{k + 1}"
        assert composite.GetLinkedControl() == 1 and composite.GetHotLinkedControl() == 1
        background = scene.GetNodeByID(composite.GetBackgroundVolumeID())
        assert background is views.volume_node(k)
    assert [_phase_of(views.volume_node(k)) for k in range(3)] == [0, 2, 4]
    assert [int(slicer.util.arrayFromVolume(views.volume_node(k))[3, 3, 3]) for k in range(3)] == [
        0,
        200,
        400,
    ]
    assert views.shown_phases() == [0, 2, 4]
    assert len({views.volume_node(k).GetID() for k in range(3)}) == 3  # one proxy per view
    # voxel centres LPS x -5..4, y -4..3, z 10..20 mm: the RAS box of the voxel corners is
    # x -4.5..5.5, y -3.5..4.5, z 9..21 mm; the fitted view is centred on it, 10 mm wide
    first = views.slice_nodes[0]
    centre = [first.GetSliceToRAS().GetElement(r, 3) for r in range(3)]
    assert np.allclose(centre, [0.5, 0.5, 15.0])
    assert first.GetFieldOfView()[0] == pytest.approx(10.0)


def test_zoom_pan_and_slice_position_follow(built):
    _scene, _sequence, _browser, views = built
    a, b, c = views.slice_nodes
    b.SetFieldOfView(37.5, 37.5, 1.0)  # zoom in view 2
    for node in (a, c):
        assert node.GetFieldOfView() == pytest.approx((37.5, 37.5, 1.0))
    c.SetXYZOrigin(3.0, -2.5, 0.0)  # pan view 3
    for node in (a, b):
        assert node.GetXYZOrigin() == pytest.approx((3.0, -2.5, 0.0))
    a.SetSliceOffset(17.0)  # scroll view 1
    for node in (b, c):
        assert node.GetSliceOffset() == pytest.approx(17.0)
        assert node.GetSliceToRAS().GetElement(2, 3) == pytest.approx(17.0)
    # a view with another aspect ratio keeps the same width in mm
    c.SetDimensions(200, 100, 1)
    a.SetFieldOfView(80.0, 80.0, 1.0)
    assert c.GetFieldOfView() == pytest.approx((80.0, 40.0, 1.0))
    assert b.GetFieldOfView() == pytest.approx((80.0, 80.0, 1.0))
    views.detach()  # no longer synchronised
    a.SetSliceOffset(12.0)
    assert b.GetSliceOffset() == pytest.approx(17.0)


def test_window_level_is_shared(built):
    _scene, _sequence, _browser, views = built
    views.volume_node(1).GetDisplayNode().SetWindowLevel(800.0, 150.0)
    for k in range(3):
        display = views.volume_node(k).GetDisplayNode()
        assert (display.GetWindow(), display.GetLevel()) == (800.0, 150.0)
    views.set_window_level(400.0, 40.0)
    assert views.volume_node(2).GetDisplayNode().GetWindow() == 400.0
    assert views.volume_node(0).GetDisplayNode().GetLevel() == 40.0


def test_playback_and_segmentation_per_view(built):
    scene, sequence, browser, views = built
    index_values = [sequence.GetNthIndexValue(i) for i in range(N_PHASES)]
    seg_sequence = mrml.labelmaps_to_segmentation_sequence(
        (_labels(k) for k in range(N_PHASES)), index_values, scene, browser=browser
    )
    assert seg_sequence.GetNumberOfDataNodes() == N_PHASES
    views.set_segmentation_sequence(seg_sequence)

    def lv_voxels(k):
        return int((mrml.segmentation_to_labelmap(views.segmentation_node(k)).array == 1).sum())

    assert [lv_voxels(k) for k in range(3)] == [4, 6, 8]  # phases 0, 2, 4
    display = views.segmentation_node(1).GetDisplayNode()
    assert [display.GetNthViewNodeID(i) for i in range(display.GetNumberOfViewNodeIDs())] == [
        views.slice_nodes[1].GetID()
    ]
    assert views.show_step(2) == [2, 4, 1]
    assert [_phase_of(views.volume_node(k)) for k in range(3)] == [2, 4, 1]
    assert [lv_voxels(k) for k in range(3)] == [6, 8, 5]
    views.follow_browser(browser)  # the main browser drives playback
    mrml.select_phase(browser, 4)
    assert views.shown_phases() == motion_views.playback_phases([0, 2, 4], 4, N_PHASES) == [4, 1, 3]
    assert [_phase_of(views.volume_node(k)) for k in range(3)] == [4, 1, 3]
    assert [lv_voxels(k) for k in range(3)] == [8, 5, 7]
    # the main browser's own proxy segmentation follows it too
    main = browser.GetProxyNode(seg_sequence)
    assert int((mrml.segmentation_to_labelmap(main).array == 1).sum()) == 8
    # a new propagation replaces the shown segmentation: the old proxies leave the scene
    old_proxies = [views.segmentation_node(k) for k in range(3)]
    again = mrml.labelmaps_to_segmentation_sequence([_labels(0)] * N_PHASES, index_values, scene)
    views.set_segmentation_sequence(again)
    assert all(p.GetScene() is None for p in old_proxies)
    assert [lv_voxels(k) for k in range(3)] == [4, 4, 4]
    mrml.unsynchronise(browser, seg_sequence)
    assert main.GetScene() is None and seg_sequence.GetScene() is scene


def test_bad_inputs_are_named():
    scene = mrml.new_scene()
    sequence, browser = mrml.phases_to_sequence(_phases()[:3], scene)
    with pytest.raises(CardiacInputError, match="phase 5 does not exist"):
        mrml.build_phase_views(sequence, [0, 5], scene)
    with pytest.raises(CardiacInputError, match="phase sequence"):
        mrml.build_phase_views(browser, [0, 1], scene)
    views = mrml.build_phase_views(sequence, [0, 1], scene)
    other = mrml.labelmaps_to_segmentation_sequence([_labels(0), _labels(1)], ["0", "1"], scene)
    with pytest.raises(CardiacInputError, match="holds 2 phases"):
        views.set_segmentation_sequence(other)
    with pytest.raises(CardiacInputError, match="2 label maps given for 3 phases"):
        mrml.labelmaps_to_segmentation_sequence([_labels(0), _labels(1)], ["0", "1", "2"], scene)
    views.detach()


def test_phases_streamed_into_a_sequence():
    scene = mrml.new_scene()
    phases = _phases()
    sequence, browser = mrml.phases_to_sequence(phases[:1], scene, index_values=["0%"])
    for k, value in ((1, "20%"), (2, "40%")):
        mrml.append_phase(sequence, phases[k], value, browser)
    assert [sequence.GetNthIndexValue(i) for i in range(3)] == ["0%", "20%", "40%"]
    assert [_phase_of(mrml.select_phase(browser, i)) for i in range(3)] == [0, 1, 2]
    with pytest.raises(CardiacInputError, match="already holds a phase '20%'"):
        mrml.append_phase(sequence, phases[3], "20%")
    with pytest.raises(CardiacInputError, match="not a Volume"):
        mrml.append_phase(sequence, phases[3].array, "60%")
