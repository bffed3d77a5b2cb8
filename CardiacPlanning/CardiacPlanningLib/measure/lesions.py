"""PCI lesion list from coronary centrelines with lumen radii.

Input: ``{"branches": [{"name": str, "points": [[x, y, z], ...] (LPS mm), "radii": [...] (mm)}]}``.

Method (quantitative coronary analysis style, per branch):
1. Resample diameter ``d(s) = 2 r`` along the arc length ``s`` (mm) every ``step_mm``.
2. Healthy reference profile for detection: a robust polynomial fit of ``d(s)`` (linear for short
   branches, quadratic from 40 mm), refitted while dropping samples more than 5 % below the fit, so
   narrowings do not pull it down and natural tapering is followed.
3. A lesion is a connected run where ``d < (1 - boundary_pct/100) * reference`` (its ends are
   where the lumen departs from the reference by ``boundary_pct``, default 10 %); its length is
   the arc length of the run; runs closer than ``merge_gap_mm`` are merged (tandem lesions).
4. Proximal/distal reference diameters: mean diameter over ``reference_window_mm`` (default 5 mm) of
   healthy vessel (within 5 % of the fit) just outside each end (the fit at the end when no vessel
   is left); the reference at the minimal lumen diameter (MLD) is interpolated between them by arc
   length (interpolated reference, as in QCA). Diameter stenosis = ``100 (1 - MLD / reference)``;
   area stenosis = ``100 (1 - (MLD / reference)^2)``. Lesions under ``min_stenosis_pct`` (default
   20 %) are dropped.
5. Suggested stent: diameter = the distal reference rounded to the nearest common stent size (1:1
   sizing to the distal reference); length = lesion length plus ``landing_mm`` (default 2.5 mm) of
   healthy vessel at each end, rounded up to the next common stent length.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

STENT_DIAMETERS_MM = (2.25, 2.5, 2.75, 3.0, 3.5, 4.0, 4.5, 5.0)
STENT_LENGTHS_MM = (8, 12, 15, 18, 20, 23, 26, 28, 30, 33, 38)


def load_branches(path: str | Path) -> list[dict]:
    """Read a branches JSON file (see module docstring); errors name the file and the branch."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CardiacInputError(f"cannot read centreline file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("branches"), list):
        raise CardiacInputError(f"{path}: expected an object with a 'branches' list")
    return data["branches"]


