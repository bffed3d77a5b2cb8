"""CoronarySeg module Logic, headless on slicer-core, on the synthetic tube tree of test_coronary
(aorta, a tapering artery with a 50 % stenosis, a side branch, a branch cut off by a gap): ostia
markups in, segments / curves / stenosis table / CPR volume out; cancel; errors that name the input;
a heart segmentation that blocks part of the tree."""

import numpy as np
import pytest
from conftest import load_module_file
from test_coronary import DIR, LENGTH, OSTIUM, SP, STEN_PCT, STEN_S, _build

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.coronary import reconstruct_coronaries, straightened_cpr
from CardiacPlanningLib.errors import CardiacInputError, OperationCancelled

pytestmark = pytest.mark.mrml


@pytest.fixture(scope="module")
def tubes():
    return _build()[0]


@pytest.fixture(scope="module")
def library_result(tubes):
    return reconstruct_coronaries(tubes, {"left": OSTIUM})


@pytest.fixture
def module(slicer_app):
    slicer_app.mrmlScene.Clear()
    return load_module_file("CoronarySeg")


def _inputs(slicer_app, tubes, ostium=OSTIUM, label="LCA ostium"):
    from CardiacPlanningLib import mrml

    volume_node = mrml.volume_to_node(tubes, slicer_app.mrmlScene, "tubes CT")
    ostia = mrml.points_to_node(np.asarray(ostium)[None], [label], slicer_app.mrmlScene, "Ostia")
    return volume_node, ostia


def test_reconstruct_gives_segments_curves_table_and_cpr(module, slicer_app, tubes, library_result):
    from CardiacPlanningLib import mrml
    from CardiacPlanningLib.mrml.coronary import node_to_markups, table_rows

    volume_node, ostia = _inputs(slicer_app, tubes)
    logic = module.CoronarySegLogic()
    seen = []
    nodes = logic.reconstruct(volume_node, ostia, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)
    segmentation = nodes["segmentation"].GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    assert segmentation.GetNthSegment(0).GetName() == lbl.by_value(lbl.LEFT_CORONARY).name
    back = mrml.segmentation_to_labelmap(nodes["segmentation"], reference=tubes)
    np.testing.assert_array_equal(back.array, library_result.labelmap.array)  # the library's tree exactly
    names = [b.name for b in library_result.branches]
    assert logic.branchNames() == names and sorted(nodes["curves"]) == sorted(names)
    for b in library_result.branches:  # each curve runs from the branch start to its end (RAS -> LPS)
        curve = node_to_markups(nodes["curves"][b.name]).points_lps
        np.testing.assert_allclose(curve[[0, -1]], b.points[[0, -1]], atol=1e-6)
    rows = table_rows(nodes["table"])
    assert len(rows) == len(library_result.lesions) == len(logic.stenosisRows())
    stenosis = OSTIUM + STEN_S * DIR
    graded = [
        float(row[1])
        for row, les in zip(rows, library_result.lesions)
        if np.linalg.norm(les.center - stenosis) < 4.0
    ]
    assert graded and abs(max(graded) - STEN_PCT) <= 10.0
    main = min(library_result.branches, key=lambda b: np.linalg.norm(b.points[-1] - (OSTIUM + LENGTH * DIR)))
    cpr = logic.straightenedBranch(main.name, halfWidthMm=4.0, stepMm=0.5)
    shown = slicer_app.util.arrayFromVolume(cpr)
    expected = straightened_cpr(tubes, library_result.vessel_path(main.name)[0], 4.0, 0.5)
    assert shown.shape == (expected.shape[0], 1, 17) and expected.shape[0] >= 2 * (LENGTH - 2.0)
    np.testing.assert_allclose(shown[:, 0, :], expected, atol=1e-3)
    centre = shown[:, 0, 8]
    assert np.mean(centre > 200.0) > 0.9  # the vessel runs straight down the middle
    assert np.mean(shown[:, 0, 0] < 200.0) > 0.9  # 4 mm off-axis is outside the lumen (r <= 1.6 mm)
    again = logic.straightenedBranch(main.name, 4.0, 0.5, node=cpr)
    assert again is cpr
    assert "1 left" not in logic.summary() and f"{len(names)} left" in logic.summary()


def test_cancel_and_errors_name_the_input(module, slicer_app, tubes, tmp_path):
    logic = module.CoronarySegLogic()
    volume_node, ostia = _inputs(slicer_app, tubes)
    count = slicer_app.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    with pytest.raises(OperationCancelled):
        logic.reconstruct(volume_node, ostia, cancelled=lambda: True)
    assert slicer_app.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == count
    with pytest.raises(CardiacInputError, match="contrast CT"):
        logic.reconstruct(None, ostia)
    with pytest.raises(CardiacInputError, match="place the coronary ostia"):
        logic.reconstruct(volume_node, None)
    unplaced = logic.newOstiaNode()
    with pytest.raises(CardiacInputError, match="'LCA ostium' has not been placed"):
        logic.reconstruct(volume_node, unplaced)
    _, outside = _inputs(slicer_app, tubes, ostium=[200.0, 20.0, 20.0])
    with pytest.raises(CardiacInputError, match="left coronary ostium"):
        logic.reconstruct(volume_node, outside)
    _, in_fat = _inputs(slicer_app, tubes, ostium=[60.0, 35.0, 5.0], label="RCA ostium")
    with pytest.raises(CardiacInputError, match="right coronary ostium.*contrast"):
        logic.reconstruct(volume_node, in_fat)
    with pytest.raises(CardiacInputError, match="reconstruct the coronary trees first"):
        logic.straightenedBranch("LAD")
    with pytest.raises(CardiacInputError, match="reconstruct the coronary trees first"):
        logic.writeOutputs(tmp_path)


def test_heart_segmentation_blocks_the_tree(module, slicer_app, tubes, library_result, tmp_path):
    from CardiacPlanningLib import mrml

    volume_node, ostia = _inputs(slicer_app, tubes)
    cut = OSTIUM + 28.0 * DIR  # a 'right atrium' over the main vessel from 28 mm on
    zz, yy, xx = np.indices(tubes.shape)
    heart = (np.hypot(np.hypot(xx * SP - cut[0], yy * SP - cut[1]), zz * SP - cut[2]) < 8.0).astype(np.uint8)
    heart *= lbl.RA
    heart_node = mrml.labelmap_to_segmentation(tubes.with_array(heart), slicer_app.mrmlScene, "heart")
    logic = module.CoronarySegLogic()
    nodes = logic.reconstruct(volume_node, ostia, heartSegmentationNode=heart_node)
    tree = mrml.segmentation_to_labelmap(nodes["segmentation"], reference=tubes).array == lbl.LEFT_CORONARY
    blocked = np.hypot(np.hypot(xx * SP - cut[0], yy * SP - cut[1]), zz * SP - cut[2]) < 7.0
    assert not (tree & blocked).any()
    assert (library_result.labelmap.array[blocked] == lbl.LEFT_CORONARY).sum() > 100  # it was there before
    files = logic.writeOutputs(tmp_path / "out")
    assert files["labelmap"].exists() and (tmp_path / "out" / "cpr").is_dir()
