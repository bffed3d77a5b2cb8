"""Each Slicer module file imports headless, its Logic works and its Test class passes (slicer-core).

No ``from __future__ import annotations`` here: the parameter node class defined in a test must keep
evaluated annotations, as in a module file.
"""

import ast
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import MODULE_NAMES, REPOSITORY, load_module_file

pytestmark = pytest.mark.mrml


@pytest.fixture(params=MODULE_NAMES)
def module_name(request, slicer_app):
    return request.param


def test_module_description(module_name):
    module = load_module_file(module_name)
    description = getattr(module, module_name)(None)
    parent = description.parent
    assert parent.categories == ["Cardiac"]
    assert parent.title and parent.helpText and parent.acknowledgementText and parent.contributors
    expected_dependencies = [] if module_name == "CardiacPlanning" else ["CardiacPlanning"]
    assert parent.dependencies == expected_dependencies


def test_module_self_test_passes(module_name, slicer_app):
    module = load_module_file(module_name)
    slicer_app.mrmlScene.Clear()
    # the way Slicer's "Reload and Test" runs it: the module's runTest runs <Name>Test().runTest()
    getattr(module, module_name)(None).runTest(msec=0)


def _ui_tree(module_name):
    return ET.parse(REPOSITORY / module_name / "Resources" / "UI" / f"{module_name}.ui").getroot()


def test_ui_has_every_widget_the_widget_uses_and_binds_parameters(module_name):
    root = _ui_tree(module_name)
    assert root.tag == "ui" and root.get("version") == "4.0"
    widget_names = {w.get("name") for w in root.iter("widget")}
    source = (REPOSITORY / module_name / f"{module_name}.py").read_text(encoding="utf-8")
    used = set(re.findall(r"self\.ui\.(\w+)", source))
    assert used <= widget_names, f"widgets missing from the .ui: {used - widget_names}"
    module = load_module_file(module_name)
    parameters = getattr(module, f"{module_name}ParameterNode").allParameters
    bound = set()
    for widget in root.iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound.add(prop.find("string").text)
    assert bound, "no widget is bound to the parameter node"
    assert bound <= set(parameters), (
        f"SlicerParameterName not in the parameter node: {bound - set(parameters)}"
    )


