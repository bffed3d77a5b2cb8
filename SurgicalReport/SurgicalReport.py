"""SurgicalReport: planning measurements and the surgical planning report.

Measures a case folder for TAVR, PCI, TEER or PPVI (``CardiacPlanningLib.measure``), shows every
number for review and correction, lets the user move the TAVR annulus hinge points and coronary
ostia (markups nodes, saved as ``annulus_hinges.mrk.json`` and ``ostia.mrk.json``), previews the PDF
and exports the report (PDF, HL7 CDA R2, DICOM Encapsulated PDF and SEG, STL surfaces) with
``CardiacPlanningLib.report``. This file only connects them to MRML and Qt.
"""

# ruff: noqa: N815  (parameter node attributes use Slicer's camelCase, bound by name to the .ui)

import logging
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import qt
import slicer
from slicer import vtkMRMLMarkupsFiducialNode
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from CardiacPlanningLib import mrml
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.markups import Markups, read_markups, write_markups
from CardiacPlanningLib.measure.case import PROCEDURES, measure_case
from CardiacPlanningLib.measure.review import correction_settings, measurement_rows, set_measurement
from CardiacPlanningLib.mrml.module_widget import ModuleWidgetMixin
from CardiacPlanningLib.progress import as_progress
from CardiacPlanningLib.security import outputs

logger = logging.getLogger(__name__)

HINGES_FILE = "annulus_hinges.mrk.json"
OSTIA_FILE = "ostia.mrk.json"
REPORT_PREFIX = "report"  # object folder of the report in a case of the store
HINGE_LABELS = ["Hinge 1", "Hinge 2", "Hinge 3"]
CASE_ATTRIBUTE = "SurgicalReport.CaseFolder"  # the case a hinges node belongs to


def _choice(*values: str):
    """``Annotated[str, Choice(values)]``: Slicer binds a QComboBox to a str parameter only with a
    Choice (the combo box is filled from it); plain ``str`` where the wrapper has no Choice."""
    choice = getattr(slicer.parameterNodeWrapper, "Choice", None)
    return Annotated[str, choice(list(values))] if choice else str


