"""Centerline trees as the phantom (truth) and the coronary reconstruction both keep them: branches
with ``points`` (N, 3) LPS mm from proximal to distal, ``radii`` (N,) mm, a ``parent`` branch name (or
None), the ``parent_index`` of the parent point where the branch starts, and ``tree`` left/right."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def vessel_path(branch_of: Callable[[str], Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, 3) LPS mm, radii (N,) mm) from the ostium through the parents to the end of branch
    ``name`` (e.g. LM + LAD + D1), as vessels are scored in the Rotterdam framework; ``branch_of``
    looks a branch up by name."""
    chain = [branch_of(name)]
    while chain[-1].parent is not None:
        chain.append(branch_of(chain[-1].parent))
    chain.reverse()
    pts, rad = [], []
    for b, nxt in zip(chain, chain[1:] + [None]):
        stop = len(b.points) if nxt is None else nxt.parent_index  # the child repeats that point
        pts.append(b.points[:stop])
        rad.append(b.radii[:stop])
    return np.vstack(pts), np.concatenate(rad)


def branches_json(branches: Iterable[Any], decimals: int) -> list[dict]:
    """The ``branches`` list of the centerline JSON (points and radii rounded to ``decimals`` mm)."""
    return [
        {
            "name": b.name,
            "tree": b.tree,
            "parent": b.parent,
            "parentIndex": b.parent_index,
            "points": np.round(b.points, decimals).tolist(),
            "radii": np.round(b.radii, decimals).tolist(),
        }
        for b in branches
    ]
