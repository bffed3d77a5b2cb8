"""The phantom as the demo's first stage and through the CLI (tiny cases: 3 mm, 2 phases)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.phantom import demo_stage
from CardiacPlanningLib.phantom.generate import PhantomParameters
from CardiacPlanningLib.progress import Progress

TINY = dict(phases=2, spacing_mm=3.0, size=(64, 64, 48), dicom=False, noise_hu=10.0, ref_factor=1)


def test_demo_stage_fills_the_context(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_stage, "DEMO_PARAMETERS", PhantomParameters(**TINY))
    seen = []
    context: dict = {}
    summary = demo_stage.run(tmp_path / "phantom", Progress(lambda f, m: seen.append(f)), context)
    info = context["phantom"]
    assert summary["phases"] == 2 and len(info["ct"]) == 2 and info["percent"] == [0.0, 50.0]
    assert Volume.read(info["labels"][1]).shape == (48, 64, 64)
    assert set(info["aortic_root"]["ostia"]) == {"left", "right"}
    assert seen and max(seen) <= 1.0 and seen == sorted(seen)


def test_cli_writes_a_case(tmp_path):
    out = tmp_path / "case"
    args = ["phantom", "--out", str(out), "--phases", "2", "--spacing", "3", "--size", "64,64,48"]
    result = CliRunner().invoke(cli, [*args, "--no-dicom", "--quiet", "--seed", "4", "--ef", "50"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "phantom.json").read_text())
    assert meta["seed"] == 4 and meta["parameters"]["ef"] == 0.5
    assert abs(meta["ejectionFraction"]["measured"] - 0.5) < 0.03  # 3 mm voxels: coarse volumes
    assert not (out / "dicom").exists()


def test_cli_writes_a_single_phase_case(tmp_path):
    # one end-diastolic phase (what the coronary and stent checks use): the motion is calibrated on
    # the whole cycle, so the case is written and its only phase is the undeformed reference
    out = tmp_path / "one"
    args = ["phantom", "--out", str(out), "--phases", "1", "--spacing", "3", "--size", "64,64,48"]
    result = CliRunner().invoke(cli, [*args, "--no-dicom", "--quiet", "--seed", "4"])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "phantom.json").read_text())
    assert len(list((out / "labels").glob("*.nii.gz"))) == 1
    assert meta["ejectionFraction"]["measured"] == 0.0