class SurgicalReport(ScriptedLoadableModule):
    """Module description (shown in Slicer's module panel)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Surgical Report"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["CardiacPlanning"]
        self.parent.contributors = ["SlicerCardiacPlanning developers"]
        self.parent.helpText = (
            "Planning measurements (TAVR annulus, LVOT, sinus, STJ, coronary heights, projection; PCI "
            "lesions; TEER mitral annulus; PPVI RVOT and pulmonary trunk) of a case folder: review and "
            "correct them, move the annulus hinge points and coronary ostia, preview and export the "
            "report (PDF, HL7 CDA, DICOM, STL). Research software: clinical use needs local validation. "
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = (
            "Part of SlicerCardiacPlanning, built on 3D Slicer, VTK and reportlab."
        )


@parameterNodeWrapper
class SurgicalReportParameterNode:
    """
    caseFolder - case folder (labels, CT, DICOM, centrelines, ostia; see CardiacPlanningLib.measure.case).
    procedure - tavr, pci, teer or ppvi.
    outputFolder - where the report is exported.
    operator - name printed on the report; deidentify - export the de-identified variant.
    hinges - the three TAVR annulus hinge points; ostia - the coronary ostia (markups, movable).
    """

    caseFolder: Path
    procedure: _choice(*PROCEDURES) = "tavr"
    outputFolder: Path
    operator: str = ""
    deidentify: bool = False
    hinges: vtkMRMLMarkupsFiducialNode
    ostia: vtkMRMLMarkupsFiducialNode


class SurgicalReportWidget(ModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """GUI: reads the parameter node, calls the Logic, shows the measurements. No algorithm here."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._filling = False
        self.previewFile = outputs.ShownFile()  # the PDF shown by the viewer: in RAM, wiped on close

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SurgicalReport.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SurgicalReportLogic()
        self.observeSceneClose()
        self.ui.measureButton.connect("clicked(bool)", self.onMeasureButton)
        self.ui.previewButton.connect("clicked(bool)", self.onPreviewButton)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.ui.measurementTable.connect("cellChanged(int,int)", self.onCellChanged)
        self.initializeParameterNode()

    def releaseResources(self) -> None:
        self.previewFile.close()  # the previewed PDF of a closed case does not outlive it

    def fillMeasurementTable(self) -> None:
        rows = self.logic.measurementRows()
        table = self.ui.measurementTable
        self._filling = True
        try:
            table.setRowCount(len(rows))
            for row, (name, value) in enumerate(rows):
                nameItem = qt.QTableWidgetItem(name)
                nameItem.setFlags(qt.Qt.ItemIsSelectable | qt.Qt.ItemIsEnabled)  # name: not editable
                table.setItem(row, 0, nameItem)
                table.setItem(row, 1, qt.QTableWidgetItem(f"{value:.2f}"))
        finally:
            self._filling = False

    def onMeasureButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("Measuring the case failed.", waitCursor=True):
            p = self._parameterNode
            self.runWithProgress(
                "Measuring...",
                lambda pr: self.logic.measure(p.caseFolder, p.procedure, p.hinges, p.ostia, progress=pr),
            )
            p.hinges, p.ostia = self.logic.hingesNode or p.hinges, self.logic.ostiaNode or p.ostia
            self.fillMeasurementTable()
            self.ui.statusLabel.text = f"{p.procedure.upper()}: {len(self.logic.measurementRows())} values"

    def onCellChanged(self, row: int, column: int) -> None:
        if self._filling or column != 1:
            return
        with slicer.util.tryWithErrorDisplay("Not a valid measurement value.", waitCursor=True):
            name = self.ui.measurementTable.item(row, 0).text()
            try:
                value = float(self.ui.measurementTable.item(row, 1).text())
            except ValueError as exc:
                self.fillMeasurementTable()
                raise CardiacInputError(f"{name}: type a number") from exc
            old = self.logic.updateMeasurement(name, value)
            self.ui.statusLabel.text = f"{name}: {old:.2f} -> {value:.2f} (corrected)"

    def onPreviewButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("The report preview failed.", waitCursor=True):
            p = self._parameterNode
            pdf = self.runWithProgress(
                "Building the preview...",
                lambda pr: self.logic.preview(
                    p.caseFolder, p.procedure, p.operator, p.deidentify, progress=pr
                ),
            )
            path = self.previewFile.show(outputs.current(), pdf, "report-preview.pdf")
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(path)))
            self.ui.statusLabel.text = "Preview shown (a RAM copy, deleted when the module closes)"

    def onExportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay("The report export failed.", waitCursor=True):
            p = self._parameterNode
            written = self.runWithProgress(
                "Exporting the report...",
                lambda pr: self.logic.export(
                    p.caseFolder, p.procedure, p.outputFolder, p.operator, p.deidentify, progress=pr
                ),
            )
            where = outputs.current().where(p.outputFolder)
            self.ui.statusLabel.text = f"Saved to {where}: " + ", ".join(sorted(written))


