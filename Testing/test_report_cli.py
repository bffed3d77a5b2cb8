"""End to end: `cardiac-planning measure` and `cardiac-planning report` on a small synthetic case
folder (analytic aortic root + LVOT, CT as DICOM, ostia, a coronary centreline with one lesion)."""

import base64
import json
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from lxml import etree

from CardiacPlanningLib import labels
from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.imaging.dicom_write import write_dicom_series
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.markups import Markups, write_markups
from CardiacPlanningLib.phantom.shapes import AorticRoot
from CardiacPlanningLib.report.build import build_planning_report

needs_tools = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("dciodvfy") is None, reason="make sysdeps"
)


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    root_dir = tmp_path_factory.mktemp("case")
    axis = np.array([0.3, -0.2, 1.0]) / np.linalg.norm([0.3, -0.2, 1.0])
    e1 = np.cross(axis, [1.0, 0, 0])
    e1 /= np.linalg.norm(e1)
    root = AorticRoot(
        np.array([0.0, 0.0, 0.0]),
        axis,
        e1,
        np.cross(axis, e1),
        11.0,
        15.5,
        12.5,
        19.0,
        {"right": 0.0, "left": 2 * np.pi / 3, "noncoronary": -2 * np.pi / 3},
    )
    spacing = 1.0
    shape = (80, 56, 56)  # z, y, x
    origin = np.array([-28.0, -28.0, -18.0])
    lab = Volume(np.zeros(shape, np.uint8), (spacing,) * 3, origin)
    kk, jj, ii = np.indices(shape, dtype=np.float32)
    p = lab.index_to_lps(np.stack([ii, jj, kk], -1))
    h = p @ axis
    q = p - h[..., None] * axis
    rho = np.linalg.norm(q, axis=-1)
    theta = np.arctan2(q @ root.e2, q @ root.e1)
    lab.array[(h >= -15) & (h < 0) & (rho <= 11.0)] = labels.LV_BLOOD_POOL
    lab.array[(h >= 0) & (h <= 19) & (rho <= root.radius(h, theta))] = labels.AORTA
    lab.array[(h > 19) & (rho <= 12.5)] = labels.AORTA
    ct = lab.with_array(np.where(lab.array > 0, 350, -20).astype(np.int16))
    ct.write(root_dir / "ct.nii.gz")
    lab.write(root_dir / "labels.nii.gz")
    write_dicom_series(ct, root_dir / "dicom", patient_name="Zhao^Lei", patient_id="PID-31")
    ostia = np.array([root.point(13.0, 2 * np.pi / 3), root.point(10.0, 0.0)])
    write_markups(
        Markups.from_points(ostia, ["Left coronary ostium", "Right coronary ostium"], "Ostia"),
        root_dir / "ostia.mrk.json",
    )
    s = np.linspace(0, 50, 501)
    d = 3.2 * (1 - 0.55 * np.clip(np.minimum((s - 20) / 2, (32 - s) / 2), 0, 1))
    branch = {"name": "LAD", "points": np.stack([s, 0 * s, 0 * s], 1).tolist(), "radii": (d / 2).tolist()}
    (root_dir / "coronary_centerlines.json").write_text(json.dumps({"branches": [branch]}))
    return root_dir, root


