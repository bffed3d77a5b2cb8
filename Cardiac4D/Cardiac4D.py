"""Cardiac4D: 4D (multi-phase) cardiac CT in SlicerCardiacPlanning.

Imports a multi-phase CT (DICOM folder, folder of phase volumes, Slicer ``.seq.nrrd``) as a sequence,
shows chosen phases (end-diastole and end-systole by default) side by side in synchronised slice views,
propagates the segmentation of one reference phase to every phase by deformable registration and plays
the result back in every view, with LV/LA volume curves and the ejection fraction. The algorithms are in
``CardiacPlanningLib.motion``; the MRML side in ``CardiacPlanningLib.mrml``.
"""

# ruff: noqa: N815  (parameter node attributes use Slicer's camelCase, bound by name to the .ui)

import logging
from pathlib import Path
from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLSegmentationNode, vtkMRMLSequenceBrowserNode, vtkMRMLSequenceNode
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from CardiacPlanningLib import labels, mrml
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.motion import curves, views
from CardiacPlanningLib.motion.phase_io import open_phases
from CardiacPlanningLib.motion.propagate import propagate_labels
from CardiacPlanningLib.mrml.module_widget import ModuleWidgetMixin
from CardiacPlanningLib.progress import Progress
from CardiacPlanningLib.security import outputs

logger = logging.getLogger(__name__)


#
# Cardiac4D
#


