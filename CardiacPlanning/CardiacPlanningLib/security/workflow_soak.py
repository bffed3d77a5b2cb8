"""Soak test of the whole clinical workflow through the encrypted store, as the hospital runs it:
each cycle runs the real ``cardiac-planning`` commands in this process with ``--store --case``

    import (2 phases + a device scan) -> heart -> propagate -> stent -> report -> backup create/verify

and then records resident memory, open file descriptors, the bytes on disk (store, backups) and the
RAM working folders left behind. :func:`workflow_soak` fails (``problems``) on a command error, on a
store that does not verify, and on growth of any of those figures between the middle and the last
third of the run (after a warm-up third). The case is a tiny synthetic one (the toy heart of
``heart.synthetic`` and a valve frame from ``phantom.devices``) so that a cycle takes seconds; its
size is a parameter for longer runs. ``benchmarks/soak_trial.py --workflow`` is the hospital's
72-hour trial script; ``Testing/test_workflow_soak.py`` the CI-sized run.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..imaging.volume import Volume
from .soak import SoakReport, folder_bytes, open_fds, rss_bytes
from .workstation import Workstation

logger = logging.getLogger(__name__)

PASSPHRASE = "workflow soak passphrase (not secret)"
PASSWORDS = {"soak_sys": "Soak-Sysadm1n-Pw", "soak_doc": "Soak-Clinic-Pw02"}
CASE = "SOAK-WF-1"
STAGES = ("import", "heart", "propagate", "stent", "report", "backup")


@dataclass
class WorkflowReport(SoakReport):
    """Per cycle: ``rss_mb``, ``fds``, ``case_bytes`` (the store's case folders), ``backup_bytes``
    (the two newest backup sets kept), ``audit_bytes`` (the audit log: grows by design, append-only),
    ``stage_dirs`` (RAM working folders left), ``seconds`` per stage; ``problems`` found."""

    stage_dirs: list[int] = field(default_factory=list)
    backup_bytes: list[int] = field(default_factory=list)
    audit_bytes: list[int] = field(default_factory=list)
    seconds: list[dict[str, float]] = field(default_factory=list)


def make_inputs(folder: Path, spacing_mm: float = 4.0, device_spacing_mm: float = 0.45) -> dict[str, Path]:
    """Write the soak case's input files: two cardiac phases (the toy heart and a copy moved by one
    voxel), a coronary centreline with a stenosis (LPS mm) and a scan of a ring-and-link coronary
    stent in a straight vessel (radius 1.6 mm along z) with its label map (left coronary = 8)."""
    from types import SimpleNamespace

    from ..heart.synthetic import toy_heart
    from ..phantom import devices
    from ..phantom.ctsim import finish_ct

    folder = Path(folder)
    (folder / "phases").mkdir(parents=True, exist_ok=True)
    ct, _labels = toy_heart(spacing_mm=spacing_mm, seed=5)
    ct.write(folder / "phases" / "phase_00.nii.gz")
    ct.with_array(np.roll(ct.array, 1, axis=2)).write(folder / "phases" / "phase_50.nii.gz")
    t = np.linspace(0.0, 1.0, 40)
    line = np.stack([-20 + 40 * t, 10 + 0 * t, 5 + 10 * t], 1)
    radii = 1.6 - 0.9 * np.exp(-(((t - 0.5) / 0.08) ** 2))  # a 56 % diameter stenosis mid-branch
    branch_json = {"name": "LAD", "tree": "left", "parent": None}
    branch_json.update(points=line.round(3).tolist(), radii=radii.round(3).tolist())
    centerlines = {"coordinateSystem": "LPS", "units": "mm", "branches": [branch_json]}
    (folder / "coronary_centerlines.json").write_text(json.dumps(centerlines), encoding="utf-8")
    radius, z = 1.6, np.linspace(-15.0, 15.0, 121)
    branch = SimpleNamespace(name="LAD", points=np.stack([0 * z, 0 * z, z], 1), radii=np.full(len(z), radius))
    dev = devices.coronary_stent(branch, 0.3, 10.0, rng=2)
    lo, hi = dev.axis.min(0) - 4.0, dev.axis.max(0) + 4.0
    lo[:2], hi[:2] = -(radius + 4.0), radius + 4.0
    size = np.ceil((hi - lo) / device_spacing_mm).astype(int)
    geom = Volume(np.zeros(size[::-1], np.int16), (device_spacing_mm,) * 3, tuple(lo), np.eye(3))
    kji = np.indices(geom.array.shape).reshape(3, -1).T
    p = geom.index_to_lps(kji[:, ::-1].astype(float))
    lumen = (np.hypot(p[:, 0], p[:, 1]) <= radius).reshape(geom.array.shape)
    hu = np.where(lumen, 400.0, 40.0).astype(np.float32)
    occupancy = devices.wire_occupancy(dev, geom, 3)
    rng = np.random.default_rng(2)
    scan = finish_ct(hu, device_spacing_mm, rng, 20.0, 1.0, metal=occupancy, metal_hu=20000.0)
    geom.with_array(scan).write(folder / "device_ct.nii.gz")
    geom.with_array(np.where(lumen, 8, 0).astype(np.uint8)).write(folder / "device_labels.nii.gz")
    return {
        "phases": folder / "phases",
        "centerlines": folder / "coronary_centerlines.json",
        "device_ct": folder / "device_ct.nii.gz",
        "device_labels": folder / "device_labels.nii.gz",
    }


def _commands(inputs: dict[str, Path], backups: Path) -> list[tuple[str, str, list[str]]]:
    """(stage, user, arguments) of one cycle; --store and --user are added by the runner."""
    lines = [
        ("import", "import {phases} --out plan/ct --quiet"),
        ("import", "case import {device_ct} --name device/ct.nii.gz"),
        ("import", "case import {device_labels} --name device/labels.nii.gz"),
        ("heart", "heart plan/ct/phase_00.nii.gz --out plan/labels/phase_00.nii.gz --quiet"),
        (
            "propagate",
            "propagate plan/ct --reference 0 --seg plan/labels/phase_00.nii.gz --out motion"
            " --no-fields --spacing 8 --margin 8 --quiet",
        ),  # fmt: skip
        (
            "stent",
            "stent device/ct.nii.gz --region device/labels.nii.gz --label 8 --kind coronary"
            " --out stent --quiet",
        ),  # fmt: skip
        ("report", "report plan --procedure pci --out report --format pdf --quiet"),
    ]
    commands = []
    for stage, template in lines:  # split the template first: input paths may contain spaces
        args = [str(inputs[t[1:-1]]) if t.startswith("{") else t for t in template.split()]
        commands.append((stage, "soak_doc", args))
    commands = [(stage, user, [*args, "--case", CASE]) for stage, user, args in commands]
    return commands + [("backup", "soak_sys", ["backup", "create", "--dest", str(backups)])]


def workflow_soak(
    root: Path,
    cycles: int,
    max_rss_growth_mb: float = 30.0,
    log: Callable[[int, WorkflowReport], None] | None = None,
    stop_after_s: float | None = None,
    spacing_mm: float = 4.0,
) -> WorkflowReport:
    """Run ``cycles`` workflow cycles (at least 6 for the growth checks; or until ``stop_after_s``)
    in a new store under ``root`` and return the measurements and problems."""
    from click.testing import CliRunner

    from ..cli.main import cli
    from ..store.backup import verify_backup
    from ..store.staging import ENV_STAGE_DIR, ram_root

    root = Path(root)
    ws = Workstation.init(root / "store", PASSPHRASE, key_iterations=10_000, hash_iterations=10_000)
    ws.users.add_user(None, "soak_sys", "system_admin", PASSWORDS["soak_sys"])
    admin = ws.login("soak_sys", PASSWORDS["soak_sys"])
    ws.users.add_user(admin, "soak_doc", "clinician", "Soak-Initial-Pw01")
    doc = ws.login("soak_doc", "Soak-Initial-Pw01")
    ws.users.change_password(doc, "Soak-Initial-Pw01", PASSWORDS["soak_doc"])
    inputs = make_inputs(root / "inputs", spacing_mm)
    centerlines = inputs["centerlines"].read_bytes()  # traced once, kept in the case
    ws.store(doc).put_bytes(CASE, "plan/coronary_centerlines.json", centerlines, "application/json")
    ws.close()
    backups = root / "backups"
    stage_root = Path(os.environ.get(ENV_STAGE_DIR) or ram_root())
    runner = CliRunner()
    rep = WorkflowReport()
    t_end = time.monotonic() + stop_after_s if stop_after_s else None
    for c in range(cycles):
        if t_end is not None and time.monotonic() > t_end:
            break
        seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        for stage, user, args in _commands(inputs, backups):
            env = {"CARDIAC_PLANNING_PASSPHRASE": PASSPHRASE, "CARDIAC_PLANNING_PASSWORD": PASSWORDS[user]}
            t = time.perf_counter()
            res = runner.invoke(cli, [*args, "--store", str(root / "store"), "--user", user], env=env)
            seconds[stage] += time.perf_counter() - t
            if res.exit_code != 0:
                rep.problems.append(
                    f"cycle {c} {stage} ({args[0]}): {res.output.strip()[-300:] or res.exception}"
                )
        sets = sorted(p for p in backups.iterdir() if p.is_dir()) if backups.exists() else []
        ws = Workstation.open(root / "store", PASSPHRASE, hash_iterations=10_000)
        try:
            admin = ws.login("soak_sys", PASSWORDS["soak_sys"])
            if sets and verify_backup(sets[-1], ws.ring, ws.guard(admin)):
                rep.problems.append(f"cycle {c}: backup {sets[-1].name} does not verify")
            rep.problems += [f"cycle {c}: {p}" for p in ws.store(admin).verify()]
            ws.users.logout(admin)
        finally:
            ws.close()
        for old in sets[:-2]:
            shutil.rmtree(old)  # the site keeps the newest backup sets
        gc.collect()
        rep.cycles += 1
        rep.seconds.append({k: round(v, 2) for k, v in seconds.items()})
        rep.rss_mb.append(rss_bytes() / 2**20)
        rep.fds.append(open_fds())
        rep.case_bytes.append(folder_bytes(root / "store" / "cases"))
        rep.backup_bytes.append(folder_bytes(backups))
        rep.audit_bytes.append(folder_bytes(root / "store" / "audit"))
        rep.stage_dirs.append(len(list(stage_root.glob("cardiac-stage-*"))))
        if log:
            log(c, rep)
    _growth_problems(rep, max_rss_growth_mb)
    return rep


def _growth_problems(rep: WorkflowReport, max_rss_growth_mb: float) -> None:
    """Growth between the middle and the last third of the cycles (the first third is warm-up)."""
    if any(rep.stage_dirs):
        rep.problems.append(f"RAM working folders left behind: {max(rep.stage_dirs)}")
    if rep.cycles < 3:
        return
    g = rep.growth()
    if g["rss_mb"] > max_rss_growth_mb:
        rep.problems.append(f"resident memory grew by {g['rss_mb']:.1f} MB over the last third")
    if g["fds"] > 0:
        rep.problems.append(f"open files grew by {g['fds']:.0f}")
    if g["case_bytes"] > 0.01 * max(rep.case_bytes):
        rep.problems.append(f"the case folders grew by {g['case_bytes']:.0f} bytes (leftover versions?)")
    n = len(rep.backup_bytes)
    mid, last = slice(n // 3, 2 * n // 3), slice(2 * n // 3, n)
    audit_growth = statistics.median(rep.audit_bytes[last]) - statistics.median(rep.audit_bytes[mid])
    backup_growth = statistics.median(rep.backup_bytes[last]) - statistics.median(rep.backup_bytes[mid])
    # two kept backup sets each hold a snapshot of the audit log, which grows by design
    if backup_growth > 2 * audit_growth + 0.01 * max(rep.backup_bytes):
        rep.problems.append(f"backups grew by {backup_growth:.0f} bytes beyond the audit log's growth")
