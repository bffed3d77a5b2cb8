"""Branch names by topology and position (AHA segment naming, simplified).

Left tree: the first traced path (ostium to the farthest lumen) carries the left main; the LM ends
at the first side branch within ``lm_max_mm`` of the ostium that is long (>= 20 mm) and wide
(>= 0.7 x the main radius there). Of the two daughters the one ending more anterior (smaller LPS P)
is the LAD (it runs in the anterior interventricular groove to the apex), the other the LCX; their
side branches are diagonals (D1, D2, ...) and obtuse marginals (OM1, ...) ordered proximal to distal.
Right tree: the main path is the RCA; where its distal part turns towards the apex (the long axis
from the ostia to the LAD end, or the path's own end) past the crux it continues as the PDA; side
branches of the RCA are named AM (the longest) and RV1, RV2, ... .
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .centerline import TracedBranch

logger = logging.getLogger(__name__)


@dataclass
class NamedBranch:
    """A named branch: ``points`` (N, 3) LPS mm, ``radii`` (N,) mm, ``parent`` name or None and
    ``parent_index`` (the parent point it starts at); ``tree`` "left"/"right"."""

    name: str
    tree: str
    points: np.ndarray
    radii: np.ndarray
    parent: str | None
    parent_index: int | None


def _arc(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _children(branches: list[TracedBranch], parent: int) -> list[int]:
    kids = [i for i, b in enumerate(branches) if b.parent == parent]
    return sorted(kids, key=lambda i: branches[i].parent_index)


def _split(branches, i, k, names, tree, parent, pidx, head, tail):
    """Name traced branch ``i`` as ``head`` up to point k and ``tail`` after it."""
    b = branches[i]
    out = [NamedBranch(head, tree, b.points[: k + 1], b.radii[: k + 1], parent, pidx)]
    if len(b.points) - k > 2:
        out.append(NamedBranch(tail, tree, b.points[k:], b.radii[k:], head, k))
    return out


def name_left(branches: list[TracedBranch], min_side_mm: float = 10.0, lm_max_mm: float = 25.0):
    """Named left-tree branches (see the module docstring)."""
    if not branches:
        return []
    main = branches[0]
    s = _arc(main.points)
    kids = _children(branches, 0)
    split = None
    for c in kids:
        k = branches[c].parent_index
        if s[k] > lm_max_mm:
            break
        if branches[c].length_mm >= 20.0 and branches[c].radii[:5].mean() >= 0.7 * main.radii[k]:
            split = c
            break
    if split is None:
        long_kids = [c for c in kids if branches[c].length_mm >= 20.0]
        if not long_kids:
            return _with_sides(branches, 0, "LAD", "left", None, None, "D", min_side_mm)
        split = long_kids[0]
    k = branches[split].parent_index
    cont_end, side_end = main.points[-1], branches[split].points[-1]
    lad_is_main = cont_end[1] <= side_end[1]
    out = [NamedBranch("LM", "left", main.points[: k + 1], main.radii[: k + 1], None, None)]
    cont = TracedBranch(main.points[k:], main.radii[k:], None, None)
    sub = list(branches)
    sub[0] = cont
    for c in range(len(sub)):  # re-index the continuation's side branches
        if c and branches[c].parent == 0:
            sub[c] = TracedBranch(branches[c].points, branches[c].radii, 0, branches[c].parent_index - k)
    sub[split] = TracedBranch(branches[split].points, branches[split].radii, None, None)
    for c in range(len(sub)):
        if c != split and sub[c].parent == 0 and sub[c].parent_index < 0:
            sub[c] = TracedBranch(sub[c].points, sub[c].radii, -1, None)  # before the split: LM sides
    names = ("LAD", "D", "LCX", "OM") if lad_is_main else ("LCX", "OM", "LAD", "D")
    out += _with_sides(sub, 0, names[0], "left", "LM", k, names[1], min_side_mm)
    out += _with_sides(sub, split, names[2], "left", "LM", k, names[3], min_side_mm)
    return out


def _with_sides(branches, i, name, tree, parent, pidx, prefix, min_side_mm):
    """Branch ``i`` named ``name`` plus its side branches ``prefix``1.. (and their own sides)."""
    b = branches[i]
    out = [NamedBranch(name, tree, b.points, b.radii, parent, pidx)]
    n = 0
    for c in _children(branches, i):
        if branches[c].length_mm < min_side_mm:
            continue
        n += 1
        out += _with_sides(
            branches, c, f"{prefix}{n}", tree, name, branches[c].parent_index, f"{prefix}{n}-", min_side_mm
        )
    return out


def name_right(branches: list[TracedBranch], axis: np.ndarray | None = None, min_side_mm: float = 10.0):
    """Named right-tree branches; ``axis`` the unit base-to-apex direction (LPS) if known."""
    if not branches:
        return []
    main = branches[0]
    s = _arc(main.points)
    if axis is None:
        axis = main.points[-1] - main.points[0]
        axis = axis / max(np.linalg.norm(axis), 1e-9)
    h = (main.points - main.points[0]) @ axis
    split = None
    if s[-1] > 40.0:
        step = max(int(round(5.0 / max(s[-1] / len(s), 1e-3))), 1)
        dh = np.gradient(h, s)
        dh = np.convolve(dh, np.ones(step) / step, mode="same")
        low = np.nonzero(dh[: len(s) - step] < 0.35)[0]
        if len(low) and s[-1] - s[low[-1]] >= 15.0 and s[low[-1]] >= 0.4 * s[-1]:
            split = int(low[-1])
    if split is None:
        out = [NamedBranch("RCA", "right", main.points, main.radii, None, None)]
        k = len(main.points) - 1
    else:
        k = split
        out = _split(branches, 0, k, None, "right", None, None, "RCA", "PDA")
    kids = [c for c in _children(branches, 0) if branches[c].length_mm >= min_side_mm]
    rca_kids = [c for c in kids if branches[c].parent_index <= k]
    am = max(rca_kids, key=lambda c: branches[c].length_mm) if rca_kids else None
    n_rv = 0
    for c in kids:
        b = branches[c]
        if c == am:
            name, parent, pidx = "AM", "RCA", b.parent_index
        elif b.parent_index <= k:
            n_rv += 1
            name, parent, pidx = f"RV{n_rv}", "RCA", b.parent_index
        else:
            name, parent, pidx = f"PL{c}", "PDA", b.parent_index - k
        out += _with_sides(branches, c, name, "right", parent, pidx, f"{name}-", min_side_mm)
    return out
