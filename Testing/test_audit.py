"""Audit log: HMAC-SM3 chain, SM2-signed checkpoints, append-only triggers, tamper detection at the
exact record (edit, delete, reorder, truncate), 180-day retention, export and reading for the audit
administrator only (and audited)."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest
from security_fixtures import FakeClock, make_ring

from CardiacPlanningLib.security import sm2sign
from CardiacPlanningLib.security.audit import AuditLog
from CardiacPlanningLib.security.audit_access import export_log, purge_log, read_log, verify_log
from CardiacPlanningLib.security.errors import AuditIntegrityError, PermissionDenied, PurgeRefused
from CardiacPlanningLib.security.workstation import Workstation

PW = "Initial-Passw0rd"


@pytest.fixture
def log(tmp_path):
    clock = FakeClock()
    audit = AuditLog(tmp_path / "audit.db", make_ring(tmp_path), clock, "WS-01", checkpoint_every=10)
    for i in range(1, 26):
        clock.advance(seconds=1)
        audit.append(f"user{i % 3}", "clinician", "case.read", f"CASE-{i}", "success")
    audit.clock_ref = clock
    yield audit
    audit.close()


def _raw(audit, sql, *args):
    db = sqlite3.connect(audit.path)
    db.execute("DROP TRIGGER IF EXISTS records_no_update")
    db.execute("DROP TRIGGER IF EXISTS records_no_young_delete")
    db.execute("DROP TRIGGER IF EXISTS checkpoints_no_delete")
    db.execute(sql, args)
    db.commit()
    db.close()


def test_clean_log_verifies_with_checkpoints(log):
    rep = log.verify()
    assert rep.ok, rep.problems
    assert (rep.records, rep.checkpoints) == (25, 2)
    r = log.records()[6]
    assert (r["seq"], r["workstation"], r["object"], r["role"]) == (7, "WS-01", "CASE-7", "clinician")
    assert r["time"] == "2026-01-05T08:00:07.000+00:00"
    side = json.loads(log.sidecar.read_text())
    assert side["seq"] == 20


def test_triggers_refuse_update_and_young_delete(log):
    db = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE records SET outcome = 'failure' WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM checkpoints")
    db.execute("INSERT INTO records VALUES (100, datetime('now'), 'x','x','x','x','x','x','','0','0')")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError, match="younger than 180 days"):
        db.execute("DELETE FROM records WHERE seq = 100")
    db.close()


def test_edited_record_named(log):
    _raw(log, "UPDATE records SET outcome = 'failure' WHERE seq = 7")
    rep = log.verify()
    assert rep.first_bad_seq == 7
    assert rep.problems == ["record 7: content was edited (HMAC-SM3 mismatch)"]
    with pytest.raises(AuditIntegrityError, match="record 7"):
        log.require_valid()


def test_deleted_record_named(log):
    _raw(log, "DELETE FROM records WHERE seq = 13")
    rep = log.verify()
    assert rep.problems == ["record 13: records 13..13 are missing (deleted)"]


def test_reordered_records_named(log):
    _raw(log, "UPDATE records SET seq = -1 WHERE seq = 4")
    _raw(log, "UPDATE records SET seq = 4 WHERE seq = 5")
    _raw(log, "UPDATE records SET seq = 5 WHERE seq = -1")
    rep = log.verify()
    assert rep.first_bad_seq == 4
    assert rep.problems[:2] == [
        "record 4: content was edited (HMAC-SM3 mismatch)",
        "record 5: content was edited (HMAC-SM3 mismatch)",
    ]


def test_forged_record_with_recomputed_fields_but_no_key(log):
    last = log.records()[-1]
    _raw(
        log,
        "INSERT INTO records VALUES "
        "(26, ?, 'mallory','clinician','WS-01','case.read','CASE-1','success','',?,?)",
        last["time"],
        last["mac"],
        "ab" * 32,
    )
    assert log.verify().problems == ["record 26: content was edited (HMAC-SM3 mismatch)"]


def test_truncated_tail_named(log):
    log.checkpoint()  # e.g. at logout: signs record 25
    _raw(log, "DELETE FROM records WHERE seq >= 23")
    rep = log.verify()
    assert rep.problems == ["record 23: log truncated: records 23..25 are missing (checkpoint)"]


def test_truncated_tail_with_checkpoints_removed_caught_by_side_file(log):
    _raw(log, "DELETE FROM records WHERE seq >= 15")
    _raw(log, "DELETE FROM checkpoints WHERE seq >= 20")
    rep = log.verify()
    assert rep.first_bad_seq == 11
    assert "record 15: log truncated: records 15..20 are missing" in rep.problems


def test_forged_checkpoint_signature(log):
    _raw(log, "DROP TRIGGER checkpoints_no_update")
    db = sqlite3.connect(log.path)
    sig = db.execute("SELECT signature FROM checkpoints WHERE seq = 10").fetchone()[0]
    db.execute("UPDATE checkpoints SET signature = ? WHERE seq = 10", (sig[::-1],))
    db.commit()
    db.close()
    assert log.verify().problems == ["record 10: checkpoint SM2 signature is invalid"]


def test_purge_respects_180_days_and_keeps_chain(log):
    clock = log.clock_ref
    with pytest.raises(PurgeRefused, match="younger than 180 days"):
        log.purge(clock.now, "aud", "audit_admin")
    assert log.records()[-1]["outcome"] == "refused"
    clock.advance(days=200)
    cut = clock.now.replace(year=2026, month=1, day=5, hour=8, minute=0, second=13)
    assert log.purge(cut, "aud", "audit_admin") == 12  # records 1..12 are older than the cut
    rep = log.verify()
    assert rep.ok, rep.problems
    assert log.records()[0]["seq"] == 13
    _raw(log, "DELETE FROM records WHERE seq = 13")  # head deletion without a purge record
    assert log.verify().problems[0].startswith("record 1: records 1..13 are missing")


def test_read_export_verify_only_for_audit_admin(tmp_path):
    clock = FakeClock()
    ws = Workstation(tmp_path, make_ring(tmp_path), clock=clock, hash_iterations=1000)
    ws.users.add_user(None, "sys", "system_admin", PW)
    sys_s = ws.login("sys", PW)
    ws.users.add_user(sys_s, "aud", "audit_admin", PW)
    ws.users.add_user(sys_s, "doc", "clinician", PW)
    aud, doc = ws.login("aud", PW), ws.login("doc", PW)
    ws.users.change_password(aud, PW, "Review-Passw0rd-2")
    ws.users.change_password(doc, PW, "Clinic-Passw0rd-2")
    for who in (doc, sys_s):
        with pytest.raises(PermissionDenied, match="audit.export"):
            export_log(ws.guard(who), ws.audit, tmp_path / "x.csv")
        with pytest.raises(PermissionDenied, match="audit.read"):
            read_log(ws.guard(who), ws.audit)
    assert not (tmp_path / "x.csv").exists()
    n_before = ws.audit.count()
    recs = read_log(ws.guard(aud), ws.audit)
    assert len(recs) == n_before and ws.audit.records()[-1]["action"] == "audit.read"
    n = export_log(ws.guard(aud), ws.audit, tmp_path / "log.csv", "csv")
    rows = list(csv.DictReader((tmp_path / "log.csv").open(encoding="utf-8")))
    assert len(rows) == n == n_before + 1
    assert rows[0]["action"] == "store.init" or rows[0]["action"] == "user.add"
    last = ws.audit.records()[-1]
    assert (last["operator"], last["action"], last["outcome"]) == ("aud", "audit.export", "success")
    m = export_log(ws.guard(aud), ws.audit, tmp_path / "log.json", "json")
    assert len(json.loads((tmp_path / "log.json").read_text())) == m == n + 1
    rep = verify_log(ws.guard(aud), ws.audit)
    assert rep.ok and ws.audit.records()[-1]["action"] == "audit.verify"
    clock.advance(days=10)
    with pytest.raises(PurgeRefused):
        purge_log(ws.guard(ws.login("aud", "Review-Passw0rd-2")), ws.audit, clock.now)
    denied = [r for r in ws.audit.records() if r["outcome"] == "denied"]
    assert {(r["operator"], r["action"]) for r in denied} == {
        ("doc", "audit.export"),
        ("doc", "audit.read"),
        ("sys", "audit.export"),
        ("sys", "audit.read"),
    }


def test_batch_commits_together_or_not_at_all(log):
    with log.batch():
        for i in range(30):
            log.append("bulk", "clinician", "export.identified", f"file-{i}", "success")
    assert log.count() == 55 and log.verify().ok
    assert json.loads(log.sidecar.read_text())["seq"] == 50  # checkpoint inside the batch, file after commit
    with pytest.raises(ZeroDivisionError):
        with log.batch():
            log.append("bulk", "clinician", "export.identified", "x", "success")
            raise ZeroDivisionError
    assert log.count() == 55 and log.verify().ok


def test_sm2_key_whose_x_starts_with_04_signs_and_verifies():
    """gmssl strips a '04' prefix with lstrip, which mangled 1 key in 256 (x starting with hex 04):
    those checkpoints never verified. d = 11 gives such a key on the SM2 curve."""
    private = f"{11:064x}".encode()
    public = sm2sign.public_from_private(private)
    assert public.startswith("04") and len(public) == 128
    signature = sm2sign.sign(private, public, b"checkpoint 10")
    assert sm2sign.verify(public, b"checkpoint 10", signature)
    assert not sm2sign.verify(public, b"checkpoint 11", signature)
    assert sm2sign.sign(private, public, b"m") != sm2sign.sign(private, public, b"m")  # fresh nonce
