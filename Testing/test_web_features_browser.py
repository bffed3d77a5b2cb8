"""The browser review's feature panels in a real browser (Playwright driving Debian's chromium against
``cardiac-planning serve`` on 127.0.0.1, the same store and helpers as ``test_web_browser.py``): a
painted stroke changes the stored segmentation, choosing a stent is recorded, a role without rights
cannot download the report (and a researcher gets only the de-identified one)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import web_fixtures as wf
from playwright.sync_api import Error as PlaywrightError
from web_feature_fixtures import report_folder, tube_stent_results

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not wf.chromium_available():
    pytest.skip(f"{wf.CHROMIUM} is absent (make test installs Debian's chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from CardiacPlanningLib.security.workstation import Workstation  # noqa: E402
from CardiacPlanningLib.store import CaseStore  # noqa: E402
from CardiacPlanningLib.web import sample  # noqa: E402
from CardiacPlanningLib.web.features.report_access import store_report_folder  # noqa: E402
from CardiacPlanningLib.web.features.stent_compare import CHOICE, store_stent_results  # noqa: E402

CASE, DEID = sample.IDENTIFIED_CASE, sample.DEID_CASE


def _ws(store) -> Workstation:
    return Workstation.open(store, sample.PASSPHRASE, hash_iterations=2000)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("review_features")
    store = wf.make_store(root)
    ws = _ws(store)
    try:
        doc = ws.store(ws.login("doc", sample.USERS["doc"][1]))
        results, metal = tube_stent_results()
        for case in (CASE, DEID):
            store_stent_results(doc, case, results, metal)
        store_report_folder(doc, CASE, "tavr", report_folder(root / "report_id", "PATIENT-REPORT-7"))
        store_report_folder(doc, DEID, "tavr", report_folder(root / "report_deid", "RESEARCH-REPORT-3"))
    finally:
        ws.close()
    srv = wf.ReviewServer(store, root / "server.log")
    try:
        srv.wait_ready()
        srv.store = store
        srv.root = root
        srv.stent_names = [rec.name for rec, _sc in results]  # best first
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def browser():
    """A browser per test: if chromium ever has to be killed at close (wf.kill_chromium_after), the
    next test still gets a working one."""
    with wf.launch_browser() as b:
        yield b


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    yield pg
    wf.logout(pg, server.url)
    with wf.kill_chromium_after(30), contextlib.suppress(PlaywrightError):
        context.close()


def _open(page, case_id: str) -> None:
    page.wait_for_selector(f"#open-{case_id}", timeout=30_000)
    page.click(f"#open-{case_id}")
    page.wait_for_selector("#close-case", state="visible", timeout=90_000)
    wf.wait_views(page, 3)


def _settled_fov(page) -> float:
    """View 1's field of view (mm across) once the views have taken their size in the page (the
    first fit happens before the browser has sized the views: wait for three equal readings)."""
    page.wait_for_timeout(2000)
    readings: list[float] = []
    for _ in range(30):
        readings.append(float(page.inner_text("#views-fov").split()[0]))
        if len(readings) >= 3 and len(set(readings[-3:])) == 1:
            return readings[-1]
        page.wait_for_timeout(700)
    raise AssertionError(f"the views' field of view does not settle: {readings}")


def _raw_store(store) -> CaseStore:
    """The store as the test reads it (outside any session: no permission check, no audit record)."""
    from CardiacPlanningLib.store import KeyRing

    return CaseStore(store, KeyRing.open(store / "keyfile.json", sample.PASSPHRASE))


def _audit(store) -> list[dict]:
    ws = _ws(store)
    try:
        return ws.audit.records()
    finally:
        ws.close()


def test_painted_stroke_changes_the_stored_segmentation(page, server):
    wf.login(page, server.url, "doc", sample.USERS["doc"][1])
    _open(page, CASE)
    raw = _raw_store(server.store)
    before = [raw.get_volume(CASE, f"seg/phase_{k:02d}").array for k in range(len(wf.PERCENTS))]
    page.click("#edit-tool-paint")
    page.evaluate("window.trame.state.set('edit_label', 6)")  # paint aorta
    fov = _settled_fov(page)  # mm across view 1
    box = page.locator("#view-Phase1").locator("xpath=..").bounding_box()
    mm = box["width"] / fov  # pixels per mm
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    # 6 mm across, 27 mm above the centre: body background, away from the LV (18 mm) and the aorta
    page.mouse.move(cx - 3 * mm, cy - 27 * mm)
    page.mouse.down()
    page.mouse.move(cx + 3 * mm, cy - 27 * mm, steps=6)
    page.mouse.up()
    page.wait_for_selector("#edit-status:has-text('voxels changed')", timeout=60_000)
    changed = int(page.inner_text("#edit-status").split("paint: ")[1].split()[0])
    assert changed > 0
    page.click("#edit-save")
    page.wait_for_selector("#edit-status:has-text('saved')", timeout=60_000)
    after = [raw.get_volume(CASE, f"seg/phase_{k:02d}").array for k in range(len(wf.PERCENTS))]
    diffs = [np.argwhere(a != b) for a, b in zip(after, before)]
    assert [len(d) for d in diffs] == [changed, 0, 0, 0]  # view 1 shows ED = phase 0
    z = diffs[0][:, 0]
    assert len(set(z)) == 1  # one slice: the brush is a disk in the slice view
    assert set(after[0][tuple(diffs[0].T)]) == {6} and set(before[0][tuple(diffs[0].T)]) == {0}
    # the stroke is 6 mm long with a 3 mm brush: width 6 mm, length 12 mm at most (2 mm voxels)
    extent = (diffs[0][:, 1:].max(0) - diffs[0][:, 1:].min(0) + 1) * wf.SPACING
    assert extent.max() <= 14.0 and extent.min() >= 4.0, extent
    records = [r for r in _audit(server.store) if r["operator"] == "doc" and r["action"] == "case.write"]
    assert any(r["detail"].startswith("edit paint aorta") for r in records)
    assert any(r["detail"].startswith("saved edits: paint aorta") for r in records)


def test_choosing_a_stent_is_recorded(page, server):
    wf.login(page, server.url, "doc", sample.USERS["doc"][1])
    _open(page, CASE)
    names = server.stent_names
    assert names[0] == "apposed" and f"1. {names[0]}" in page.inner_text("#stent-list")
    page.click("#stent-open")
    page.wait_for_selector("#stent-table", state="visible", timeout=30_000)
    rows = [r.split() for r in page.locator("#stent-table tbody tr").all_inner_texts()]
    assert [(r[0], r[2]) for r in rows] == [("1", names[0]), ("2", names[1]), ("3", names[2])]
    last = names[2]  # the user's choice, not the ranking's
    page.click(f"#stent-choose-{last}")
    page.wait_for_selector(f"#stent-chosen:has-text('{last}')", timeout=30_000)
    raw = _raw_store(server.store)
    choice = json.loads(raw.get_bytes(CASE, CHOICE)[0])
    assert (choice["name"], choice["user"], choice["rank"]) == (last, "doc", 3)
    assert any(
        r["operator"] == "doc" and r["detail"].startswith(f"chose stent reconstruction {last} (rank 3")
        for r in _audit(server.store)
    )


def test_report_preview_and_downloads_by_role(page, server):
    from PIL import Image

    wf.login(page, server.url, "doc", sample.USERS["doc"][1])
    _open(page, CASE)
    page.click("#report-preview-button")
    page.wait_for_selector("#report-preview", timeout=60_000)
    page.wait_for_function("document.querySelector('#report-preview').naturalWidth > 100")
    img = np.asarray(Image.open(io.BytesIO(page.locator("#report-preview").screenshot())).convert("RGB"))
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert 0.03 < red.mean() < 0.12  # the report's red square (144 pt of an A4 page)
    pdf = page.request.get(server.url + "/download/report?procedure=tavr&format=pdf")
    assert pdf.status == 200 and pdf.body() == (server.root / "report_id" / "report.pdf").read_bytes()
    cda = page.request.get(server.url + "/download/report?procedure=tavr&format=cda")
    assert cda.status == 200 and b"PATIENT-REPORT-7" in cda.body()
    wf.logout(page, server.url)
    wf.login(page, server.url, "res", sample.USERS["res"][1])  # researcher: de-identified only
    page.wait_for_selector("#case-list", timeout=30_000)
    assert CASE not in page.inner_text("#case-list")
    for fmt in ("pdf", "cda"):  # no case of theirs open: the identified one is refused
        denied = page.request.get(server.url + f"/download/report?procedure=tavr&format={fmt}")
        assert (
            denied.status == 403 and b"%PDF" not in denied.body() and b"PATIENT-REPORT-7" not in denied.body()
        )
    _open(page, DEID)
    ok = page.request.get(server.url + "/download/report?procedure=tavr&format=pdf")
    assert ok.status == 200 and ok.body() == (server.root / "report_deid" / "report.pdf").read_bytes()
    for user in ("aud", "sys"):  # administrators: no report at all
        wf.logout(page, server.url)
        wf.login(page, server.url, user, sample.USERS[user][1])
        page.wait_for_selector("#cases-message", timeout=30_000)
        got = page.request.get(server.url + "/download/report?procedure=tavr&format=pdf")
        assert got.status == 403 and b"%PDF" not in got.body()
    records = _audit(server.store)
    handed = [r for r in records if r["outcome"] == "success" and "report" in r["detail"]]
    assert {(r["operator"], r["action"]) for r in handed} == {
        ("doc", "export.identified"),
        ("res", "export.deidentified"),
    }
    refused = {(r["operator"], r["action"]) for r in records if r["outcome"] == "denied"}
    assert {
        ("res", "export.identified"),
        ("aud", "export.identified"),
        ("sys", "export.identified"),
    } <= refused
