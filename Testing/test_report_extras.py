"""Stent and 4D results as report sections (PDF + coded CDA sections) and the PCI curved planar
reformation, on a small synthetic case folder with a stent ranking and a volume curve file."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.motion.curves import VolumeCurves
from CardiacPlanningLib.report import extras
from CardiacPlanningLib.report.build import build_planning_report, generate_report, other_steps
from CardiacPlanningLib.report.cda import SECTION_CODE_SYSTEM

H = {"h": "urn:hl7-org:v3"}
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="make sysdeps")
LV = [120.0, 110.0, 80.0, 50.0, 48.0, 60.0, 90.0, 105.0, 115.0, 119.0]  # mL, EF 60 %
LA = [50.0, 55.0, 60.0, 70.0, 72.0, 65.0, 45.0, 36.0, 40.0, 45.0]  # LA max 72, min 36


def _case(root):
    shape = (40, 40, 60)  # z, y, x; 1 mm
    lab = Volume(np.zeros(shape, np.uint8), (1.0, 1.0, 1.0), (0.0, -20.0, -20.0))
    lab.array[5:15, 10:30, 10:30] = labels.LV_BLOOD_POOL
    # a coronary tube along x through y = z = 0 (index y 20, z 20), narrowed at x = 25-33 mm
    x = np.arange(60)
    radius = np.where((x >= 25) & (x <= 33), 0.9, 1.8)
    jj, kk = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    rr = np.hypot(jj - 20, kk - 20)
    for i in x:
        lab.array[:, :, i][(rr <= radius[i]).T] = labels.LEFT_CORONARY
    lab.write(root / "labels.nii.gz")
    lab.with_array(np.where(lab.array > 0, 400, -50).astype(np.int16)).write(root / "ct.nii.gz")
    s = np.linspace(0.0, 55.0, 221)
    d = 3.6 * (1 - 0.5 * np.clip(np.minimum((s - 23) / 2, (35 - s) / 2), 0, 1))
    branch = {"name": "LAD", "points": np.stack([s, 0 * s, 0 * s], 1).tolist(), "radii": (d / 2).tolist()}
    (root / "coronary_centerlines.json").write_text(json.dumps({"branches": [branch]}))
    stent = root / "stent"
    stent.mkdir()
    ranking = {
        "ranking": [{"name": "thresholdSkeleton", "score": 81.25}, {"name": "radialProfile", "score": 64.5}],
        "best": "thresholdSkeleton",
        "metalThresholdHu": 1100.0,
    }
    (stent / "ranking.json").write_text(json.dumps(ranking))
    score = {
        "total": 81.25,
        "apposition": 92.4,
        "malapposed_area_mm2": 7.3,
        "mean_wall_distance_mm": 0.214,
        "completeness": 71.8,
        "max_gap_deg": 45.0,
        "continuity": 88.6,
        "sections": 40,
    }
    (stent / "thresholdSkeleton_score.json").write_text(json.dumps(score))
    curves = VolumeCurves(
        [f"phase_{i:02d}" for i in range(10)],
        [10.0 * i for i in range(10)],
        {labels.LV_BLOOD_POOL: LV, labels.LA: LA},
    )
    curves.write(root / "propagate")
    return root


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    return _case(tmp_path_factory.mktemp("case"))


def test_stent_and_function_tables(case_dir):
    found = other_steps(case_dir)
    stent, function = found["tables"]
    values = {m.code: m.value for m in stent.rows}
    assert values["stent_algorithm"] == "thresholdSkeleton" and values["stent_score"] == 81.25
    assert values["stent_apposition"] == 92.4 and values["stent_malapposed_area"] == 7.3
    assert values["stent_rank2_score"] == 64.5
    f = {m.code: m.value for m in function.rows}
    assert f["lv_edv"] == 120.0 and f["lv_esv"] == 48.0 and f["lv_sv"] == 72.0
    assert f["lv_ef_4d"] == pytest.approx(60.0)
    assert f["la_max"] == 72.0 and f["la_min"] == 36.0 and f["la_ef"] == pytest.approx(50.0)
    assert f["es_phase"] == "phase_04" and "40 % R-R" in function.rows[-1].definition
    assert stent.section_code == extras.STENT_SECTION and function.section_code == extras.FUNCTION_SECTION


def test_unreadable_results_are_left_out(tmp_path, caplog):
    case = tmp_path / "c"
    (case / "stent").mkdir(parents=True)
    (case / "stent" / "ranking.json").write_text("{not json")
    assert other_steps(case)["tables"] == [] and "left out" in caplog.text
    with pytest.raises(CardiacInputError, match="ranking.json"):
        extras.stent_results(case / "stent" / "ranking.json")
    (case / "volume_curves.json").write_text(json.dumps({"phases": []}))
    with pytest.raises(CardiacInputError, match="volume curve file"):
        extras.volume_curves(case / "volume_curves.json")


@needs_poppler
def test_pci_report_with_cpr_stent_and_4d(tmp_path, case_dir):
    out = tmp_path / "out"
    res = generate_report(case_dir, "pci", out, formats=("pdf", "cda"))
    pics = out / "pictures"
    for name in ("cpr_branches.png", "stent_scores.png", "volume_curves.png"):
        assert (pics / name).is_file(), name
    # the CPR shows the lumen (400 HU) along the centre row and background at the edges
    with Image.open(pics / "cpr_branches.png") as im:
        assert im.size[0] > 600 and im.size[1] > 150
    text = subprocess.run(["pdftotext", res["files"]["pdf"], "-"], capture_output=True, text=True).stdout
    measured = json.loads((out / "measurements.json").read_text())
    found = other_steps(case_dir)
    model = build_planning_report(measured, extra_tables=found["tables"])
    for m in model.measurements():
        assert m.text() in text, (m.name, m.text())
    assert "thresholdSkeleton" in text and "支架/瓣架重建" in text and "心功能" in text
    assert "拉直曲面重建" in text
    cda = etree.parse(res["files"]["cda"])
    for code, n_rows in ((extras.STENT_SECTION, 9), (extras.FUNCTION_SECTION, 9)):
        (sec,) = cda.xpath(f"//h:section[h:code/@code='{code}']", namespaces=H)
        assert sec.xpath("h:code/@codeSystem", namespaces=H) == [SECTION_CODE_SYSTEM]
        assert len(sec.xpath("h:entry/h:observation", namespaces=H)) == n_rows
        assert len(sec.xpath("h:text/h:table/h:tbody/h:tr", namespaces=H)) == n_rows
    (ef,) = cda.xpath("//h:observation[h:code/@code='lv_ef_4d']", namespaces=H)
    assert ef.xpath("h:code/h:translation/@code", namespaces=H) == ["10230-1"]
    assert float(ef.xpath("h:value/@value", namespaces=H)[0]) == pytest.approx(60.0)
    (alg,) = cda.xpath("//h:observation[h:code/@code='stent_algorithm']/h:value", namespaces=H)
    assert alg.text == "thresholdSkeleton"
    assert alg.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "ST"


def test_results_of_other_stage_folders(tmp_path, case_dir):
    """The demo passes the propagate / stent stage folders: results there count when the case folder
    has none; the case folder's own results come first."""
    bare = tmp_path / "bare"
    bare.mkdir()
    assert other_steps(bare)["tables"] == []
    found = other_steps(bare, tmp_path / "missing", case_dir / "propagate", case_dir)
    assert [t.section_code for t in found["tables"]] == [extras.STENT_SECTION, extras.FUNCTION_SECTION]
    assert found["curves"]["summary"]["lv_ef_percent"] == pytest.approx(60.0)
    other = tmp_path / "other"
    VolumeCurves(["a", "b"], [0.0, 50.0], {labels.LV_BLOOD_POOL: [100.0, 20.0]}).write(other)
    own = other_steps(case_dir, other)["curves"]["summary"]
    assert own["lv_ef_percent"] == pytest.approx(60.0)  # the case folder's curves, not the other's 80 %
