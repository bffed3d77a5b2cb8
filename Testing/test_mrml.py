"""Round-trip tests of the MRML adapters against the real Slicer core (slicer-core, headless)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging import Volume

slicer = pytest.importorskip("slicer")
mrml = pytest.importorskip("CardiacPlanningLib.mrml")
vtk = pytest.importorskip("vtk")

pytestmark = pytest.mark.mrml

OBLIQUE = Rotation.from_euler("xyz", [12.0, -23.0, 37.0], degrees=True).as_matrix()
SPACING = (0.43, 0.61, 1.37)
ORIGIN = (-101.25, 57.5, -312.75)


@pytest.fixture
def scene():
    return mrml.new_scene()


def _ijk_to_ras(node) -> np.ndarray:
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def _label_volume() -> Volume:
    a = np.zeros((14, 17, 19), np.uint8)
    a[2:9, 3:12, 4:15] = labels.LV_BLOOD_POOL
    a[4:7, 5:9, 6:10] = labels.AORTA
    a[10:13, :, :] = labels.RIGHT_CORONARY
    a[13, 16, 18] = labels.LA
    return Volume(a, SPACING, ORIGIN, OBLIQUE)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.int32])
def test_volume_round_trip_is_exact(scene, dtype):
    rng = np.random.default_rng(3)
    array = rng.integers(-1024, 3000, size=(7, 9, 11)).astype(dtype)
    volume = Volume(array, SPACING, ORIGIN, OBLIQUE)
    node = mrml.volume_to_node(volume, scene, name="CT")
    back = mrml.node_to_volume(node)
    assert back.array.dtype == array.dtype
    assert np.array_equal(back.array, array)
    assert back.spacing == SPACING and back.origin == ORIGIN
    assert np.array_equal(back.direction, OBLIQUE)
    # Slicer's IJK->RAS is diag(-1,-1,1) @ direction @ spacing, origin flipped in x and y
    expected = np.eye(4)
    expected[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ OBLIQUE @ np.diag(SPACING)
    expected[:3, 3] = [-ORIGIN[0], -ORIGIN[1], ORIGIN[2]]
    assert np.allclose(_ijk_to_ras(node), expected, atol=1e-12)
    # one voxel: the node places index (i, j, k) where the Volume says, in RAS
    ijk = np.array([4.0, 2.0, 6.0])
    ras = _ijk_to_ras(node) @ np.append(ijk, 1.0)
    assert np.allclose(ras[:3] * [-1, -1, 1], volume.index_to_lps(ijk), atol=1e-9)
    assert node.GetImageData().GetDimensions() == (11, 9, 7)


def test_bool_volume_becomes_uint8_and_bad_input_is_named(scene):
    node = mrml.volume_to_node(Volume(np.ones((2, 3, 4), bool)), scene, name="mask")
    back = mrml.node_to_volume(node)
    assert back.array.dtype == np.uint8 and back.array.sum() == 24
    with pytest.raises(CardiacInputError, match="needs a Volume"):
        mrml.volume_to_node(np.zeros((2, 2, 2)), scene)
    with pytest.raises(CardiacInputError, match="vtkMRMLScalarVolumeNode"):
        mrml.node_to_volume(mrml.points_to_node([[0, 0, 0]], scene=scene))


def test_linear_parent_transform_moves_the_volume(scene):
    node = mrml.volume_to_node(Volume(np.zeros((2, 2, 2), np.int16), (1, 1, 1), (5, 6, 7)), scene)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 10.0)  # 10 mm towards Right = -10 mm in LPS x
    transform.SetMatrixTransformToParent(m)
    node.SetAndObserveTransformNodeID(transform.GetID())
    assert mrml.node_to_volume(node).origin == (-5.0, 6.0, 7.0)


def test_segmentation_round_trip_equals_input(scene):
    label_map = _label_volume()
    count = scene.GetNumberOfNodes()
    node = mrml.labelmap_to_segmentation(label_map, scene, name="Heart")
    assert scene.GetNumberOfNodes() == count + 2  # the segmentation and its display node only
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 4
    nodes_before = scene.GetNumberOfNodes()
    back = mrml.segmentation_to_labelmap(node)
    assert scene.GetNumberOfNodes() == nodes_before  # no temporary node left behind
    assert back.array.dtype == np.uint8
    assert np.array_equal(back.array, label_map.array)
    assert back.spacing == label_map.spacing and back.origin == label_map.origin
    assert np.array_equal(back.direction, label_map.direction)
    assert back.metadata["labels"] == {
        1: "Left ventricle blood pool",
        4: "Left atrium",
        6: "Aorta",
        9: "Right coronary tree",
    }


def test_segments_named_coloured_and_tagged_from_label_table(scene):
    node = mrml.labelmap_to_segmentation(_label_volume(), scene)
    segmentation = node.GetSegmentation()
    seen = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        value = int(segment.GetLabelValue())
        label = labels.by_value(value)
        assert segment.GetName() == label.name
        assert np.allclose(segment.GetColor(), np.array(label.color) / 255.0)
        tag = vtk.reference("")
        assert segment.GetTag(mrml.LABEL_VALUE_TAG, tag) and str(tag) == str(value)
        assert segment.GetTag(segment.GetTerminologyEntryTagName(), tag)
        assert f"SCT^{label.sct}^{label.sct_meaning}" in str(tag)
        seen[value] = segment.GetName()
    assert sorted(seen) == [1, 4, 6, 9]
    assert node.GetDisplayNode() is not None
    # with show_3d, each segment also gets a closed surface (in RAS: x and y flipped from LPS)
    one = np.zeros((9, 9, 9), np.uint8)
    one[2:7, 2:7, 2:7] = labels.LA
    shown = mrml.labelmap_to_segmentation(Volume(one, (1, 1, 1), (10.0, 20.0, 30.0)), scene, show_3d=True)
    surface = vtk.vtkPolyData()
    assert shown.GetClosedSurfaceRepresentation(shown.GetSegmentation().GetNthSegmentID(0), surface)
    bounds = surface.GetBounds()
    assert surface.GetNumberOfPoints() > 0
    centre = [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2]
    assert np.allclose(centre, [-14.0, -24.0, 34.0], atol=0.1)  # voxel block centre LPS (14, 24, 34)
    assert all(4.0 < bounds[2 * a + 1] - bounds[2 * a] < 6.0 for a in range(3))  # a 5 mm cube


def test_renamed_and_user_segments_keep_or_get_values(scene):
    label_map = _label_volume()
    node = mrml.labelmap_to_segmentation(label_map, scene)
    segmentation = node.GetSegmentation()
    aorta_id = [sid for sid, v in mrml.segment_label_values(node).items() if v == labels.AORTA][0]
    segmentation.GetSegment(aorta_id).SetName("Ascending aorta (edited)")  # the tag keeps value 6
    assert np.array_equal(mrml.segmentation_to_labelmap(node).array, label_map.array)
    # a segment drawn by the user, untagged, gets the first value above the table (one voxel)
    voxel = np.zeros_like(label_map.array)
    voxel[0, 0, 0] = 1
    drawn = mrml.volume_to_node(
        label_map.with_array(voxel), scene, name="Thrombus", class_name="vtkMRMLLabelMapVolumeNode"
    )
    before = set(mrml.segment_label_values(node))
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(drawn, node)
    (user_id,) = set(mrml.segment_label_values(node)) - before
    segmentation.GetSegment(user_id).SetName("Thrombus")
    values = mrml.segment_label_values(node)
    free = max(lab.value for lab in labels.label_table()) + 1
    assert values[user_id] == free
    back = mrml.segmentation_to_labelmap(node)
    assert back.array[0, 0, 0] == free and back.metadata["labels"][free] == "Thrombus"


def test_export_onto_a_reference_grid(scene):
    label_map = _label_volume()
    node = mrml.labelmap_to_segmentation(label_map, scene)
    # the reference grid starts 3 voxels further along k: the export is the input shifted by 3 slices
    shifted_origin = label_map.index_to_lps([0, 0, 3])
    reference = Volume(np.zeros((8, 17, 19), np.int16), SPACING, shifted_origin, OBLIQUE)
    back = mrml.segmentation_to_labelmap(node, reference)
    assert back.shape == (8, 17, 19) and back.origin == tuple(shifted_origin)
    assert np.array_equal(back.array, label_map.array[3:11])


def test_unknown_labels_and_bad_label_maps(scene):
    a = np.zeros((4, 4, 4), np.int16)
    a[1, 1, 1] = 42
    node = mrml.labelmap_to_segmentation(Volume(a), scene)
    assert node.GetSegmentation().GetNthSegment(0).GetName() == "Label 42"
    assert np.array_equal(mrml.segmentation_to_labelmap(node).array, a)
    with pytest.raises(CardiacInputError, match="integer label values"):
        mrml.labelmap_to_segmentation(Volume(np.zeros((2, 2, 2), np.float32)), scene, name="probabilities")
    a[0, 0, 0] = -1
    with pytest.raises(CardiacInputError, match="negative"):
        mrml.labelmap_to_segmentation(Volume(a), scene)


def test_three_phase_sequence_plays_back_the_right_phase(scene):
    phases = []
    for k in range(3):
        array = np.full((5, 6, 7), 100 * (k + 1), np.int16)
        array[k, k, k] = -5  # a marker voxel unique to each phase
        phases.append(Volume(array, SPACING, (ORIGIN[0], ORIGIN[1], ORIGIN[2] + k), OBLIQUE))
    sequence, browser = mrml.phases_to_sequence(phases, scene, index_values=[0, 40, 70])
    assert sequence.GetNumberOfDataNodes() == 3
    assert [sequence.GetNthIndexValue(i) for i in range(3)] == ["0", "40", "70"]
    proxy_ids = set()
    for k in (2, 0, 1, 2):
        proxy = mrml.select_phase(browser, k)
        proxy_ids.add(proxy.GetID())
        shown = mrml.node_to_volume(proxy)
        assert np.array_equal(shown.array, phases[k].array)
        assert shown.origin == phases[k].origin
        assert np.array_equal(mrml.displayed_phase(browser).array, phases[k].array)
        assert browser.GetSelectedItemNumber() == k
    assert len(proxy_ids) == 1  # one proxy node whose content changes
    back = mrml.sequence_to_phases(sequence)
    assert [v.metadata["phase_index"] for v in back] == ["0", "40", "70"]
    assert all(np.array_equal(b.array, p.array) for b, p in zip(back, phases))
    with pytest.raises(CardiacInputError, match="phase 3 does not exist"):
        mrml.select_phase(browser, 3)
    with pytest.raises(CardiacInputError, match="distinct"):
        mrml.phases_to_sequence(phases, scene, index_values=[0, 0, 1])


def test_markups_round_trip_in_lps(scene):
    points = np.array([[10.5, -20.25, 30.125], [-1.0, 2.0, 3.3]])
    node = mrml.points_to_node(points, ["LCA ostium", "RCA ostium"], scene, name="Ostia")
    assert node.IsA("vtkMRMLMarkupsFiducialNode")
    assert node.GetNthControlPointPosition(0) == (-10.5, 20.25, 30.125)  # stored in RAS
    back, names = mrml.node_to_points(node)
    assert np.array_equal(back, points) and names == ["LCA ostium", "RCA ostium"]
    with pytest.raises(CardiacInputError, match="2 labels given for 1 points"):
        mrml.points_to_node([[0, 0, 0]], ["a", "b"], scene)
    with pytest.raises(CardiacInputError, match="shape"):
        mrml.points_to_node(np.zeros((2, 2)), scene=scene)


def test_curve_round_trip_in_lps(scene):
    control = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [10.0, 10.0, 5.0], [0.0, 20.0, 5.0]])
    node = mrml.curve_to_node(control, scene, name="Centerline")
    assert node.IsA("vtkMRMLMarkupsCurveNode") and not node.IsA("vtkMRMLMarkupsClosedCurveNode")
    assert np.array_equal(mrml.node_to_curve(node), control)
    dense = mrml.node_to_curve(node, interpolated=True)
    assert len(dense) > len(control)
    # the interpolating curve passes through every control point (LPS)
    for point in control:
        assert np.min(np.linalg.norm(dense - point, axis=1)) < 1e-4
    closed = mrml.curve_to_node(control[:3], scene, closed=True)
    assert closed.IsA("vtkMRMLMarkupsClosedCurveNode")
    with pytest.raises(CardiacInputError, match="at least 2 points"):
        mrml.curve_to_node(control[:1], scene)


def test_save_mrb_writes_every_node_in_lps(scene, tmp_path):
    volume = Volume(np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8), SPACING, ORIGIN, OBLIQUE)
    mrml.volume_to_node(volume, scene, name="CT")
    mrml.labelmap_to_segmentation(_label_volume(), scene, name="Heart")
    mrml.points_to_node([[1.0, 2.0, 3.0]], ["apex"], scene, name="Landmarks")
    mrml.phases_to_sequence([volume, volume], scene, name="Phases")
    path = mrml.save_mrb(tmp_path / "case.mrb", scene)
    with zipfile.ZipFile(path) as bundle:
        names = bundle.namelist()
        assert any(n.endswith(".mrml") for n in names)
        for expected in ("CT.nrrd", "Heart.seg.nrrd", "Landmarks.mrk.json", "Phases.seq.nrrd"):
            assert any(n.endswith("/" + expected) for n in names), expected
        ct_name = [n for n in names if n.endswith("/CT.nrrd")][0]
        (tmp_path / "ct.nrrd").write_bytes(bundle.read(ct_name))
    # the NRRD written by Slicer, read by ITK, is the same image in LPS
    reread = Volume.from_sitk(sitk.ReadImage(str(tmp_path / "ct.nrrd")))
    assert np.array_equal(reread.array, volume.array)
    assert reread.same_geometry(volume, tol=1e-6)
    with pytest.raises(CardiacInputError, match=r"\.mrb"):
        mrml.save_mrb(tmp_path / "case.zip", scene)


def test_mrb_round_trip_restores_every_node(scene, tmp_path):
    ct = Volume(np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8), SPACING, ORIGIN, OBLIQUE)
    label_map = _label_volume()
    mrml.volume_to_node(ct, scene, name="CT")
    mrml.labelmap_to_segmentation(label_map, scene, name="Heart")
    points = np.array([[1.5, -2.25, 3.0], [10.0, 20.0, -30.0]])
    mrml.points_to_node(points, ["LCA ostium", "RCA ostium"], scene, name="Ostia")
    phases = [ct, ct.with_array(ct.array * 2), ct.with_array(ct.array * 3)]
    mrml.phases_to_sequence(phases, scene, name="Phases", index_values=[0, 40, 70])
    path = mrml.save_mrb(tmp_path / "case.mrb", scene)

    loaded = mrml.load_mrb(path, mrml.new_scene())
    ct_back = mrml.node_to_volume(loaded.GetFirstNodeByName("CT"))
    assert np.array_equal(ct_back.array, ct.array) and ct_back.same_geometry(ct, tol=1e-6)
    heart = mrml.segmentation_to_labelmap(loaded.GetFirstNodeByName("Heart"))
    assert np.array_equal(heart.array, label_map.array)
    assert heart.metadata["labels"][labels.AORTA] == "Aorta"
    assert np.allclose(heart.spacing, SPACING) and np.allclose(heart.direction, OBLIQUE)
    ostia, names = mrml.node_to_points(loaded.GetFirstNodeByName("Ostia"))
    assert np.allclose(ostia, points, atol=1e-9) and names == ["LCA ostium", "RCA ostium"]
    browser = loaded.GetFirstNodeByClass("vtkMRMLSequenceBrowserNode")
    for k in (2, 0, 1):
        assert np.array_equal(mrml.node_to_volume(mrml.select_phase(browser, k)).array, phases[k].array)

    broken = tmp_path / "broken.mrb"
    broken.write_bytes(b"PK\x03\x04 this is not a bundle")
    with pytest.raises(CardiacInputError, match="broken.mrb"):
        mrml.load_mrb(broken, mrml.new_scene())
    with pytest.raises(CardiacInputError, match="no such scene bundle"):
        mrml.load_mrb(tmp_path / "missing.mrb", mrml.new_scene())
