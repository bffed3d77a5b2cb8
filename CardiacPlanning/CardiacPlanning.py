"""CardiacPlanning: the hub module of SlicerCardiacPlanning.

Loads a cardiac CT (file, DICOM series, or multi-phase DICOM as a 4D sequence), segments the heart
(scope, preset, engine, optional seed points), fine-tunes segments with undo, hands the result to the
Segment Editor, and converts label maps to segmentations named and coloured from the label table. The
algorithms live in ``CardiacPlanningLib`` (tested without Slicer); this file connects them to MRML.
"""

# ruff: noqa: N815  (parameter node attributes use Slicer's camelCase, bound by name to the .ui)

import importlib
import logging
from pathlib import Path
from typing import Annotated

import CardiacPlanningSecurity
import numpy as np
import qt
import slicer
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLMarkupsPlaneNode,
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

from CardiacPlanningLib import __version__, heart, labels, mrml
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart import session
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.mrml.module_widget import ModuleWidgetMixin
from CardiacPlanningLib.progress import as_progress

logger = logging.getLogger(__name__)

REQUIREMENTS_FILE = Path(__file__).parent / "Resources" / "requirements.txt"


def _choice(*values: str):
    """``Annotated[str, Choice(values)]``: Slicer binds a QComboBox to a str parameter only with a
    Choice (the combo box is filled from it); plain ``str`` where the wrapper has no Choice."""
    choice = getattr(slicer.parameterNodeWrapper, "Choice", None)
    return Annotated[str, choice(list(values))] if choice else str


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
            "folder), segment the whole, left or right heart, fine-tune segments with undo and refine them "
            "in the Segment Editor; label maps become segmentations named and coloured from the shared "
            "label table. Research software: clinical use needs local validation. "
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = (
            "Built on 3D Slicer, SimpleITK, pydicom and VTK. The label table uses SNOMED-CT codes as "
            "published in the DICOM standard."
        )


@parameterNodeWrapper
class CardiacPlanningParameterNode:
    """Load: inputPath, loadAsPhases -> inputVolume, phaseBrowser. Heart: scope (whole|left|right),
    preset (general|coronary|valve), engine, seeds (points) -> segmentation (also from labelMap).
    Fine-tuning of segmentation: editOperation, editPoint (RAS), editRadiusMm, editAmountMm, cutPlane."""

    inputPath: Path
    loadAsPhases: bool = False
    inputVolume: vtkMRMLScalarVolumeNode
    phaseBrowser: vtkMRMLSequenceBrowserNode
    scope: _choice(*heart.SCOPES) = "whole"
    preset: _choice(*heart.PRESETS) = "general"
    engine: _choice(*session.available_engines()) = "classical"
    seeds: vtkMRMLMarkupsFiducialNode
    labelMap: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    editOperation: _choice("grow", "shrink", "smooth", "fill holes", "remove islands", "cut") = "grow"
    editPoint: vtkMRMLMarkupsFiducialNode
    editRadiusMm: float = 10.0
    editAmountMm: float = 2.0
    cutPlane: vtkMRMLMarkupsPlaneNode


