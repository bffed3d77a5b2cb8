"""Write a :class:`PlanningReport` as an HL7 CDA Release 2 document (lxml).

Header: typeId (POCD_HD000040), templateId (this project's document template, an OID under the
project root below; no US-realm C-CDA conformance is claimed), id, document code LOINC 18748-4
"Diagnostic imaging study" (the LOINC document code HL7's Diagnostic Imaging Report uses for imaging
reports; the planning report is a derived CT imaging report), title, effectiveTime,
confidentialityCode (HL7 Confidentiality "N"), languageCode, setId/versionNumber, recordTarget
(patient), two authors (the operator and the software as authoring device), custodian
(institution), documentationOf/serviceEvent (the CT study).

Body: a structuredBody, so EMRs can both show the narrative and import coded entries:
- "Current imaging procedure descriptions" (LOINC 55111-9): procedure, study, algorithms/settings,
  disclaimer;
- "Findings" (DICOM DCM 121070) with one subsection per measurement table: a narrative table and
  one ``observation`` entry per measured value (``value xsi:type="PQ"`` with a UCUM unit), whose
  ``text/reference`` points to the narrative cell;
- the full PDF as an ``observationMedia`` entry (``value mediaType="application/pdf"
  representation="B64"``), shown in the Findings narrative through ``renderMultiMedia``.

Why ``observationMedia`` and not ``nonXMLBody``: CDA R2 allows either a structuredBody or a
nonXMLBody, never both; a nonXMLBody would lose the coded measurements. observationMedia inside the
structured body keeps both: importers that only display a document open the attached PDF, those
that import data read the PQ observations. (HL7 CDA R2, section 4.3.5.6 and 4.3.8.)

Schema validation: HL7's CDA R2 XSD (POCD_MT000040) is not distributed on PyPI or Debian, so it is
not validated here; the tests check the elements an importer needs instead.
"""

from __future__ import annotations

import base64
import logging
import uuid
from pathlib import Path

from lxml import etree

from .model import PlanningReport, display_unit

logger = logging.getLogger(__name__)

NS = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# Project OID root: the ISO/IEC 9834-8 UUID arc (2.25) with a fixed UUID for SlicerCardiacPlanning.
PROJECT_OID = "2.25." + str(uuid.UUID("6f1c3e52-8b0a-4d7e-9a55-0c1d2e3f4a5b").int)
TEMPLATE_OID = PROJECT_OID + ".1.1"  # planning report document template
DOCUMENT_ID_ROOT = PROJECT_OID + ".2"  # report ids
MEASUREMENT_CODES = PROJECT_OID + ".3"  # local code system of measurement codes
OPERATOR_ID_ROOT = PROJECT_OID + ".4"
LOINC = "2.16.840.1.113883.6.1"
DCM = "1.2.840.10008.2.16.4"
DOCUMENT_CODE = ("18748-4", "Diagnostic imaging study")
SECTION_CODE_SYSTEM = PROJECT_OID + ".7"  # local codes of the sections from other steps
SECTION_CODES = {
    "stent-reconstruction": "Stent and valve-frame reconstruction",
    "cardiac-function-4d": "Cardiac function from 4D propagation",
}
# observations that also carry a LOINC code (translation)
LOINC_TRANSLATIONS = {
    "lv_ejection_fraction": ("10230-1", "Left ventricular Ejection fraction"),
    "lv_ef_4d": ("10230-1", "Left ventricular Ejection fraction"),
}


def _e(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS}}}{tag}", {k.rstrip("_"): str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _ts(dt) -> str:
    return dt.strftime("%Y%m%d%H%M%S%z")


def _name(parent, pn: str) -> None:
    name = _e(parent, "name")
    parts = (pn or "").split("^")
    if len(parts) >= 2 and parts[1]:
        _e(name, "given", parts[1])
    _e(name, "family", parts[0] or "UNKNOWN")


