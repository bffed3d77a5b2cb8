"""The modules' files while someone is logged in through the "Login and audit" panel
(CardiacPlanningSecurityLogic + CardiacPlanningLib.security.outputs), headless on slicer-core:

* CoronarySeg "Save outputs", Cardiac4D propagation and SurgicalReport measure/export write only
  encrypted objects of the current case (and audit records): no plaintext file under the store, the
  RAM working folder or the temp folder, and the disk folder named in the module is not touched;
* exporting to a folder is refused (and the refusal audited) for a role that may not export, and
  allowed and audited for a clinician;
* the report preview returns the PDF as bytes and leaves nothing on the disk;
* with the store but nobody logged in (e.g. after the idle timeout) plain files are refused and the
  refusal audited; without a store the files go to the folder given.
"""

import sys
import tempfile

import numpy as np
import pytest
from conftest import REPOSITORY, load_module_file
from security_fixtures import PASSPHRASE, FakeClock, store_with_users

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.security import outputs
from CardiacPlanningLib.security.errors import PermissionDenied

pytestmark = pytest.mark.mrml

PASSWORDS = {"doc": "Cardio-Passw0rd-2", "res": "Science-Passw0rd-2"}
CASE = "C-1"


@pytest.fixture
def env(slicer_app, tmp_path, monkeypatch):
    """A store with a clinician 'doc' and a researcher 'res'; the panel's logic unlocked and
    registered as the modules' outputs; RAM working folder and temp folder inside tmp_path."""
    sys.path.insert(0, str(REPOSITORY / "CardiacPlanning"))
    import CardiacPlanningSecurity

    ram, tmp = tmp_path / "ram", tmp_path / "tmp"
    ram.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("CARDIAC_PLANNING_STAGE_DIR", str(ram))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    root, clock = tmp_path / "store", FakeClock()
    store_with_users(root, PASSWORDS, {"doc": "clinician", "res": "researcher"}, clock)
    logic = CardiacPlanningSecurity.CardiacPlanningSecurityLogic(root, clock=clock, hash_iterations=1000)
    logic.unlock(PASSPHRASE)
    outputs.use(logic.moduleOutputs)
    slicer_app.mrmlScene.Clear()
    yield logic, tmp_path
    outputs.use(None)
    logic.close()


def _login(logic, user):
    logic.login(user, PASSWORDS[user])
    logic.setCurrentCase(CASE)


def _records(logic, since=0):
    return [
        (r["operator"], r["action"], r["object"], r["outcome"], r["detail"])
        for r in logic.workstation.audit.records(since)
    ]


def _last_seq(logic):
    return logic.workstation.audit.records()[-1]["seq"]


def _assert_no_plaintext(tmp_path, allowed=()):
    """No file anywhere under tmp_path (RAM folder, temp folder, the module's folder) except the
    store and the ``allowed`` export folders; in the store's case folders only encrypted files."""
    store = tmp_path / "store"
    stray = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and store not in p.parents and not any(a in p.parents for a in allowed)
    ]
    assert stray == []
    for path in (store / "cases").rglob("*"):
        if path.is_file() and path.name != ".lock":
            assert path.name == "manifest.enc" or path.suffix == ".obj", path
            assert path.read_bytes()[:8] == b"CPSTORE2", path
    outside = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()}
    outside = {p for p in outside if not p.startswith("cases/")}
    assert {p.split("-")[0] for p in outside} <= {"keyfile.json", "users.db", "audit/audit.db"} | {
        "audit/audit.checkpoint.json"
    }, outside


def _tube():
    """A contrast-filled straight vessel (400 HU, radius 1.5 mm) leaving a wider root, 0.5 mm voxels."""
    zz, yy, xx = np.indices((24, 24, 60)).astype(np.float32) * 0.5
    array = np.where(np.hypot(yy - 6, zz - 6) <= 1.5, 400.0, -50.0).astype(np.float32)
    array[:, :, :4] = np.where(np.hypot(yy - 6, zz - 6) <= 4, 400.0, -50.0)[:, :, :4]
    return Volume(array, (0.5, 0.5, 0.5))


