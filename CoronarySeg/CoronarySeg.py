"""CoronarySeg: coronary artery trees from marked ostia.

The user places the left and right coronary ostia (points labelled "LCA ostium" / "RCA ostium") on a
contrast CT, optionally path points that guide a branch and a heart segmentation whose blood pools the
trees must not enter, and presses Apply: the left (8) and right (9) trees become segments, each named
branch (LM, LAD, D1, LCX, OM1, RCA, PDA, AM, ...) a markups curve, the stenoses a table, and the
selected branch a straightened curved planar reformation (CPR) shown as an image. The algorithms live
in ``CardiacPlanningLib.coronary`` (tested without Slicer); this file connects them to MRML.
"""

# ruff: noqa: N815  (parameter node attributes use Slicer's camelCase, bound by name to the .ui)

import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import slicer
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from CardiacPlanningLib import mrml
from CardiacPlanningLib.coronary import Lesion, reconstruct_coronaries, straightened_cpr, write_result
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.mrml import coronary as coronary_mrml
from CardiacPlanningLib.mrml.module_widget import ModuleWidgetMixin
from CardiacPlanningLib.progress import as_progress
from CardiacPlanningLib.security import outputs

logger = logging.getLogger(__name__)


class CoronarySeg(ScriptedLoadableModule):
    """Module description (shown in Slicer's module panel)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Coronary Segmentation"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["CardiacPlanning"]
        self.parent.contributors = ["SlicerCardiacPlanning developers"]
        self.parent.helpText = (
            "Coronary artery trees from the marked ostia of a contrast CT: place the points 'LCA ostium' "
            "and 'RCA ostium' where the arteries leave the aortic wall (optionally path points past a "
            "branch the growth missed, and a heart segmentation), then Apply. Results: the left and right "
            "trees as segments, named centerlines as curves, a stenosis table (% diameter reduction) and a "
            "straightened CPR of the selected branch. Research software: clinical use needs local "
            "validation. "
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = (
            "Part of SlicerCardiacPlanning, built on 3D Slicer, SimpleITK (Frangi objectness), "
            "scikit-image (minimal paths) and connected-components-3d."
        )


@parameterNodeWrapper
class CoronarySegParameterNode:
    """inputVolume, ostia (points "LCA ostium"/"RCA ostium"), optional pathPoints and heartSegmentation,
    minBranchMm -> outputSegmentation (8 left, 9 right), stenosisTable, cprVolume (selected branch)."""

    inputVolume: vtkMRMLScalarVolumeNode
    ostia: vtkMRMLMarkupsFiducialNode
    pathPoints: vtkMRMLMarkupsFiducialNode
    heartSegmentation: vtkMRMLSegmentationNode
    minBranchMm: Annotated[float, WithinRange(1.0, 50.0)] = 5.0
    outputSegmentation: vtkMRMLSegmentationNode
    stenosisTable: vtkMRMLTableNode
    cprVolume: vtkMRMLScalarVolumeNode
    cprHalfWidthMm: Annotated[float, WithinRange(2.0, 40.0)] = 10.0


class CoronarySegWidget(ModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI: reads the parameter node, calls the Logic, shows the result. No algorithm here."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CoronarySeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CoronarySegLogic()
        self.observeSceneClose()
        self.ui.newOstiaButton.connect("clicked(bool)", self.onNewOstiaButton)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.showCprButton.connect("clicked(bool)", self.onShowCprButton)
        self.ui.saveButton.connect("clicked(bool)", self.onSaveButton)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.ui.branchComboBox.connect("currentIndexChanged(int)", lambda _i: self.onShowCprButton())
        self.initializeParameterNode()

    def onNewOstiaButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Could not create the ostia points.", waitCursor=True):
            self._parameterNode.ostia = node = self.logic.newOstiaNode()
            self.ui.ostiaPlaceWidget.setCurrentNode(node)
            self.ui.ostiaPlaceWidget.setPlaceModeEnabled(True)
            self.ui.statusLabel.text = (
                "Place 'LCA ostium' and 'RCA ostium' where the arteries leave the aorta"
            )

    def onApplyButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Coronary reconstruction failed.", waitCursor=True):
            p = self._parameterNode
            nodes = self.runWithProgress(
                "Reconstructing the coronary trees...",
                lambda pr: self.logic.reconstruct(
                    p.inputVolume, p.ostia, p.pathPoints, p.heartSegmentation, p.outputSegmentation,
                    p.minBranchMm, progress=pr,
                ),
            )  # fmt: skip
            p.outputSegmentation = nodes["segmentation"]
            p.stenosisTable = nodes["table"]
            self.ui.stenosisTableView.setMRMLTableNode(nodes["table"])
            self.ui.branchComboBox.clear()
            for name in self.logic.branchNames():
                self.ui.branchComboBox.addItem(name)
            self.ui.statusLabel.text = self.logic.summary()

    def onShowCprButton(self) -> None:
        name = self.ui.branchComboBox.currentText
        if not name or self.logic.result is None:
            return
        with slicer.util.tryWithErrorDisplay("Could not build the CPR.", waitCursor=True):
            p = self._parameterNode
            p.cprVolume = node = self.logic.straightenedBranch(name, p.cprHalfWidthMm, node=p.cprVolume)
            sliceWidget = slicer.app.layoutManager().sliceWidget("Red")
            sliceWidget.mrmlSliceCompositeNode().SetBackgroundVolumeID(node.GetID())
            sliceWidget.mrmlSliceNode().RotateToVolumePlane(node)
            sliceWidget.sliceLogic().FitSliceToAll()

    def onSaveButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Could not save the results.", waitCursor=True):
            folder = self.ui.outputPathLineEdit.currentPath
            files = self.logic.writeOutputs(folder)
            self.ui.statusLabel.text = f"Saved {len(files)} outputs to {outputs.current().where(folder)}"

    def onExportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Could not export the results.", waitCursor=True):
            folder = self.ui.outputPathLineEdit.currentPath
            files = self.logic.exportOutputs(folder)
            self.ui.statusLabel.text = f"Exported {len(files)} outputs to {folder}"


class CoronarySegLogic(ScriptedLoadableModuleLogic):
    """MRML in, library call, MRML out. Never opens dialogs; long work takes ``progress``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.result = None
        self.volume = None
        self.curveNodes = {}

    def getParameterNode(self):
        return CoronarySegParameterNode(super().getParameterNode())

    @staticmethod
    def newOstiaNode(name="Coronary ostia") -> vtkMRMLMarkupsFiducialNode:
        """A point list with the unplaced points "LCA ostium" and "RCA ostium" for the user to place."""
        return coronary_mrml.ostia_node(scene=slicer.mrmlScene, name=name)

    def reconstruct(self, volumeNode, ostiaNode, pointsNode=None, heartSegmentationNode=None,
                    segmentationNode=None, minBranchMm=5.0, progress=None, cancelled=None):  # fmt: skip
        """Reconstruct the coronary trees of ``volumeNode`` (contrast CT, HU) from the ostia in
        ``ostiaNode``; ``pointsNode``: path points past branches growth missed; ``heartSegmentationNode``:
        heart segments whose blood pools the trees may not enter. Returns ``{"segmentation", "curves":
        {branch: curve node}, "table"}``; ``segmentationNode`` is reused when given. Curves of an
        earlier run of this Logic are replaced."""
        if volumeNode is None:
            raise CardiacInputError("choose the contrast CT volume")
        if ostiaNode is None or ostiaNode.GetNumberOfControlPoints() == 0:
            raise CardiacInputError("place the coronary ostia (points labelled 'LCA ostium' / 'RCA ostium')")
        progress = as_progress(progress, cancelled)
        volume = mrml.node_to_volume(volumeNode)
        ostia = coronary_mrml.node_to_markups(ostiaNode)
        points = coronary_mrml.node_to_markups(pointsNode) if pointsNode is not None else None
        heart = None
        if heartSegmentationNode is not None:
            heart = mrml.segmentation_to_labelmap(heartSegmentationNode, reference=volume)
        result = reconstruct_coronaries(
            volume, ostia, points, min_branch_mm=minBranchMm, progress=progress.sub(0.0, 0.9), heart=heart
        )
        progress.check()
        for node in self.curveNodes.values():
            if node.GetScene() is not None:
                mrml.remove_node(slicer.mrmlScene, node)
        name = volumeNode.GetName()
        nodes = coronary_mrml.result_to_nodes(
            result, slicer.mrmlScene, name, segmentation_node=segmentationNode
        )
        self.result, self.volume, self.curveNodes = result, volume, nodes["curves"]
        progress(1.0, f"{len(result.branches)} branches, {len(result.lesions)} stenoses")
        return nodes

    def branchNames(self) -> list:
        """Names of the reconstructed branches (left tree first), empty before :meth:`reconstruct`."""
        return [b.name for b in self.result.branches] if self.result else []

    def stenosisRows(self) -> list:
        """(branch, % diameter, length mm, reference radius mm, minimal radius mm, start mm) per lesion."""
        return coronary_mrml.stenosis_rows(self.result.lesions) if self.result else []

    def summary(self) -> str:
        """One line: branches per tree, stenoses and run time."""
        if self.result is None:
            return "No coronary reconstruction yet"
        trees = {t: sum(b.tree == t for b in self.result.branches) for t in ("left", "right")}
        seconds = self.result.timings.get("total_s", 0.0)
        text = (
            f"{trees['left']} left and {trees['right']} right branches, "
            f"{len(self.result.lesions)} stenoses ({seconds:.0f} s)"
        )
        return "\n".join([text] + [f"Warning: {w}" for w in self.result.warnings])

    def straightenedBranch(self, name, halfWidthMm=10.0, stepMm=0.25, node=None) -> vtkMRMLScalarVolumeNode:
        """A straightened CPR (HU) of the vessel from the ostium to the end of branch ``name`` as a
        one-slice volume node (rows along the vessel, ``stepMm`` pixels); ``node`` is reused if given."""
        if self.result is None:
            raise CardiacInputError("reconstruct the coronary trees first")
        if name not in self.branchNames():
            raise CardiacInputError(f"no branch named {name!r} (branches: {', '.join(self.branchNames())})")
        points = self.result.vessel_path(name)[0]
        image = straightened_cpr(self.volume, points, halfWidthMm, stepMm)
        return coronary_mrml.cpr_to_node(image, stepMm, slicer.mrmlScene, f"CPR {name}", node=node)

    OUTPUT_PREFIX = "coronary"  # object folder of the outputs in a case of the store

    def writeOutputs(self, folder=None) -> dict:
        """Save the label map, centerlines (JSON, .mrk.json), stenoses (CSV, JSON) and CPR PNGs: into
        the open case of the encrypted store (objects ``coronary/...``) while someone is logged in,
        else into ``folder`` (security.outputs). Returns {kind: object name or path}."""
        if self.result is None:
            raise CardiacInputError("reconstruct the coronary trees first")
        out = outputs.current()
        with out.saving("CoronarySeg outputs", self.OUTPUT_PREFIX, folder) as target:
            return out.located(write_result(self.result, self.volume, target), target, self.OUTPUT_PREFIX)

    def exportOutputs(self, folder) -> dict:
        """Export the same files as plain files to ``folder``: an audited export, refused (and the
        refusal audited) for roles that may not export. Returns {kind: path}."""
        if self.result is None:
            raise CardiacInputError("reconstruct the coronary trees first")
        with outputs.current().exporting("CoronarySeg outputs", folder) as target:
            return write_result(self.result, self.volume, Path(target))