def build_cda(report: PlanningReport, pdf_bytes: bytes | None = None, patient_id_root: str | None = None):
    """The CDA document as an lxml element tree (see module docstring). ``patient_id_root``: the
    OID of the hospital's patient ID namespace (default: a project OID)."""
    doc = etree.Element(f"{{{NS}}}ClinicalDocument", nsmap={None: NS, "xsi": XSI})
    _e(doc, "realmCode", code="CN" if report.language.startswith("zh") else "UV")
    _e(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    _e(doc, "templateId", root=TEMPLATE_OID)
    _e(doc, "id", root=DOCUMENT_ID_ROOT, extension=report.report_id)
    _e(
        doc,
        "code",
        code=DOCUMENT_CODE[0],
        codeSystem=LOINC,
        codeSystemName="LOINC",
        displayName=DOCUMENT_CODE[1],
    )
    en, zh = report.procedure_names
    _e(doc, "title", f"Surgical planning report / 手术规划报告: {en}")
    _e(doc, "effectiveTime", value=_ts(report.created))
    _e(doc, "confidentialityCode", code="N", codeSystem="2.16.840.1.113883.5.25")
    _e(doc, "languageCode", code=report.language)
    _e(doc, "setId", root=DOCUMENT_ID_ROOT, extension=report.report_id)
    _e(doc, "versionNumber", value="1")
    # recordTarget
    role = _e(_e(doc, "recordTarget"), "patientRole")
    _e(
        role,
        "id",
        root=patient_id_root or PROJECT_OID + ".5",
        extension=report.patient.patient_id or "UNKNOWN",
    )
    patient = _e(role, "patient")
    _name(patient, report.patient.name)
    sex = report.patient.sex.upper()[:1]
    if sex in ("M", "F"):
        _e(patient, "administrativeGenderCode", code=sex, codeSystem="2.16.840.1.113883.5.1")
    else:
        _e(patient, "administrativeGenderCode", nullFlavor="UNK")
    if report.patient.birth_date:
        _e(patient, "birthTime", value=report.patient.birth_date)
    else:
        _e(patient, "birthTime", nullFlavor="UNK")
    org_name = report.institution or report.study.institution or "Unknown institution"
    # authors: the operator and the software
    author = _e(doc, "author")
    _e(author, "time", value=_ts(report.created))
    assigned = _e(author, "assignedAuthor")
    _e(assigned, "id", root=OPERATOR_ID_ROOT, extension=report.operator or "UNKNOWN")
    person = _e(assigned, "assignedPerson")
    _e(_e(person, "name"), "family", report.operator or "UNKNOWN")
    author2 = _e(doc, "author")
    _e(author2, "time", value=_ts(report.created))
    assigned2 = _e(author2, "assignedAuthor")
    _e(assigned2, "id", root=PROJECT_OID, extension="software")
    device = _e(assigned2, "assignedAuthoringDevice")
    _e(device, "manufacturerModelName", "SlicerCardiacPlanning")
    _e(device, "softwareName", f"SlicerCardiacPlanning {report.software_version}")
    # custodian
    cust = _e(_e(_e(doc, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    _e(cust, "id", root=PROJECT_OID + ".6", extension=org_name)
    _e(cust, "name", org_name)
    # the CT study this report documents
    event = _e(_e(doc, "documentationOf"), "serviceEvent", classCode="PROC")
    if report.study.study_uid:
        _e(event, "id", root=report.study.study_uid)
    code = _e(event, "code", nullFlavor="OTH")
    _e(code, "originalText", en)
    if report.study.study_date:
        _e(_e(event, "effectiveTime"), "low", value=report.study.study_date)
    body = _e(_e(doc, "component"), "structuredBody")
    _procedure_section(body, report)
    _findings_section(body, report, pdf_bytes)
    return etree.ElementTree(doc)


def _procedure_section(body, report: PlanningReport) -> None:
    sec = _e(_e(body, "component"), "section")
    _e(
        sec,
        "code",
        code="55111-9",
        codeSystem=LOINC,
        codeSystemName="LOINC",
        displayName="Current imaging procedure descriptions",
    )
    _e(sec, "title", "Procedure and methods / 手术与方法")
    text = _e(sec, "text")
    en, zh = report.procedure_names
    _e(text, "paragraph", f"Procedure / 手术: {en} / {zh}")
    s = report.study
    _e(text, "paragraph", f"CT study / CT检查: {s.study_date} {s.description} (UID {s.study_uid or 'n/a'})")
    _e(
        text,
        "paragraph",
        f"Operator / 操作者: {report.operator or 'n/a'}; software / 软件: "
        f"SlicerCardiacPlanning {report.software_version}",
    )
    if report.settings:
        lst = _e(text, "list")
        for k, v in report.settings.items():
            _e(lst, "item", f"{k}: {v}")
    _e(text, "paragraph", f"{report.disclaimer} {report.disclaimer_zh}")


def _findings_section(body, report: PlanningReport, pdf_bytes: bytes | None) -> None:
    sec = _e(_e(body, "component"), "section")
    _e(sec, "code", code="121070", codeSystem=DCM, codeSystemName="DCM", displayName="Findings")
    _e(sec, "title", "Findings / 测量结果")
    text = _e(sec, "text")
    if pdf_bytes is not None:
        _e(text, "paragraph", "Full report (PDF) / 完整报告 (PDF):")
        _e(text, "renderMultiMedia", referencedObject="report-pdf")
        entry = _e(sec, "entry")
        media = _e(entry, "observationMedia", classCode="OBS", moodCode="EVN", ID="report-pdf")
        value = _e(media, "value", base64.b64encode(pdf_bytes).decode("ascii"))
        value.set("mediaType", "application/pdf")
        value.set("representation", "B64")
    counter = [0]
    for table in report.tables:
        if table.section_code is None:
            _table_section(_e(_e(sec, "component"), "section"), table, report, counter)
    for table in report.tables:
        if table.section_code is not None:
            sub = _e(_e(body, "component"), "section")
            _e(
                sub,
                "code",
                code=table.section_code,
                codeSystem=SECTION_CODE_SYSTEM,
                codeSystemName="SlicerCardiacPlanning sections",
                displayName=SECTION_CODES.get(table.section_code, table.title),
            )
            _table_section(sub, table, report, counter)


def _table_section(sub, table, report: PlanningReport, counter: list[int]) -> None:
    """Title, narrative table and one observation per value (PQ for numbers, ST for text)."""
    _e(sub, "title", f"{table.title} / {table.title_zh}")
    tbl = _e(_e(sub, "text"), "table", border="1")
    row = _e(_e(tbl, "thead"), "tr")
    for h in ("Measurement / 测量项", "Value / 数值", "Unit / 单位", "Definition / 定义"):
        _e(row, "th", h)
    tbody = _e(tbl, "tbody")
    for m in table.rows:
        counter[0] += 1
        ref = f"m{counter[0]}"
        tr = _e(tbody, "tr")
        _e(tr, "td", f"{m.name} / {m.name_zh}")
        _e(tr, "td", m.text(), ID=ref)
        _e(tr, "td", display_unit(m.unit))
        _e(tr, "td", m.definition)
        if m.value is None:
            continue
        obs = _e(_e(sub, "entry"), "observation", classCode="OBS", moodCode="EVN")
        code = _e(
            obs,
            "code",
            code=m.code,
            codeSystem=MEASUREMENT_CODES,
            codeSystemName="SlicerCardiacPlanning measurements",
            displayName=m.name,
        )
        if m.code in LOINC_TRANSLATIONS:
            loinc, name = LOINC_TRANSLATIONS[m.code]
            _e(code, "translation", code=loinc, codeSystem=LOINC, codeSystemName="LOINC", displayName=name)
        _e(_e(obs, "text"), "reference", value=f"#{ref}")
        _e(obs, "statusCode", code="completed")
        _e(obs, "effectiveTime", value=_ts(report.created))
        if isinstance(m.value, str):
            value = _e(obs, "value", m.value)
            value.set(f"{{{XSI}}}type", "ST")
            continue
        value = _e(obs, "value", value=f"{float(m.value):.{max(m.decimals, 1) + 2}f}", unit=m.unit)
        value.set(f"{{{XSI}}}type", "PQ")


def write_cda(report: PlanningReport, path: str | Path, pdf_path: str | Path | None = None, **kwargs) -> Path:
    """Write the CDA XML (UTF-8) to ``path``; embed the PDF at ``pdf_path`` when given."""
    path = Path(path)
    pdf_bytes = Path(pdf_path).read_bytes() if pdf_path is not None else None
    tree = build_cda(report, pdf_bytes, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    logger.info("wrote %s", path)
    return path
