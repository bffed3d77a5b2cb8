"""CardiacPlanningSecurity (login, idle timeout, audit viewer) and the update-check guard, headless on
slicer-core with the stand-in application settings (Testing/slicer_standins/app.py)."""

import csv
import sqlite3
from datetime import timedelta

import numpy as np
import pytest
from conftest import REPOSITORY, load_module_file
from security_fixtures import INITIAL_PASSWORD, PASSPHRASE, FakeClock, store_with_users

from CardiacPlanningLib.security.errors import AuthenticationError, PermissionDenied, SessionExpired
from CardiacPlanningLib.security.workstation import Workstation

pytestmark = pytest.mark.mrml

PW = INITIAL_PASSWORD
PASSWORDS = {"doc": "Cardio-Passw0rd-2", "aud": "Ledger-Passw0rd-2"}
KEYS = ("ApplicationUpdate/AutoUpdateCheck", "Extensions/AutoUpdateCheck", "Extensions/AutoUpdateInstall")


@pytest.fixture
def security(slicer_app):
    import sys

    sys.path.insert(0, str(REPOSITORY / "CardiacPlanning"))
    import CardiacPlanningSecurity

    return CardiacPlanningSecurity


@pytest.fixture
def store(tmp_path):
    """A store with a clinician 'doc' and an audit administrator 'aud' (both past first login)."""
    clock = FakeClock()
    store_with_users(tmp_path, PASSWORDS, {"doc": "clinician", "aud": "audit_admin"}, clock)
    return tmp_path, clock


def _logic(security, store):
    root, clock = store
    logic = security.CardiacPlanningSecurityLogic(root, clock=clock, hash_iterations=1000)
    logic.unlock(PASSPHRASE)
    return logic, clock


def test_login_password_change_and_idle_timeout(security, store):
    logic, clock = _logic(security, store)
    assert logic.statusText() == "Not logged in"
    with pytest.raises(AuthenticationError):
        logic.login("doc", "wrong password")
    session = logic.login(" doc ", PASSWORDS["doc"])
    assert not session.must_change_password and logic.statusText() == "Logged in: doc (clinician)"
    logic.caseStore().put_bytes("CASE-7", "note", b"x")
    clock.advance(minutes=14)
    assert not logic.checkIdle() and logic.idleSecondsLeft() == pytest.approx(60.0)
    clock.advance(minutes=2)  # 16 minutes idle > 15
    assert logic.idleSecondsLeft() == 0.0
    assert logic.checkIdle() and logic.session is None
    with pytest.raises(SessionExpired, match="log in first"):
        logic.caseStore()
    actions = [(r["operator"], r["action"]) for r in logic.workstation.audit.records()]
    assert actions[-1] == ("doc", "session.timeout")
    assert ("doc", "case.write") in actions and ("doc", "login") in actions
    logic.close()


def test_must_change_password_then_store_access(security, store):
    root, clock = store
    ws = Workstation.open(root, PASSPHRASE, clock=clock, hash_iterations=1000)
    ws.users.reset_password(ws.login("sys", PW), "doc", "Reset-Passw0rd-9")
    ws.close()
    logic, _ = _logic(security, store)
    session = logic.login("doc", "Reset-Passw0rd-9")
    assert session.must_change_password
    with pytest.raises(PermissionDenied, match="must change the password"):
        logic.caseStore().list_cases()
    logic.changePassword("Reset-Passw0rd-9", "Fresh-Passw0rd-3")
    assert logic.caseStore().list_cases() == []
    logic.close()


