"""Coronary reconstruction from marked ostia: checks, lumen growth, centerline tree, names, radii,
stenoses and the label map (8 left tree, 9 right tree)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import labels
from ..centerlines import branches_json, vessel_path
from ..imaging.volume import Volume
from ..markups import Markups, read_all_markups
from ..progress import Progress, as_progress
from .boundary import half_maximum_layer, root_lumen
from .bridge import bridge_lesions
from .centerline import place_junction, trace_tree
from .excursion import reread_excursions
from .guide import extend_to_point
from .inputs import OSTIUM_LABELS, check_ostia, read_ostia
from .naming import NamedBranch, name_left, name_right
from .radius import CALCIUM_ABOVE_BLOOD_HU as CALCIUM_SECTION_ABOVE_BLOOD_HU
from .radius import narrow_lumen_radii, refine_centerline, tangents
from .segment import MAX_TREE_ML, chamber_mask, extend_small_vessels, segment_trees
from .stenosis import Lesion, calcium_near_points, find_lesions

logger = logging.getLogger(__name__)


@dataclass
class CoronaryResult:
    """Named ``branches`` (LPS mm), ``lesions``, the ``labelmap`` Volume (8 left, 9 right) and the
    ostia (LPS mm) and timings (s)."""

    branches: list[NamedBranch]
    lesions: list[Lesion]
    labelmap: Volume
    ostia: dict[str, np.ndarray]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def branch(self, name: str) -> NamedBranch:
        for b in self.branches:
            if b.name == name:
                return b
        raise KeyError(name)

    def vessel_path(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(points, radii) from the ostium through the parents to the end of ``name``."""
        return vessel_path(self.branch, name)

    def to_json(self) -> dict:
        """``{"coordinateSystem": "LPS", "branches": [{name, tree, parent, points, radii}], ...}``."""
        return {
            "coordinateSystem": "LPS",
            "units": "mm",
            "branches": branches_json(self.branches, 3),
            "stenoses": [les.to_json() for les in self.lesions],
            "warnings": list(self.warnings),
        }


def _extra_points(source) -> list[tuple[str, np.ndarray]]:
    if source is None:
        return []
    items = (
        read_all_markups(source)
        if isinstance(source, (str, Path))
        else [source]
        if isinstance(source, Markups)
        else list(source)
    )
    ostium_names = {n for names in OSTIUM_LABELS.values() for n in names}
    out = []
    for m in items:
        for i, lab in enumerate(m.labels):
            if m.defined_mask[i] and lab.strip().lower() not in ostium_names:
                out.append((lab, m.points_lps[i].copy()))
    return out


def _lumen_reader(volume: Volume, b: NamedBranch, tan: np.ndarray, blood: float, plaque_only: bool):
    """``(idx, ref) -> radii``: :func:`.radius.narrow_lumen_radii` of branch ``b``'s points ``idx``,
    its healthy points ``ref`` giving the blur width (``plaque_only``: only the calcified-plaque model
    changes a section)."""

    def read(idx: np.ndarray, ref: np.ndarray) -> np.ndarray:
        pts, radii = b.points, b.radii
        return narrow_lumen_radii(
            volume, pts[idx], radii[idx], blood, pts[ref], radii[ref], tan[idx], tan[ref], plaque_only
        )

    return read


def grade_branches(volume: Volume, branches: list[NamedBranch], blood: float) -> list[Lesion]:
    """The stenosis stage: each named branch's (LPS mm) excursion zones re-read, then its lesions
    graded (``blood``: the lumen's HU). Moves points and lowers radii of ``branches`` in place."""
    lesions = []
    voxel = float(max(volume.spacing))
    by_name = {b.name: b for b in branches}
    skips = {}
    for b in branches:
        # a side branch starts inside its parent's lumen: its first parent-radius + 1 voxel are no lesion
        skip = 2.0
        if b.parent in by_name and b.parent_index is not None:
            pr = by_name[b.parent].radii
            skip = max(skip, float(pr[min(b.parent_index, len(pr) - 1)]) + voxel)
        skips[b.name] = skip
    before = {b.name: b.points.copy() for b in branches}
    for b in branches:  # a lesion's residual lumen beside a side branch or calcium the path ran onto
        b.points, b.radii, _ = reread_excursions(volume, b.points, b.radii, blood, skips[b.name])
    for b in branches:  # a side branch still starts on its parent's (moved) centerline
        if b.parent in by_name and b.parent_index is not None and b.parent_index < len(before[b.parent]):
            if np.allclose(b.points[0], before[b.parent][b.parent_index]):
                b.points[0] = by_name[b.parent].points[b.parent_index]
    for b in branches:
        tan = tangents(b.points)
        skip = skips[b.name]
        calc = calcium_near_points(volume, b.points, b.radii, blood + CALCIUM_SECTION_ABOVE_BLOOD_HU)
        lesions += find_lesions(
            b.name,
            b.points,
            b.radii,
            skip_start_mm=skip,
            voxel_mm=voxel,
            near_calcium=calc,
            side_branch=b.parent is not None,
            narrow_radius=_lumen_reader(volume, b, tan, blood, plaque_only=False),
            plaque_radius=_lumen_reader(volume, b, tan, blood, plaque_only=True),
        )
    return lesions


