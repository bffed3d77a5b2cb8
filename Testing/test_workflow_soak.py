"""CI-sized soak of the whole clinical workflow through the encrypted store (import -> heart ->
propagate -> stent -> report -> backup, the real CLI commands with --store --case), failing on
growth of memory, open files or disk; the long run is benchmarks/soak_trial.py --workflow."""

from __future__ import annotations

import gc

import pytest

from CardiacPlanningLib.security.workflow_soak import (
    CASE,
    PASSPHRASE,
    PASSWORDS,
    WorkflowReport,
    _growth_problems,
    workflow_soak,
)
from CardiacPlanningLib.security.workstation import Workstation


@pytest.mark.slow  # ~35 s on 2 idle cores; over a minute when the cores are shared
def test_whole_workflow_cycles_without_growth(tmp_path, monkeypatch):
    ram = tmp_path / "ram"
    ram.mkdir()
    monkeypatch.setenv("CARDIAC_PLANNING_STAGE_DIR", str(ram))
    gc.collect()
    rep = workflow_soak(tmp_path / "run", cycles=3)
    assert rep.problems == [] and rep.cycles == 3
    assert rep.stage_dirs == [0, 0, 0] and list(ram.iterdir()) == []
    assert abs(rep.case_bytes[-1] - rep.case_bytes[0]) < 0.001 * rep.case_bytes[0]  # versions replaced
    assert max(rep.fds) - rep.fds[0] <= 2
    assert all(set(s) == {"import", "heart", "propagate", "stent", "report", "backup"} for s in rep.seconds)
    ws = Workstation.open(tmp_path / "run" / "store", PASSPHRASE, hash_iterations=10_000)
    store = ws.store(ws.login("soak_doc", PASSWORDS["soak_doc"]))
    names = set(store.list_objects(CASE))
    for expected in (
        "plan/ct/phase_00.nii.gz",
        "plan/ct/phase_01.nii.gz",
        "plan/labels/phase_00.nii.gz",
        "motion/labels_phase_01.nii.gz",
        "motion/volume_curves.json",
        "stent/ranking.json",
        "report/report.pdf",
        "report/measurements.json",
    ):
        assert expected in names, expected
    assert store.get_bytes(CASE, "report/report.pdf")[0].startswith(b"%PDF")
    heart = store.get_volume(CASE, "plan/labels/phase_00.nii.gz")
    assert (
        heart.array.max() > 0
        and heart.array.shape == store.get_volume(CASE, "plan/ct/phase_00.nii.gz").array.shape
    )
    writes = [r for r in ws.audit.records() if r["action"] == "case.write" and r["object"] == CASE]
    assert len(writes) == 3 * 5  # import, heart, propagate, stent, report runs, each audited
    ws.close()
    on_disk = [p for p in (tmp_path / "run" / "store").rglob("*") if p.is_file()]
    assert not [
        p for p in on_disk if p.name.endswith((".nii.gz", ".pdf", ".json")) and p.parent.name == "cases"
    ]
    assert all(p.name.endswith((".obj", ".enc", ".lock")) for p in on_disk if "cases" in p.parts)


def test_growth_is_reported():
    rep = WorkflowReport(cycles=6)
    rep.rss_mb = [400, 410, 420, 430, 480, 520]
    rep.fds = [8, 8, 8, 9, 10, 11]
    rep.case_bytes = [1000, 1000, 1000, 1000, 1100, 1200]
    rep.backup_bytes = [500, 1000, 1000, 1000, 1000, 1000]
    rep.audit_bytes = [10, 20, 30, 40, 50, 60]
    rep.stage_dirs = [0, 0, 0, 1, 0, 0]
    _growth_problems(rep, max_rss_growth_mb=30.0)
    text = "\n".join(rep.problems)
    assert "RAM working folders left behind: 1" in text
    assert "resident memory grew by 75.0 MB" in text
    assert "open files grew by 2" in text
    assert "case folders grew by 150 bytes" in text
    assert "backups grew" not in text  # backups flat apart from the audit snapshots
    flat = WorkflowReport(cycles=6)
    flat.rss_mb, flat.fds, flat.case_bytes = [400.0] * 6, [8] * 6, [1000] * 6
    flat.backup_bytes = [500, 1000, 1000, 1000, 5000, 9000]  # old backup sets not removed
    flat.audit_bytes, flat.stage_dirs = [10] * 6, [0] * 6
    _growth_problems(flat, 30.0)
    assert len(flat.problems) == 1 and flat.problems[0].startswith("backups grew by 6000 bytes")