class SurgicalReportLogic(ScriptedLoadableModuleLogic):
    """Case folder in, measurements (a dict) and report files out. Never opens dialogs; long work
    takes ``progress`` (a callback or a library Progress) and ``cancelled``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.result = None
        self.hingesNode = None
        self.ostiaNode = None

    def getParameterNode(self):
        return SurgicalReportParameterNode(super().getParameterNode())

    def measure(
        self, caseDir, procedure, hingesNode=None, ostiaNode=None, progress=None, cancelled=None
    ) -> dict:
        """Measure ``caseDir`` for ``procedure``. TAVR: ``hingesNode`` (three points) and ``ostiaNode``
        (points labelled left/right), moved by the user, are saved as the case's
        ``annulus_hinges.mrk.json`` and ``ostia.mrk.json`` and used, unless they belong to another case;
        otherwise the hinges come from the file or are found automatically. Both are then shown as
        movable markups nodes (``self.hingesNode``, ``self.ostiaNode``). Logged in: ``caseDir`` names
        a folder of objects of the open case of the store (``.``: all), read in RAM, and the point
        files are saved into the case (security.outputs)."""
        out = outputs.current()
        with out.working("SurgicalReport measurements", caseDir) as folder:
            args = (procedure, hingesNode, ostiaNode, progress, cancelled)
            return self._measure(folder, out.case_key(caseDir), *args)

    def _measure(self, caseDir, case, procedure, hingesNode, ostiaNode, progress, cancelled) -> dict:
        hingesFile = None
        hingesNode, ostiaNode = (
            None if n is None or n.GetAttribute(CASE_ATTRIBUTE) not in (None, case) else n  # another case's
            for n in (hingesNode, ostiaNode)
        )
        if procedure == "tavr" and hingesNode is not None:
            hingesFile = self.savePoints(hingesNode, Path(caseDir) / HINGES_FILE, 3)
        if procedure == "tavr" and ostiaNode is not None:
            self.savePoints(ostiaNode, Path(caseDir) / OSTIA_FILE)
        result = measure_case(
            caseDir, procedure, hinges_file=hingesFile, progress=as_progress(progress, cancelled)
        )
        self.result = result
        if procedure == "tavr":
            points = np.asarray(result["tavr"]["hinge_points_lps"], float)
            self.hingesNode = mrml.points_to_node(
                points, HINGE_LABELS, slicer.mrmlScene, "Annulus hinges", node=hingesNode or self.hingesNode
            )
            self.hingesNode.SetAttribute(CASE_ATTRIBUTE, case)
            if "ostia" in result["inputs"]:
                ostia = read_markups(result["inputs"]["ostia"])
                self.ostiaNode = mrml.points_to_node(
                    ostia.points_lps, ostia.labels, name="Coronary ostia", node=ostiaNode or self.ostiaNode
                )
                self.ostiaNode.SetAttribute(CASE_ATTRIBUTE, case)
        return result

    @staticmethod
    def savePoints(node, path, count=None) -> Path:
        """Write the control points of ``node`` (world; LPS in the file) with their labels to ``path``;
        ``count``: the number of points required."""
        points, labels = mrml.node_to_points(node)
        if count is not None and len(points) != count:
            raise CardiacInputError(f"{node.GetName()}: place exactly {count} points, got {len(points)}")
        if len(points) == 0:
            raise CardiacInputError(f"{node.GetName()}: place the points first")
        return write_markups(Markups.from_points(points, labels, node.GetName()), path)

    def _requireResult(self) -> dict:
        if self.result is None:
            raise CardiacInputError("measure the case first")
        return self.result

    def measurementRows(self) -> list:
        """(name, value) of every reviewable measurement of the last result (empty before measuring)."""
        return measurement_rows(self.result) if self.result else []

    def updateMeasurement(self, name, value) -> float:
        """Correct measurement ``name`` (a path from :meth:`measurementRows`) to ``value`` (same unit);
        returns the replaced value. The report lists every correction with the measured value."""
        return set_measurement(self._requireResult(), name, value)

    def _report(self, caseDir, procedure, outDir, operator, deidentify, formats, progress, cancelled) -> dict:
        from CardiacPlanningLib.report.build import generate_report

        result = self._requireResult()
        if result["procedure"] != procedure:
            raise CardiacInputError(
                f"the measurements are for {result['procedure']}, not {procedure}: measure again"
            )
        with outputs.current().working("SurgicalReport report", caseDir) as folder:
            return generate_report(
                folder,
                procedure,
                outDir,
                operator=operator,
                deidentify=deidentify,
                formats=formats,
                measurements=result,
                extra_settings=correction_settings(result),
                progress=as_progress(progress, cancelled),
            )

    def preview(
        self, caseDir, procedure, operator="", deidentify=False, progress=None, cancelled=None
    ) -> bytes:
        """The PDF (bytes) of the report with the current (corrected) measurements; built in a RAM
        folder that is overwritten and deleted before this returns: nothing stays on the disk."""
        with outputs.current().scratch("SurgicalReport preview") as outDir:
            written = self._report(
                caseDir, procedure, outDir, operator, deidentify, ("pdf",), progress, cancelled
            )
            return Path(written["files"]["pdf"]).read_bytes()

    def export(
        self, caseDir, procedure, outputFolder, operator="", deidentify=False, progress=None, cancelled=None
    ) -> dict:
        """Every report format. Logged in: saved into the open case (objects ``report/...``) when the
        user may write to it, and exported to ``outputFolder`` when one is given (an audited export,
        refused for roles that may not export). Otherwise written to ``outputFolder`` (audited where
        an audit log is configured). Returns {kind: path or object name}."""
        out, what, files = outputs.current(), "SurgicalReport report", {}
        outputFolder = None if outputs.is_blank(outputFolder) else outputFolder

        def write(folder):
            formats = ("pdf", "cda", "dicom", "stl")
            return self._report(
                caseDir, procedure, folder, operator, deidentify, formats, progress, cancelled
            )

        if out.in_store and (out.may("case.write") or not outputFolder):
            with out.saving(what, REPORT_PREFIX) as folder:
                files = out.located(write(folder)["files"], folder, REPORT_PREFIX)
        if outputFolder or not out.in_store:
            with out.exporting(what, outputFolder, deidentify) as folder:
                files = write(folder)["files"]
        return files


class SurgicalReportTest(ScriptedLoadableModuleTest):
    """Self-test: measure a synthetic cylinder case, move the hinges, correct a value, export."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_MeasureCorrectPreview()

    def test_MeasureCorrectPreview(self):
        self.delayDisplay("Measure, correct and preview a TAVR report")
        from CardiacPlanningLib import labels
        from CardiacPlanningLib.imaging.volume import Volume

        zz, yy, xx = np.indices((50, 40, 40)) - np.array([25, 19.5, 19.5])[:, None, None, None]
        array = np.zeros((50, 40, 40), np.uint8)
        array[(xx**2 + yy**2 <= 100) & (zz < 0)] = labels.LV_BLOOD_POOL  # radius 10 mm tube, 1 mm voxels
        array[(xx**2 + yy**2 <= 144) & (zz >= 0)] = labels.AORTA  # radius 12 mm above the junction
        logic = SurgicalReportLogic()
        with tempfile.TemporaryDirectory() as folder:
            Volume(array, (1.0, 1.0, 1.0), (-19.5, -19.5, -25.0)).write(Path(folder) / "labels.nii.gz")
            self.assertNotIn(HINGES_FILE, [f.name for f in Path(folder).iterdir()])
            logic.measure(folder, "tavr")
            self.assertEqual(logic.hingesNode.GetNumberOfControlPoints(), 3)
            for i in range(3):  # move the hinges 4 mm up (superior: +S in RAS)
                x, y, z = logic.hingesNode.GetNthControlPointPosition(i)
                logic.hingesNode.SetNthControlPointPosition(i, x, y, z + 4.0)
            result = logic.measure(folder, "tavr", logic.hingesNode)
            self.assertEqual(result["hinge_source"], "user")
            self.assertAlmostEqual(result["tavr"]["annulus_plane"]["origin_lps"][2], 3.5, delta=1.0)
            area = result["tavr"]["annulus"]["area_mm2"]
            self.assertAlmostEqual(area, np.pi * 144, delta=0.03 * np.pi * 144)  # aorta section
            self.assertAlmostEqual(logic.updateMeasurement("tavr.annulus.area_mm2", 450.0), area)
            self.assertEqual(result["user_corrections"]["tavr.annulus.area_mm2"]["measured"], area)
            pdf = logic.preview(folder, "tavr", operator="Dr Test")
            self.assertEqual(pdf[:5], b"%PDF-")
        self.delayDisplay("Test passed")