def test_audit_viewer_filters_verifies_exports_and_is_audited(security, store, tmp_path):
    logic, clock = _logic(security, store)
    logic.login("doc", PASSWORDS["doc"])
    cases = logic.caseStore()
    start = clock()
    for i in range(3):
        clock.advance(minutes=10)
        cases.put_bytes(f"CASE-{i}", "ct", b"data")
    assert not logic.canViewAudit()
    with pytest.raises(PermissionDenied, match="audit.read"):
        logic.queryAudit()
    logic.login("aud", PASSWORDS["aud"])  # logs doc out first
    assert logic.canViewAudit()
    writes = logic.queryAudit(operator="doc", action="case.*")
    assert [r["object"] for r in writes] == ["CASE-2/ct", "CASE-1/ct", "CASE-0/ct"]  # newest first
    window = logic.queryAudit(
        action="case.write", since=start + timedelta(minutes=15), until=start + timedelta(minutes=30)
    )
    assert [r["object"] for r in window] == ["CASE-1/ct"]
    assert [r["object"] for r in logic.queryAudit(text="case-2")] == ["CASE-2/ct"]  # case-insensitive
    assert logic.queryAudit(text="%") == []  # LIKE wildcards are literal
    denied = logic.queryAudit(outcome="denied")
    assert [(r["operator"], r["action"]) for r in denied] == [("doc", "audit.read")]
    rows = logic.auditTableRows(writes)
    assert rows[0][5:8] == ("case.write", "CASE-2/ct", "success") and len(rows[0]) == 9
    reads = logic.queryAudit(action="audit.read", operator="aud")
    assert len(reads) == 5 and '"operator": "doc"' in reads[-1]["detail"]  # each read is logged
    assert reads[-1]["detail"].startswith("3 records")
    report = logic.verifyAudit()
    assert report.ok and report.records == logic.workstation.audit.count() - 1  # the verify is logged after
    out = tmp_path / "export.csv"
    n = logic.exportAudit(out)
    assert n == len(list(csv.DictReader(out.open(encoding="utf-8"))))
    with pytest.raises(Exception, match="cannot read the date"):
        logic.queryAudit(since="yesterday")
    seq = writes[1]["seq"]
    logic.close()
    db = sqlite3.connect(store[0] / "audit" / "audit.db")
    db.execute("DROP TRIGGER records_no_update")
    db.execute("UPDATE records SET object = 'CASE-9/ct' WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    logic, _ = _logic(security, store)
    logic.login("aud", PASSWORDS["aud"])
    report = logic.verifyAudit()
    assert not report.ok and report.first_bad_seq == seq
    logic.close()


def test_update_checks_off_while_a_case_is_open(slicer_app):
    from slicer_standins.app import Application

    from CardiacPlanningLib import mrml
    from CardiacPlanningLib.imaging.volume import Volume
    from CardiacPlanningLib.mrml.update_checks import SAVED_SETTINGS_KEY, CaseWatcher, UpdateCheckGuard

    app, scene = Application(), mrml.new_scene()
    settings = app.userSettings()
    settings.setValue("ApplicationUpdate/AutoUpdateCheck", "true")  # as read back from Slicer.ini
    app.applicationUpdateManager().setAutoUpdateCheck(True)
    app.extensionsManagerModel().setAutoUpdateCheck(False)  # the user's own choice: off
    settings.remove("Extensions/AutoUpdateInstall")  # never set: Slicer's default applies
    guard = UpdateCheckGuard(app)
    watcher = CaseWatcher(scene, guard)
    assert not guard.blocked
    volume = Volume(np.zeros((2, 3, 4), np.int16))
    first = mrml.volume_to_node(volume, scene, "ct")
    assert guard.blocked and [guard.current(k) for k in KEYS] == [False, False, False]
    assert app.applicationUpdateManager().autoUpdateCheck is False
    assert [settings.value(k) for k in KEYS] == [False, False, False]
    second = mrml.volume_to_node(volume, scene, "ct 2")
    guard.block()  # a second block keeps the first saved values
    scene.RemoveNode(first)
    assert guard.blocked  # one volume is still loaded
    scene.RemoveNode(second)
    assert not guard.blocked and not settings.contains(SAVED_SETTINGS_KEY)
    assert app.applicationUpdateManager().autoUpdateCheck is True
    assert settings.value("ApplicationUpdate/AutoUpdateCheck") is True
    assert app.extensionsManagerModel().autoUpdateCheck is False
    assert not settings.contains("Extensions/AutoUpdateInstall")  # back to "unset"
    mrml.volume_to_node(volume, scene, "ct 3")
    assert guard.blocked
    scene.Clear(0)  # closing the scene closes the case
    assert not guard.blocked and app.applicationUpdateManager().autoUpdateCheck is True
    watcher.detach()
    # a crash while a case was open: the next start (empty scene) restores the saved values
    guard.block()
    crashed = UpdateCheckGuard(app)
    assert crashed.blocked
    CaseWatcher(mrml.new_scene(), crashed).detach()
    assert not crashed.blocked and app.applicationUpdateManager().autoUpdateCheck is True


def test_module_logic_shares_the_security_logic_and_guards_the_application(slicer_app, security, tmp_path):
    from CardiacPlanningLib.imaging.volume import Volume

    module = load_module_file("CardiacPlanning")
    slicer_app.mrmlScene.Clear(0)
    logic = module.CardiacPlanningLogic()
    assert logic.security is security.sharedLogic() is module.CardiacPlanningLogic().security
    manager = slicer_app.app.applicationUpdateManager()
    manager.setAutoUpdateCheck(True)
    path = Volume(np.zeros((2, 3, 4), np.int16)).write(tmp_path / "ct.nii.gz")
    logic.loadVolume(path)
    assert manager.autoUpdateCheck is False
    slicer_app.mrmlScene.Clear(0)
    assert manager.autoUpdateCheck is True


def test_open_and_save_case_objects_from_slicer(slicer_app, security, store):
    from CardiacPlanningLib import labels as lbl
    from CardiacPlanningLib import mrml
    from CardiacPlanningLib.imaging.volume import Volume

    logic, _ = _logic(security, store)
    logic.login("doc", PASSWORDS["doc"])
    slicer_app.mrmlScene.Clear(0)
    array = np.zeros((4, 5, 6), np.int16)
    array[1:3, 1:4, 2:5] = lbl.RV  # 2*3*3 = 18 voxels
    ct = Volume(np.arange(120, dtype=np.int16).reshape(4, 5, 6), (0.5, 0.6, 1.2), (10.0, -5.0, 3.0))
    labels = ct.with_array(array)
    node = mrml.volume_to_node(ct, slicer_app.mrmlScene, "ct")
    segmentation = mrml.labelmap_to_segmentation(labels, slicer_app.mrmlScene, "seg")
    logic.saveToStore("CASE-S", "ct", node)
    logic.saveToStore("CASE-S", "heart labels", segmentation)
    assert logic.listCases() == ["CASE-S"] and logic.listObjects("CASE-S") == ["ct", "heart labels"]
    slicer_app.mrmlScene.Clear(0)
    back = mrml.node_to_volume(logic.loadFromStore("CASE-S", "ct"))
    assert np.array_equal(back.array, ct.array) and np.allclose(back.spacing, ct.spacing)
    assert np.allclose(back.origin, ct.origin)
    seg = logic.loadFromStore("CASE-S", "heart labels", asSegmentation=True)
    assert seg.GetSegmentation().GetNumberOfSegments() == 1
    assert int((mrml.segmentation_to_labelmap(seg).array == lbl.RV).sum()) == 18
    reads = [(r["action"], r["object"]) for r in logic.workstation.audit.records() if r["operator"] == "doc"]
    assert ("case.write", "CASE-S/heart labels") in reads and ("case.read", "CASE-S/ct") in reads
    with pytest.raises(Exception, match="choose the volume"):
        logic.saveToStore("CASE-S", "x", None)
    slicer_app.mrmlScene.Clear(0)
    logic.close()
