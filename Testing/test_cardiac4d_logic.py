"""Cardiac4D Logic headless (slicer-core + stand-ins): phases already in the scene, cancellation,
clear errors. The module's own self-test (import, views, propagation, playback) runs in test_modules."""

import numpy as np
import pytest
from conftest import load_module_file

pytestmark = pytest.mark.mrml


@pytest.fixture
def module(slicer_app):
    slicer_app.mrmlScene.Clear()
    return load_module_file("Cardiac4D")


def _phases_in_scene(slicer_app):
    from CardiacPlanningLib import mrml
    from CardiacPlanningLib.imaging.volume import Volume

    phases = []
    for k in range(4):
        array = np.zeros((20, 20, 20), np.int16)
        array[5 : 15 - k, 5:15, 5:15] = 400  # a box that loses one slice per phase
        phases.append(Volume(array, (1.0, 1.0, 1.0)))
    return mrml.phases_to_sequence(phases, slicer_app.mrmlScene, index_values=["0%", "25%", "50%", "75%"])


def test_sequence_in_scene_gives_a_phase_series(module, slicer_app):
    from CardiacPlanningLib import mrml

    sequence, browser = _phases_in_scene(slicer_app)
    series = mrml.sequence_phase_series(sequence)
    assert series.labels == ["0%", "25%", "50%", "75%"] and series.percents == [0.0, 25.0, 50.0, 75.0]
    assert [int((series[k].load().array > 0).sum()) for k in range(4)] == [1000, 900, 800, 700]
    logic = module.Cardiac4DLogic()
    logic.useSequence(sequence, browser)
    assert logic.choosePhases(3)[:3] == ([0, 1, 2], 0, 2)  # ED 0 %, ES 50 % (nearest 40 %); tie -> 25 %
    views = logic.setupViews(3)
    assert views.shown_phases() == [0, 1, 2] and logic.viewLabels == ["0% ED", "25%", "50% ES"]
    assert logic.showStep(3) == [3, 0, 1]
    logic.clearViews()


def test_propagation_can_be_cancelled_and_bad_inputs_are_named(module, slicer_app, tmp_path):
    from CardiacPlanningLib import labels, mrml
    from CardiacPlanningLib.errors import CardiacInputError, OperationCancelled

    logic = module.Cardiac4DLogic()
    with pytest.raises(CardiacInputError, match="import the cardiac phases"):
        logic.setupViews(2)
    with pytest.raises(CardiacInputError, match="choose a DICOM folder"):
        logic.importPhases("")
    with pytest.raises(CardiacInputError, match="no such file"):
        logic.importPhases(tmp_path / "missing")
    sequence, browser = _phases_in_scene(slicer_app)
    logic.useSequence(sequence, browser)
    reference = mrml.sequence_phase_series(sequence)[0].load()
    array = (reference.array > 0).astype(np.uint8) * labels.LV_BLOOD_POOL
    segmentation = mrml.labelmap_to_segmentation(reference.with_array(array), slicer_app.mrmlScene, "ref")
    calls = []
    with pytest.raises(OperationCancelled):
        logic.propagate(
            0, segmentation, tmp_path / "out", lambda f, m: calls.append(f), lambda: len(calls) > 2
        )
    assert logic.segmentationSequence is None and not list((tmp_path / "out").glob("labels_phase_03*"))
    with pytest.raises(CardiacInputError, match="propagate a segmentation first"):
        logic.volumeCurves()
    with pytest.raises(CardiacInputError, match="segmentation of the reference phase"):
        logic.propagate(0, None, tmp_path / "out")
    with pytest.raises(CardiacInputError, match="output folder"):
        logic.propagate(0, segmentation, "")


def test_cancelled_import_leaves_nothing_in_the_scene(module, slicer_app, tmp_path):
    from CardiacPlanningLib.errors import OperationCancelled
    from CardiacPlanningLib.imaging.volume import Volume

    for percent in (0, 25, 50, 75):
        Volume(np.full((4, 5, 6), percent, np.int16), (1.0, 1.0, 1.0)).write(
            tmp_path / f"ct_{percent}.nii.gz"
        )
    before = slicer_app.mrmlScene.GetNumberOfNodes()
    messages = []
    with pytest.raises(OperationCancelled):
        module.Cardiac4DLogic().importPhases(
            tmp_path, lambda f, m: messages.append(m), lambda: any("3/4" in m for m in messages)
        )
    assert slicer_app.mrmlScene.GetNumberOfNodes() == before
    sequence, _browser, series = module.Cardiac4DLogic().importPhases(tmp_path)
    assert sequence.GetNumberOfDataNodes() == 4 and series.percents == [0.0, 25.0, 50.0, 75.0]
