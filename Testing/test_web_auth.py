"""The browser review's login seat, HTTP gate, case store layout and NRRD download without a browser
(fast): lockout and idle timeout on an injected clock, one seat per process, role-filtered lists."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import SimpleITK as sitk
from security_fixtures import FakeClock, make_ring

from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.security.errors import (
    AccountLocked,
    AuthenticationError,
    PermissionDenied,
    SecurityError,
)
from CardiacPlanningLib.security.passwords import PasswordPolicy
from CardiacPlanningLib.security.workstation import Workstation
from CardiacPlanningLib.web import auth, cases
from CardiacPlanningLib.web.downloads import volume_to_nrrd

aiohttp_web = pytest.importorskip("aiohttp.web")
test_utils = pytest.importorskip("aiohttp.test_utils")

USERS = {"doc": ("clinician", "Blue-Valve-Passw0rd1"), "res": ("researcher", "Green-Valve-Passw0rd2")}


@pytest.fixture
def ws(tmp_path):
    clock = FakeClock()
    ring = make_ring(tmp_path / "store")
    workstation = Workstation(tmp_path / "store", ring, clock, PasswordPolicy(), hash_iterations=1000)
    workstation.users.add_user(None, "sys", "system_admin", "Amber-Valve-Passw0rd3")
    admin = workstation.login("sys", "Amber-Valve-Passw0rd3")
    for name, (role, password) in USERS.items():
        workstation.users.add_user(admin, name, role, "Temporary-Passw0rd-1")
        workstation.users.change_password(
            workstation.login(name, "Temporary-Passw0rd-1"), "Temporary-Passw0rd-1", password
        )
    workstation.clock = clock
    yield workstation
    workstation.close()


def _actions(ws, user):
    return [(r["action"], r["outcome"]) for r in ws.audit.records() if r["operator"] == user]


def test_seat_login_lockout_one_seat_and_idle_timeout(ws):
    seats = auth.SeatManager(ws)
    ended = []
    seats.on_seat_ended.append(lambda seat, reason: ended.append((seat.username, reason)))
    with pytest.raises(AuthenticationError):
        seats.login("doc", "wrong")
    assert seats.seat is None and ("login", "failure") in _actions(ws, "doc")
    seat = seats.login("doc", USERS["doc"][1])
    assert seats.current(seat.token) is seat and seats.current("forged") is None
    with pytest.raises(SecurityError, match="in use by another user"):
        seats.login("res", USERS["res"][1])
    again = seats.login("doc", USERS["doc"][1])  # the same user takes the seat over
    assert seats.current(seat.token) is None and seats.current(again.token) is again
    assert ended == [("doc", "replaced by a new login")]
    ws.users.clock.advance(minutes=14)
    assert not seats.expire_if_idle()
    ws.users.clock.advance(minutes=16)
    assert seats.expire_if_idle() and seats.seat is None
    assert ended[-1] == ("doc", "idle timeout")
    acts = _actions(ws, "doc")
    assert acts[-1] == ("session.timeout", "success")  # the session ended there: no separate logout
    res = seats.login("res", USERS["res"][1])  # the seat is free again
    assert res.role_names == "researcher"
    with pytest.raises(SecurityError, match="in use"):  # another user: refused before checking
        seats.login("doc", USERS["doc"][1])
    seats.end("logout")
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            seats.login("doc", "still wrong")
    with pytest.raises(AccountLocked, match="locked"):
        seats.login("doc", "still wrong")  # fifth failure in a row
    with pytest.raises(AccountLocked):
        seats.login("doc", USERS["doc"][1])


def _serve(seats: auth.SeatManager, coroutine):
    async def run():
        app = aiohttp_web.Application(middlewares=[auth.gate_middleware(seats, tls=False)])
        auth.add_routes(app, seats, tls=False)

        async def data(request):
            return aiohttp_web.Response(text=f"data for {request[auth.SEAT_KEY].username}")

        app.router.add_get("/", data)
        app.router.add_get("/data", data)
        async with test_utils.TestClient(test_utils.TestServer(app)) as client:
            return await coroutine(client)

    return asyncio.run(run())


def test_gate_lets_nothing_through_without_the_seat_cookie(ws):
    seats = auth.SeatManager(ws)

    async def scenario(client):
        out = {}
        r = await client.get("/", allow_redirects=False)
        out["root"] = (r.status, r.headers.get("Location"))
        r = await client.get("/data")
        out["data"] = r.status
        r = await client.post("/login", data={"username": "doc", "password": "nope"})
        out["wrong"] = (r.status, "wrong password" in await r.text())
        r = await client.post(
            "/login", data={"username": "doc", "password": USERS["doc"][1]}, allow_redirects=False
        )
        out["cookie"] = r.headers.get("Set-Cookie", "")
        r = await client.get("/")
        out["right"] = (r.status, await r.text(), r.headers.get("X-Frame-Options"))
        r = await client.get("/logout")
        r = await client.get("/data")
        out["after_logout"] = r.status
        return out

    out = _serve(seats, scenario)
    assert out["root"] == (302, "/login") and out["data"] == 401
    assert out["wrong"] == (401, True)
    assert out["right"] == (200, "data for doc", "DENY")
    assert "HttpOnly" in out["cookie"] and "SameSite=Strict" in out["cookie"]
    assert out["after_logout"] == 401 and seats.seat is None


def _phase(k: int) -> tuple[Volume, Volume]:
    lab = np.zeros((6, 8, 10), np.uint8)
    lab[1:5, 2:6, 2 : 3 + (4 - k)] = 1  # LV blood pool: largest at phase 0, smallest at phase 3
    ct = np.where(lab > 0, 350, -50).astype(np.int16)
    return Volume(ct, (1.0, 1.0, 2.0)), Volume(lab, (1.0, 1.0, 2.0))


def test_store_layout_role_filtered_list_and_ed_es(ws):
    doc = ws.store(ws.login("doc", USERS["doc"][1]))
    phases = [_phase(k) for k in range(4)]
    meta = cases.store_phases(
        doc, "ID-1", (p[0] for p in phases), [0, 25, 50, 75], (p[1] for p in phases), deidentified=False
    )
    assert (meta["ed"], meta["es"], meta["ed_es_from"]) == (0, 3, "LV volume curve")
    assert meta["lv_volumes_ml"] == [0.16, 0.128, 0.096, 0.064]
    cases.store_phases(doc, "DEID-1", (p[0] for p in phases), [0, 25, 50, 75], deidentified=True)
    listed = {c.case_id: c for c in cases.list_reviewable(doc)}
    assert set(listed) == {"ID-1", "DEID-1"} and listed["ID-1"].segmented and not listed["DEID-1"].segmented
    res = ws.store(ws.login("res", USERS["res"][1]))
    assert [c.case_id for c in cases.list_reviewable(res)] == ["DEID-1"]
    with pytest.raises(PermissionDenied):
        cases.open_case(res, "ID-1")
    index = cases.open_case(doc, "ID-1")
    assert index.ct_objects == [cases.ct_object(k) for k in range(4)] and index.seg_objects
    assert index.labels == ["0%", "25%", "50%", "75%"] and (index.ed, index.es) == (0, 3)
    deid = cases.open_case(res, "DEID-1")
    assert deid.seg_objects == [] and (deid.ed, deid.es, deid.ed_es_from) == (0, 2, "nominal percent")
    got = list(cases.iter_volumes(doc, "ID-1", index.seg_objects))
    assert all(np.array_equal(g.array, p[1].array) for g, p in zip(got, phases))
    sys_store = ws.store(ws.login("sys", "Amber-Valve-Passw0rd3"))
    with pytest.raises(PermissionDenied):
        cases.list_reviewable(sys_store)


def test_nrrd_download_keeps_voxels_and_lps_geometry(tmp_path):
    rng = np.random.default_rng(1)
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    vol = Volume(
        rng.integers(-1000, 2000, (5, 6, 7)).astype(np.int16), (0.5, 0.7, 1.5), (3.0, -4.0, 10.0), direction
    )
    path = tmp_path / "x.nrrd"
    path.write_bytes(volume_to_nrrd(vol))
    image = sitk.ReadImage(str(path))
    assert np.array_equal(sitk.GetArrayFromImage(image), vol.array)
    assert image.GetSpacing() == pytest.approx((0.5, 0.7, 1.5))
    assert image.GetOrigin() == pytest.approx((3.0, -4.0, 10.0))
    assert np.asarray(image.GetDirection()).reshape(3, 3) == pytest.approx(direction)
    assert json.loads(json.dumps({"ok": True}))["ok"]


def test_demo_stage_stores_the_4d_case_and_says_how_to_open_it(tmp_path):
    import web_fixtures as wf

    from CardiacPlanningLib.progress import Progress
    from CardiacPlanningLib.security import demo_stage as security_stage
    from CardiacPlanningLib.web import demo_stage

    security_stage.run(tmp_path / "security", Progress(), {})
    files = wf.write_synthetic_case(tmp_path / "phantom")["files"]["phases"]
    context = {
        "phantom": {
            "ct": [p["ct"] for p in files],
            "labels": [p["labels"] for p in files],
            "percent": [p["percent"] for p in files],
        }
    }
    out = demo_stage.run(tmp_path / "review", Progress(), context)
    assert (out["case"], out["phases"], out["end_diastole"], out["end_systole"]) == ("DEMO-4D", 4, 0, 2)
    assert "cardiac-planning serve --store" in out["open_in_browser"] and "demo_doc" in out["open_in_browser"]
    ws = Workstation.open(tmp_path / "security" / "store", security_stage.DEMO_PASSPHRASE)
    try:
        store = ws.store(ws.login("demo_doc", security_stage.DEMO_PASSWORDS["demo_doc"]))
        listed = {c.case_id: c.phases for c in cases.list_reviewable(store)}
        assert listed["DEMO-4D"] == 4 and listed["DEMO-0001"] == 1  # the security stage's one phase
    finally:
        ws.close()


def test_serve_needs_both_tls_files(tmp_path):
    from click.testing import CliRunner

    from CardiacPlanningLib.cli.main import cli

    cert = tmp_path / "cert.pem"
    cert.write_text("not used")
    result = CliRunner().invoke(cli, ["serve", "--store", str(tmp_path), "--tls-cert", str(cert)])
    assert result.exit_code == 2 and "--tls-cert and --tls-key go together" in result.output
