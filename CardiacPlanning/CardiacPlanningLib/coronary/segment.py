"""Coronary lumen segmentation grown from the ostia with leakage control.

Lumen = voxels above half the blood-pool HU (the 50 % partial-volume edge between contrast blood and
the surrounding fat / myocardium near 0 HU); calcium (> blood + 250 HU) is not lumen but may bridge
the growth. Large bright structures (aorta, chambers, great veins) are removed by a morphological
opening with a ball of radius ``max_radius_mm`` (computed with two Euclidean distance transforms)
plus a margin, so the growth from each ostium cannot spill into them: only tubes thinner than that
survive. Each tree is the connected component (26-connectivity) touching its ostium; a voxel claimed
by both ostia goes to the geodesically nearer one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage as ndi
from skimage.graph import MCP_Geometric

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .inputs import Ostium

logger = logging.getLogger(__name__)

CALCIUM_ABOVE_BLOOD_HU = 250.0


@dataclass
class TreeMasks:
    """Boolean masks ``[z, y, x]`` on the input grid per tree ("left"/"right"), the seed voxel
    (z, y, x) of each tree, and the lumen threshold (HU) used."""

    masks: dict[str, np.ndarray]
    seeds: dict[str, tuple[int, int, int]]
    threshold_hu: dict[str, float]
    calcium: np.ndarray
    forbidden: np.ndarray  # the aorta / chambers (opening mask), where no tree may grow


def _opening_ball(mask: np.ndarray, radius_mm: float, spacing_zyx, margin_mm: float) -> np.ndarray:
    """Union of the balls of radius ``radius_mm`` that fit inside ``mask``, grown by ``margin_mm``."""
    inner = ndi.distance_transform_edt(mask, sampling=spacing_zyx)
    core = inner > radius_mm
    if not core.any():
        return np.zeros_like(mask)
    outer = ndi.distance_transform_edt(~core, sampling=spacing_zyx)
    return outer <= radius_mm + margin_mm


def segment_trees(
    volume: Volume,
    ostia: list[Ostium],
    max_radius_mm: float = 3.2,
    seed_search_mm: float = 5.0,
    progress: Progress | None = None,
) -> TreeMasks:
    """Grow the left/right coronary lumen from each :class:`Ostium` (LPS mm) in ``volume`` (HU)."""
    progress = as_progress(progress)
    sp = np.asarray(volume.spacing, dtype=float)[::-1]  # z, y, x
    arr = volume.array
    blood = float(np.mean([o.blood_hu for o in ostia]))
    thr = 0.5 * blood
    calcium = arr > blood + CALCIUM_ABOVE_BLOOD_HU
    bright = arr > thr
    progress(0.1, "removing the aorta and chambers")
    margin = 1.5 * float(sp.max())
    big = _opening_ball(bright, max_radius_mm, sp, margin_mm=margin)
    domain = bright & ~big
    # The margin also shaves the vessel roots at the aortic wall: give them back by conditional
    # dilation of each tree into bright voxels outside the margin-free opening.
    open0 = _opening_ball(bright, max_radius_mm, sp, margin_mm=0.0)
    near_big = bright & ~open0
    progress(0.5, "growing from the ostia")
    comps = cc3d.connected_components(domain.astype(np.uint8), connectivity=26)
    masks, seeds, thresholds = {}, {}, {}
    for o in ostia:
        c = np.round(volume.lps_to_index(o.point[None])[0][::-1]).astype(int)
        half = np.ceil(seed_search_mm / sp).astype(int)
        lo, hi = np.maximum(c - half, 0), np.minimum(c + half + 1, arr.shape)
        win = tuple(slice(a, b) for a, b in zip(lo, hi))
        ids = comps[win]
        zz, yy, xx = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi)), indexing="ij")
        dist = np.sqrt(((zz - c[0]) * sp[0]) ** 2 + ((yy - c[1]) * sp[1]) ** 2 + ((xx - c[2]) * sp[2]) ** 2)
        cand = (ids > 0) & (dist <= seed_search_mm)
        if not cand.any():
            raise CardiacInputError(
                f"no coronary lumen leaves the aorta within {seed_search_mm:.0f} mm of the {o.tree} ostium "
                f"at {np.round(o.point, 1).tolist()} mm LPS; place the point where the artery starts"
            )
        labels_here = np.unique(ids[cand])
        sizes = np.array([np.count_nonzero(comps == v) for v in labels_here])
        best = int(labels_here[int(np.argmax(sizes))])
        pick = cand & (ids == best)
        k = np.unravel_index(np.argmin(np.where(pick, dist, np.inf)), dist.shape)
        seeds[o.tree] = tuple(int(lo[a] + k[a]) for a in range(3))
        masks[o.tree] = comps == best
        thresholds[o.tree] = thr
        logger.info(
            "%s tree: %d voxels (%.2f ml)",
            o.tree,
            int(masks[o.tree].sum()),
            masks[o.tree].sum() * sp.prod() / 1e3,
        )
    if len(masks) == 2 and np.any(masks["left"] & masks["right"]):
        _split_shared(masks, seeds, sp)
    for tree in masks:
        for _ in range(int(np.ceil(margin / float(sp.min())))):
            masks[tree] |= ndi.binary_dilation(masks[tree], np.ones((3, 3, 3), bool)) & near_big
        masks[tree] &= ~calcium
        masks[tree] = _keep_seed_component(masks[tree], seeds[tree])
    progress(1.0, "coronary lumen grown")
    return TreeMasks(masks, seeds, thresholds, calcium, open0)


def _split_shared(masks: dict, seeds: dict, sp: np.ndarray) -> None:
    """Assign voxels reached from both ostia to the geodesically nearer one (in place)."""
    both = masks["left"] | masks["right"]
    cost = np.where(both, 1.0, np.inf)
    dists = {}
    for tree in ("left", "right"):
        mcp = MCP_Geometric(cost, sampling=tuple(sp))
        d, _ = mcp.find_costs([seeds[tree]])
        dists[tree] = d
    logger.warning("the left and right trees touch; splitting them by geodesic distance from the ostia")
    masks["left"] = both & (dists["left"] <= dists["right"])
    masks["right"] = both & (dists["right"] < dists["left"])


def _keep_seed_component(mask: np.ndarray, seed: tuple[int, int, int]) -> np.ndarray:
    """The 26-connected component of ``mask`` holding ``seed`` (or the nearest voxel to it)."""
    if not mask.any():
        return mask
    comps = cc3d.connected_components(mask.astype(np.uint8), connectivity=26)
    v = comps[seed]
    if v == 0:
        pts = np.argwhere(mask)
        v = comps[tuple(pts[np.argmin(((pts - np.array(seed)) ** 2).sum(axis=1))])]
    return comps == v
