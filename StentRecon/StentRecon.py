"""StentRecon: reconstruction of a coronary stent or transcatheter valve frame from cardiac CT.

Choose the CT, the device region (a segment of a segmentation, e.g. the vessel or the aorta, or a
few markup points spanning a box) and the device kind; every algorithm of CardiacPlanningLib.stent
runs with progress, each result is shown as a 3D model with its structure matching score in a
comparison table; the chosen one can be moved/rotated with a linear transform (interaction handles)
and re-sized, the score updating; finally it is propagated to every phase of a 4D sequence.
"""

# ruff: noqa: N815  (parameter node attributes use Slicer's camelCase, bound by name to the .ui)

import logging
from typing import Annotated

import qt
import slicer
import vtk
from slicer import (
    vtkMRMLLinearTransformNode,
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLSequenceNode,
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
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.mrml.models import mesh_to_model_node, reset_transform, transform_to_lps_matrix
from CardiacPlanningLib.mrml.module_widget import ModuleWidgetMixin
from CardiacPlanningLib.progress import Progress
from CardiacPlanningLib.stent.adjust import adjust
from CardiacPlanningLib.stent.pipeline import reconstruct_all
from CardiacPlanningLib.stent.propagate import propagate_device
from CardiacPlanningLib.stent.region import DEVICE_KINDS, region_from_label, region_from_points

logger = logging.getLogger(__name__)

COLORS = {
    "threshold_surface": (0.9, 0.6, 0.2),
    "tube_fit": (0.3, 0.7, 0.9),
    "deformable_cylinder": (0.6, 0.9, 0.4),
}


class StentRecon(ScriptedLoadableModule):
    """Module description (shown in Slicer's module panel)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Stent Reconstruction"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["CardiacPlanning"]
        self.parent.contributors = ["SlicerCardiacPlanning developers"]
        self.parent.helpText = (
            "Reconstructs a coronary stent or transcatheter valve frame with three algorithms "
            "(threshold surface, tube fit, deformable cylinder), scores each (wall apposition, contour "
            "completeness, continuity), lets you choose and adjust one, and propagates it to every "
            "phase of a 4D CT. "
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = "Part of SlicerCardiacPlanning, built on 3D Slicer."


@parameterNodeWrapper
class StentReconParameterNode:
    """
    inputVolume - CT volume (the reference phase).
    regionSegmentation / regionLabel - segmentation and label value of the vessel / aortic root.
    regionPoints - alternatively, markup points spanning a box around the device.
    kind - coronary, valve or generic.
    adjustTransform - linear transform moving the chosen model; radiusScale - its radius factor.
    phaseSequence / referencePhase - 4D CT and the index of the input volume's phase in it.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    regionSegmentation: vtkMRMLSegmentationNode
    regionLabel: Annotated[int, WithinRange(0, 255)] = 6
    regionPoints: vtkMRMLMarkupsFiducialNode
    kind: str = "valve"
    adjustTransform: vtkMRMLLinearTransformNode
    radiusScale: Annotated[float, WithinRange(0.5, 1.5)] = 1.0
    phaseSequence: vtkMRMLSequenceNode
    referencePhase: Annotated[int, WithinRange(0, 99)] = 0


class StentReconWidget(ModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Reads the parameter node, calls the Logic, shows the comparison table."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/StentRecon.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = StentReconLogic()
        for kind in DEVICE_KINDS:
            self.ui.kindComboBox.addItem(kind)
        self.ui.reconstructButton.connect("clicked(bool)", self.onReconstruct)
        self.ui.chooseButton.connect("clicked(bool)", self.onChoose)
        self.ui.applyAdjustButton.connect("clicked(bool)", self.onAdjust)
        self.ui.propagateButton.connect("clicked(bool)", self.onPropagate)
        self.observeSceneClose()
        self.initializeParameterNode()

    def showTable(self, rows) -> None:
        table = self.ui.comparisonTable
        headers = ["algorithm", "score", "apposition %", "completeness %", "continuity %", "worst gap (deg)"]
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                text = "-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))
                table.setItem(r, c, qt.QTableWidgetItem(text))
        self.ui.chooseComboBox.clear()
        for row in rows:
            self.ui.chooseComboBox.addItem(row[0])

    def onReconstruct(self) -> None:
        with slicer.util.tryWithErrorDisplay("Stent reconstruction failed.", waitCursor=True):
            p = self._parameterNode
            p.kind = self.ui.kindComboBox.currentText
            rows = self.runWithProgress(
                "Reconstructing...",
                lambda pr: self.logic.reconstruct(
                    p.inputVolume, p.regionSegmentation, p.regionLabel, p.regionPoints, p.kind, pr
                ),
            )
            self.showTable(rows)
            self.ui.statusLabel.text = f"{len(rows)} reconstructions; best: {rows[0][0]}"

    def onChoose(self) -> None:
        with slicer.util.tryWithErrorDisplay("Could not choose the reconstruction.", waitCursor=True):
            p = self._parameterNode
            if p.adjustTransform is None:
                p.adjustTransform = slicer.mrmlScene.AddNewNodeByClass(
                    "vtkMRMLLinearTransformNode", "Stent adjust"
                )
            model = self.logic.choose(self.ui.chooseComboBox.currentText, p.adjustTransform)
            p.adjustTransform.CreateDefaultDisplayNodes()
            p.adjustTransform.GetDisplayNode().SetEditorVisibility(True)  # interaction handles
            self.ui.statusLabel.text = f"chosen: {model.GetName()}; move it with the handles, then Apply"

    def onAdjust(self) -> None:
        with slicer.util.tryWithErrorDisplay("Adjustment failed.", waitCursor=True):
            p = self._parameterNode
            self.logic.applyAdjustment(p.adjustTransform, p.radiusScale)
            self.showTable(self.logic.tableRows())
            p.radiusScale = 1.0

    def onPropagate(self) -> None:
        with slicer.util.tryWithErrorDisplay("Propagation failed.", waitCursor=True):
            p = self._parameterNode
            nodes = self.runWithProgress(
                "Propagating...", lambda pr: self.logic.propagate(p.phaseSequence, p.referencePhase, pr)
            )
            self.ui.statusLabel.text = f"propagated to {len(nodes)} phases"


class StentReconLogic(ScriptedLoadableModuleLogic):
    """MRML in, library call, MRML out. Never opens dialogs; long work takes progress/cancel callbacks.

    After :meth:`reconstruct`: ``results`` [(Reconstruction, Score)] best first and ``models``
    {name: model node}; after :meth:`choose`: ``chosen`` (a name) whose Reconstruction
    :meth:`applyAdjustment` replaces by the adjusted one."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.results, self.models, self.chosen = [], {}, None
        self.region = self.metal = None
        self.kind = "generic"
        self.phaseModels = []

    def getParameterNode(self):
        return StentReconParameterNode(super().getParameterNode())

    def region_of(self, volume, segmentationNode=None, label=None, pointsNode=None):
        """The library Region from a segmentation (its segment of label value ``label``) or points."""
        if segmentationNode is not None:
            labels = mrml.segmentation_to_labelmap(segmentationNode, reference=volume)
            return region_from_label(volume, labels, int(label), name=segmentationNode.GetName())
        if pointsNode is not None:
            points, _ = mrml.node_to_points(pointsNode)
            return region_from_points(volume, points, name=pointsNode.GetName())
        raise CardiacInputError("choose the device region: a segmentation (and label) or markup points")

    def reconstruct(
        self,
        volumeNode,
        segmentationNode=None,
        label=6,
        pointsNode=None,
        kind="generic",
        progress=None,
        cancelled=None,
    ):
        """Run every algorithm; one model node per result; returns the comparison table rows."""
        if volumeNode is None:
            raise CardiacInputError("choose the CT volume")
        prog = Progress(progress, cancelled)
        volume = mrml.node_to_volume(volumeNode)
        self.region = self.region_of(volume, segmentationNode, label, pointsNode)
        self.kind = kind
        self.results, self.metal = reconstruct_all(volume, self.region, kind, prog.sub(0.0, 0.9))
        for rec, _ in self.results:
            self.models[rec.name] = mesh_to_model_node(
                rec.mesh,
                volumeNode.GetScene(),
                f"Stent {rec.name}",
                COLORS.get(rec.name, (0.8, 0.8, 0.8)),
                node=self.models.get(rec.name),
            )
        prog(1.0, "ranked")
        return self.tableRows()

    def tableRows(self):
        """(name, total, apposition, completeness, continuity, worst gap) per result, best first."""
        return [
            (r.name, s.total, s.apposition, s.completeness, s.continuity, s.max_gap_deg)
            for r, s in self.results
        ]

    def _index(self, name):
        names = [r.name for r, _ in self.results]
        if name not in names:
            raise CardiacInputError(f"no reconstruction named {name!r} (run the reconstruction first)")
        return names.index(name)

    def choose(self, name, transformNode=None):
        """Choose a result; its model goes under ``transformNode`` (moved by the user); others hidden."""
        self._index(name)
        self.chosen = name
        for other, node in self.models.items():
            node.GetDisplayNode().SetVisibility(other == name)
        model = self.models[name]
        if transformNode is not None:
            reset_transform(transformNode)
            model.SetAndObserveTransformNodeID(transformNode.GetID())
        return model

    def applyAdjustment(self, transformNode=None, radiusScale=1.0):
        """Adjust the chosen result by the transform (read as an LPS matrix) and radius factor; the
        model shows the adjusted surface, the transform goes back to identity; returns the Score."""
        if self.chosen is None:
            raise CardiacInputError("choose a reconstruction first")
        i = self._index(self.chosen)
        rec = self.results[i][0]
        matrix = transform_to_lps_matrix(transformNode) if transformNode is not None else None
        new, score = adjust(
            rec, self.region, self.metal, self.kind, radius_scale=radiusScale, matrix_lps=matrix
        )
        self.results[i] = (new, score)
        mesh_to_model_node(
            new.mesh,
            self.models[self.chosen].GetScene(),
            node=self.models[self.chosen],
            color=COLORS.get(new.name, (0.8, 0.8, 0.8)),
        )
        if transformNode is not None:
            reset_transform(transformNode)
        return score

    def propagate(self, sequenceNode, referencePhase=0, progress=None, cancelled=None):
        """The chosen result at every phase of ``sequenceNode`` (per-phase re-fit); one model node per
        phase ("Stent phase K"); returns them."""
        if self.chosen is None:
            raise CardiacInputError("choose a reconstruction first")
        if sequenceNode is None:
            raise CardiacInputError("choose the 4D CT sequence")
        prog = Progress(progress, cancelled)
        phases = mrml.sequence_to_phases(sequenceNode)
        rec = self.results[self._index(self.chosen)][0]
        devices = propagate_device(rec, phases, int(referencePhase), self.kind, progress=prog.sub(0.0, 0.95))
        scene = sequenceNode.GetScene()
        for node in self.phaseModels:
            scene.RemoveNode(node)
        self.phaseModels = [
            mesh_to_model_node(d.reconstruction.mesh, scene, f"Stent phase {d.phase}", (0.7, 0.7, 0.9))
            for d in devices
        ]
        prog(1.0, f"propagated to {len(devices)} phases")
        return self.phaseModels


class StentReconTest(ScriptedLoadableModuleTest):
    """Self-test: reconstruct a constructed metal tube, choose, adjust with a transform, propagate."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_ReconstructAdjustPropagate()

    def _tube(self, shift=0.0):
        import numpy as np

        from CardiacPlanningLib.imaging.volume import Volume

        z, y, x = np.indices((60, 40, 40)) * 0.5
        rho = np.hypot(x - 10.0 - shift, y - 10.0)
        ct = np.where(rho <= 6.0, 350.0, 60.0)
        ct[(np.abs(rho - 5.75) <= 0.45) & (z >= 5) & (z <= 25)] = 2000.0
        return Volume(ct.astype(np.int16), (0.5, 0.5, 0.5)), Volume(
            (rho <= 6.0).astype(np.uint8) * 8, (0.5,) * 3
        )

    def test_ReconstructAdjustPropagate(self):
        self.delayDisplay("Reconstruct, adjust, propagate")
        logic = StentReconLogic()
        ct, lab = self._tube()
        volumeNode = mrml.volume_to_node(ct, slicer.mrmlScene, "tube CT")
        segmentation = mrml.labelmap_to_segmentation(lab, slicer.mrmlScene, "vessel")
        rows = logic.reconstruct(volumeNode, segmentation, 8, None, "generic")
        self.assertEqual(len(rows), 3)
        self.assertGreater(rows[0][1], 90.0)
        transform = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "adjust")
        logic.choose(rows[0][0], transform)
        for shift, check in (
            (1.5, lambda a: self.assertLess(a, 40.0)),
            (-1.5, lambda a: self.assertGreater(a, 95.0)),
        ):
            matrix = vtk.vtkMatrix4x4()
            matrix.SetElement(0, 3, shift)  # mm towards Right
            transform.SetMatrixTransformToParent(matrix)
            check(logic.applyAdjustment(transform).apposition)
        sequence, _ = mrml.phases_to_sequence([ct, self._tube(1.0)[0]], slicer.mrmlScene)
        models = logic.propagate(sequence, 0)
        self.assertEqual(len(models), 2)
        self.delayDisplay("Test passed")