def test_module_resources_and_cmake_lists(module_name):
    folder = REPOSITORY / module_name
    from PIL import Image

    with Image.open(folder / "Resources" / "Icons" / f"{module_name}.png") as icon:
        assert icon.size == (128, 128)
        pixels = np.asarray(icon.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 8  # a drawing, not a flat square
    requirements = (folder / "Resources" / "requirements.txt").read_text(encoding="utf-8")
    lines = [ln.split("#")[0].strip() for ln in requirements.splitlines()]
    for line in filter(None, lines):
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+>=[0-9][0-9.]*", line), line
    cmake = (folder / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "slicerMacroBuildScriptedModule" in cmake and "WITH_GENERIC_TESTS" in cmake
    assert f"set(MODULE_NAME {module_name})" in cmake
    for resource in (
        "${MODULE_NAME}.py",
        "Resources/Icons/${MODULE_NAME}.png",
        "Resources/UI/${MODULE_NAME}.ui",
        "Resources/requirements.txt",
    ):
        assert resource in cmake
    root_cmake = (REPOSITORY / "CMakeLists.txt").read_text(encoding="utf-8")
    assert f"add_subdirectory({module_name})" in root_cmake


def test_module_files_stay_thin_and_only_mrml_imports_slicer(module_name):
    source = (REPOSITORY / module_name / f"{module_name}.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 420
    assert "import *" not in source
    library = REPOSITORY / "CardiacPlanning" / "CardiacPlanningLib"
    for path in library.rglob("*.py"):
        if "mrml" in path.relative_to(library).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
        assert not imported & {"slicer", "qt", "ctk"}, path


def test_root_cmake_extension_metadata():
    text = (REPOSITORY / "CMakeLists.txt").read_text(encoding="utf-8")
    for key in (
        "HOMEPAGE",
        "CATEGORY",
        "CONTRIBUTORS",
        "DESCRIPTION",
        "ICONURL",
        "SCREENSHOTURLS",
        "DEPENDS",
    ):
        assert re.search(rf"set\(EXTENSION_{key} ", text), key
    assert 'set(EXTENSION_CATEGORY "Cardiac")' in text
    # the icon and screenshots the Extension Manager shows are files of this repository's main branch
    raw = "https://raw.githubusercontent.com/SlicerCardiacPlanning/SlicerCardiacPlanning/main/"
    linked = re.findall(re.escape(raw) + r"([^\s\"]+)", text)
    assert len(linked) >= 2
    for relative in linked:
        assert (REPOSITORY / relative).is_file(), relative
    assert "project(SlicerCardiacPlanning)" in text
    assert "find_package(Slicer REQUIRED)" in text and "## NEXT_MODULE" in text
    assert text.index("## NEXT_MODULE") > max(text.index(f"add_subdirectory({n})") for n in MODULE_NAMES)
    assert "Slicer_EXTENSION_GENERATE_CONFIG" in text and "Slicer_EXTENSION_CPACK" in text
    library_cmake = (REPOSITORY / "CardiacPlanning" / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "GLOB_RECURSE" in library_cmake and "CardiacPlanningLib/*.py" in library_cmake
    assert "CardiacPlanningLib/*.json" in library_cmake


def test_hub_logic_loads_a_file_and_converts_labels(slicer_app, tmp_path):
    module = load_module_file("CardiacPlanning")
    from CardiacPlanningLib import labels, mrml
    from CardiacPlanningLib.errors import CardiacInputError
    from CardiacPlanningLib.imaging import Volume

    slicer_app.mrmlScene.Clear()
    logic = module.CardiacPlanningLogic()
    array = np.zeros((6, 7, 8), np.int16)
    array[1:3, 2:5, 3:7] = labels.RV  # 2*3*4 = 24 voxels
    array[4, 4, 4] = labels.PULMONARY_ARTERY
    path = Volume(array, (0.6, 0.6, 1.5), (1.0, 2.0, 3.0)).write(tmp_path / "labels.nii.gz")
    node = logic.loadVolume(path)
    assert node.GetName() == "labels" and node.GetScene() is slicer_app.mrmlScene
    segmentation = logic.labelMapToSegmentation(node)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 2
    back = mrml.segmentation_to_labelmap(segmentation)
    assert int((back.array == labels.RV).sum()) == 24 and np.array_equal(back.array, array)
    with pytest.raises(CardiacInputError, match="label map"):
        logic.labelMapToSegmentation(None)
    assert logic.missingRequirements() == []  # everything is installed in the test environment


def test_hub_logic_loads_dicom_series_and_phases(slicer_app, tmp_path):
    module = load_module_file("CardiacPlanning")
    from CardiacPlanningLib import mrml
    from CardiacPlanningLib.imaging import Volume
    from CardiacPlanningLib.imaging.dicom_write import write_dicom_series

    slicer_app.mrmlScene.Clear()
    logic = module.CardiacPlanningLogic()
    study, frame = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    phases = []
    for k, percent in enumerate((70, 0, 40)):  # written out of cycle order
        array = np.full((4, 5, 6), 100 * k, np.int16)
        array[0, 0, k] = 900  # a marker voxel per phase
        volume = Volume(array, (0.7, 0.7, 1.25), (-20.0, 10.0, 50.0))
        write_dicom_series(
            volume,
            tmp_path / "4d" / f"phase{percent}",
            study_uid=study,
            frame_of_reference_uid=frame,
            series_number=10 + k,
            series_description=f"CTA {percent}%",
            nominal_cardiac_phase_percent=percent,
        )
        phases.append((percent, volume))
    single = logic.loadVolume(tmp_path / "4d" / "phase40")
    assert single.GetName() == "CTA 40%"
    assert np.array_equal(mrml.node_to_volume(single).array, dict(phases)[40].array)
    assert single.GetOrigin() == (20.0, -10.0, 50.0)  # LPS -> RAS
    sequence, browser = logic.loadPhases(tmp_path / "4d")
    assert [sequence.GetNthIndexValue(i) for i in range(3)] == ["0%", "40%", "70%"]  # cycle order
    for item, percent in enumerate((0, 40, 70)):
        shown = mrml.node_to_volume(mrml.select_phase(browser, item))
        assert np.array_equal(shown.array, dict(phases)[percent].array)


def test_parameter_node_wrapper_standin_stores_typed_values(slicer_app):
    from pathlib import Path
    from typing import Annotated

    from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper

    @parameterNodeWrapper
    class Parameters:
        threshold: Annotated[float, WithinRange(-1000, 3000)] = 130.0
        iterations: int = 3
        smooth: bool = True
        output: Path
        volume: slicer_app.vtkMRMLScalarVolumeNode

    node = slicer_app.vtkMRMLScriptedModuleNode()
    slicer_app.mrmlScene.AddNode(node)
    params = Parameters(node)
    assert (params.threshold, params.iterations, params.smooth) == (130.0, 3, True)
    assert node.GetParameter("threshold") == "130.0" and node.GetParameter("smooth") == "true"
    params.threshold, params.iterations, params.smooth = 250.5, 7, False
    params.output = Path("/tmp/report")
    volume = slicer_app.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    params.volume = volume
    again = Parameters(node)  # a second view of the same node sees the stored values
    assert (again.threshold, again.iterations, again.smooth) == (250.5, 7, False)
    assert again.output == Path("/tmp/report") and again.volume.GetID() == volume.GetID()
    with pytest.raises(ValueError, match="outside"):
        again.threshold = 5000.0
    with pytest.raises(TypeError, match="vtkMRMLScalarVolumeNode"):
        again.volume = slicer_app.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    import slicer_standins

    assert "slicer.app" in slicer_standins.installed()  # slicer-core 5.11.0.6 has no application
