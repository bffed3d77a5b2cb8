"""CardiacPlanning module Logic, headless on slicer-core: heart segmentation into a named, coloured
segmentation with 3D surfaces (scope respected), cancel, seeds, and fine-tuning with undo/redo."""

import numpy as np
import pytest
from conftest import load_module_file

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.errors import CardiacInputError, OperationCancelled
from CardiacPlanningLib.heart import LEFT, RIGHT, segment
from CardiacPlanningLib.heart.synthetic import toy_heart
from CardiacPlanningLib.imaging.volume import Volume

pytestmark = pytest.mark.mrml


@pytest.fixture(scope="module")
def toy():
    return toy_heart(spacing_mm=3.0, seed=3)  # 60^3 voxels: segments in about a second


@pytest.fixture
def logic(slicer_app):
    slicer_app.mrmlScene.Clear()
    return load_module_file("CardiacPlanning").CardiacPlanningLogic()


def _segments(node):
    segmentation = node.GetSegmentation()
    return [segmentation.GetNthSegment(i) for i in range(segmentation.GetNumberOfSegments())]


@pytest.mark.parametrize("scope, allowed", [("left", LEFT), ("right", RIGHT)])
def test_segment_heart_gives_only_the_scope_as_named_coloured_surfaces(
    slicer_app, logic, toy, scope, allowed
):
    from CardiacPlanningLib import mrml

    image, _ = toy
    volume_node = mrml.volume_to_node(image, slicer_app.mrmlScene, "toy CT")
    seen = []
    node = logic.segmentHeart(volume_node, scope=scope, progress=lambda f, m: seen.append(f))
    expected = segment(image, scope=scope)  # the library on the same image
    values = sorted(int(v) for v in np.unique(expected.array) if v)
    assert values and set(values) <= set(allowed)
    segments = _segments(node)
    assert sorted(s.GetName() for s in segments) == sorted(lbl.by_value(v).name for v in values)
    for s in segments:
        label = next(lab for lab in lbl.label_table() if lab.name == s.GetName())
        assert np.allclose(s.GetColor(), label.color_float, atol=1e-6)
    assert node.GetSegmentation().ContainsRepresentation("Closed surface")
    assert node.GetName() == f"toy CT heart ({scope}, general)"
    back = mrml.segmentation_to_labelmap(node)
    np.testing.assert_array_equal(back.array, expected.array)
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_segment_heart_cancel_and_errors(slicer_app, logic, toy):
    from CardiacPlanningLib import mrml

    image, _ = toy
    volume_node = mrml.volume_to_node(image, slicer_app.mrmlScene, "toy CT")
    count = slicer_app.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    with pytest.raises(OperationCancelled):
        logic.segmentHeart(volume_node, cancelled=lambda: True)
    assert slicer_app.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == count
    with pytest.raises(CardiacInputError, match="CT volume"):
        logic.segmentHeart(None)
    with pytest.raises(CardiacInputError, match="scope"):
        logic.segmentHeart(volume_node, scope="middle")


def test_segment_heart_with_seed_points_names_the_seeded_chambers(slicer_app, logic, toy):
    from CardiacPlanningLib import mrml

    image, truth = toy
    volume_node = mrml.volume_to_node(image, slicer_app.mrmlScene, "toy CT")
    seeds, names = [], []
    for value in (lbl.LV_BLOOD_POOL, lbl.RV, lbl.LA, lbl.RA):
        ijk = np.argwhere(truth.array == value)
        centre = ijk[np.argmin(np.linalg.norm(ijk - ijk.mean(0), axis=1))]  # a voxel of the chamber
        seeds.append(truth.index_to_lps(centre[::-1]))
        names.append(lbl.by_value(value).key)
    seeds_node = mrml.points_to_node(np.array(seeds), names, slicer_app.mrmlScene, "seeds")
    node = logic.segmentHeart(volume_node, seedsNode=seeds_node)
    back = mrml.segmentation_to_labelmap(node, reference=truth)
    for value, point in zip((lbl.LV_BLOOD_POOL, lbl.RV, lbl.LA, lbl.RA), seeds):
        i, j, k = np.round(truth.lps_to_index(point)).astype(int)
        assert back.array[k, j, i] == value  # each seed lies in the chamber it names


def _ball_node(slicer_app, radius_vox=6):
    from CardiacPlanningLib import mrml

    zz, yy, xx = np.indices((25, 25, 25)) - 12
    array = ((xx**2 + yy**2 + zz**2) <= radius_vox**2).astype(np.uint8) * lbl.LA
    array[2:4, 2:4, 2:4] = lbl.RA  # another segment the edits must not touch
    volume = Volume(array, (1.0, 1.0, 1.0), (-12.0, -12.0, -12.0))  # ball centre at LPS/RAS (0, 0, 0)
    return mrml.labelmap_to_segmentation(volume, slicer_app.mrmlScene, "ball", show_3d=True), volume


