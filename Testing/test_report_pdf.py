"""PDF report: Chinese and English text, tables, pictures, page numbers, embedded fonts, checked
with poppler (pdftotext, pdffonts, pdftoppm) the way a person would read it."""

import datetime
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.report import Measurement, MeasurementTable, Patient, Picture, PlanningReport, Study
from CardiacPlanningLib.report.fonts import FontNotFoundError, find_cjk_font
from CardiacPlanningLib.report.pdf import write_pdf

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


def _cjk_font_or_skip():
    try:
        return find_cjk_font()
    except FontNotFoundError:
        pytest.skip("no CJK TrueType font installed (make sysdeps)")


def sample_report(tmp_path, n_rows: int = 30) -> PlanningReport:
    red = tmp_path / "red.png"
    img = np.zeros((120, 200, 3), np.uint8)
    img[..., 0] = 255
    Image.fromarray(img).save(red)
    rows = [
        Measurement(
            f"m{i}",
            f"Measurement {i}",
            f"测量{i}",
            10.0 + i * 1.37,
            "mm2" if i % 2 else "mm",
            f"Definition {i} / 定义{i}",
            1 + i % 3,
        )
        for i in range(n_rows)
    ]
    rows.append(Measurement("missing", "Not measured", "未测量", None, "mm"))
    return PlanningReport(
        "tavr",
        Patient("Zhang^San", "PID-778899", "19500102", "M"),
        Study("1.2.3.4.5", "ACC-42", "20261120", "Cardiac CTA", "Test Hospital"),
        tables=[
            MeasurementTable("Aortic annulus", "主动脉瓣环", rows[:12]),
            MeasurementTable("Root", "根部", rows[12:]),
        ],
        pictures=[Picture(red, "Red test picture", "红色测试图")],
        operator="Dr. Li 李医生",
        created=datetime.datetime(2026, 11, 27, 9, 30, tzinfo=datetime.timezone.utc),
        settings={"Segmentation engine": "classical", "Hinge points": "automatic"},
    )


def _text(pdf) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


@needs_poppler
def test_pdf_text_tables_and_page_numbers(tmp_path):
    _cjk_font_or_skip()
    report = sample_report(tmp_path)
    pdf = write_pdf(report, tmp_path / "r.pdf")
    text = _text(pdf)
    for m in report.measurements():
        assert m.text() in text, m.text()
        assert m.name in text
    assert "11.37" in text and "12.740" in text and "n/a" in text  # 1, 2, 3 decimals as asked
    for zh in (
        "手术规划报告",
        "经导管主动脉瓣置换术",
        "主动脉瓣环",
        "测量7",
        "免责声明",
        "李医生",
        "红色测试图",
    ):
        assert zh in text, zh
    assert "Zhang San" in text and "PID-778899" in text and "ACC-42" in text
    pages = text.count("\f") + (0 if text.endswith("\f") else 1)
    assert pages >= 2
    assert f"Page 1 of {pages}" in text and f"第 {pages} 页 共 {pages} 页" in text
    assert "Segmentation engine" in text and "classical" in text
    assert report.disclaimer.split()[0] in text


@needs_poppler
def test_fonts_are_embedded_and_the_picture_is_drawn(tmp_path):
    _cjk_font_or_skip()
    pdf = write_pdf(sample_report(tmp_path, n_rows=4), tmp_path / "r.pdf")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = fonts.strip().splitlines()[2:]
    assert rows, fonts
    for row in rows:  # columns: name type encoding emb sub uni object ID
        assert row.split()[-5] == "yes", row  # every font embedded, no base-14 reference
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    arrays = [np.asarray(Image.open(p).convert("RGB")).astype(int) for p in pages]
    red = [((a[..., 0] > 200) & (a[..., 1] < 60) & (a[..., 2] < 60)).sum() for a in arrays]
    assert max(red) > 500  # the red picture is on a page
    assert all((a < 128).any() for a in arrays)  # every page has dark text


@needs_poppler
def test_deidentified_variant_hides_identifiers(tmp_path):
    _cjk_font_or_skip()
    report = sample_report(tmp_path, n_rows=2)
    anon = report.with_deidentified_patient(salt="site-secret")
    assert anon.patient.patient_id.startswith("ANON-") and anon.patient.birth_date == ""
    assert anon.patient.patient_id == report.with_deidentified_patient(salt="site-secret").patient.patient_id
    assert anon.patient.patient_id != report.with_deidentified_patient(salt="other").patient.patient_id
    assert anon.study.study_uid != report.study.study_uid and anon.study.accession_number == ""
    text = _text(write_pdf(anon, tmp_path / "anon.pdf"))
    for secret in ("Zhang", "PID-778899", "19500102", "ACC-42", "1.2.3.4.5"):
        assert secret not in text
    assert anon.patient.patient_id in text and "已去标识化" in text


def test_bad_inputs_have_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(CardiacInputError, match="unknown procedure 'cabg'"):
        PlanningReport("cabg")
    report = sample_report(tmp_path, n_rows=1)
    report.pictures[0].path = tmp_path / "gone.png"
    _cjk_font_or_skip()
    with pytest.raises(CardiacInputError, match="gone.png"):
        write_pdf(report, tmp_path / "x.pdf")
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_bytes(b"nope")
    monkeypatch.setenv("CARDIAC_PLANNING_CJK_FONT", str(not_a_font))
    with pytest.raises(FontNotFoundError, match="font.ttf"):
        find_cjk_font(candidates=())
    monkeypatch.delenv("CARDIAC_PLANNING_CJK_FONT")
    with pytest.raises(FontNotFoundError, match="fonts-wqy-zenhei"):
        find_cjk_font(candidates=(str(not_a_font),))
