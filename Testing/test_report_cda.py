"""HL7 CDA R2 export: parses with lxml, carries every header element an EMR importer needs, coded
PQ observations that match the narrative, and the PDF that decodes to the exact bytes."""

import base64
import datetime

import pytest
from lxml import etree

from CardiacPlanningLib.report import Measurement, MeasurementTable, Patient, PlanningReport, Study
from CardiacPlanningLib.report.cda import DOCUMENT_CODE, LOINC, build_cda, write_cda

NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}


@pytest.fixture
def report():
    return PlanningReport(
        "pci",
        Patient("Wang^Fang", "P-12345", "19611224", "F"),
        Study("1.2.840.99.1", "A1", "20261101", "Coronary CTA", "Hosp"),
        tables=[
            MeasurementTable(
                "Lesion 1",
                "病变 1",
                [
                    Measurement("lesion1_ds", "Diameter stenosis", "直径狭窄率", 61.234, "%", "d", 1),
                    Measurement("lesion1_len", "Lesion length", "病变长度", 12.5, "mm", "l", 1),
                    Measurement("lesion1_mld", "MLD", "最小管腔直径", 1.237, "mm", "m", 2),
                ],
            ),
            MeasurementTable(
                "Other",
                "其他",
                [
                    Measurement("area", "Area", "面积", 400.0, "mm2", "a", 0),
                    Measurement("none", "Not measured", "未测量", None, "mm"),
                ],
            ),
        ],
        operator="Dr. Chen",
        institution="Test Hospital",
        created=datetime.datetime(2026, 11, 27, 10, 0, tzinfo=datetime.timezone.utc),
        settings={"engine": "classical"},
    )


def test_cda_header_body_and_embedded_pdf(tmp_path, report):
    pdf = tmp_path / "r.pdf"
    pdf_bytes = b"%PDF-1.4\n" + bytes(range(256)) * 7 + b"\n%%EOF\n"
    pdf.write_bytes(pdf_bytes)
    path = write_cda(report, tmp_path / "r.xml", pdf_path=pdf, patient_id_root="1.2.3.999")
    doc = etree.parse(str(path))  # well-formed XML
    root = doc.getroot()
    assert root.tag == "{urn:hl7-org:v3}ClinicalDocument"

    def one(xpath):
        found = root.xpath(xpath, namespaces=NS)
        assert len(found) == 1, xpath
        return found[0]

    assert one("h:typeId").attrib == {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"}
    assert one("h:templateId").get("root")
    assert one("h:id").get("extension") == report.report_id
    code = one("h:code")
    assert (code.get("code"), code.get("codeSystem"), code.get("displayName")) == (
        *DOCUMENT_CODE[:1],
        LOINC,
        DOCUMENT_CODE[1],
    )
    assert "手术规划报告" in one("h:title").text
    assert one("h:effectiveTime").get("value") == "20261127100000+0000"
    assert one("h:confidentialityCode").get("code") == "N"
    assert one("h:languageCode").get("code") == "zh-CN"
    pid = one("h:recordTarget/h:patientRole/h:id")
    assert (pid.get("root"), pid.get("extension")) == ("1.2.3.999", "P-12345")
    assert one("h:recordTarget/h:patientRole/h:patient/h:name/h:family").text == "Wang"
    assert one("h:recordTarget/h:patientRole/h:patient/h:name/h:given").text == "Fang"
    assert one("h:recordTarget/h:patientRole/h:patient/h:administrativeGenderCode").get("code") == "F"
    assert one("h:recordTarget/h:patientRole/h:patient/h:birthTime").get("value") == "19611224"
    assert one("h:author/h:assignedAuthor/h:assignedPerson/h:name/h:family").text == "Dr. Chen"
    assert (
        "SlicerCardiacPlanning"
        in one("h:author/h:assignedAuthor/h:assignedAuthoringDevice/h:softwareName").text
    )
    assert (
        one("h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:name").text
        == "Test Hospital"
    )
    assert one("h:documentationOf/h:serviceEvent/h:id").get("root") == "1.2.840.99.1"
    sections = root.xpath("h:component/h:structuredBody/h:component/h:section", namespaces=NS)
    assert [s.find("h:code", NS).get("code") for s in sections] == ["55111-9", "121070"]
    # one PQ observation per numeric measurement, linked to its narrative cell
    obs = root.xpath("//h:observation", namespaces=NS)
    numeric = [m for m in report.measurements() if m.value is not None]
    assert len(obs) == len(numeric) == 4
    for o, m in zip(obs, numeric):
        assert o.find("h:code", NS).get("code") == m.code
        value = o.find("h:value", NS)
        assert value.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "PQ"
        assert float(value.get("value")) == pytest.approx(m.value, abs=1e-3)
        assert value.get("unit") == m.unit
        ref = o.find("h:text/h:reference", NS).get("value")
        cell = one(f"//h:td[@ID='{ref[1:]}']")
        assert cell.text == m.text()
    # the embedded PDF
    media = one("//h:observationMedia")
    assert one("//h:renderMultiMedia").get("referencedObject") == media.get("ID")
    value = media.find("h:value", NS)
    assert (value.get("mediaType"), value.get("representation")) == ("application/pdf", "B64")
    assert base64.b64decode(value.text) == pdf_bytes


def test_cda_without_pdf_or_identifiers(report):
    report.patient = Patient()
    tree = build_cda(report)
    root = tree.getroot()
    assert not root.xpath("//h:observationMedia", namespaces=NS)
    assert root.xpath("//h:patient/h:birthTime/@nullFlavor", namespaces=NS) == ["UNK"]
    assert root.xpath("//h:patient/h:administrativeGenderCode/@nullFlavor", namespaces=NS) == ["UNK"]
    assert root.xpath("//h:patientRole/h:id/@extension", namespaces=NS) == ["UNKNOWN"]
