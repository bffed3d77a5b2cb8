"""SurgicalReport: Surgical Report (coming in a later version of SlicerCardiacPlanning).

Planned: procedure measurements (TAVR annulus, coronary heights, sinus, STJ, LVOT, PCI lesions) and
the planning report as PDF, HL7 CDA R2, DICOM SEG and encapsulated PDF, and STL. Until it is built,
the module shows a "coming in a later version" panel and its Logic reports that nothing is
available; it never produces made-up results.
"""

# ruff: noqa: N815  (parameter node attributes use Slicer's camelCase, bound by name to the .ui)

import logging
from pathlib import Path

import slicer
from slicer import (
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
)
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

logger = logging.getLogger(__name__)

COMING_LATER = "coming in a later version"


#
# SurgicalReport
#


class SurgicalReport(ScriptedLoadableModule):
    """Module description (shown in Slicer's module panel)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Surgical Report"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["CardiacPlanning"]
        self.parent.contributors = ["SlicerCardiacPlanning developers"]
        self.parent.helpText = (
            "Surgical Report is coming in a later version: procedure measurements (TAVR annulus, "
            "coronary heights, sinus, STJ, LVOT, PCI lesions) and the planning report as PDF, HL7 CDA "
            "R2, DICOM SEG and encapsulated PDF, and STL. "
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = "Part of SlicerCardiacPlanning, built on 3D Slicer."


#
# SurgicalReportParameterNode
#


@parameterNodeWrapper
class SurgicalReportParameterNode:
    """
    inputVolume - CT volume.
    segmentation - Heart segmentation.
    outputFolder - Report folder.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    outputFolder: Path


#
# SurgicalReportWidget
#


class SurgicalReportWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Shows the "coming in a later version" panel; the inputs can already be chosen."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SurgicalReport.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SurgicalReportLogic()
        self.ui.plannedLabel.text = "Planned:\n" + "\n".join(
            "- " + item for item in self.logic.plannedCapabilities()
        )
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
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


#
# SurgicalReportLogic
#


class SurgicalReportLogic(ScriptedLoadableModuleLogic):
    """Nothing is computed yet: the algorithms arrive with a later version of CardiacPlanningLib."""

    AVAILABLE = False

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return SurgicalReportParameterNode(super().getParameterNode())

    @staticmethod
    def isAvailable() -> bool:
        """False until the module's algorithms are built."""
        return SurgicalReportLogic.AVAILABLE

    @staticmethod
    def plannedCapabilities() -> list:
        """What this module will do (shown in the panel)."""
        return [
            "TAVR, TEER, PPVI and PCI measurements",
            "PDF and HL7 CDA R2 report",
            "DICOM SEG, encapsulated PDF and STL export",
        ]


#
# SurgicalReportTest
#


class SurgicalReportTest(ScriptedLoadableModuleTest):
    """Self-test: the parameter node keeps its inputs and the module claims no results yet."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_ParameterNodeKeepsInputs()
        self.setUp()
        self.test_NothingAvailableYet()

    def test_ParameterNodeKeepsInputs(self):
        self.delayDisplay("Parameter node")
        logic = SurgicalReportLogic()
        parameters = logic.getParameterNode()
        self.assertIsNone(parameters.inputVolume)
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "input")
        parameters.inputVolume = node
        self.assertEqual(logic.getParameterNode().inputVolume.GetID(), node.GetID())
        self.delayDisplay("Test passed")

    def test_NothingAvailableYet(self):
        self.delayDisplay("Placeholder module")
        logic = SurgicalReportLogic()
        self.assertFalse(logic.isAvailable())
        self.assertGreaterEqual(len(logic.plannedCapabilities()), 3)
        self.delayDisplay("Test passed")