def test_grow_in_sphere_changes_exactly_the_expected_voxels_and_undo_redo_restore(slicer_app, logic):
    from CardiacPlanningLib import mrml

    node, volume = _ball_node(slicer_app)
    # grow by 2 mm inside a 5 mm sphere around RAS (6, 0, 0) = LPS (-6, 0, 0)
    changed = logic.editSegment(node, "grow", "Left atrium", [6.0, 0.0, 0.0], radiusMm=5.0, amountMm=2.0)
    zz, yy, xx = np.indices(volume.shape) - 12.0  # LPS mm of voxel centres (x, y, z) = (xx, yy, zz)
    in_sphere = (xx + 6.0) ** 2 + yy**2 + zz**2 <= 25.0
    r = np.sqrt(xx**2 + yy**2 + zz**2)
    from scipy import ndimage

    near = ndimage.distance_transform_edt(volume.array != lbl.LA) <= 2.0
    expected = in_sphere & near & (volume.array == 0)
    after = mrml.segmentation_to_labelmap(node).array
    np.testing.assert_array_equal(after != volume.array, expected)
    assert changed == int(expected.sum()) > 20 and (after[expected] == lbl.LA).all()
    assert r[expected].max() <= 8.0 + 1e-9  # only the rim within 2 mm of the 6 mm ball
    assert node.GetSegmentation().ContainsRepresentation("Closed surface")  # surfaces kept
    assert logic.undoEdit(node) == f"grow {lbl.LA}"
    np.testing.assert_array_equal(mrml.segmentation_to_labelmap(node).array, volume.array)
    assert logic.undoEdit(node, redo=True) == f"grow {lbl.LA}"
    np.testing.assert_array_equal(mrml.segmentation_to_labelmap(node).array, after)


def test_outside_edits_become_one_undo_step_and_every_operation_touches_one_segment(slicer_app, logic):
    from CardiacPlanningLib import mrml

    node, volume = _ball_node(slicer_app)
    logic.editSegment(node, "shrink", "la", [0.0, 0.0, 6.0], radiusMm=4.0, amountMm=1.0)
    shrunk = mrml.segmentation_to_labelmap(node)
    painted = shrunk.array.copy()
    painted[20:22, 20:22, 20:22] = lbl.LA  # a brush stroke in the Segment Editor: an island
    mrml.labelmap_to_segmentation(shrunk.with_array(painted), node=node)
    assert logic.editSegment(node, "remove islands", lbl.LA) == 8  # the 2x2x2 island
    logic.editSegment(node, "smooth", "4", amountMm=1.0)
    before_fill = mrml.segmentation_to_labelmap(node).array
    assert logic.editSegment(node, "fill holes", "la") == 0  # a ball has no holes
    np.testing.assert_array_equal(mrml.segmentation_to_labelmap(node).array, before_fill)
    ra = mrml.segmentation_to_labelmap(node).array == lbl.RA
    np.testing.assert_array_equal(ra, volume.array == lbl.RA)  # the other segment never changed
    history = logic.editSessions.history(node.GetID())
    assert history[:3] == [f"shrink {lbl.LA}", "edits outside the session", f"remove islands {lbl.LA}"]
    while logic.editSessions.history(node.GetID()):
        logic.undoEdit(node)
    np.testing.assert_array_equal(mrml.segmentation_to_labelmap(node).array, volume.array)
    with pytest.raises(CardiacInputError, match="nothing to undo"):
        logic.undoEdit(node)
    with pytest.raises(CardiacInputError, match="needs a point"):
        logic.editSegment(node, "grow", "la")
    with pytest.raises(CardiacInputError, match="absent"):
        logic.editSegment(node, "smooth", "rv")
    with pytest.raises(CardiacInputError, match="label table"):
        logic.editSegment(node, "smooth", "spleen")


def test_coronary_preset_adds_its_root_and_origin_points(slicer_app, logic, toy):
    from CardiacPlanningLib import mrml

    image, _ = toy
    node = logic.segmentHeart(mrml.volume_to_node(image, slicer_app.mrmlScene, "toy CT"), preset="coronary")
    names = {s.GetName() for s in _segments(node)}
    assert lbl.by_key("aortic_root").name in names
    expected = segment(image, preset="coronary").metadata["landmarks_lps"]
    points_node = slicer_app.mrmlScene.GetFirstNodeByName("toy CT heart (whole, coronary) landmarks")
    points, labels = mrml.node_to_points(points_node)
    assert "aortic_valve_normal" in expected and "aortic_valve_normal" not in labels  # a direction
    assert {"left_coronary_origin", "right_coronary_origin"} <= set(labels)
    for label, point in zip(labels, points):
        np.testing.assert_allclose(point, expected[label], atol=1e-9)


def test_combo_box_parameters_carry_slicer_choice_annotations(slicer_app, monkeypatch):
    """Slicer binds a QComboBox to a str parameter only through a Choice annotation."""
    import importlib.util
    import typing

    from conftest import REPOSITORY

    class Choice:  # what slicer.parameterNodeWrapper.Choice keeps: the list of choices
        def __init__(self, choices):
            self.choices = choices

    monkeypatch.setattr(slicer_app.parameterNodeWrapper, "Choice", Choice, raising=False)
    choices = {}
    for name in ("CardiacPlanning", "SurgicalReport"):
        spec = importlib.util.spec_from_file_location(f"{name}_with_choice", REPOSITORY / name / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        hints = typing.get_type_hints(getattr(module, f"{name}ParameterNode"), include_extras=True)
        for key, hint in hints.items():
            if typing.get_origin(hint) is typing.Annotated:
                choices[key] = typing.get_args(hint)[1].choices
    assert choices["scope"] == ["whole", "left", "right"]
    assert choices["preset"] == ["general", "coronary", "valve"]
    assert choices["engine"][0] == "classical"
    assert choices["editOperation"] == ["grow", "shrink", "smooth", "fill holes", "remove islands", "cut"]
    assert choices["procedure"] == ["tavr", "pci", "teer", "ppvi"]