def _check_branch(branch: dict, index: int) -> tuple[str, np.ndarray, np.ndarray]:
    name = str(branch.get("name", f"branch {index + 1}"))
    try:
        pts = np.asarray(branch["points"], dtype=float)
        radii = np.asarray(branch["radii"], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise CardiacInputError(f"branch {name!r}: needs numeric 'points' (N x 3) and 'radii' (N)") from exc
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2 or radii.shape != (len(pts),):
        raise CardiacInputError(
            f"branch {name!r}: points must be N x 3 and radii N long (N >= 2), "
            f"got {pts.shape} and {radii.shape}"
        )
    if not (np.all(np.isfinite(pts)) and np.all(np.isfinite(radii))) or np.any(radii <= 0):
        raise CardiacInputError(f"branch {name!r}: points and radii must be finite and radii positive")
    return name, pts, radii


def _robust_reference(s: np.ndarray, d: np.ndarray) -> np.ndarray:
    degree = 2 if s[-1] >= 40.0 else 1
    degree = min(degree, max(len(s) - 1, 0))
    keep = np.ones(len(s), dtype=bool)
    fit = np.full_like(d, np.median(d))
    for _ in range(10):
        if keep.sum() <= degree:
            break
        coef = np.polyfit(s[keep], d[keep], degree)
        fit = np.polyval(coef, s)
        new_keep = d >= 0.95 * fit
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return fit


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs (stop exclusive) of True runs."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _nearest(value: float, options) -> float:
    return float(min(options, key=lambda o: (abs(o - value), o)))


def suggest_stent(distal_ref_mm: float, lesion_length_mm: float, landing_mm: float = 2.5) -> dict:
    """Suggested stent diameter (mm) and length (mm) for a lesion (see module docstring)."""
    need = lesion_length_mm + 2 * landing_mm
    longer = [x for x in STENT_LENGTHS_MM if x >= need - 1e-9]
    return {
        "stent_diameter_mm": _nearest(distal_ref_mm, STENT_DIAMETERS_MM),
        "stent_length_mm": float(longer[0]) if longer else float(np.ceil(need)),
        "needs_overlap": not longer,
    }


def branch_lesions(
    name: str,
    points,
    radii,
    *,
    step_mm: float = 0.1,
    boundary_pct: float = 10.0,
    min_stenosis_pct: float = 20.0,
    reference_window_mm: float = 5.0,
    merge_gap_mm: float = 1.0,
    landing_mm: float = 2.5,
) -> list[dict]:
    """Lesions of one branch (points LPS mm, radii mm) as dicts; see the module docstring."""
    name, pts, r = _check_branch({"name": name, "points": points, "radii": radii}, 0)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s_raw = np.concatenate([[0.0], np.cumsum(seg)])
    keep = np.concatenate([[True], seg > 1e-9])
    s_raw, d_raw, p_raw = s_raw[keep], 2 * r[keep], pts[keep]
    total = float(s_raw[-1])
    if total < 2 * step_mm:
        return []
    s = np.arange(0.0, total + 1e-9, step_mm)
    d = np.interp(s, s_raw, d_raw)
    ref = _robust_reference(s, d)
    narrow = d < (1 - boundary_pct / 100.0) * ref
    runs = _runs(narrow)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and (s[a] - s[merged[-1][1] - 1]) <= merge_gap_mm:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    lesions = []
    g = d - (1 - boundary_pct / 100.0) * ref  # < 0 inside a lesion

    def crossing(i0: int, i1: int) -> float:  # linear interpolation of g = 0 between two samples
        t = g[i0] / (g[i0] - g[i1]) if g[i0] != g[i1] else 0.5
        return float(s[i0] + t * (s[i1] - s[i0]))

    for a, b in merged:
        start = crossing(a - 1, a) if a > 0 else 0.0
        end = crossing(b - 1, b) if b < len(s) else total
        i_mld = a + int(np.argmin(d[a:b]))
        mld = float(d[i_mld])
        healthy = d >= 0.95 * ref
        prox = (s >= start - reference_window_mm) & (s < start) & healthy
        dist = (s > end) & (s <= end + reference_window_mm) & healthy
        prox_ref = float(d[prox].mean()) if prox.any() else float(ref[a])
        dist_ref = float(d[dist].mean()) if dist.any() else float(ref[b - 1])
        frac = (s[i_mld] - start) / (end - start) if end > start else 0.5
        ref_mld = prox_ref + frac * (dist_ref - prox_ref)
        ds = 100.0 * (1 - mld / ref_mld)
        if ds < min_stenosis_pct:
            continue
        length = end - start
        loc = np.array([np.interp(s[i_mld], s_raw, p_raw[:, k]) for k in range(3)])
        lesions.append(
            {
                "branch": name,
                "start_mm": start,
                "end_mm": end,
                "length_mm": float(length),
                "mld_mm": mld,
                "mld_position_mm": float(s[i_mld]),
                "mld_point_lps": loc.tolist(),
                "proximal_reference_mm": prox_ref,
                "distal_reference_mm": dist_ref,
                "reference_at_mld_mm": float(ref_mld),
                "diameter_stenosis_pct": float(ds),
                "area_stenosis_pct": float(100.0 * (1 - (mld / ref_mld) ** 2)),
                "significant": bool(ds >= 50.0),
                **suggest_stent(dist_ref, length, landing_mm),
            }
        )
    return lesions


def lesion_list(branches: list[dict], **options) -> list[dict]:
    """Lesions of every branch (see :func:`branch_lesions` for options), most severe first."""
    if not branches:
        raise CardiacInputError("the centreline data has no branches")
    out = []
    for i, br in enumerate(branches):
        name, pts, radii = _check_branch(br, i)
        out.extend(branch_lesions(name, pts, radii, **options))
    return sorted(out, key=lambda les: -les["diameter_stenosis_pct"])
