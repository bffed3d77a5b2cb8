"""CI-sized soak loop over store + audit + backup: fails on growth of memory, open files or disk."""

from __future__ import annotations

import gc

from CardiacPlanningLib.security.soak import run_soak


def test_soak_loop_has_no_growth(tmp_path):
    gc.collect()  # descriptors left by earlier tests in this process must not count
    rep = run_soak(tmp_path, cycles=12, voxels=(16, 64, 64))
    assert rep.cycles == 12
    assert rep.problems == []
    g = rep.growth()
    assert g["fds"] <= 0 and g["case_bytes"] <= 0.01 * rep.case_bytes[-1]
    # the loop does not accumulate descriptors (a drop is earlier tests' objects being collected)
    assert max(rep.fds) - rep.fds[0] <= 2