def test_coronary_outputs_go_into_the_case_and_export_needs_the_permission(env):
    from CardiacPlanningLib.coronary import reconstruct_coronaries

    logic, tmp_path = env
    module = load_module_file("CoronarySeg")
    coronary = module.CoronarySegLogic()
    coronary.volume = _tube()
    coronary.result = reconstruct_coronaries(coronary.volume, {"left": np.array([2.5, 6.0, 6.0])})
    _login(logic, "doc")
    since = _last_seq(logic)
    files = coronary.writeOutputs(tmp_path / "plain")  # logged in: the folder is not used
    assert not (tmp_path / "plain").exists()
    assert files["stenoses_csv"] == "coronary/stenoses.csv" and files["cpr"] == "coronary/cpr"
    store = logic.caseStore()
    names = store.list_objects(CASE)
    assert names == [
        f"coronary/{n}"
        for n in ("coronary_centerlines.json", "coronary_centerlines.mrk.json", "coronary_labels.nii.gz")
        + ("cpr/LAD.png", "stenoses.csv", "stenoses.json")
    ]
    assert store.get_bytes(CASE, "coronary/stenoses.csv")[0].startswith(b"branch,percent_diameter")
    stored = store.get_volume(CASE, "coronary/coronary_labels.nii.gz")
    np.testing.assert_array_equal(stored.array, coronary.result.labelmap.array)
    records = _records(logic, since)
    writes = [r[2] for r in records if r[:2] == ("doc", "case.write") and r[3] == "success"]
    assert sorted(w for w in writes if w != CASE) == [f"{CASE}/{n}" for n in names]
    summary = [r[4] for r in records if r[1:4] == ("case.write", CASE, "success")]
    assert summary == ["CoronarySeg outputs: saved " + ", ".join(names)]
    _assert_no_plaintext(tmp_path)

    logic.logout()
    _login(logic, "res")  # a researcher: may not write to the case nor export identified data
    since = _last_seq(logic)
    with pytest.raises(PermissionDenied, match="allowed to: clinician.*stay in the encrypted store"):
        coronary.exportOutputs(tmp_path / "export")
    with pytest.raises(PermissionDenied, match="may not case.write"):
        coronary.writeOutputs()
    assert not (tmp_path / "export").exists()
    assert _records(logic, since) == [
        ("res", "export.identified", f"{CASE} -> {tmp_path / 'export'}", "denied", ""),
        ("res", "case.write", CASE, "denied", ""),
    ]
    logic.logout()
    _login(logic, "doc")  # a clinician may export: plain files, audited with their names
    exported = coronary.exportOutputs(tmp_path / "export")
    assert exported["stenoses_csv"].read_bytes().startswith(b"branch,percent_diameter")
    last = _records(logic)[-1]
    assert last[:4] == ("doc", "export.identified", f"{CASE} -> {tmp_path / 'export'}", "success")
    assert "stenoses.csv" in last[4] and "cpr/LAD.png" in last[4]
    _assert_no_plaintext(tmp_path, allowed=[tmp_path / "export"])
    assert logic.workstation.audit.verify().ok


def _phases(scene):
    from CardiacPlanningLib import mrml

    phases = []
    for k in range(3):
        array = np.zeros((16, 16, 16), np.int16)
        array[4 : 12 - k, 4:12, 4:12] = 400  # a box that loses one slice per phase
        phases.append(Volume(array, (1.0, 1.0, 1.0)))
    return mrml.phases_to_sequence(phases, scene, index_values=["0%", "33%", "66%"]), phases[0]


def test_cardiac4d_propagation_is_saved_into_the_case(env, slicer_app):
    from CardiacPlanningLib import mrml

    logic, tmp_path = env
    module = load_module_file("Cardiac4D")
    (sequence, browser), reference = _phases(slicer_app.mrmlScene)
    four_d = module.Cardiac4DLogic()
    four_d.useSequence(sequence, browser)
    seg = mrml.labelmap_to_segmentation(
        reference.with_array((reference.array > 0).astype(np.uint8) * labels.LV_BLOOD_POOL),
        slicer_app.mrmlScene,
        "ref",
    )
    _login(logic, "res")
    with pytest.raises(PermissionDenied, match="may not case.write"):
        four_d.propagate(0, seg, tmp_path / "plain")
    assert _records(logic)[-1] == ("res", "case.write", CASE, "denied", "")
    logic.logout()
    _login(logic, "doc")
    four_d.propagate(0, seg, tmp_path / "plain")
    assert not (tmp_path / "plain").exists() and four_d.segmentationSequence is not None
    summary = _records(logic)[-1]
    assert summary[:4] == ("doc", "case.write", CASE, "success") and "Cardiac4D propagation" in summary[4]
    assert "motion/displacement_phase_01.nii.gz" in summary[4]  # a vector field, stored as bytes
    names = logic.caseStore().list_objects(CASE)
    assert [n for n in names if n.startswith("motion/labels_phase_")] == [
        f"motion/labels_phase_{k:02d}.nii.gz" for k in range(3)
    ]
    stored = logic.caseStore().get_volume(CASE, "motion/labels_phase_00.nii.gz")
    assert int((stored.array == labels.LV_BLOOD_POOL).sum()) == 512  # the reference box, 8x8x8 mm
    _assert_no_plaintext(tmp_path)


