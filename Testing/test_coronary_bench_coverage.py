"""The coronary bench's own-length coverage of a branch (benchmarks/coronary_coverage.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from coronary_coverage import coverage_cell, own_coverage  # noqa: E402

from CardiacPlanningLib.metrics import centerline_scores  # noqa: E402


def _line(start, direction, length, step=0.5):
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    return np.asarray(start, float) + np.arange(0.0, length + 1e-9, step)[:, None] * d


def _vessel():
    """A 100 mm parent (radius 1.5 mm) and a 60 mm branch (1 mm) leaving its end at 90 degrees:
    the branch's scored vessel path (ostium to branch end) and where the branch's own part starts."""
    parent = _line([0, 0, 0], [1, 0, 0], 100.0)
    branch = _line(parent[-1], [0, 1, 0], 60.0)
    pts = np.vstack([parent[:-1], branch])
    radii = np.concatenate([np.full(len(parent) - 1, 1.5), np.full(len(branch), 1.0)])
    return pts, radii, len(parent) - 1


def test_a_branch_traced_over_a_third_of_its_length_covers_a_third_though_its_ov_is_high():
    pts, radii, own = _vessel()
    traced = pts[: own + 41]  # the parent and 20 of the branch's 60 mm
    ov = centerline_scores(pts, radii, traced).ov
    cov = own_coverage(pts, radii, own, traced)
    assert ov > 0.8  # the vessel score counts the shared 100 mm
    assert abs(cov - 20.0 / 60.0) < 0.03


def test_full_and_shifted_tracing_cover_the_branch_and_a_wrong_turn_does_not():
    pts, radii, own = _vessel()
    assert own_coverage(pts, radii, own, pts) == 1.0
    shifted = pts + np.array([0.0, 0.0, 0.6])  # inside the 1 mm radius everywhere
    assert own_coverage(pts, radii, own, shifted) == 1.0
    wrong = np.vstack([pts[:own], _line(pts[own], [0, -1, 0], 60.0)])  # the other way at the take-off
    assert own_coverage(pts, radii, own, wrong) < 0.05
    assert own_coverage(pts, radii, 0, pts[: own + 1]) < 0.7  # from the ostium: the parent part only


def test_the_table_cell_lists_the_branches_under_nine_tenths():
    row = {"branches": {"RCA": {"coverage": 1.0}, "AM": {"coverage": 0.71}, "PDA": {"coverage": 0.28}}}
    assert coverage_cell(row) == "0.66 / 0.28 (AM 0.71, PDA 0.28)"
    assert coverage_cell({"branches": {"LM": {"r0_mm": 2.0}}}) == "-"
