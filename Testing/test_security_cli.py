"""The admin / audit / backup commands end to end through click (real key-file iterations)."""

from __future__ import annotations

import base64
import time

import numpy as np
from click.testing import CliRunner
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.imaging import Volume


def test_admin_audit_backup_cli(tmp_path, monkeypatch):
    store = str(tmp_path / "store")
    monkeypatch.setenv("CARDIAC_PLANNING_PASSPHRASE", "a long key-file passphrase")
    runner = CliRunner()

    def run(*args, password=None, new=None, code=0):
        env = {}
        if password:
            env["CARDIAC_PLANNING_PASSWORD"] = password
        if new:
            env["CARDIAC_PLANNING_NEW_PASSWORD"] = new
        res = runner.invoke(cli, list(args), env=env)
        assert res.exit_code == code, res.output
        return res.output

    assert "self-test passed" in run("admin", "self-test")
    run("admin", "init", "--store", store, "--sysadmin", "root_sys", "--kdf-iterations", "10000",
        new="Sys-Passw0rd-01")  # fmt: skip
    run("admin", "init", "--store", store, "--sysadmin", "x", new="Sys-Passw0rd-01", code=1)
    run("admin", "user-add", "aud", "--role", "audit_admin", "--store", store, "--user", "root_sys",
        password="Sys-Passw0rd-01", new="Temp-Passw0rd-01")  # fmt: skip
    out = run("admin", "user-add", "x", "--role", "system_admin,audit_admin", "--store", store,
              "--user", "root_sys", password="Sys-Passw0rd-01", new="Temp-Passw0rd-01", code=1)  # fmt: skip
    assert "Error: one account cannot hold two administrator roles" in out
    run(
        "admin",
        "passwd",
        "--store",
        store,
        "--user",
        "aud",
        password="Temp-Passw0rd-01",
        new="Review-Passw0rd-02",
    )
    out = run("admin", "users", "--store", store, "--user", "root_sys", password="Sys-Passw0rd-01")
    assert out.split() == ["aud", "audit_admin", "root_sys", "system_admin"]
    out = run("audit", "export", "--store", store, "--user", "root_sys", "--out", str(tmp_path / "a.csv"),
              password="Sys-Passw0rd-01", code=1)  # fmt: skip
    assert "may not audit.export" in out
    out = run("backup", "create", "--store", store, "--user", "root_sys", "--dest", str(tmp_path / "bk"),
              password="Sys-Passw0rd-01")  # fmt: skip
    bk = next((tmp_path / "bk").iterdir())
    assert "backup OK" in run("backup", "verify", str(bk), "--store", store, "--user", "root_sys",
                              password="Sys-Passw0rd-01")  # fmt: skip
    run("backup", "restore", str(bk), "--target", str(tmp_path / "restored"), "--store", store,
        "--user", "root_sys", password="Sys-Passw0rd-01")  # fmt: skip
    assert (tmp_path / "restored" / "users.db").exists() and (tmp_path / "restored" / "keyfile.json").exists()
    run("admin", "user-add", "doc", "--role", "clinician", "--store", store, "--user", "root_sys",
        password="Sys-Passw0rd-01", new="Temp-Passw0rd-01")  # fmt: skip
    run(
        "admin",
        "passwd",
        "--store",
        store,
        "--user",
        "doc",
        password="Temp-Passw0rd-01",
        new="Clinic-Passw0rd-02",
    )
    arr = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    Volume(arr, spacing=(0.5, 0.5, 2.0)).write(tmp_path / "ct.nii.gz")
    doc = {"password": "Clinic-Passw0rd-02"}
    run("case", "import", str(tmp_path / "ct.nii.gz"), "--case", "C-01", "--name", "ct", "--store", store,
        "--user", "doc", **doc)  # fmt: skip
    assert run("case", "list", "--store", store, "--user", "doc", **doc).split() == ["C-01"]
    run("case", "export", "--case", "C-01", "--name", "ct", "--out", str(tmp_path / "back.nrrd"), "--store",
        store, "--user", "doc", **doc)  # fmt: skip
    back = Volume.read(tmp_path / "back.nrrd")
    assert np.array_equal(back.array, arr) and back.spacing == (0.5, 0.5, 2.0)
    out = run("case", "list", "--store", store, "--user", "root_sys", password="Sys-Passw0rd-01", code=1)
    assert "may not case.list" in out
    out = run("audit", "verify", "--store", store, "--user", "aud", password="Review-Passw0rd-02")
    assert "audit log OK" in out
    out = run("audit", "export", "--store", store, "--user", "aud", "--out", str(tmp_path / "a.json"),
              "--format", "json", password="Review-Passw0rd-02")  # fmt: skip
    assert "exported" in out and (tmp_path / "a.json").exists()
    res = runner.invoke(cli, ["admin", "change-passphrase", "--store", store, "--user", "root_sys"],
                        env={"CARDIAC_PLANNING_PASSWORD": "Sys-Passw0rd-01",
                             "CARDIAC_PLANNING_NEW_PASSPHRASE": "another long passphrase"})  # fmt: skip
    assert res.exit_code == 1 and "may not key.rotate" in res.output
    out = run("audit", "verify", "--store", store, "--user", "aud", password="wrong-Passw0rd-9", code=1)
    assert "Error: unknown user or wrong password" in out
    out = run("admin", "totp-enroll", "--store", store, "--user", "aud", password="Review-Passw0rd-02")
    b32 = out.split("secret (base32): ")[1].split()[0]
    assert "otpauth://totp/CardiacPlanning:aud?secret=" + b32 in out
    run(
        "audit", "verify", "--store", store, "--user", "aud", password="Review-Passw0rd-02", code=1
    )  # no code
    key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    code = TOTP(key, 6, SHA1(), 30).generate(time.time()).decode()
    assert "audit log OK" in run("audit", "verify", "--store", store, "--user", "aud", "--totp", code,
                                 password="Review-Passw0rd-02")  # fmt: skip
