"""SurgicalReport module Logic, headless on slicer-core: measure a small synthetic case (analytic
aortic root, ostia, one coronary lesion), move the annulus hinges as markups, correct a value, preview
and export the report."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import load_module_file

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.markups import Markups, read_markups, write_markups
from CardiacPlanningLib.phantom.shapes import AorticRoot

pytestmark = pytest.mark.mrml
AXIS = np.array([0.3, -0.2, 1.0]) / np.linalg.norm([0.3, -0.2, 1.0])


@pytest.fixture(scope="module")
def case_template(tmp_path_factory):
    """A case folder: tilted analytic aortic root over an LVOT tube (1 mm voxels), ostia, a LAD."""
    folder = tmp_path_factory.mktemp("case")
    e1 = np.cross(AXIS, [1.0, 0, 0])
    e1 /= np.linalg.norm(e1)
    cusps = {"right": 0.0, "left": 2 * np.pi / 3, "noncoronary": -2 * np.pi / 3}
    root = AorticRoot(np.zeros(3), AXIS, e1, np.cross(AXIS, e1), 11.0, 15.5, 12.5, 19.0, cusps)
    shape = (80, 56, 56)
    lab = Volume(np.zeros(shape, np.uint8), (1.0, 1.0, 1.0), (-28.0, -28.0, -18.0))
    kk, jj, ii = np.indices(shape, dtype=np.float32)
    p = lab.index_to_lps(np.stack([ii, jj, kk], -1))
    h = p @ AXIS
    q = p - h[..., None] * AXIS
    rho = np.linalg.norm(q, axis=-1)
    theta = np.arctan2(q @ root.e2, q @ root.e1)
    lab.array[(h >= -15) & (h < 0) & (rho <= 11.0)] = labels.LV_BLOOD_POOL
    lab.array[(h >= 0) & (h <= 19) & (rho <= root.radius(h, theta))] = labels.AORTA
    lab.array[(h > 19) & (rho <= 12.5)] = labels.AORTA
    lab.write(folder / "labels.nii.gz")
    ostia = np.array([root.point(13.0, 2 * np.pi / 3), root.point(10.0, 0.0)])
    write_markups(
        Markups.from_points(ostia, ["Left ostium", "Right ostium"], "Ostia"), folder / "ostia.mrk.json"
    )
    s = np.linspace(0, 50, 501)
    d = 3.2 * (1 - 0.55 * np.clip(np.minimum((s - 20) / 2, (32 - s) / 2), 0, 1))  # 55 % stenosis
    branch = {"name": "LAD", "points": np.stack([s, 0 * s, 0 * s], 1).tolist(), "radii": (d / 2).tolist()}
    (folder / "coronary_centerlines.json").write_text(json.dumps({"branches": [branch]}))
    return folder


@pytest.fixture
def case(case_template, tmp_path):
    folder = tmp_path / "case"
    shutil.copytree(case_template, folder)
    return folder


@pytest.fixture
def logic(slicer_app):
    slicer_app.mrmlScene.Clear()
    return load_module_file("SurgicalReport").SurgicalReportLogic()


def test_measure_shows_hinges_as_markups_and_moved_hinges_are_saved_and_used(logic, case):
    from CardiacPlanningLib import mrml

    result = logic.measure(case, "tavr")
    assert result["hinge_source"].startswith("automatic")
    hinges = np.array(result["tavr"]["hinge_points_lps"])
    points, names = mrml.node_to_points(logic.hingesNode)
    np.testing.assert_allclose(points, hinges, atol=1e-9)
    assert names == ["Hinge 1", "Hinge 2", "Hinge 3"] and logic.hingesNode.GetName() == "Annulus hinges"
    rows = dict(logic.measurementRows())
    assert rows["tavr.annulus.area_mm2"] == result["tavr"]["annulus"]["area_mm2"]
    assert "tavr.coronary_heights_mm.left" in rows and "tavr.hinge_points_lps" not in str(rows)
    # the user moves the hinges 2 mm up the root axis (RAS in the node)
    moved = hinges + 2.0 * AXIS
    for i, ras in enumerate(moved * [-1.0, -1.0, 1.0]):
        logic.hingesNode.SetNthControlPointPosition(i, *ras)
    again = logic.measure(case, "tavr", logic.hingesNode)
    saved = read_markups(case / "annulus_hinges.mrk.json")
    np.testing.assert_allclose(saved.points_lps, moved, atol=1e-9)
    assert again["hinge_source"] == "user" and again["inputs"]["hinges"] == str(
        case / "annulus_hinges.mrk.json"
    )
    np.testing.assert_allclose(again["tavr"]["annulus_plane"]["origin_lps"], moved.mean(0), atol=1e-6)
    left = result["tavr"]["coronary_heights_mm"]["left"]
    assert again["tavr"]["coronary_heights_mm"]["left"] == pytest.approx(left - 2.0, abs=0.05)
    # the ostia are movable too: the left ostium 3 mm further up the axis raises its height by 3 mm
    ostia, ostia_names = mrml.node_to_points(logic.ostiaNode)
    assert ostia_names == ["Left ostium", "Right ostium"]
    logic.ostiaNode.SetNthControlPointPosition(0, *((ostia[0] + 3.0 * AXIS) * [-1.0, -1.0, 1.0]))
    fourth = logic.measure(case, "tavr", logic.hingesNode, logic.ostiaNode)
    assert fourth["tavr"]["coronary_heights_mm"]["left"] == pytest.approx(left - 2.0 + 3.0, abs=0.05)
    assert fourth["tavr"]["coronary_heights_mm"]["right"] == pytest.approx(
        again["tavr"]["coronary_heights_mm"]["right"], abs=1e-9
    )
    np.testing.assert_allclose(
        read_markups(case / "ostia.mrk.json").points_lps[0], ostia[0] + 3.0 * AXIS, atol=1e-9
    )
    assert mrml.node_to_points(logic.hingesNode)[0] == pytest.approx(moved, abs=1e-9)  # same node reused
    # another case measured with the same node: its own hinges, nothing written into it
    other = case.parent / "other"
    shutil.copytree(case, other, ignore=shutil.ignore_patterns("annulus_hinges.mrk.json"))
    third = logic.measure(other, "tavr", logic.hingesNode)
    assert third["hinge_source"].startswith("automatic") and not (other / "annulus_hinges.mrk.json").exists()
    np.testing.assert_allclose(mrml.node_to_points(logic.hingesNode)[0], hinges, atol=1e-9)


def test_corrected_value_reaches_the_exported_report(logic, case, tmp_path):
    result = logic.measure(case, "tavr")
    measured = result["tavr"]["annulus"]["perimeter_mm"]
    assert logic.updateMeasurement("tavr.annulus.perimeter_mm", 77.7) == measured
    out = tmp_path / "report"
    written = logic.export(case, "tavr", out, operator="Dr Wang", deidentify=True)
    assert {"pdf", "cda", "measurements", "surfaces"} <= set(written)
    saved = json.loads((out / "measurements.json").read_text())
    assert saved["tavr"]["annulus"]["perimeter_mm"] == 77.7
    assert saved["user_corrections"] == {
        "tavr.annulus.perimeter_mm": {"measured": measured, "corrected": 77.7}
    }
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"77.7" in (out / "report_cda.xml").read_bytes()
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert "77.7" in text and "Dr Wang" in text and "tavr.annulus.perimeter_mm" in text
    # correcting back to the measured value removes the correction
    logic.updateMeasurement("tavr.annulus.perimeter_mm", measured)
    assert "tavr.annulus.perimeter_mm" not in result["user_corrections"]


def test_pci_preview_lists_the_lesion_and_errors_name_the_problem(logic, case, tmp_path):
    with pytest.raises(CardiacInputError, match="measure the case first"):
        logic.updateMeasurement("tavr.annulus.area_mm2", 1.0)
    with pytest.raises(CardiacInputError, match="case folder"):
        logic.measure(tmp_path / "missing", "tavr")
    logic.measure(case, "pci")
    rows = dict(logic.measurementRows())
    assert rows["pci.lesions.0.diameter_stenosis_pct"] == pytest.approx(55.0, abs=1.0)
    assert logic.hingesNode is None
    pdf = logic.preview(case, "pci", operator="Dr Li")
    assert pdf[:5] == b"%PDF-"  # bytes: the preview leaves no file
    with pytest.raises(CardiacInputError, match="not a reviewable"):
        logic.updateMeasurement("pci.lesions.0.branch", 1.0)
    with pytest.raises(CardiacInputError, match="measure again"):
        logic.export(case, "tavr", tmp_path / "out")
    with pytest.raises(CardiacInputError, match="folder to export"):
        logic.export(case, "pci", None)
    two = Markups.from_points(np.zeros((2, 3)), ["a", "b"], "two")
    from CardiacPlanningLib import mrml

    node = mrml.points_to_node(two.points_lps, two.labels, name="two hinges")
    with pytest.raises(CardiacInputError, match="exactly 3 points"):
        logic.measure(case, "tavr", node)
