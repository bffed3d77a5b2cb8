"""CI-sized kill -9 test: writers of case objects and audit records killed at random moments; every
acknowledged write must survive and no torn file may remain (>= 100 kills: benchmarks/security_bench.py)."""

from __future__ import annotations

import sys

import pytest

from CardiacPlanningLib.store.crashtest import run_concurrent_test, run_kill_test


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_minus_nine_loses_no_acknowledged_write(tmp_path):
    rep = run_kill_test(tmp_path / "store", kills=20, seed=7, max_delay_s=0.5)
    assert rep.kills == 20
    assert rep.problems == []
    assert rep.acked_writes >= 20 and rep.acked_appends >= 20  # the writers really were interrupted mid-run


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")
def test_concurrent_writers_share_cases_and_audit_log(tmp_path):
    rep = run_concurrent_test(tmp_path / "store", writers=3, seconds=2.0)
    assert rep.problems == []
    assert rep.acked_writes >= 6 and rep.acked_appends >= 6
