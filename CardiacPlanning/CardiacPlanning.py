"""CardiacPlanning: the hub module of SlicerCardiacPlanning.

Loads a cardiac CT (an image file, a DICOM series folder, or a multi-phase DICOM folder as a 4D
sequence) into the scene through ``CardiacPlanningLib``, turns label maps into segmentations named and
coloured from the project's label table, and shows that table. The algorithms live in
``CardiacPlanningLib`` (pure Python, tested without Slicer); this file only connects them to MRML.
"""

# ruff: noqa: N815  (parameter node attributes use Slicer's camelCase, bound by name to the .ui)

import importlib
import logging
import os
from pathlib import Path

import qt
import slicer
from slicer import (
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLSequenceBrowserNode,
)
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from CardiacPlanningLib import __version__, labels, mrml
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.progress import Progress

logger = logging.getLogger(__name__)

REQUIREMENTS_FILE = Path(__file__).parent / "Resources" / "requirements.txt"


#
# CardiacPlanning
#


class CardiacPlanning(ScriptedLoadableModule):
    """Module description (shown in Slicer's module panel)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Cardiac Planning"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerCardiacPlanning developers"]
        self.parent.helpText = (
            "Hub of SlicerCardiacPlanning: load a cardiac CT (file, DICOM series or multi-phase DICOM "
            "folder), convert label maps to segmentations named and coloured from the shared label table. "
            "Research software: clinical use needs local validation. "
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = (
            "Built on 3D Slicer, SimpleITK, pydicom and VTK. The label table uses SNOMED-CT codes as "
            "published in the DICOM standard."
        )


#
# CardiacPlanningParameterNode
#


@parameterNodeWrapper
class CardiacPlanningParameterNode:
    """
    inputPath - image file (NIfTI/NRRD/MHA) or DICOM folder to load.
    loadAsPhases - read a DICOM folder as cardiac phases into a sequence.
    inputVolume - the loaded (or chosen) CT volume.
    labelMap - a label map volume to turn into a segmentation.
    segmentation - the segmentation made from the label map.
    phaseBrowser - the sequence browser of the loaded phases.
    """

    inputPath: Path
    loadAsPhases: bool = False
    inputVolume: vtkMRMLScalarVolumeNode
    labelMap: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    phaseBrowser: vtkMRMLSequenceBrowserNode


#
# CardiacPlanningWidget
#


class CardiacPlanningWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI: reads the parameter node, calls the Logic, shows the result. No algorithm here."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CardiacPlanning.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CardiacPlanningLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.loadButton.connect("clicked(bool)", self.onLoadButton)
        self.ui.convertButton.connect("clicked(bool)", self.onConvertButton)
        self.ui.versionLabel.text = f"CardiacPlanningLib {__version__}"
        self.fillLabelTable()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    def fillLabelTable(self) -> None:
        rows = self.logic.labelTableRows()
        table = self.ui.labelTable
        table.setRowCount(len(rows))
        for row, (value, name, color, code) in enumerate(rows):
            valueItem = qt.QTableWidgetItem(str(value))
            valueItem.setBackground(qt.QColor(*color))
            table.setItem(row, 0, valueItem)
            table.setItem(row, 1, qt.QTableWidgetItem(name))
            table.setItem(row, 2, qt.QTableWidgetItem(code))

    @staticmethod
    def progressFromDialog(dialog) -> Progress:
        """A library Progress that moves ``dialog`` and stops when its Cancel button is pressed."""

        def report(fraction, message):
            dialog.value = int(100 * fraction)
            dialog.labelText = message or dialog.labelText
            slicer.app.processEvents()

        return Progress(report, lambda: dialog.wasCanceled)

    def ensureRequirements(self) -> bool:
        """Install missing Python packages after the user agrees (never at import time)."""
        missing = self.logic.missingRequirements()
        if not missing:
            return True
        question = (
            "CardiacPlanning needs these Python packages:\n" + "\n".join(missing) + "\nInstall them now?"
        )
        if not slicer.util.confirmOkCancelDisplay(question):
            return False
        with slicer.util.tryWithErrorDisplay("Failed to install the Python packages.", waitCursor=True):
            try:
                pydeps = importlib.import_module("slicer.pydeps")  # Slicer >= 5.11
            except ImportError:
                slicer.util.pip_install(missing)
            else:
                requirements = pydeps.load_requirements(str(REQUIREMENTS_FILE))
                pydeps.pip_ensure(requirements, requester="CardiacPlanning")
        return not self.logic.missingRequirements()

    def onLoadButton(self) -> None:
        if not self.ensureRequirements():
            return
        dialog = slicer.util.createProgressDialog(labelText="Loading...", maximum=100)
        progress = self.progressFromDialog(dialog)
        with slicer.util.tryWithErrorDisplay("Failed to load the CT.", waitCursor=True):
            path = self._parameterNode.inputPath
            try:
                if self._parameterNode.loadAsPhases:
                    _sequence, browser = self.logic.loadPhases(path, progress=progress)
                    self._parameterNode.phaseBrowser = browser
                    volume = browser.GetProxyNode(browser.GetMasterSequenceNode())
                else:
                    volume = self.logic.loadVolume(path, progress=progress)
            finally:
                dialog.close()
            self._parameterNode.inputVolume = volume
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
            self.ui.statusLabel.text = f"Loaded {volume.GetName()}"

    def onConvertButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to convert the label map.", waitCursor=True):
            segmentation = self.logic.labelMapToSegmentation(self._parameterNode.labelMap)
            self._parameterNode.segmentation = segmentation
            count = segmentation.GetSegmentation().GetNumberOfSegments()
            self.ui.statusLabel.text = f"{segmentation.GetName()}: {count} segments"


#
# CardiacPlanningLogic
#


class CardiacPlanningLogic(ScriptedLoadableModuleLogic):
    """MRML in, library call, MRML out. Never opens dialogs; long work takes ``progress``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return CardiacPlanningParameterNode(super().getParameterNode())

    def loadVolume(self, path, name=None, progress=None) -> vtkMRMLScalarVolumeNode:
        """Load an image file (NIfTI/NRRD/MHA) or a one-series DICOM folder as a scalar volume node."""
        path = Path(path)
        if path.is_dir():
            from CardiacPlanningLib.imaging.dicom import read_dicom_series

            volume = read_dicom_series(path, progress=progress)
        else:
            volume = Volume.read(path)
        nodeName = name or volume.metadata.get("series_description") or _stem(path)
        return mrml.volume_to_node(volume, slicer.mrmlScene, name=nodeName)

    def loadPhases(self, folder, name=None, progress=None):
        """Load a multi-phase DICOM folder as (sequence node, sequence browser node), in cycle order."""
        from CardiacPlanningLib.imaging.phases import read_phases

        phases = read_phases(folder, progress=progress)
        volumes = [volume for _phase, volume in phases]
        indexValues = [phase.label for phase, _volume in phases]
        return mrml.phases_to_sequence(
            volumes, slicer.mrmlScene, name=name or _stem(Path(folder)), index_values=indexValues
        )

    def labelMapToSegmentation(self, labelMapNode, name=None) -> vtkMRMLSegmentationNode:
        """A segmentation node with one segment per label in ``labelMapNode`` (a volume node)."""
        if labelMapNode is None:
            raise CardiacInputError("choose a label map volume to convert")
        labelMap = mrml.node_to_volume(labelMapNode)
        return mrml.labelmap_to_segmentation(
            labelMap, slicer.mrmlScene, name=name or f"{labelMapNode.GetName()} segmentation"
        )

    def segmentationToLabelMap(self, segmentationNode, name=None):
        """A label map volume node painting each segment with its label value."""
        labelMap = mrml.segmentation_to_labelmap(segmentationNode)
        return mrml.volume_to_node(
            labelMap,
            slicer.mrmlScene,
            name=name or f"{segmentationNode.GetName()} label map",
            class_name="vtkMRMLLabelMapVolumeNode",
        )

    @staticmethod
    def labelTableRows() -> list:
        """(value, name, (r, g, b) 0-255, SNOMED-CT code) for every entry of the label table."""
        return [(lab.value, lab.name, lab.color, f"SCT {lab.sct}") for lab in labels.label_table()]

    @staticmethod
    def missingRequirements() -> list:
        """Lines of Resources/requirements.txt whose package is not importable (to install with consent)."""
        from importlib.metadata import PackageNotFoundError, version

        missing = []
        for line in REQUIREMENTS_FILE.read_text(encoding="utf-8").splitlines():
            requirement = line.split("#")[0].strip()
            if not requirement:
                continue
            package = requirement.split(">=")[0].split("[")[0].strip()
            try:
                version(package)
            except PackageNotFoundError:
                missing.append(requirement)
        return missing


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


