"""The browser review in a real browser: Playwright drives Debian's chromium (no browser download)
against ``cardiac-planning serve`` on 127.0.0.1 (a subprocess on a free port, torn down after).

Images arrive over the websocket, so the tests wait for the streamed images and check their pixels.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request

import numpy as np
import pytest
import web_fixtures as wf
from playwright.sync_api import Error as PlaywrightError

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not wf.chromium_available():
    pytest.skip(f"{wf.CHROMIUM} is absent (make test installs Debian's chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from CardiacPlanningLib.web import sample  # noqa: E402

DOC = ("doc", sample.USERS["doc"][1])
RES = ("res", sample.USERS["res"][1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("review")
    store = wf.make_store(root)
    srv = wf.ReviewServer(store, root / "server.log")
    try:
        srv.wait_ready()
        srv.store = store
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
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    wf.logout(pg, server.url)
    with wf.kill_chromium_after(30), contextlib.suppress(PlaywrightError):
        context.close()


def _open(page, case_id: str) -> None:
    page.wait_for_selector(f"#open-{case_id}", timeout=30_000)
    page.click(f"#open-{case_id}")
    page.wait_for_selector("#close-case", state="visible", timeout=90_000)
    wf.wait_views(page, 3)


def _hide_segments(page) -> None:
    for box in page.locator("input[id^='segment-']").all():
        if box.is_checked():
            box.click()


def _colourfulness(img: np.ndarray) -> float:
    rgb = img.astype(float)
    return float(np.abs(rgb[..., 0] - rgb[..., 2]).mean())


def _plain_image(page, tag: str) -> np.ndarray:
    """The view's image once no segment colour is left (the hidden segments' frame has arrived)."""
    for _ in range(40):
        img = wf.view_image(page, tag)
        if _colourfulness(img) < 1.0:
            return img
        page.wait_for_timeout(250)
    raise AssertionError(f"view {tag} still shows segments")


def _widest_chord(img: np.ndarray) -> int:
    """Longest run of blood-bright pixels (350 HU at window 800 / level 200 is grey ~175) along a
    row: the LV's diameter in pixels."""
    grey = img.mean(axis=2)
    bright = ((grey > 140) & (grey < 215)).astype(np.int8)
    best = 0
    for row in bright:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row, [0]])))
        if len(edges):
            best = max(best, int((edges[1::2] - edges[::2]).max()))
    return best


def _fovs(page) -> list[float]:
    return [float(v) for v in page.inner_text("#views-fov").split()]


def test_login_wrong_right_and_lockout(page, server):
    page.goto(server.url + "/")
    assert page.url.endswith("/login")  # no page without a session
    wf.login(page, server.url, "doc", "wrong password 1A!")
    assert "wrong password" in page.inner_text("#login-message")
    name, _role, password = wf.LOCKOUT_USER
    for _ in range(5):
        wf.login(page, server.url, name, "Not-The-Passw0rd!")
    assert "locked" in page.inner_text("#login-message")
    wf.login(page, server.url, name, password)  # the right password no longer opens it
    assert "locked" in page.inner_text("#login-message")
    wf.login(page, server.url, *DOC)
    page.wait_for_selector("#case-list", timeout=30_000)
    assert page.inner_text("#user-name") == "doc (clinician)"
    assert {"PHANTOM-4D", "RESEARCH-4D"} <= set(page.inner_text("#case-list").split())


def test_case_opens_with_images_zoom_linked_and_cine(page, server):
    wf.login(page, server.url, *DOC)
    _open(page, "PHANTOM-4D")
    assert page.inner_text("#shown-phases") == "views: ED 0%, ES 50%"
    coloured = wf.view_image(page, "Phase1")
    assert _colourfulness(coloured) > 3  # the segmentation is drawn over the CT
    _hide_segments(page)
    for _ in range(10):  # both pictures at one zoom (the views refit while the browser sizes them)
        fov = _fovs(page)
        ed, es = _plain_image(page, "Phase1"), _plain_image(page, "Phase2")
        page.wait_for_timeout(500)
        if _fovs(page) == fov:
            break
    for img in (ed, es):
        assert img.shape[0] > 100 and img.std() > 20  # a picture, not a blank or uniform image
    # LV blood pool of radius 14 mm (ED) and 9 mm (ES), same zoom: chords 28 : 18 through the centre,
    # 0.48-0.64 on slices up to 6 mm off it; the 25 % / 75 % phases (12 mm) would give >= 0.8
    assert 0.45 < _widest_chord(es) / _widest_chord(ed) < 0.7
    three_d = wf.view_image(page, "ThreeD")
    assert three_d.std() > 10
    # zoom one view with the wheel: every phase view follows
    before = _fovs(page)
    assert len(before) == 2 and before[0] == pytest.approx(before[1])
    box = page.locator("#view-Phase1").locator("xpath=..").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")  # Slicer: the wheel moves the slice, Ctrl + wheel zooms
    for _ in range(3):
        page.mouse.wheel(0, -120)
        page.wait_for_timeout(150)
    page.keyboard.up("Control")
    page.wait_for_function(
        f"document.querySelector('#views-fov').innerText.split(' ')[0] < {before[0] * 0.95}"
    )
    page.wait_for_timeout(1500)
    after = _fovs(page)
    assert after[0] == pytest.approx(after[1], rel=1e-6) and after[1] < 0.95 * before[1]
    zoomed = wf.view_image(page, "Phase2")  # the other view's picture is magnified as much
    grown = _widest_chord(zoomed) / _widest_chord(es)
    assert grown == pytest.approx(before[1] / after[1], rel=0.15), (grown, before, after)
    # cine: one step shows the next phase in every view; the segmentation follows
    page.evaluate("window.trame.state.set('cine_step', 1)")
    page.wait_for_function("document.querySelector('#shown-phases').innerText.includes('25%')")
    assert page.inner_text("#shown-phases") == "views: 25%, 75%"