class Cardiac4D(ScriptedLoadableModule):
    """Module description (shown in Slicer's module panel)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Cardiac 4D"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["CardiacPlanning"]
        self.parent.contributors = ["SlicerCardiacPlanning developers"]
        self.parent.helpText = (
            "Multi-phase cardiac CT: import the phases, show 2 to 10 phases in synchronised slice views "
            "(zoom, pan, slice position and window/level follow), propagate the segmentation of one "
            "reference phase to every phase by deformable registration, play it back in every view, and "
            "read the LV/LA volume curves and ejection fraction. Research software. "
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = "Part of SlicerCardiacPlanning, built on 3D Slicer and SimpleITK."


#
# Cardiac4DParameterNode
#


@parameterNodeWrapper
class Cardiac4DParameterNode:
    """
    inputPath - DICOM folder, folder of phase volumes or .seq.nrrd to import.
    phaseSequence - the cardiac phases (sequence), in cycle order.
    phaseBrowser - the sequence browser of the phases.
    viewCount - how many phases to show side by side (2-10; ED and ES always among them).
    referencePhase - index of the phase the reference segmentation was made on.
    referenceSegmentation - segmentation of the reference phase (any segments).
    outputDirectory - per-phase label maps, fields, curves (logged in: the open case of the store).
    """

    inputPath: Path
    phaseSequence: vtkMRMLSequenceNode
    phaseBrowser: vtkMRMLSequenceBrowserNode
    viewCount: Annotated[int, WithinRange(2, 10)] = 2
    referencePhase: Annotated[int, WithinRange(0, 99)] = 0
    referenceSegmentation: vtkMRMLSegmentationNode
    outputDirectory: Path


#
# Cardiac4DWidget
#


class Cardiac4DWidget(ModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI: reads the parameter node, calls the Logic, shows the result. No algorithm here."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.playTimer = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/Cardiac4D.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = Cardiac4DLogic()
        self.playTimer = qt.QTimer()
        self.playTimer.setInterval(200)
        self.playTimer.connect("timeout()", self.onPlayTimer)
        self.observeSceneClose()
        self.ui.importButton.connect("clicked(bool)", self.onImportButton)
        self.ui.showViewsButton.connect("clicked(bool)", self.onShowViewsButton)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.playButton.connect("toggled(bool)", self.onPlayToggled)
        self.ui.phaseSlider.connect("valueChanged(int)", self.onPhaseSlider)
        self.initializeParameterNode()

    def releaseResources(self) -> None:
        self.playTimer.stop()
        self.logic.clearViews()

    def onImportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to import the cardiac phases.", waitCursor=True):
            path = self._parameterNode.inputPath
            sequence, browser, series = self.runWithProgress(
                "Importing phases...", lambda progress: self.logic.importPhases(path, progress)
            )
            self._parameterNode.phaseSequence = sequence
            self._parameterNode.phaseBrowser = browser
            self.ui.statusLabel.text = f"{len(series)} phases: {', '.join(series.labels)}"
            self.onShowViewsButton()

    def onShowViewsButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to set up the phase views.", waitCursor=True):
            parameters = self._parameterNode
            self.logic.useSequence(parameters.phaseSequence, parameters.phaseBrowser)
            phaseViews = self.logic.setupViews(parameters.viewCount)
            self.ui.phaseSlider.maximum = self.logic.sequence.GetNumberOfDataNodes() - 1
            self.ui.statusLabel.text = "Views: " + ", ".join(self.logic.viewLabels)
            slicer.app.processEvents()  # let the new slice views take their size, then fit them
            phaseViews.fit()

    def onApplyButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Failed to propagate the segmentation.", waitCursor=True):
            parameters = self._parameterNode
            self.logic.useSequence(parameters.phaseSequence, parameters.phaseBrowser)
            args = (parameters.referencePhase, parameters.referenceSegmentation, parameters.outputDirectory)
            self.runWithProgress("Propagating...", lambda progress: self.logic.propagate(*args, progress))
            summary = self.logic.volumeCurves()["summary"]
            self.ui.resultsLabel.text = "\n".join(f"{key}: {value}" for key, value in summary.items())
            where = outputs.current().where(parameters.outputDirectory)
            self.ui.statusLabel.text = f"Propagated to every phase; saved to {where}"

    def onPlayToggled(self, playing) -> None:
        self.playTimer.start() if playing else self.playTimer.stop()

    def onPlayTimer(self) -> None:
        slider = self.ui.phaseSlider
        slider.value = (slider.value + 1) % (slider.maximum + 1)

    def onPhaseSlider(self, step) -> None:
        if self.logic.phaseViews is not None:
            self.logic.showStep(step)


#
# Cardiac4DLogic
#


class Cardiac4DLogic(ScriptedLoadableModuleLogic):
    """MRML in, library call, MRML out. Never opens dialogs; long work takes progress/cancel callbacks."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.series = self.sequence = self.browser = None
        self.phaseViews = self.segmentationSequence = self.result = None
        self.viewLabels = []

    def getParameterNode(self):
        return Cardiac4DParameterNode(super().getParameterNode())

    def importPhases(self, path, progress=None, cancelled=None):
        """Read the phases at ``path`` into (sequence node, browser node, PhaseSeries), in cycle order."""
        if path is None or not str(path).strip() or str(path) == ".":
            raise CardiacInputError("choose a DICOM folder, a folder of phase volumes or a .seq.nrrd file")
        prog = Progress(progress, cancelled)
        series = open_phases(path, progress=prog.sub(0.0, 0.2))
        name = Path(str(path)).name.split(".")[0] or "Cardiac phases"
        volumes = series.volumes(prog.sub(0.2, 0.95))  # streamed: one phase read at a time
        pairs = ((entry.label, volume) for entry, volume in volumes)
        sequence, browser = mrml.stream_phases_to_sequence(pairs, slicer.mrmlScene, name)
        prog(1.0, f"{len(series)} phases imported")
        self.clearViews()
        self.series, self.sequence, self.browser = series, sequence, browser
        self.segmentationSequence = self.result = None
        return sequence, browser, series

    def useSequence(self, sequence, browser=None) -> None:
        """Work on ``sequence`` (e.g. chosen in the scene); its phases are read from the nodes."""
        if sequence is None:
            raise CardiacInputError("import the cardiac phases or choose a phase sequence first")
        if sequence is self.sequence:
            return
        self.clearViews()
        self.sequence, self.browser = sequence, browser
        self.series = mrml.sequence_phase_series(sequence)
        self.segmentationSequence = self.result = None

    def choosePhases(self, count=2):
        """(phases to show, ED index, ES index, how found): ED and ES from the LV volume curve after a
        propagation, else from the nominal percentages; then spread over the cycle."""
        self._requirePhases()
        lv = None
        if self.result is not None:
            lv = self.result.curves.curve(labels.LV_BLOOD_POOL)
        try:
            ed, es, how = curves.ed_es_phases(lv, self.series.percents)
        except CardiacInputError:
            ed, es, how = 0, len(self.series) // 2, "no percentages: first and middle phase"
        return views.choose_view_phases(len(self.series), ed, es, count), ed, es, how

    def setupViews(self, count=2, viewPhases=None, with3D=True):
        """Show ``viewPhases`` (default :meth:`choosePhases`) in synchronised slice views."""
        self._requirePhases()
        ed = es = None
        if viewPhases is None:
            viewPhases, ed, es, _how = self.choosePhases(count)
        assignments = views.view_assignments(self.series.labels, list(viewPhases), ed, es)
        self.viewLabels = [a["label"] for a in assignments]
        self.clearViews()
        self.phaseViews = mrml.build_phase_views(
            self.sequence, viewPhases, slicer.mrmlScene, labels=self.viewLabels, with_3d=with3D
        )
        if self.segmentationSequence is not None:
            self.phaseViews.set_segmentation_sequence(self.segmentationSequence)
        if self.browser is not None:
            self.phaseViews.follow_browser(self.browser)
        return self.phaseViews

    def showStep(self, step):
        """Playback: every view advances ``step`` phases from its own phase; returns the phases shown."""
        if self.phaseViews is None:
            raise CardiacInputError("set up the phase views first")
        if self.browser is not None:  # the main browser (3D view) shows view 1's phase
            count = self.sequence.GetNumberOfDataNodes()
            mrml.select_phase(self.browser, (self.phaseViews.view_phases[0] + int(step)) % count)
        return self.phaseViews.show_step(step)

    def clearViews(self) -> None:
        if self.phaseViews is not None:
            self.phaseViews.detach()
            self.phaseViews = None

    def propagate(
        self, referenceIndex, segmentationNode, outDir, progress=None, cancelled=None, settings=None
    ):
        """Propagate ``segmentationNode`` (made on phase ``referenceIndex``) to every phase; load the
        per-phase label maps as a segmentation sequence synchronised with the phase browser and views.
        The label maps, fields and curves go into the open case of the encrypted store (objects
        ``motion/...``) while someone is logged in, else into ``outDir`` (security.outputs)."""
        self._requirePhases()
        if segmentationNode is None:
            raise CardiacInputError("choose the segmentation of the reference phase")
        with outputs.current().saving("Cardiac4D propagation", "motion", outDir) as folder:
            return self._propagate(referenceIndex, segmentationNode, folder, progress, cancelled, settings)

    def _propagate(self, referenceIndex, segmentationNode, outDir, progress, cancelled, settings):
        reference = self.series.index_of(int(referenceIndex))
        prog = Progress(progress, cancelled)
        prog(0.0, f"reading the segmentation on phase {self.series[reference].label}")
        labelMap = mrml.segmentation_to_labelmap(segmentationNode, reference=self.series[reference].load())
        self.result = propagate_labels(
            self.series, reference, labelMap, outDir, settings=settings, progress=prog.sub(0.02, 0.9)
        )
        if self.browser is not None and self.segmentationSequence is not None:
            mrml.unsynchronise(self.browser, self.segmentationSequence)  # replaced by the new one
        indexValues = [self.sequence.GetNthIndexValue(i) for i in range(self.sequence.GetNumberOfDataNodes())]
        self.segmentationSequence = mrml.labelmaps_to_segmentation_sequence(
            (Volume.read(path) for path in self.result.label_files),
            indexValues,
            slicer.mrmlScene,
            name=f"{self.sequence.GetName()} segmentation",
            browser=self.browser,
            progress=prog.sub(0.9, 1.0),
        )
        if self.browser is not None:  # the main browser's segmentation: in the 3D views only
            mrml.show_in_views(self.browser.GetProxyNode(self.segmentationSequence))
        if self.phaseViews is not None:
            self.phaseViews.set_segmentation_sequence(self.segmentationSequence)
        return self.segmentationSequence

    def volumeCurves(self) -> dict:
        """Volume (mL) per label and phase, and the summary (ED/ES, LV EF %, stroke volume, LA)."""
        if self.result is None:
            raise CardiacInputError("propagate a segmentation first")
        return self.result.curves.to_json()

    def _requirePhases(self) -> None:
        if self.series is None or self.sequence is None:
            raise CardiacInputError("import the cardiac phases or choose a phase sequence first")


