"""Own-length coverage of a coronary branch, for the coronary bench.

The Rotterdam vessel score (Schaap et al. 2009) runs each vessel from the ostium, so a branch scores
its parents' path too: a PDA traced over 20 of its 71 mm still reads OV 0.92 on a 314 mm RCA path.
The coverage here counts only the branch's own part, from its take-off from the parent to its end,
with the framework's correspondence and hit definition.
"""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib.metrics import centerline_hits


def own_coverage(
    ref_points: np.ndarray,
    ref_radii: np.ndarray,
    own_from: int,
    eval_points: np.ndarray,
    step_mm: float = 0.25,
    max_cells: int = 20_000_000,
) -> float:
    """Share (0..1) of the reference vessel's points from index ``own_from`` on (the branch's own
    part: its take-off from the parent to its end) that are TPR in the Rotterdam sense (Schaap et al.
    2009; as ``centerline_scores``: both lines resampled every ``step_mm``, matched by the minimal
    monotone correspondence, a hit where the connection is shorter than the reference radius).
    Reference and evaluated lines run from the ostium (LPS mm)."""
    ref_points = np.asarray(ref_points, dtype=float)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ref_points, axis=0), axis=1))])
    ref, _, _, _, _, _, ref_hit, _ = centerline_hits(ref_points, ref_radii, eval_points, step_mm, max_cells)
    own = np.linspace(0.0, s[-1], len(ref)) >= s[min(own_from, len(s) - 1)] - 1e-9
    return float(ref_hit[own].mean())


def coverage_cell(row: dict) -> str:
    """``0.93 / 0.28 (PDA 0.28, AM 0.71)``: own-length coverage by the same-named vessel (mean /
    worst over the scored branches, radius >= 0.75 mm), the branches under 0.9 in brackets."""
    cov = {n: b["coverage"] for n, b in row["branches"].items() if "coverage" in b}
    if not cov:
        return "-"
    low = ", ".join(f"{n} {v:.2f}" for n, v in cov.items() if v < 0.9)
    return f"{np.mean(list(cov.values())):.2f} / {min(cov.values()):.2f}" + (f" ({low})" if low else "")