def test_report_measure_preview_and_export_through_the_store(env):
    logic, tmp_path = env
    module = load_module_file("SurgicalReport")
    zz, yy, xx = np.indices((50, 40, 40)) - np.array([25, 19.5, 19.5])[:, None, None, None]
    array = np.zeros((50, 40, 40), np.uint8)
    array[(xx**2 + yy**2 <= 100) & (zz < 0)] = labels.LV_BLOOD_POOL
    array[(xx**2 + yy**2 <= 144) & (zz >= 0)] = labels.AORTA
    _login(logic, "doc")
    logic.caseStore().put_volume(CASE, "plan/labels.nii.gz", Volume(array, (1.0,) * 3, (-19.5, -19.5, -25.0)))
    report = module.SurgicalReportLogic()
    report.measure("plan", "tavr")
    result = report.measure("plan", "tavr", report.hingesNode)  # the user's hinges: saved into the case
    assert result["hinge_source"] == "user"
    assert "plan/annulus_hinges.mrk.json" in logic.caseStore().list_objects(CASE)
    since = _last_seq(logic)
    pdf = report.preview("plan", "tavr", operator="Dr Test")
    assert pdf[:5] == b"%PDF-"
    _assert_no_plaintext(tmp_path)  # nothing of the preview left (RAM, temp folder, store)
    assert all(r[1] == "case.read" for r in _records(logic, since))  # the preview only read the case
    files = report.export("plan", "tavr", None, operator="Dr Test")
    assert files["pdf"] == "report/report.pdf" and files["cda"] == "report/report_cda.xml"
    assert logic.caseStore().get_bytes(CASE, "report/report.pdf")[0][:5] == b"%PDF-"
    _assert_no_plaintext(tmp_path)
    logic.logout()
    _login(logic, "res")  # refused before anything is read or written
    since = _last_seq(logic)
    with pytest.raises(PermissionDenied, match="export refused"):
        report.export("plan", "tavr", tmp_path / "out")
    assert _records(logic, since) == [
        ("res", "export.identified", f"{CASE} -> {tmp_path / 'out'}", "denied", "")
    ]
    assert not (tmp_path / "out").exists()


def test_without_a_login_the_store_refuses_plain_files_and_without_a_store_they_are_written(env):
    logic, tmp_path = env
    coronary = load_module_file("CoronarySeg").CoronarySegLogic()
    from CardiacPlanningLib.coronary import reconstruct_coronaries

    coronary.volume = _tube()
    coronary.result = reconstruct_coronaries(coronary.volume, {"left": np.array([2.5, 6.0, 6.0])})
    _login(logic, "doc")
    logic.logout()  # e.g. the idle timeout: outputs must not silently fall back to plain files
    seq = _last_seq(logic)
    with pytest.raises(PermissionDenied, match="log in first"):
        coronary.writeOutputs(tmp_path / "plain")
    with pytest.raises(PermissionDenied, match="log in first"):
        coronary.exportOutputs(tmp_path / "plain")
    assert not (tmp_path / "plain").exists()
    denied = [r[:4] for r in _records(logic, seq)]
    assert denied == [
        ("(no session)", "case.write", str(tmp_path / "plain"), "denied"),
        ("(no session)", "export.identified", str(tmp_path / "plain"), "denied"),
    ]
    outputs.use(None)  # a research installation without a store: plain files, nothing to audit
    seq = _last_seq(logic)
    files = coronary.writeOutputs(tmp_path / "plain2")
    assert files["stenoses_csv"].read_bytes().startswith(b"branch,percent_diameter")
    assert (tmp_path / "plain2" / "stenoses.csv").exists() and _last_seq(logic) == seq


def test_deidentified_case_export_and_the_preview_viewer_copy(env):
    logic, tmp_path = env
    _login(logic, "doc")
    logic.caseStore().put_bytes("R-1", "note.txt", b"research", deidentified=True)
    logic.logout()
    logic.login("res", PASSWORDS["res"])
    logic.setCurrentCase("R-1")
    out = outputs.current()
    assert out.in_store and out.export_action() == "export.deidentified"
    with out.exporting("test export", tmp_path / "research") as folder:
        (folder / "note.txt").write_bytes(b"research")
    assert out.exported == [tmp_path / "research" / "note.txt"]
    assert _records(logic)[-1] == (
        "res", "export.deidentified", f"R-1 -> {tmp_path / 'research'}", "success", "test export: note.txt"
    )  # fmt: skip
    viewer = outputs.ShownFile()
    first = viewer.show(out, b"%PDF-1", "preview.pdf")
    assert first.parent.parent == tmp_path / "ram" and first.stat().st_mode & 0o777 == 0o600
    second = viewer.show(out, b"%PDF-2", "preview.pdf")
    assert not first.exists() and second.read_bytes() == b"%PDF-2"
    viewer.close()
    assert list((tmp_path / "ram").iterdir()) == []
    logic.setCurrentCase(None)
    with pytest.raises(CardiacInputError, match="choose the case to work on first"):
        with outputs.current().saving("test", "x"):
            pass