#
# Cardiac4DTest
#


class Cardiac4DTest(ScriptedLoadableModuleTest):
    """Self-test on a small synthetic beating LV (a sphere whose radius follows the cycle)."""

    PERCENTS = (0, 25, 50, 75)
    RADII_MM = (9.0, 7.5, 6.5, 8.0)

    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_ImportViewsPropagatePlayback()

    def _writePhases(self, folder):
        import numpy as np

        zyx = np.mgrid[0:28, 0:28, 0:28].astype(float)
        distance = np.sqrt(((zyx - 13.5) ** 2).sum(axis=0))  # 1 mm voxels, centre of the grid
        # the truth is what the images show: the voxelised balls (the 6.5 mm ball has 1088 voxels,
        # 5.4 % below the analytic 1150 mm^3; the reference label of 9 mm 3112, 1.9 % above)
        self.truthVoxels = [int((distance <= radius).sum()) for radius in self.RADII_MM]
        for percent, radius in zip(self.PERCENTS, self.RADII_MM):
            array = np.where(distance <= radius, 400, 0).astype(np.int16)
            array[0, 0, self.PERCENTS.index(percent)] = 2000  # marks the phase
            Volume(array, (1.0, 1.0, 1.0), (-14.0, -14.0, -14.0)).write(Path(folder) / f"ct_{percent}.nii.gz")
        return (distance <= self.RADII_MM[0]).astype(np.uint8) * labels.LV_BLOOD_POOL

    def test_ImportViewsPropagatePlayback(self):
        import tempfile

        import numpy as np

        self.delayDisplay("Import, synchronised views, propagation, playback")
        logic = Cardiac4DLogic()
        with tempfile.TemporaryDirectory() as folder:
            reference = self._writePhases(folder)
            _sequence, _browser, series = logic.importPhases(folder)
            self.assertEqual(series.labels, ["0%", "25%", "50%", "75%"])
            phases, ed, es, how = logic.choosePhases(2)
            self.assertEqual((phases, ed, es, how), ([0, 2], 0, 2, "nominal percent"))
            phaseViews = logic.setupViews(2)
            self.assertEqual(logic.viewLabels, ["0% ED", "50% ES"])
            shown = [slicer.util.arrayFromVolume(phaseViews.volume_node(k))[0, 0, :4] for k in range(2)]
            self.assertEqual([int(np.argmax(row)) for row in shown], [0, 2])  # the phase marks
            phaseViews.slice_nodes[1].SetFieldOfView(55.0, 55.0, 1.0)
            self.assertAlmostEqual(phaseViews.slice_nodes[0].GetFieldOfView()[0], 55.0)
            segmentation = mrml.labelmap_to_segmentation(
                series[0].load().with_array(reference), slicer.mrmlScene, "reference"
            )
            out = Path(folder) / "out"
            segmentationSequence = logic.propagate(0, segmentation, out)
            self.assertEqual(segmentationSequence.GetNumberOfDataNodes(), 4)
            self.assertEqual(len(list(out.glob("labels_phase_*.nii.gz"))), 4)
        result = logic.volumeCurves()
        truth = [n / 1000.0 for n in self.truthVoxels]  # mL (1 mm voxels)
        lv = result["volumes_ml"]["lv_blood_pool"]
        # measured +2.7 / -0.9 / +2.6 % at 25 / 50 / 75 % (curvature-regularised coarse levels, replayed
        # through the library; an earlier default: +0.6 / +2.5 / 0.0 %; elastic_only: -2.4 / +3.9 / +0.1 %;
        # the unchecked residual pass of large_contraction: -0.5 / -5.5 / -0.4 %)
        self.assertLess(max(abs(a - b) / b for a, b in zip(lv, truth)), 0.05)
        truthEF = 100 * (truth[0] - truth[2]) / truth[0]
        self.assertLess(abs(result["summary"]["lv_ef_percent"] - truthEF), 2.0)  # measured -0.03
        summary = result["summary"]
        self.assertEqual((summary["end_diastole_phase"], summary["end_systole_phase"]), (0, 2))
        self.assertEqual(logic.showStep(1), [1, 3])  # playback: both views advance one phase
        self.assertEqual(logic.browser.GetSelectedItemNumber(), 1)  # the main browser shows view 1's
        mainDisplay = logic.browser.GetProxyNode(segmentationSequence).GetDisplayNode()
        self.assertFalse(any(mainDisplay.IsDisplayableInView(n.GetID()) for n in phaseViews.slice_nodes))
        lvVoxels = [
            int((mrml.segmentation_to_labelmap(phaseViews.segmentation_node(k)).array > 0).sum())
            for k in range(2)
        ]
        self.assertGreater(lvVoxels[1], lvVoxels[0])  # 75 % (r 8 mm) is larger than 25 % (r 7.5 mm)
        self.delayDisplay("Test passed")
