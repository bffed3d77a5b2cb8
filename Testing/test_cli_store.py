"""Clinical CLI commands with --store: in-store mode (--case: inputs decrypted into a RAM working folder,
outputs saved encrypted, everything audited), audited file mode (--store without --case), and the
unchanged file mode."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from security_fixtures import INITIAL_PASSWORD, PASSPHRASE, store_with_users

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.heart.synthetic import toy_heart
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.security.workstation import Workstation

PW = INITIAL_PASSWORD
PASSWORDS = {"doc": "Cardio-Passw0rd-2", "res": "Study-Passw0rd-22", "sys": PW}
CLINICAL = ("heart", "coronary", "import", "propagate", "stent", "measure", "report")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-store")
    store_with_users(root / "store", PASSWORDS, {"doc": "clinician", "res": "researcher"})
    image, _ = toy_heart(spacing_mm=3.0, seed=3)
    ct = image.write(root / "ct.nii.gz")
    (root / "ram").mkdir()
    return root, ct


def _run(setup, user, *args):
    root, _ = setup
    env = {
        "CARDIAC_PLANNING_PASSPHRASE": PASSPHRASE,
        "CARDIAC_PLANNING_PASSWORD": PASSWORDS[user],
        "CARDIAC_PLANNING_STAGE_DIR": str(root / "ram"),
    }
    store_args = ["--store", str(root / "store"), "--user", user]
    return CliRunner().invoke(cli, [*args, *store_args], env=env, catch_exceptions=False)


def _records(root):
    ws = Workstation.open(root / "store", PASSPHRASE, hash_iterations=1000)
    recs = [(r["operator"], r["action"], r["object"], r["outcome"], r["detail"]) for r in ws.audit.records()]
    assert ws.audit.verify().ok
    ws.close()
    return recs


def test_heart_in_store_equals_file_mode_and_is_audited(setup, tmp_path):
    root, ct = setup
    res = _run(setup, "doc", "case", "import", str(ct), "--case", "C1", "--name", "ct.nii.gz")
    assert res.exit_code == 0, res.output
    res = _run(setup, "doc", "heart", "ct.nii.gz", "--out", "heart/labels.nii.gz", "--case", "C1", "--quiet")
    assert res.exit_code == 0, res.output
    assert list((root / "ram").iterdir()) == []  # the RAM working folder was wiped
    plain = CliRunner().invoke(cli, ["heart", str(ct), "--out", str(tmp_path / "l.nii.gz"), "--quiet"])
    assert plain.exit_code == 0, plain.output
    ws = Workstation.open(root / "store", PASSPHRASE, hash_iterations=1000)
    store = ws.store(ws.login("doc", PASSWORDS["doc"]))
    stored = store.get_volume("C1", "heart/labels.nii.gz")
    assert store.list_objects("C1") == ["ct.nii.gz", "heart/labels.nii.gz"]
    ws.close()
    expected = Volume.read(tmp_path / "l.nii.gz")
    assert np.array_equal(stored.array, expected.array) and len(np.unique(stored.array)) > 5
    assert np.allclose(stored.spacing, expected.spacing) and np.allclose(stored.origin, expected.origin)
    case_files = [p.name for p in (root / "store" / "cases").rglob("*") if p.is_file()]
    assert case_files and all(n.endswith((".obj", ".enc", ".lock")) for n in case_files)  # only ciphertext
    recs = _records(root)
    assert ("doc", "case.read", "C1/ct.nii.gz", "success", "") in recs
    summary = recs.index(("doc", "case.write", "C1", "success", "heart: saved heart/labels.nii.gz"))
    assert recs[summary - 1][:4] == ("doc", "case.write", "C1/heart/labels.nii.gz", "success")


def test_missing_object_and_refusals(setup, tmp_path):
    root, ct = setup
    res = _run(setup, "doc", "heart", "nothing.nii.gz", "--out", "x.nii.gz", "--case", "C1", "--quiet")
    assert res.exit_code == 1 and "case 'C1' has no object or folder 'nothing.nii.gz'" in res.output
    assert list((root / "ram").iterdir()) == []
    res = _run(setup, "res", "heart", "ct.nii.gz", "--out", "x.nii.gz", "--case", "C1", "--quiet")
    assert res.exit_code == 1 and "may not case.write" in res.output
    out = tmp_path / "res.nii.gz"
    res = _run(setup, "res", "heart", str(ct), "--out", str(out), "--quiet")  # audited file mode
    assert res.exit_code == 0 and out.exists(), res.output
    res = _run(setup, "sys", "heart", str(ct), "--out", str(tmp_path / "sys.nii.gz"), "--quiet")
    assert res.exit_code == 1 and "may not case.read_deid" in res.output
    assert not (tmp_path / "sys.nii.gz").exists()
    res = _run(setup, "res", "heart", str(tmp_path / "absent.nii.gz"), "--out", str(out), "--quiet")
    assert res.exit_code == 1
    recs = _records(root)
    assert ("res", "case.write", "C1", "denied", "") in recs
    assert ("res", "case.read_deid", str(ct), "success", "heart on files") in recs
    assert ("sys", "case.read_deid", str(ct), "denied", "") in recs
    failed = [
        r for r in recs if r[:4] == ("res", "case.read_deid", str(tmp_path / "absent.nii.gz"), "failure")
    ]
    assert len(failed) == 1 and "no such file" in failed[0][4]
    usage = CliRunner().invoke(cli, ["heart", str(ct), "--out", str(out), "--case", "C1"])
    assert usage.exit_code == 2 and "--case needs --store" in usage.output


@pytest.mark.parametrize("command", CLINICAL)
def test_every_clinical_command_takes_store_and_case(command):
    res = CliRunner().invoke(cli, [command, "--help"])
    assert res.exit_code == 0
    for option in ("--store", "--key-file", "--user", "--totp", "--case"):
        assert option in res.output, (command, option)


def test_measure_in_store_equals_file_mode(setup, tmp_path):
    """A folder argument (prefix) stages every object under it; the default output inside the case
    folder comes back as an object."""
    import json

    from CardiacPlanningLib.security.workflow_soak import make_inputs

    root, ct = setup
    inputs = make_inputs(tmp_path / "inputs")  # writes coronary_centerlines.json (and small scans)
    case = tmp_path / "case"
    (case / "labels").mkdir(parents=True)
    Volume.read(ct).write(case / "ct.nii.gz")
    labels = CliRunner().invoke(
        cli, ["heart", str(ct), "--out", str(case / "labels" / "phase_00.nii.gz"), "--quiet"]
    )
    assert labels.exit_code == 0, labels.output
    (case / "coronary_centerlines.json").write_bytes(inputs["centerlines"].read_bytes())
    ws = Workstation.open(root / "store", PASSPHRASE, hash_iterations=1000)
    store = ws.store(ws.login("doc", PASSWORDS["doc"]))
    store.put_volume("C2", "m/ct.nii.gz", Volume.read(case / "ct.nii.gz"))
    store.put_volume("C2", "m/labels/phase_00.nii.gz", Volume.read(case / "labels" / "phase_00.nii.gz"))
    store.put_bytes(
        "C2", "m/coronary_centerlines.json", inputs["centerlines"].read_bytes(), "application/json"
    )
    ws.close()
    res = _run(setup, "doc", "measure", "m", "--procedure", "pci", "--case", "C2", "--quiet")
    assert res.exit_code == 0, res.output
    plain = CliRunner().invoke(cli, ["measure", str(case), "--procedure", "pci", "--quiet"])
    assert plain.exit_code == 0, plain.output
    ws = Workstation.open(root / "store", PASSPHRASE, hash_iterations=1000)
    store = ws.store(ws.login("doc", PASSWORDS["doc"]))
    stored = json.loads(store.get_bytes("C2", "m/measurements_pci.json")[0])
    assert sorted(store.list_objects("C2")) == [
        "m/coronary_centerlines.json",
        "m/ct.nii.gz",
        "m/labels/phase_00.nii.gz",
        "m/measurements_pci.json",
    ]  # inputs unchanged, only the new file was saved
    ws.close()
    expected = json.loads((case / "measurements_pci.json").read_text(encoding="utf-8"))
    assert stored["pci"] == expected["pci"] and stored["volumes_ml"] == expected["volumes_ml"]
    assert stored["pci"]  # the stenosis of the centreline was measured
