"""The browser's features as library functions, on a real encrypted store and audit log: segmentation
editing (paint/erase along strokes, smooth, undo/redo, save), the stent comparison and its recorded
choice, report preview and downloads; each checked per role and against the audit records."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from security_fixtures import FakeClock, make_ring
from web_feature_fixtures import report_folder, tube_stent_results

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart import editing as heart_editing
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.security.errors import PermissionDenied, SessionExpired
from CardiacPlanningLib.security.workstation import Workstation
from CardiacPlanningLib.web.features.editing import SegmentationEditor
from CardiacPlanningLib.web.features.report_access import ReportAccess, pdf_page_png, store_report_folder
from CardiacPlanningLib.web.features.stent_compare import (
    CHOICE,
    StentComparison,
    store_stent_folder,
    store_stent_results,
)

PW = "Initial-Passw0rd"
NEW_PW = "Changed-Passw0rd-1"
ROLES = {"doc": "clinician", "res": "researcher", "sys": "system_admin", "aud": "audit_admin"}
SPACING = (0.5, 0.5, 1.0)  # mm along i, j, k
ORIGIN = (-10.0, -10.0, -10.0)


@pytest.fixture()
def ws(tmp_path):
    clock = FakeClock()
    ws = Workstation(tmp_path, make_ring(tmp_path), clock=clock, hash_iterations=1000)
    ws.clock = clock
    ws.users.add_user(None, "sys", "system_admin", PW)
    ws.sessions = {"sys": ws.login("sys", PW)}
    for name, role in ROLES.items():
        if name != "sys":
            ws.users.add_user(ws.sessions["sys"], name, role, PW)
            s = ws.login(name, PW)
            ws.users.change_password(s, PW, NEW_PW)
            ws.sessions[name] = s
    ws.store(ws.sessions["doc"]).put_volume("CASE-1", "labels", Volume(SEG0, SPACING, ORIGIN))
    yield ws
    ws.close()


def _records(ws, since: int) -> list[tuple[str, str, str, str, str]]:
    return [
        (r["operator"], r["action"], r["object"], r["outcome"], r["detail"]) for r in ws.audit.records(since)
    ]


SEG0 = np.zeros((20, 40, 40), np.uint8)
SEG0[5:15, 10:30, 10:30] = 6  # aorta block
SEG0[5:15, 10:30, 30:34] = 1  # LV blood pool beside it


def _capsule(a, b, radius, k_only=None) -> np.ndarray:
    """Voxel centres of the test grid within ``radius`` mm of segment a-b (LPS), written out directly."""
    kk, jj, ii = np.indices(SEG0.shape)
    p = np.stack([ii * SPACING[0], jj * SPACING[1], kk * SPACING[2]], -1) + np.array(ORIGIN)
    a, b = np.asarray(a, float), np.asarray(b, float)
    t = np.clip(((p - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
    inside = np.linalg.norm(p - (a + t[..., None] * (b - a)), axis=-1) <= radius
    return inside & (kk == k_only) if k_only is not None else inside


def test_paint_stroke_is_saved_to_the_store_and_audited(ws):
    store = ws.store(ws.sessions["doc"])
    ed = SegmentationEditor(store, "CASE-1", "labels")
    before = ws.audit.count()
    a, b = (-8.0, -8.0, -8.0), (-2.0, -8.0, -8.0)  # outside the block: background only
    changed = ed.paint("lv_myocardium", [a, b], 1.6)
    assert changed == int(_capsule(a, b, 1.6).sum()) == int(np.count_nonzero(ed.seg.array == 2)) > 50
    assert ed.dirty and ed.history == ["paint lv_myocardium (2 points, radius 1.6 mm)"]
    assert np.count_nonzero(store.get_volume("CASE-1", "labels").array == 2) == 0  # not saved yet
    ed.save()
    stored = store.get_volume("CASE-1", "labels")
    assert np.array_equal(stored.array, ed.seg.array) and stored.spacing == SPACING
    assert not ed.dirty
    recs = _records(ws, before)
    assert (
        "doc",
        "case.write",
        "CASE-1/labels",
        "success",
        f"edit {ed.history[0]}: {changed} voxels",
    ) in recs
    assert ("doc", "case.write", "CASE-1/labels", "success", f"saved edits: {ed.history[0]}") in recs
    assert any(r[1:4] == ("case.write", "CASE-1/labels", "success") and "bytes" in r[4] for r in recs)


def test_slice_stroke_overwrite_keep_and_erase_then_undo_redo(ws):
    ed = SegmentationEditor(ws.store(ws.sessions["doc"]), "CASE-1", "labels")
    # slice-view stroke in voxel indices (i, j, k) in slice k = 10, across the aorta / LV border
    a, b = np.array(ORIGIN) + [14.0, 10.0, 10.0], np.array(ORIGIN) + [18.0, 10.0, 10.0]
    disk = _capsule(a, b, 2.0, k_only=10)
    assert (disk & (SEG0 == 1)).any() and (disk & (SEG0 == 0)).any()
    n = ed.paint(6, [[28, 20, 10], [36, 20, 10]], 2.0, space="ijk", slice_axis=2)
    assert n == int((disk & (SEG0 != 6)).sum())
    step1 = np.where(disk, 6, SEG0)
    assert np.array_equal(ed.seg.array, step1)  # overwrote LV voxels, nothing outside slice 10
    # a 3D stroke that keeps other segments: only background becomes myocardium
    c, d = np.array(ORIGIN) + [3.0, 3.0, 3.0], np.array(ORIGIN) + [6.0, 6.0, 6.0]
    ball = _capsule(c, d, 2.5)
    ed.paint(2, [c, d], 2.5, overwrite=False)
    step2 = np.where(ball & (step1 == 0), 2, step1)
    assert np.array_equal(ed.seg.array, step2) and (ball & (step1 == 6)).any()
    # erase only the aorta along a stroke, then every segment along another
    e, f = np.array(ORIGIN) + [12.0, 6.0, 7.0], np.array(ORIGIN) + [17.0, 6.0, 7.0]
    ed.erase("aorta", [e, f], 3.0)
    step3 = np.where(_capsule(e, f, 3.0) & (step2 == 6), 0, step2)
    assert np.array_equal(ed.seg.array, step3) and (step3 == 1).sum() == (step2 == 1).sum()
    ed.erase(None, [e, f], 3.0)
    step4 = np.where(_capsule(e, f, 3.0), 0, step3)
    assert np.array_equal(ed.seg.array, step4) and (step4 == 1).sum() < (step3 == 1).sum()
    before = ws.audit.count()
    for expected in (step3, step2, step1, SEG0):
        ed.undo()
        assert np.array_equal(ed.seg.array, expected)
    assert not ed.can_undo and ed.can_redo
    assert ed.redo() == "paint aorta (2 points, radius 2 mm)"
    assert np.array_equal(ed.seg.array, step1)
    recs = _records(ws, before)
    assert [r[4] for r in recs][-1] == "redo paint aorta (2 points, radius 2 mm)"
    assert sum(r[4].startswith("undo ") for r in recs) == 4
    with pytest.raises(CardiacInputError, match="nothing to redo"):
        ed.redo(), ed.redo(), ed.redo(), ed.redo()


def test_smooth_in_the_segment_box_equals_smoothing_the_whole_map(ws):
    ed = SegmentationEditor(ws.store(ws.sessions["doc"]), "CASE-1", "labels")
    ed.paint("aorta", [np.array(ORIGIN) + [10.0, 10.0, 15.0]], 0.3)  # a one-voxel spike on the block
    spiked = ed.seg.array.copy()
    assert spiked[15, 20, 20] == 6
    n = ed.smooth("aorta", 1.0)
    full = heart_editing.smooth(Volume(spiked, SPACING, ORIGIN), 6, 1.0)
    assert np.array_equal(ed.seg.array, full) and n == int((full != spiked).sum()) > 0
    assert ed.seg.array[15, 20, 20] == 0  # the spike is gone
    with pytest.raises(CardiacInputError, match="empty"):
        ed.smooth("rv")


def test_only_clinicians_edit_and_refusals_are_audited(ws):
    for name in ("res", "sys", "aud"):
        before = ws.audit.count()
        with pytest.raises(PermissionDenied, match="case.write"):
            SegmentationEditor(ws.store(ws.sessions[name]), "CASE-1", "labels")
        assert _records(ws, before)[-1][:4] == (name, "case.write", "CASE-1/labels", "denied")
    ed = SegmentationEditor(ws.store(ws.sessions["doc"]), "CASE-1", "labels")
    ws.clock.advance(hours=12)  # idle far beyond the timeout
    with pytest.raises(SessionExpired):
        ed.paint(6, [[-5.0, -5.0, -5.0]], 1.0)
    assert np.array_equal(ed.seg.array, SEG0)
    doc = ws.login("doc", NEW_PW)
    assert np.array_equal(ws.store(doc).get_volume("CASE-1", "labels").array, SEG0)


def test_bad_edit_inputs_name_the_input(ws):
    ed = SegmentationEditor(ws.store(ws.sessions["doc"]), "CASE-1", "labels")
    with pytest.raises(CardiacInputError, match="stroke point"):
        ed.paint(6, [[0.0, 0.0, 0.0], [0.0, 0.0, 50.0]], 1.0)
    with pytest.raises(CardiacInputError, match="brush radius"):
        ed.paint(6, [[0.0, 0.0, 0.0]], 0.0)
    with pytest.raises(CardiacInputError, match="unknown segment 'nonsense'"):
        ed.erase("nonsense", [[0.0, 0.0, 0.0]], 1.0)
    with pytest.raises(CardiacInputError, match="one slice"):
        ed.paint(6, [[5, 5, 3], [5, 5, 4]], 1.0, space="ijk", slice_axis=2)
    with pytest.raises(CardiacInputError, match="nothing to undo"):
        ed.undo()
    with pytest.raises(CardiacInputError, match="not a label map"):
        ws.store(ws.sessions["doc"]).put_volume("CASE-1", "ct", Volume(np.zeros((4, 4, 4), np.float32)))
        SegmentationEditor(ws.store(ws.sessions["doc"]), "CASE-1", "ct")
    assert not ed.history


# -- stent comparison ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stent_results():
    return tube_stent_results()


def test_stent_comparison_rows_scores_meshes_and_recorded_choice(ws, stent_results, tmp_path):
    results, metal = stent_results
    store = ws.store(ws.sessions["doc"])
    with pytest.raises(CardiacInputError, match="no stent reconstructions"):
        StentComparison(store, "CASE-1")
    names = store_stent_results(store, "CASE-1", results, metal)
    assert names[-1] == "stent/ranking.json" and len(names) == 3 * len(results) + 1
    comp = StentComparison(store, "CASE-1")
    assert comp.names == [r.name for r, _ in results] and comp.names[0] == "apposed"
    table = comp.table()
    assert [row["rank"] for row in table] == list(range(1, len(results) + 1))
    for row, (_rec, sc) in zip(table, results):
        assert row["total"] == pytest.approx(sc.total)
        assert row["completeness"] == pytest.approx(sc.completeness)
        assert row["apposition"] == pytest.approx(sc.apposition) and row["max_gap_deg"] == sc.max_gap_deg
    assert [row["total"] for row in table] == sorted((row["total"] for row in table), reverse=True)
    rec0 = results[0][0]
    mesh = comp.mesh(rec0.name)
    assert mesh.GetNumberOfPoints() == rec0.mesh.GetNumberOfPoints()
    assert np.allclose(mesh.GetBounds(), rec0.mesh.GetBounds(), atol=1e-4)
    assert comp.chosen() is None
    before = ws.audit.count()
    pick = results[-1][0].name  # the lowest ranked one: a choice is the user's, not the ranking's
    record = comp.choose(pick, note="smaller envelope")
    assert (record["name"], record["rank"], record["user"]) == (pick, len(results), "doc")
    again = StentComparison(ws.store(ws.sessions["doc"]), "CASE-1").chosen()
    assert again["name"] == pick and again["score"] == pytest.approx(results[-1][1].total)
    assert (
        "doc",
        "case.write",
        f"CASE-1/{CHOICE}",
        "success",
        f"chose stent reconstruction {pick} (rank {len(results)}, score {results[-1][1].total:.1f})",
    ) in _records(ws, before)
    with pytest.raises(CardiacInputError, match="no stent reconstruction 'nope'"):
        comp.choose("nope")
    # a folder written by the CLI's writer stores the same way; a researcher reads only the copy
    from CardiacPlanningLib.stent.pipeline import write_results

    write_results(results, metal, tmp_path / "out")
    store.put_bytes("RES-1", "x", b"x", deidentified=True)
    store_stent_folder(store, "RES-1", tmp_path / "out")
    res_store = ws.store(ws.sessions["res"])
    assert StentComparison(res_store, "RES-1").names == comp.names
    with pytest.raises(PermissionDenied, match="case.write"):
        StentComparison(res_store, "RES-1").choose(pick)
    with pytest.raises(PermissionDenied, match="case.read"):
        StentComparison(res_store, "CASE-1")
    for admin in ("sys", "aud"):
        with pytest.raises(PermissionDenied):
            StentComparison(ws.store(ws.sessions[admin]), "CASE-1")
    (tmp_path / "out" / f"{pick}_score.json").unlink()
    with pytest.raises(CardiacInputError, match=f"{pick}_score.json is missing"):
        store_stent_folder(store, "CASE-2", tmp_path / "out")


# -- report preview and downloads -------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed")
def test_report_preview_and_downloads_by_role(ws, tmp_path):
    from PIL import Image

    doc = ws.store(ws.sessions["doc"])
    names = store_report_folder(doc, "CASE-1", "tavr", report_folder(tmp_path / "id", "identified"))
    assert names == ["report/tavr/report.pdf", "report/tavr/report_cda.xml"]
    doc.put_bytes("RES-1", "x", b"x", deidentified=True)
    store_report_folder(doc, "RES-1", "tavr", report_folder(tmp_path / "deid", "pseudonym"))
    acc = ReportAccess(doc, "CASE-1")
    assert acc.procedures() == ["tavr"] and acc.formats("tavr") == ["pdf", "cda"]
    png = Image.open(io.BytesIO(acc.preview_png("tavr", dpi=72)))
    assert png.size == (596, 842)  # A4 (595.3 x 841.9 pt) at 72 dpi, rounded up
    assert png.convert("RGB").getpixel((144, 842 - 144)) == (255, 0, 0)  # centre of the square
    assert png.convert("RGB").getpixel((300, 842 - 144)) == (255, 255, 255)
    before = ws.audit.count()
    pdf = acc.download("tavr", "pdf")
    assert pdf.data == (tmp_path / "id" / "report.pdf").read_bytes() and pdf.mime == "application/pdf"
    assert pdf.filename == "CASE-1_tavr_report.pdf"
    cda = acc.download("tavr", "cda")
    assert cda.data == b"<ClinicalDocument>identified</ClinicalDocument>"
    recs = _records(ws, before)
    assert ("doc", "export.identified", "CASE-1/report/tavr/report.pdf", "success") in [r[:4] for r in recs]
    assert ("doc", "export.identified", "CASE-1/report/tavr/report_cda.xml", "success") in [
        r[:4] for r in recs
    ]
    # researcher: the de-identified case only
    res = ReportAccess(ws.store(ws.sessions["res"]), "RES-1")
    assert res.download("tavr", "cda").data == b"<ClinicalDocument>pseudonym</ClinicalDocument>"
    assert res.preview_png("tavr", dpi=20).startswith(b"\x89PNG")
    before = ws.audit.count()
    for fmt in ("pdf", "cda"):
        with pytest.raises(PermissionDenied, match="export.identified"):
            ReportAccess(ws.store(ws.sessions["res"]), "CASE-1").download("tavr", fmt)
    with pytest.raises(PermissionDenied, match="case.read"):
        ReportAccess(ws.store(ws.sessions["res"]), "CASE-1").preview_png("tavr")
    # administrators: nothing, not even a de-identified report
    for admin in ("sys", "aud"):
        for case in ("CASE-1", "RES-1"):
            with pytest.raises(PermissionDenied):
                ReportAccess(ws.store(ws.sessions[admin]), case).download("tavr")
            with pytest.raises(PermissionDenied):
                ReportAccess(ws.store(ws.sessions[admin]), case).preview_png("tavr")
    denied = [r for r in _records(ws, before) if r[3] == "denied"]
    assert len(denied) == 3 + 2 * 2 * 2 and not [r for r in _records(ws, before) if r[3] == "success"]
    with pytest.raises(CardiacInputError, match="no pci report PDF"):
        acc.preview_png("pci")
    with pytest.raises(CardiacInputError, match="format 'docx'"):
        acc.download("tavr", "docx")
    with pytest.raises(CardiacInputError, match="cannot render"):
        pdf_page_png(b"%PDF-1.4 not really", what="broken")
    with pytest.raises(CardiacInputError, match="not a PDF"):
        store_report_folder(doc, "CASE-1", "pci", tmp_path / "missing")
