"""Backup sets: encrypted, SM3 manifest, verify, restore (audited); corruption is named and nothing is
restored from a corrupted set."""

from __future__ import annotations

import pytest
from security_fixtures import PASSPHRASE, FakeClock, make_ring

from CardiacPlanningLib.security.errors import PermissionDenied
from CardiacPlanningLib.security.workstation import Workstation
from CardiacPlanningLib.store import IntegrityError, KeyRing
from CardiacPlanningLib.store.backup import create_backup, restore_backup, verify_backup

PW = "Initial-Passw0rd"


@pytest.fixture
def setup(tmp_path):
    root = tmp_path / "store"
    ws = Workstation(root, make_ring(root), clock=FakeClock(), hash_iterations=1000)
    ws.users.add_user(None, "sys", "system_admin", PW)
    sys_s = ws.login("sys", PW)
    ws.users.add_user(sys_s, "doc", "clinician", PW)
    doc = ws.login("doc", PW)
    ws.users.change_password(doc, PW, "Clinic-Passw0rd-2")
    store = ws.store(doc)
    store.put_bytes("CASE-A", "ct", b"A" * 5000)
    store.put_bytes("CASE-A", "seg", b"S" * 300)
    store.put_bytes("CASE-B", "report", b"%PDF report")
    return ws, sys_s, doc, tmp_path


def test_backup_verify_restore_round_trip(setup):
    ws, sys_s, doc, tmp = setup
    with pytest.raises(PermissionDenied, match="backup.create"):
        create_backup(ws.root, ws.ring, tmp / "bk", ws.guard(doc))
    res = create_backup(ws.root, ws.ring, tmp / "bk", ws.guard(sys_s))
    assert res.files == 7  # 3 objects + 2 manifests + audit.db + users.db
    raw = b"".join(p.read_bytes() for p in res.path.rglob("*.enc"))
    assert b"CASE-A" not in raw and b"AAAAAAAA" not in raw and b"SQLite format" not in raw
    assert verify_backup(res.path, ws.ring, ws.guard(sys_s)) == []
    n = restore_backup(res.path, ws.ring, tmp / "restored", ws.guard(sys_s))
    assert n == 7
    restored = Workstation.open(tmp / "restored", PASSPHRASE, clock=FakeClock(), hash_iterations=1000)
    doc2 = restored.login("doc", "Clinic-Passw0rd-2")
    st = restored.store(doc2)
    assert st.get_bytes("CASE-A", "ct")[0] == b"A" * 5000
    assert st.get_bytes("CASE-B", "report")[0] == b"%PDF report"
    assert restored.audit.verify().ok
    actions = [(r["operator"], r["action"], r["outcome"]) for r in ws.audit.records()]
    assert ("doc", "backup.create", "denied") in actions
    assert ("sys", "backup.create", "success") in actions and ("sys", "backup.restore", "success") in actions


@pytest.mark.parametrize("damage", ["flip", "delete", "add", "manifest"])
def test_corrupted_backup_named_and_never_restored(setup, damage):
    ws, sys_s, _doc, tmp = setup
    res = create_backup(ws.root, ws.ring, tmp / "bk", ws.guard(sys_s))
    target = res.path / "data" / "000002.enc"
    if damage == "flip":
        raw = bytearray(target.read_bytes())
        raw[len(raw) // 2] ^= 1
        target.write_bytes(bytes(raw))
        expected = "000002.enc"
    elif damage == "delete":
        target.unlink()
        expected = "000002.enc"
    elif damage == "add":
        (res.path / "data" / "999999.enc").write_bytes(b"x")
        expected = "999999.enc: not in the manifest"
    else:
        raw = bytearray((res.path / "manifest.enc").read_bytes())
        raw[-5] ^= 1
        (res.path / "manifest.enc").write_bytes(bytes(raw))
        expected = "manifest"
    problems = verify_backup(res.path, ws.ring, ws.guard(sys_s))
    assert len(problems) == 1 and expected in problems[0]
    with pytest.raises(IntegrityError, match="nothing restored"):
        restore_backup(res.path, ws.ring, tmp / "restored", ws.guard(sys_s))
    assert not (tmp / "restored").exists() or not any((tmp / "restored").iterdir())
    last = ws.audit.records()[-1]
    assert (last["action"], last["outcome"]) == ("backup.restore", "failure")


def test_restore_with_backup_key_file_after_rotation(setup):
    ws, sys_s, _doc, tmp = setup
    res = create_backup(ws.root, ws.ring, tmp / "bk", ws.guard(sys_s))
    old = ws.ring.current_master_id
    ws.ring.rotate_master()
    ws.ring.retire_master(old)  # the live key file can no longer read this backup
    assert verify_backup(res.path, ws.ring)  # problems: master key retired
    backup_ring = KeyRing.open(res.path / "keyfile.json", PASSPHRASE)
    assert verify_backup(res.path, backup_ring) == []
    assert restore_backup(res.path, backup_ring, tmp / "r2") == 7
