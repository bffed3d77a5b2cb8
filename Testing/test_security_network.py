"""The store / security workflow opens no network connection (sockets are made to fail) and the
security code imports no network module."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import numpy as np
from security_fixtures import FakeClock

from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.security.audit_access import export_log, verify_log
from CardiacPlanningLib.security.workstation import Workstation
from CardiacPlanningLib.store.backup import create_backup, restore_backup, verify_backup

LIB = Path(__file__).resolve().parents[1] / "CardiacPlanning" / "CardiacPlanningLib"
PW = "Initial-Passw0rd"


def test_full_workflow_without_network(tmp_path, monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted during the offline workflow")

    for name in ("socket", "create_connection", "getaddrinfo", "gethostbyname", "socketpair"):
        monkeypatch.setattr(socket, name, refuse)
    ws = Workstation.init(
        tmp_path / "s",
        "a long key-file passphrase",
        key_iterations=1000,
        clock=FakeClock(),
        hash_iterations=1000,
    )
    ws.users.add_user(None, "sys", "system_admin", PW)
    sys_s = ws.login("sys", PW)
    for name, role in (("doc", "clinician"), ("aud", "audit_admin")):
        ws.users.add_user(sys_s, name, role, PW)
    doc, aud = ws.login("doc", PW), ws.login("aud", PW)
    ws.users.change_password(doc, PW, "Clinic-Passw0rd-2")
    ws.users.change_password(aud, PW, "Review-Passw0rd-2")
    store = ws.store(doc)
    vol = Volume(np.arange(60, dtype=np.int16).reshape(3, 4, 5), metadata={"PatientName": "WANG^WU"})
    store.put_volume("CASE-N", "ct", vol)
    assert np.array_equal(store.get_volume("CASE-N", "ct").array, vol.array)
    bk = create_backup(ws.root, ws.ring, tmp_path / "bk", ws.guard(sys_s))
    assert verify_backup(bk.path, ws.ring, ws.guard(sys_s)) == []
    restore_backup(bk.path, ws.ring, tmp_path / "r", ws.guard(sys_s))
    assert verify_log(ws.guard(aud), ws.audit).ok
    export_log(ws.guard(aud), ws.audit, tmp_path / "a.csv")
    ws.close()
    assert attempts == []


def test_security_code_imports_no_network_module():
    files = list((LIB / "store").glob("*.py")) + list((LIB / "security").glob("*.py"))
    files += [LIB / "cli" / f for f in ("admin.py", "audit.py", "backup.py", "secure.py")]
    pattern = re.compile(
        r"^\s*(import|from)\s+(socket|ssl|urllib|http|requests|urllib3|ftplib|smtplib)\b", re.M
    )
    offenders = [str(f) for f in files if pattern.search(f.read_text(encoding="utf-8"))]
    assert len(files) >= 20 and offenders == []
