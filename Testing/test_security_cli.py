"""The admin / audit / backup commands end to end through click (real key-file iterations)."""

from __future__ import annotations

from click.testing import CliRunner

from CardiacPlanningLib.cli.main import cli


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
    out = run("audit", "verify", "--store", store, "--user", "aud", password="Review-Passw0rd-02")
    assert "audit log OK" in out
    out = run("audit", "export", "--store", store, "--user", "aud", "--out", str(tmp_path / "a.json"),
              "--format", "json", password="Review-Passw0rd-02")  # fmt: skip
    assert "exported" in out and (tmp_path / "a.json").exists()
    out = run("audit", "verify", "--store", store, "--user", "aud", password="wrong-Passw0rd-9", code=1)
    assert "Error: unknown user or wrong password" in out