#
# CardiacPlanningTest
#


class CardiacPlanningTest(ScriptedLoadableModuleTest):
    """Self-test: exact numbers on images whose answer is known."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_LoadVolumeKeepsGeometry()
        self.setUp()
        self.test_LabelMapToSegmentation()
        self.setUp()
        self.test_ParameterNode()

    def test_LoadVolumeKeepsGeometry(self):
        self.delayDisplay("Loading an oblique NRRD volume")
        import tempfile

        import numpy as np

        c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
        direction = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 1000
        volume = Volume(array, (0.5, 0.75, 2.0), (10.0, -20.0, 30.0), direction)
        with tempfile.TemporaryDirectory() as folder:
            path = volume.write(os.path.join(folder, "ct.nrrd"))
            node = CardiacPlanningLogic().loadVolume(path)
        self.assertEqual(node.GetName(), "ct")
        self.assertTrue(np.array_equal(slicer.util.arrayFromVolume(node), array))
        self.assertEqual(node.GetOrigin(), (-10.0, 20.0, 30.0))  # LPS (10, -20, 30) in RAS
        self.assertTrue(np.allclose(node.GetSpacing(), (0.5, 0.75, 2.0), atol=1e-9))
        with self.assertRaises(CardiacInputError):
            CardiacPlanningLogic().loadVolume(Path(folder) / "missing.nrrd")
        self.delayDisplay("Test passed")

    def test_LabelMapToSegmentation(self):
        self.delayDisplay("Label map to segmentation")
        import numpy as np

        array = np.zeros((10, 12, 14), np.uint8)
        array[1:4, 2:6, 3:8] = labels.LV_BLOOD_POOL  # 3*4*5 = 60 voxels
        array[6:9, 6:8, 9:10] = labels.AORTA  # 3*2*1 = 6 voxels
        labelNode = mrml.volume_to_node(
            Volume(array, (0.8, 0.8, 1.0)), slicer.mrmlScene, "labels", class_name="vtkMRMLLabelMapVolumeNode"
        )
        logic = CardiacPlanningLogic()
        segmentationNode = logic.labelMapToSegmentation(labelNode)
        segmentation = segmentationNode.GetSegmentation()
        names = sorted(
            segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())
        )
        self.assertEqual(names, ["Aorta", "Left ventricle blood pool"])
        exported = slicer.util.arrayFromVolume(logic.segmentationToLabelMap(segmentationNode))
        self.assertEqual(int((exported == labels.LV_BLOOD_POOL).sum()), 60)
        self.assertEqual(int((exported == labels.AORTA).sum()), 6)
        self.assertTrue(np.array_equal(exported, array))
        self.delayDisplay("Test passed")

    def test_ParameterNode(self):
        self.delayDisplay("Parameter node")
        logic = CardiacPlanningLogic()
        parameters = logic.getParameterNode()
        self.assertFalse(parameters.loadAsPhases)
        parameters.loadAsPhases = True
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
        parameters.inputVolume = node
        again = logic.getParameterNode()
        self.assertTrue(again.loadAsPhases)
        self.assertEqual(again.inputVolume.GetID(), node.GetID())
        self.assertEqual(len(logic.labelTableRows()), len(labels.label_table()))
        self.delayDisplay("Test passed")