class CardiacPlanningWidget(ModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI: reads the parameter node, calls the Logic, shows the result. No algorithm here."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CardiacPlanning.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CardiacPlanningLogic()
        self.observeSceneClose()
        for button, slot in (
            (self.ui.loadButton, self.onLoadButton),
            (self.ui.applyButton, self.onApplyButton),
            (self.ui.convertButton, self.onConvertButton),
            (self.ui.editButton, self.onEditButton),
            (self.ui.undoButton, self.onUndoRedo),
            (self.ui.redoButton, lambda: self.onUndoRedo(redo=True)),
            (self.ui.refineButton, self.onRefineButton),
        ):
            button.connect("clicked(bool)", slot)
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.fillSegmentNames)
        self.ui.versionLabel.text = f"CardiacPlanningLib {__version__}"
        self.securityPanel = CardiacPlanningSecurity.SecurityPanel(self.layout, self.logic.security)
        self.fillLabelTable()
        self.initializeParameterNode()

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

    def fillSegmentNames(self, node=None) -> None:
        self.ui.editSegmentComboBox.clear()
        segmentation = node.GetSegmentation() if node is not None else None
        for index in range(segmentation.GetNumberOfSegments() if segmentation else 0):
            self.ui.editSegmentComboBox.addItem(segmentation.GetNthSegment(index).GetName())

    def ensureRequirements(self) -> bool:
        """Install missing Python packages after the user agrees (never at import time)."""
        missing = self.logic.missingRequirements()
        if not missing:
            return True
        question = "CardiacPlanning needs these Python packages:\n" + "\n".join(missing) + "\nInstall them?"
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
        with slicer.util.tryWithErrorDisplay("Failed to load the CT.", waitCursor=True):
            p = self._parameterNode
            load = self.logic.loadPhases if p.loadAsPhases else self.logic.loadVolume
            volume = self.runWithProgress("Loading...", lambda pr: load(p.inputPath, progress=pr))
            if p.loadAsPhases:
                p.phaseBrowser = volume[1]
                volume = p.phaseBrowser.GetProxyNode(p.phaseBrowser.GetMasterSequenceNode())
            p.inputVolume = volume
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
            self.ui.statusLabel.text = f"Loaded {volume.GetName()}"

    def onApplyButton(self) -> None:
        if not self.ensureRequirements():
            return
        with slicer.util.tryWithErrorDisplay("Heart segmentation failed.", waitCursor=True):
            p = self._parameterNode
            p.segmentation = node = self.runWithProgress(
                "Segmenting the heart...",
                lambda pr: self.logic.segmentHeart(p.inputVolume, p.scope, p.preset, p.engine, p.seeds, pr),
            )
            count = node.GetSegmentation().GetNumberOfSegments()
            self.ui.statusLabel.text = f"{node.GetName()}: {count} segments"

    def onConvertButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to convert the label map.", waitCursor=True):
            segmentation = self.logic.labelMapToSegmentation(self._parameterNode.labelMap)
            self._parameterNode.segmentation = segmentation
            count = segmentation.GetSegmentation().GetNumberOfSegments()
            self.ui.statusLabel.text = f"{segmentation.GetName()}: {count} segments"

    def onEditButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("The edit failed.", waitCursor=True):
            p = self._parameterNode
            segment = self.ui.editSegmentComboBox.currentText
            point = normal = None
            if p.editOperation == "cut" and p.cutPlane is not None:
                point, normal = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
                p.cutPlane.GetOriginWorld(point)
                p.cutPlane.GetNormalWorld(normal)
            elif p.editPoint is not None and p.editPoint.GetNumberOfControlPoints():
                point = [0.0, 0.0, 0.0]
                p.editPoint.GetNthControlPointPositionWorld(0, point)
            changed = self.logic.editSegment(
                p.segmentation, p.editOperation, segment, point, p.editRadiusMm, p.editAmountMm, normal
            )
            self.fillSegmentNames(p.segmentation)
            self.ui.statusLabel.text = f"{p.editOperation} {segment}: {changed} voxels changed"

    def onUndoRedo(self, redo=False) -> None:
        with slicer.util.tryWithErrorDisplay("Nothing to undo or redo.", waitCursor=True):
            what = self.logic.undoEdit(self._parameterNode.segmentation, redo=redo)
            self.fillSegmentNames(self._parameterNode.segmentation)
            self.ui.statusLabel.text = f"{'Redone' if redo else 'Undone'}: {what}"

    def onRefineButton(self) -> None:
        """Open the Segment Editor on the segmentation and CT for brush-level edits."""
        with slicer.util.tryWithErrorDisplay("Could not open the Segment Editor.", waitCursor=True):
            p = self._parameterNode
            if p.segmentation is None:
                raise CardiacInputError("choose or create a segmentation to refine")
            slicer.util.selectModule("SegmentEditor")
            editor = getattr(getattr(slicer.modules, "SegmentEditorWidget", None), "editor", None)
            if editor is None:
                return
            editor.setSegmentationNode(p.segmentation)
            if p.inputVolume is not None:
                setSource = getattr(editor, "setSourceVolumeNode", None) or editor.setMasterVolumeNode
                setSource(p.inputVolume)