def _invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@needs_tools
def test_tavr_report_end_to_end(tmp_path, case_dir):
    case, root = case_dir
    out = tmp_path / "out"
    code, output = _invoke(
        "report",
        str(case),
        "--procedure",
        "tavr",
        "--out",
        str(out),
        "--quiet",
        "--operator",
        "Dr. Sun 孙医生",
    )
    assert code == 0, output
    measured = json.loads((out / "measurements.json").read_text())
    t = measured["tavr"]
    assert measured["hinge_source"].startswith("automatic")
    assert t["annulus"]["area_derived_diameter_mm"] == pytest.approx(22.0, abs=0.5)
    assert t["coronary_heights_mm"]["left"] == pytest.approx(13.0, abs=0.5)
    assert t["coronary_heights_mm"]["right"] == pytest.approx(10.0, abs=0.5)
    # every value printed in the tables is in the PDF text
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True).stdout
    model = build_planning_report(measured)
    assert len(model.measurements()) > 20
    for m in model.measurements():
        assert m.text() in text, (m.name, m.text())
    assert "Zhao Lei" in text and "PID-31" in text and "孙医生" in text
    # CDA embeds exactly this PDF; DICOM files validate
    cda = etree.parse(str(out / "report_cda.xml"))
    b64 = cda.xpath("//h:observationMedia/h:value/text()", namespaces={"h": "urn:hl7-org:v3"})[0]
    assert base64.b64decode(b64) == (out / "report.pdf").read_bytes()
    for name in ("report_pdf.dcm", "segmentation_seg.dcm"):
        res = subprocess.run(["dciodvfy", str(out / name)], capture_output=True, text=True)
        assert not [x for x in (res.stdout + res.stderr).splitlines() if x.startswith("Error")], name
    assert sorted(p.name for p in (out / "surfaces").glob("*.stl")) == [
        "01_lv_blood_pool_LPS.stl",
        "06_aorta_LPS.stl",
    ]
    assert (out / "pictures" / "coplanar_curve.png").is_file()


@needs_tools
def test_pci_measure_and_deidentified_report(tmp_path, case_dir):
    case, _ = case_dir
    code, output = _invoke(
        "measure", str(case), "--procedure", "pci", "--out", str(tmp_path / "m.json"), "--quiet"
    )
    assert code == 0, output
    (lesion,) = json.loads((tmp_path / "m.json").read_text())["pci"]["lesions"]
    assert lesion["diameter_stenosis_pct"] == pytest.approx(55.0, abs=0.5)
    assert lesion["length_mm"] == pytest.approx(
        8.0 + 2 * 2 * (1 - 0.1 / 0.55), abs=0.5
    )  # 8 mm flat, 2 mm ramps
    out = tmp_path / "pci"
    code, output = _invoke(
        "report",
        str(case),
        "--procedure",
        "pci",
        "--out",
        str(out),
        "--quiet",
        "--deidentify",
        "--measurements",
        str(tmp_path / "m.json"),
        "--format",
        "pdf",
        "--format",
        "dicom",
    )
    assert code == 0, output
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True).stdout
    assert "55.0" in text and "LAD" in text and "ANONYMOUS" in text
    assert "Zhao" not in text and "PID-31" not in text
    assert (out / "report_pdf.dcm").is_file() and not (out / "segmentation_seg.dcm").exists()
    assert not (out / "report_cda.xml").exists()


def test_cli_errors_are_one_line(tmp_path, case_dir):
    case, _ = case_dir
    code, output = _invoke("measure", str(tmp_path / "nowhere"), "--procedure", "tavr", "--quiet")
    assert code == 1 and "Error: case folder" in output and "does not exist" in output
    code, output = _invoke("measure", str(tmp_path), "--procedure", "tavr", "--quiet")
    assert code == 1 and "no label map" in output
    (tmp_path / "m.json").write_text(json.dumps({"procedure": "tavr"}))
    code, output = _invoke(
        "report",
        str(case),
        "--procedure",
        "pci",
        "--out",
        str(tmp_path / "o"),
        "--quiet",
        "--measurements",
        str(tmp_path / "m.json"),
    )
    assert code == 1 and "not 'pci'" in output


def test_other_modules_can_add_tables_and_settings(case_dir):
    from CardiacPlanningLib.measure.case import measure_case
    from CardiacPlanningLib.report import Measurement, MeasurementTable

    case, _ = case_dir
    result = measure_case(case, "pci")
    stent = MeasurementTable(
        "Stent reconstruction",
        "支架重建",
        [Measurement("stent_score", "Structure matching score", "结构匹配评分", 0.93, "1", "", 2)],
    )
    report = build_planning_report(result, extra_tables=[stent], extra_settings={"Stent algorithm": "B"})
    assert report.tables[-1] is stent and report.settings["Stent algorithm"] == "B"
    assert [t.title for t in report.tables[:1]] == ["Lesion 1: LAD (20.4-31.6 mm from the ostium)"]
    assert report.tables[1].title == "Chamber volumes"
    assert report.tables[1].rows[0].value == pytest.approx(
        np.pi * 11**2 * 15 / 1000, rel=0.02
    )  # LV cylinder, mL