class CoronarySegTest(ScriptedLoadableModuleTest):
    """Self-test: exact numbers on inputs whose answer is known."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_OstiaNodeAndStenosisTable()
        self.setUp()
        self.test_StraightenedImageOfAStraightVessel()

    def test_OstiaNodeAndStenosisTable(self):
        self.delayDisplay("Ostia points and stenosis table")
        node = CoronarySegLogic.newOstiaNode()
        markups = coronary_mrml.node_to_markups(node)
        self.assertEqual(markups.labels, ["LCA ostium", "RCA ostium"])
        self.assertFalse(markups.defined_mask.any())  # unplaced: the user places them
        lesion = Lesion("LAD", 52.345, 6.04, np.zeros(3), 1.5, 0.7155, 20.0)
        table = coronary_mrml.stenosis_table([lesion], slicer.mrmlScene)
        self.assertEqual(coronary_mrml.table_rows(table), [["LAD", "52.3", "6", "1.5", "0.72", "20"]])
        self.delayDisplay("Test passed")

    def test_StraightenedImageOfAStraightVessel(self):
        self.delayDisplay("CPR of a straight vessel")
        zz, yy, xx = np.indices((20, 21, 21)).astype(np.float32)
        array = np.where(np.hypot(xx - 10, yy - 10) <= 2, 400.0, 0.0) + zz  # vessel along z, HU rise 1/mm
        volume = Volume(array.astype(np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
        points = np.array([[10.0, 10.0, 2.0], [10.0, 10.0, 12.0]])  # LPS mm
        image = straightened_cpr(volume, points, half_width_mm=5.0, step_mm=0.5)
        node = coronary_mrml.cpr_to_node(image, 0.5, slicer.mrmlScene, "CPR test")
        shown = slicer.util.arrayFromVolume(node)
        self.assertEqual(shown.shape, (21, 1, 21))  # 10 mm at 0.5 mm along, +-5 mm across
        self.assertAlmostEqual(float(shown[0, 0, 10]), 402.0, places=3)  # centre, z = 2 mm
        self.assertAlmostEqual(float(shown[20, 0, 10]), 412.0, places=3)
        self.assertAlmostEqual(float(shown[10, 0, 0]), 7.0, places=3)  # 5 mm off-axis: outside the vessel
        self.delayDisplay("Test passed")