def test_role_without_rights_cannot_open_or_download(page, server):
    wf.login(page, server.url, "aud", sample.USERS["aud"][1])
    page.wait_for_selector("#cases-message", timeout=30_000)
    assert "does not give access" in page.inner_text("#cases-message")
    wf.trigger(page, "open_case", "PHANTOM-4D")
    page.wait_for_selector("#error", timeout=30_000)
    assert "may not open it" in page.inner_text("#error")
    assert page.evaluate("window.trame.state.get('page')") == "cases"
    response = page.request.get(server.url + "/download/phase")
    assert response.status == 403
    wf.logout(page, server.url)
    wf.login(page, server.url, *RES)  # a researcher: de-identified cases only
    page.wait_for_selector("#case-list", timeout=30_000)
    assert "PHANTOM-4D" not in page.inner_text("#case-list")
    wf.trigger(page, "open_case", "PHANTOM-4D")
    page.wait_for_selector("#error", timeout=30_000)
    assert "may not open it" in page.inner_text("#error")
    _open(page, "RESEARCH-4D")
    response = page.request.get(server.url + "/download/phase?phase=2")
    assert response.status == 200 and response.body().startswith(b"NRRD0004")
    records = _audit(server.store)
    assert any(r["operator"] == "res" and r["action"] == "export.deidentified" for r in records)
    assert any(
        r["operator"] == "aud"
        and r["action"] in ("case.read", "export.identified")
        and r["outcome"] == "denied"
        for r in records
    )
    assert any(r["operator"] == "res" and "browser review" in r["detail"] for r in records)


def _audit(store) -> list[dict]:
    from CardiacPlanningLib.security.workstation import Workstation

    ws = Workstation.open(store, sample.PASSPHRASE, hash_iterations=2000)
    try:
        return ws.audit.records()
    finally:
        ws.close()


FORBIDDEN = {  # role's user: case ids (and their objects) that must never reach that user
    "res": ["PHANTOM-4D"],
    "sys": ["PHANTOM-4D", "RESEARCH-4D"],
    "sec": ["PHANTOM-4D", "RESEARCH-4D"],
    "aud": ["PHANTOM-4D", "RESEARCH-4D"],
    "doc": [],
}


@pytest.mark.parametrize("user", sorted(FORBIDDEN))
def test_no_route_or_state_gives_a_role_what_it_may_not_see(page, server, user):
    for path in ("/", "/index.html", "/download/phase", "/download/nothing"):
        with pytest.raises(urllib.error.HTTPError) as err:  # without a session: nothing
            opener = urllib.request.build_opener(_NoRedirect)
            opener.open(server.url + path, timeout=10)
        assert err.value.code in (302, 401), path
    wf.login(page, server.url, user, sample.USERS[user][1])
    page.wait_for_function("window.trame && window.trame.state && window.trame.state.get('user')")
    seen = ""
    for case_id in ("PHANTOM-4D", "RESEARCH-4D"):
        wf.trigger(page, "open_case", case_id)
        page.wait_for_timeout(500)
        page.wait_for_function("!window.trame.state.get('busy')", timeout=90_000)
        seen += page.evaluate("JSON.stringify(window.trame.state.state)")
    for path in ("/", "/index.html", "/download/phase", "/download/phase?phase=0"):
        response = page.request.get(server.url + path, timeout=60_000)
        seen += response.text() if response.headers.get("content-type", "").startswith("text") else ""
    for case_id in FORBIDDEN[user]:
        at = seen.find(case_id)
        assert at < 0, (user, case_id, seen[max(0, at - 300) : at + 100])
    if not FORBIDDEN[user]:
        assert "PHANTOM-4D" in seen and "RESEARCH-4D" in seen


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_open_close_cycles_do_not_grow_memory(page, server):
    wf.login(page, server.url, *DOC)
    page.wait_for_selector("#open-PHANTOM-4D", timeout=30_000)
    sizes = []
    for cycle in range(6):
        wf.trigger(page, "open_case", "PHANTOM-4D")
        page.wait_for_selector("#close-case", state="visible", timeout=90_000)
        wf.wait_views(page, 3)
        page.click("#close-case")
        page.wait_for_selector("#case-list", timeout=30_000)
        if cycle >= 1:
            sizes.append(wf.rss_mb(server.proc.pid))
    growth = sizes[-1] - sizes[0]
    print(f"review server RSS after cycles 2-6 (MB): {[round(x) for x in sizes]}")
    assert growth < 30.0, sizes