class CardiacPlanningLogic(ScriptedLoadableModuleLogic):
    """MRML in, library call, MRML out. Never opens dialogs; long work takes ``progress``.
    Points given to the fine-tuning functions are world RAS mm (Slicer's frame)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.editSessions = session.EditSessions()
        self.security = CardiacPlanningSecurity.sharedLogic()  # login, audit; no update check with a case

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

    def segmentHeart(self, volumeNode, scope="whole", preset="general", engine="classical", seedsNode=None,
                     progress=None, cancelled=None) -> vtkMRMLSegmentationNode:  # fmt: skip
        """Segment the heart in ``volumeNode`` (contrast CT, HU) into a segmentation node with named,
        coloured segments (label table) and 3D surfaces. ``seedsNode``: markups points whose labels
        name structures (value, key or name) for the semi-automatic mode. Preset landmarks (e.g. the
        coronary origins) become a markups node named "<segmentation> landmarks"."""
        if volumeNode is None:
            raise CardiacInputError("choose the CT volume to segment")
        points, names = mrml.node_to_points(seedsNode) if seedsNode is not None else (None, None)
        volume, progress = mrml.node_to_volume(volumeNode), as_progress(progress, cancelled)
        result = session.segment_with_points(
            volume, scope, preset, engine, points, names, progress, volumeNode.GetName()
        )
        name = f"{volumeNode.GetName()} heart ({scope}, {preset})"
        node = mrml.labelmap_to_segmentation(result, slicer.mrmlScene, name=name, show_3d=True)
        points, names = session.landmark_points(result)
        if names:
            mrml.points_to_node(points, names, name=f"{name} landmarks")
        return node

    def editSegment(
        self, segmentationNode, operation, segment, pointRas=None, radiusMm=10.0, amountMm=2.0, normalRas=None
    ) -> int:
        """Fine-tune ``segment`` (label value, key or name) of ``segmentationNode`` with undo; returns
        the voxels changed. ``operation``: grow / shrink (by ``amountMm`` inside the sphere of
        ``radiusMm`` around ``pointRas``), smooth (sigma ``amountMm``), fill holes, remove islands, cut
        (remove the side ``normalRas`` points to, plane through ``pointRas``). Points: world RAS mm."""
        if segmentationNode is None:
            raise CardiacInputError("choose the segmentation to edit")
        point, normal = (
            None if v is None else mrml.LPS_TO_RAS @ np.asarray(v, float) for v in (pointRas, normalRas)
        )
        current = mrml.segmentation_to_labelmap(segmentationNode)
        edited, changed = self.editSessions.edit(
            segmentationNode.GetID(), current, operation, segment, point, radiusMm, amountMm, normal
        )
        self._store(segmentationNode, edited)
        return changed

    def _store(self, segmentationNode, labelMap) -> None:
        surfaces = segmentationNode.GetSegmentation().ContainsRepresentation("Closed surface")
        mrml.labelmap_to_segmentation(labelMap, node=segmentationNode, show_3d=surfaces)

    def undoEdit(self, segmentationNode, redo=False) -> str:
        """Undo (or redo) the last fine-tuning step; Segment Editor edits made since count as one step."""
        step = self.editSessions.redo if redo else self.editSessions.undo
        labelMap, what = step(segmentationNode.GetID(), mrml.segmentation_to_labelmap(segmentationNode))
        self._store(segmentationNode, labelMap)
        return what

    def labelMapToSegmentation(self, labelMapNode, name=None) -> vtkMRMLSegmentationNode:
        """A segmentation node with one segment per label in ``labelMapNode`` (a volume node)."""
        if labelMapNode is None:
            raise CardiacInputError("choose a label map volume to convert")
        labelMap = mrml.node_to_volume(labelMapNode)
        return mrml.labelmap_to_segmentation(
            labelMap, slicer.mrmlScene, name=name or f"{labelMapNode.GetName()} segmentation"
        )

    @staticmethod
    def labelTableRows() -> list:
        """(value, name, (r, g, b) 0-255, SNOMED-CT code) for every entry of the label table."""
        return [(lab.value, lab.name, lab.color, f"SCT {lab.sct}") for lab in labels.label_table()]

    @staticmethod
    def missingRequirements() -> list:
        """Lines of Resources/requirements.txt whose package is not installed (to install with consent)."""
        return session.missing_requirements(REQUIREMENTS_FILE)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


class CardiacPlanningTest(ScriptedLoadableModuleTest):
    """Self-test: exact numbers on images whose answer is known."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_EditAndUndo()

    def test_EditAndUndo(self):
        self.delayDisplay("Fine-tuning a sphere segment with undo")
        zz, yy, xx = np.indices((21, 21, 21)) - 10
        array = ((xx**2 + yy**2 + zz**2) <= 36).astype(np.uint8) * labels.RV  # radius 6 mm ball at 1 mm
        volume = Volume(array, (1.0, 1.0, 1.0), (-10.0, -10.0, -10.0))  # ball centre at the origin
        node = mrml.labelmap_to_segmentation(volume, slicer.mrmlScene, "ball")
        logic = CardiacPlanningLogic()
        removed = logic.editSegment(node, "cut", "rv", [0.0, 0.0, 0.0], normalRas=[0.0, 0.0, 1.0])  # z > 0
        self.assertEqual(removed, int(array[11:].sum() // labels.RV))
        self.assertEqual(logic.undoEdit(node), f"cut {labels.RV}")
        self.assertTrue(np.array_equal(mrml.segmentation_to_labelmap(node).array, array))
        self.delayDisplay("Test passed")