def reconstruct_coronaries(
    volume: Volume,
    ostia,
    points=None,
    min_branch_mm: float = 5.0,
    progress: Progress | None = None,
    heart: Volume | None = None,
) -> CoronaryResult:
    """Reconstruct the coronary trees of ``volume`` (contrast CT, HU) from ``ostia`` (a .mrk.json path,
    Markups or ``{"left": xyz, "right": xyz}`` in LPS mm). ``points``: optional markups of path
    points (LPS mm) that extend the tree to branches growth missed. ``heart``: an optional heart label
    map (label table values, any grid) whose blood pools the trees may not enter."""
    progress = as_progress(progress)
    t0 = time.perf_counter()
    timings = {}
    where = str(ostia) if isinstance(ostia, (str, Path)) else "ostia"
    checked = check_ostia(volume, read_ostia(ostia), where)
    progress(0.05, "ostia checked")
    blocked = chamber_mask(volume, heart) if heart is not None else None
    tm = segment_trees(volume, checked, progress=progress.sub(0.05, 0.5), blocked=blocked)
    blood = float(np.mean([o.blood_hu for o in checked]))
    for label, p in _extra_points(points):
        extend_to_point(volume, tm.masks, p, blood, tm.forbidden, label=f"path point {label!r}")
    timings["segmentation_s"] = time.perf_counter() - t0
    traced = {}
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    for n, (tree, mask) in enumerate(tm.masks.items()):
        progress(0.5 + 0.2 * n, f"tracing the {tree} tree")
        traced[tree] = trace_tree(volume, mask, tm.seeds[tree], min_branch_mm=min_branch_mm)
        others = np.zeros_like(mask)
        for t, m in tm.masks.items():
            if t != tree:
                others |= m
        added = bridge_lesions(volume, mask, others, traced[tree], blood, tm.forbidden, tm.excluded)
        if added.any():  # the vessel beyond a tight lesion: grow it into its small vessels too
            extend_small_vessels(
                volume,
                added,
                tuple(np.argwhere(added)[0]),
                blood,
                tm.excluded | others,
                sp,
                lumen_hu=tm.threshold_hu[tree],
                cache=tm.vesselness,
            )
            if (mask | added).sum() * sp.prod() / 1e3 <= MAX_TREE_ML:
                mask |= added
            traced[tree] = trace_tree(volume, mask, tm.seeds[tree], min_branch_mm=min_branch_mm)
    for o in checked:  # the centerline starts at the marked ostium, not at the first grown voxel
        tb = traced.get(o.tree)
        if tb and np.linalg.norm(tb[0].points[0] - o.point) > 0.1:
            tb[0].points = np.vstack([o.point, tb[0].points])
            tb[0].radii = np.concatenate([tb[0].radii[:1], tb[0].radii])
            for b in tb[1:]:
                if b.parent == 0:
                    b.parent_index += 1
    for tb in traced.values():  # sub-voxel centerlines and radii; parents come before their branches
        for b in tb:
            b.points, b.radii = refine_centerline(
                volume, b.points, b.radii + 0.5 * min(volume.spacing), blood, fixed_start=b.parent is None
            )
            if b.parent is not None:
                place_junction(b, tb[b.parent])
                b.points[0] = tb[b.parent].points[b.parent_index]
    branches: list[NamedBranch] = []
    axis = None
    if traced.get("left"):
        left = name_left(traced["left"])
        branches += left
        lad = [b for b in left if b.name == "LAD"]
        if lad:
            axis = lad[0].points[-1] - np.mean([o.point for o in checked], axis=0)
            axis /= max(np.linalg.norm(axis), 1e-9)
    if traced.get("right"):
        branches += name_right(traced["right"], axis)
    timings["centerlines_s"] = time.perf_counter() - t0 - timings["segmentation_s"]
    progress(0.9, "stenoses")
    lesions = grade_branches(volume, branches, blood)
    lab = np.zeros(volume.shape, dtype=np.uint8)
    both = np.zeros(volume.shape, bool)
    for m in tm.masks.values():
        both |= m
    free = ~both & ~tm.forbidden & (~tm.excluded if tm.excluded is not None else True)
    for tree, value in (("left", labels.LEFT_CORONARY), ("right", labels.RIGHT_CORONARY)):
        if tree in tm.masks:  # the wall at the vessel's own half-maximum, not at half the blood HU
            layer = half_maximum_layer(volume.array, tm.masks[tree], free & (lab == 0), blood, sp)
            lab[tm.masks[tree] | layer] = value
    for tree, value in (("left", labels.LEFT_CORONARY), ("right", labels.RIGHT_CORONARY)):
        tb = traced.get(tree)
        if tb:  # the root the aortic opening shaved, in front of the marked ostium
            root = root_lumen(volume, tb[0].points, tb[0].radii, blood)
            lab[root & (lab == 0)] = value
    timings["total_s"] = time.perf_counter() - t0
    progress(1.0, "coronary trees done")
    ost = {o.tree: o.point for o in checked}
    return CoronaryResult(branches, lesions, volume.with_array(lab), ost, timings, tm.warnings)
