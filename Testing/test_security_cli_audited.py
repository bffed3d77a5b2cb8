"""The ``audited`` decorator that puts file-in/file-out commands under the store's permissions and
audit log when ``--store`` is given (and leaves them unchanged otherwise)."""

from __future__ import annotations

import click
from click.testing import CliRunner
from security_fixtures import PASSPHRASE, make_ring

from CardiacPlanningLib.cli.secure import audited
from CardiacPlanningLib.security.workstation import Workstation

PW = "Initial-Passw0rd"


@click.command()
@click.argument("image")
@click.option("--fail", is_flag=True)
@audited("export.deidentified", target_param="image")
def tool(image: str, fail: bool) -> None:
    if fail:
        raise click.ClickException("tool failed")
    click.echo(f"processed {image}")


def test_audited_decorator(tmp_path):
    ws = Workstation(tmp_path, make_ring(tmp_path), hash_iterations=1000)
    ws.users.add_user(None, "sys", "system_admin", PW)
    ws.users.add_user(ws.login("sys", PW), "res", "researcher", PW)
    ws.users.change_password(ws.login("res", PW), PW, "Study-Passw0rd-2")
    ws.close()
    runner = CliRunner()
    assert runner.invoke(tool, ["a.nii"]).output == "processed a.nii\n"  # no --store: unchanged
    env = {"CARDIAC_PLANNING_PASSPHRASE": PASSPHRASE, "CARDIAC_PLANNING_PASSWORD": "Study-Passw0rd-2"}
    res = runner.invoke(tool, ["b.nii", "--store", str(tmp_path), "--user", "res"], env=env)
    assert res.exit_code == 0 and "processed b.nii" in res.output
    res = runner.invoke(tool, ["c.nii", "--fail", "--store", str(tmp_path), "--user", "res"], env=env)
    assert res.exit_code == 1
    env_sys = dict(env, CARDIAC_PLANNING_PASSWORD=PW)
    res = runner.invoke(tool, ["d.nii", "--store", str(tmp_path), "--user", "sys"], env=env_sys)
    assert (
        res.exit_code == 1 and "may not export.deidentified" in res.output and "processed" not in res.output
    )
    ws = Workstation.open(tmp_path, PASSPHRASE, hash_iterations=1000)
    recs = [(r["operator"], r["action"], r["object"], r["outcome"]) for r in ws.audit.records()]
    assert ("res", "export.deidentified", "b.nii", "success") in recs
    assert ("res", "export.deidentified", "c.nii", "failure") in recs
    assert ("sys", "export.deidentified", "d.nii", "denied") in recs
    assert ws.audit.verify().ok
