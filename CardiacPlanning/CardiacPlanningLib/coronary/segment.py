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
from dataclasses import dataclass, field

import cc3d
import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi
from skimage.graph import MCP_Geometric

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .filters import VesselnessCache, distance_mm, near_mask, objectness, within_mm
from .inputs import Ostium
from .thin import LocalContrast, lowest_floor_hu

logger = logging.getLogger(__name__)

CALCIUM_ABOVE_BLOOD_HU = 250.0
MAX_TREE_ML = 4.0  # a tree above this lumen volume has leaked
LEAK_ROOT_MM = 15.0  # what is kept of a tree that leaks at every threshold
# Frangi-type objectness (ITK ObjectnessMeasure, scaled by the largest eigenvalue) of the image
# divided by the blood-pool HU: 0.067 is 30 at 450 HU blood, above the 99th percentile of fat and
# myocardium and below the median on small coronaries.
VESSELNESS_MIN = 0.067
BRIDGE_FRACTION = 0.8
DENSE_FRACTION = 0.8
WEAK_LUMEN_FRACTION = 0.25
DIM_CORE_MM = 1.0
DIM_CORE_FRACTION = 0.75
DIM_CORE_MARGIN_MM = 1.5
BONE_ML = 0.5
BONE_MARGIN_MM = 2.0
PIECE_ML = 1.0  # a separate lumen piece up to this volume is a vessel segment, not a chamber
# A coronary's lumen is at most ~2.5 mm in radius. Where a tree touches the removed aorta /
# chambers (within SAC_CONTACT_MM) away from its root, a vessel running along the chamber touches
# it in a long band; a tree grown into a sac beside the chamber (the tip or a lobe of the atrial
# appendage, narrower than the opening's ball) touches it in a roundish patch as wide as the
# sac's cross-section. Such a patch: at least SAC_MIN_MM3, its middle principal spread (standard
# deviation, mm) above that of a 2.5 mm disc (r / 2), its largest below SAC_ELONGATION x the
# middle. Seed 77: the left tree in the appendage, patch 164 mm3, spreads 1.59 / 1.68 / 2.43 mm;
# the coronaries' bands on the tuning cases: middle spread <= 1.54 mm with the largest >= 5 x it,
# or middle <= 1.17 mm; the roots at the aorta (discs, excluded) up to 1.31 / 2.0 mm.
SAC_SPREAD_MM = 1.25
SAC_ELONGATION = 2.0
SAC_MIN_MM3 = 20.0
SAC_ROUNDS = 3
SAC_CONTACT_MM = 1.0
SAC_ROOT_MM = 5.0  # a patch this near the tree's seed is the root leaving the aorta
LEAK_FRACTIONS = (
    0.5,
    0.575,
    0.65,
    0.725,
)  # lumen thresholds (x blood HU) tried in turn


def vesselness(
    volume: Volume, box: tuple[slice, slice, slice], blood_hu: float, sigmas_mm=(0.6, 1.0)
) -> np.ndarray:
    """Multi-scale bright-tube objectness of ``volume.array[box] / blood_hu`` (see :mod:`.filters`)."""
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    return objectness(volume.array[box] / blood_hu, sp, sigmas_mm)


@dataclass
class TreeMasks:
    """Boolean masks ``[z, y, x]`` on the input grid per tree ("left"/"right"), the seed voxel
    (z, y, x) of each tree, and the lumen threshold (HU) used."""

    masks: dict[str, np.ndarray]
    seeds: dict[str, tuple[int, int, int]]
    threshold_hu: dict[str, float]
    calcium: np.ndarray
    forbidden: np.ndarray  # the aorta / chambers (opening mask), where no tree may grow
    excluded: np.ndarray | None = None  # the opening mask with its safety margin, and calcium
    warnings: list[str] = field(default_factory=list)
    vesselness: VesselnessCache | None = None  # computed blocks, for later growth steps


# Heart labels whose voxels no coronary enters: blood pools, aorta, pulmonary artery, appendage, veins.
CHAMBER_LABELS = (1, 3, 4, 5, 6, 7, 10, 11, 12, 13)


def chamber_mask(volume: Volume, heart: Volume) -> np.ndarray:
    """Blood-pool voxels of the heart label map ``heart`` on ``volume``'s grid (nearest neighbour when
    the grids differ), shrunk by one voxel so that partial-volume edges stay free for the vessels."""
    if not heart.same_geometry(volume):
        ref = volume.to_sitk()
        img = sitk.Resample(heart.to_sitk(), ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        arr = sitk.GetArrayFromImage(img)
    else:
        arr = heart.array
    if arr.shape != volume.shape:
        raise CardiacInputError(f"heart label map: shape {arr.shape} does not match the CT {volume.shape}")
    mask = np.isin(arr, CHAMBER_LABELS)
    return ndi.binary_erosion(mask, np.ones((3, 3, 3), bool))


def _dim_cores(arr: np.ndarray, bright: np.ndarray, blood: float, sp: np.ndarray) -> np.ndarray:
    """Bright-mask voxels within ``DIM_CORE_MARGIN_MM`` of a *dim core*: a voxel at least
    ``DIM_CORE_MM`` inside the half-contrast mask ``bright`` whose HU (Gaussian, 0.5 voxel) is below
    ``DIM_CORE_FRACTION`` of the blood pool. A contrast-filled artery that wide is near the blood
    HU at its centre (partial volume only reaches its edge), so such cores belong to other tissue
    above the lumen threshold (bone marrow, less enhanced chambers and veins) that the growth must
    not enter, whatever its shape.

    The depth is asked of the voxel's whole footprint, not only of its centre: with voxels as wide
    as a coronary's radius (1.25 mm) every lumen voxel is one voxel from the edge and partial volume
    dims the whole vessel, so the required distance map value grows by one voxel (and the margin
    with it, so the reach into wide dim structures stays the same)."""
    vox = float(sp.max())
    core = distance_mm(bright, sp) >= DIM_CORE_MM + vox
    if not core.any():
        return np.zeros_like(bright)
    core &= ndi.gaussian_filter(arr.astype(np.float32), 0.5) < DIM_CORE_FRACTION * blood
    if not core.any():
        return np.zeros_like(bright)
    return bright & (distance_mm(~core, sp) <= DIM_CORE_MARGIN_MM + vox)


def _near_bone(calcium: np.ndarray, sp: np.ndarray) -> np.ndarray:
    """Voxels within ``BONE_MARGIN_MM`` of a calcium-dense component (> blood + 250 HU) larger than
    ``BONE_ML``: ribs, sternum and spine, whose blurred cortical shells pass through the lumen HU
    range and would carry the growth along the chest wall. Coronary plaques are far smaller
    (a 3 mm calcified nodule is 0.014 ml), so they stay out of this mask."""
    comps = cc3d.connected_components(calcium, connectivity=26)
    sizes = np.bincount(comps.reshape(-1)) * float(np.prod(sp)) / 1e3
    sizes[0] = 0.0
    bone = sizes >= BONE_ML
    if not bone.any():
        return np.zeros_like(calcium)
    return within_mm(bone[comps], sp, BONE_MARGIN_MM)


def _opening_ball(
    mask: np.ndarray, radius_mm: float, spacing_zyx, margins_mm=(0.0,), inner: np.ndarray | None = None
) -> list[np.ndarray]:
    """Union of the balls of radius ``radius_mm`` that fit inside ``mask``, grown by each of
    ``margins_mm`` (one mask per margin); ``inner``: the distance map of ``mask`` if known."""
    inner = distance_mm(mask, spacing_zyx) if inner is None else inner
    core = inner > radius_mm
    if not core.any():
        return [np.zeros_like(mask) for _ in margins_mm]
    outer = distance_mm(~core, spacing_zyx)
    return [outer <= radius_mm + m for m in margins_mm]


def segment_trees(
    volume: Volume,
    ostia: list[Ostium],
    max_radius_mm: float = 3.2,
    seed_search_mm: float = 5.0,
    max_tree_ml: float = MAX_TREE_ML,
    progress: Progress | None = None,
    blocked: np.ndarray | None = None,
) -> TreeMasks:
    """Grow the left/right coronary lumen from each :class:`Ostium` (LPS mm) in ``volume`` (HU);
    ``blocked`` (bool [z, y, x], optional): voxels known not to be coronary (chamber blood pools)."""
    progress = as_progress(progress)
    sp = np.asarray(volume.spacing, dtype=float)[::-1]  # z, y, x
    arr = volume.array
    blood = float(np.mean([o.blood_hu for o in ostia]))
    thr = 0.5 * blood
    calcium = arr > blood + CALCIUM_ABOVE_BLOOD_HU
    bright = arr > thr
    progress(0.1, "removing the aorta and chambers")
    margin = 1.5 * float(sp.max())
    # The large structures are found on a smoothed image: noise would perforate the less enhanced
    # chambers (0.7 x blood HU, close to the thresholds) so that no ball fits inside them.
    smooth = ndi.gaussian_filter(arr.astype(np.float32), 1.0)
    bright_s = smooth > thr
    inner = distance_mm(bright_s, sp)
    big, open0 = _opening_ball(bright_s, max_radius_mm, sp, (margin, 0.0), inner)
    # A coronary pressed against a less enhanced chamber (right atrium, pulmonary trunk) merges with it
    # above half the blood HU; at >= 80 % of the aortic blood HU it is thin again: keep such voxels.
    dense = arr >= DENSE_FRACTION * blood
    big &= ~(dense & ~_opening_ball(smooth >= DENSE_FRACTION * blood, max_radius_mm, sp, (margin,))[0])
    # The dim-core margin must not take a contrast-dense artery that runs against a dim structure
    # (the RCA along the right atrium): voxels at >= 80 % of the aortic blood HU after smoothing are
    # brighter than any dim core (< 75 %) and stay free; the dim structure's own rim stays blocked.
    big |= _dim_cores(arr, bright, blood, sp) & (smooth < DENSE_FRACTION * blood)
    big |= _near_bone(calcium, sp)
    if blocked is not None:
        big |= blocked
    domain = bright & ~big & ~calcium
    # The margin also shaves the vessel roots at the aortic wall: give them back by conditional
    # dilation of each tree into bright voxels outside the margin-free opening.
    near_big = bright & ~open0
    progress(0.5, "growing from the ostia")
    comps_at = {0.5: cc3d.connected_components(domain.astype(np.uint8), connectivity=26)}
    masks, seeds, thresholds, warnings = {}, {}, {}, []
    for o in ostia:
        # A tree far above a coronary lumen volume has leaked: raise the threshold.
        for frac in LEAK_FRACTIONS:
            if frac not in comps_at:
                dom = (arr > frac * blood) & ~big & ~calcium
                comps_at[frac] = cc3d.connected_components(dom.astype(np.uint8), connectivity=26)
            comps = comps_at[frac]
            seeds[o.tree], masks[o.tree] = _seeded_component(volume, comps, o, seed_search_mm, sp)
            thresholds[o.tree] = frac * blood
            ml = float(masks[o.tree].sum() * sp.prod() / 1e3)
            if ml <= max_tree_ml:
                break
            logger.warning(
                "%s tree leaks at %.0f HU (%.1f ml); raising the threshold", o.tree, frac * blood, ml
            )
        else:  # leaks at every threshold: keep only the root near the ostium, and say so
            mcp = MCP_Geometric(np.where(masks[o.tree], 1.0, np.inf), sampling=tuple(sp))
            dist, _ = mcp.find_costs([seeds[o.tree]])
            masks[o.tree] = dist <= LEAK_ROOT_MM
            warnings.append(
                f"the {o.tree} tree leaks into neighbouring bright structures at every lumen threshold "
                f"({ml:.0f} ml); only its first {LEAK_ROOT_MM:.0f} mm are kept: give a heart segmentation "
                "or path points along the artery"
            )
            logger.warning(warnings[-1])
        logger.info(
            "%s tree: %d voxels (%.2f ml)",
            o.tree,
            int(masks[o.tree].sum()),
            masks[o.tree].sum() * sp.prod() / 1e3,
        )
    for tree in masks:
        for _ in range(SAC_ROUNDS):  # peel the sac layer by layer: each contact patch, then the next
            sac = _sac_contacts(masks[tree], big, sp, seeds[tree])
            if not sac.any():
                break
            logger.warning(
                "%s tree: %.0f mm3 of a sac beside a removed chamber (not a tube); left out",
                tree,
                sac.sum() * sp.prod(),
            )
            big |= sac
            masks[tree] = _keep_seed_component(masks[tree] & ~sac, seeds[tree])
    if len(masks) == 2 and np.any(masks["left"] & masks["right"]):
        _split_shared(masks, seeds, sp)
    progress(0.7, "vesselness")
    cache = VesselnessCache(arr, blood, sp, need_above_hu=lowest_floor_hu(blood, WEAK_LUMEN_FRACTION))
    for tree in masks:
        before = masks[tree].copy()
        extend_small_vessels(
            volume,
            masks[tree],
            seeds[tree],
            blood,
            big | calcium,
            sp,
            bridge=big & ~calcium & (inner <= max_radius_mm),
            lumen_hu=thresholds[tree],
            cache=cache,
        )
        if masks[tree].sum() * sp.prod() / 1e3 > max_tree_ml:
            logger.warning("%s tree: the small-vessel extension leaks; keeping the tree without it", tree)
            masks[tree] = before
    for o in ostia:  # root recovery only near the ostium (within the seed search radius + 5 mm)
        tree = o.tree
        c = np.array(seeds[tree])
        reach = np.ceil((seed_search_mm + 5.0) / sp).astype(int)
        box = tuple(slice(max(a - r, 0), a + r + 1) for a, r in zip(c, reach))
        for _ in range(int(np.ceil(margin / float(sp.min())))):
            sub = masks[tree][box]
            sub |= ndi.binary_dilation(sub, np.ones((3, 3, 3), bool)) & near_big[box]
    for tree in masks:
        masks[tree] &= ~calcium
        if blocked is not None:
            masks[tree] &= ~blocked
        masks[tree] = _keep_seed_component(masks[tree], seeds[tree])
    progress(1.0, "coronary lumen grown")
    forbidden = open0 if blocked is None else open0 | blocked
    return TreeMasks(masks, seeds, thresholds, calcium, forbidden, big | calcium, warnings, cache)


def _sac_contacts(
    mask: np.ndarray, big: np.ndarray, sp: np.ndarray, seed: tuple[int, int, int]
) -> np.ndarray:
    """Voxels of ``mask`` within ``SAC_CONTACT_MM`` of ``big`` (at least the 26-neighbours) in
    connected patches that look like a sac's cross-section, not a vessel's band (see
    ``SAC_SPREAD_MM``), farther than ``SAC_ROOT_MM`` from ``seed`` (z, y, x voxel)."""
    out = np.zeros_like(mask)
    if not mask.any() or not big.any():
        return out
    ext = [np.nonzero(mask.any(axis=tuple(b for b in range(3) if b != a)))[0] for a in range(3)]
    pad = np.ceil(SAC_CONTACT_MM / sp).astype(int) + 1
    lo = np.array([max(e[0] - p, 0) for e, p in zip(ext, pad)])
    box = tuple(slice(a, e[-1] + p + 1) for a, e, p in zip(lo, ext, pad))
    reach = max(SAC_CONTACT_MM, float(sp.max()) * np.sqrt(3.0) + 1e-3)  # at least the 26-neighbours
    touch = mask[box] & within_mm(big[box], sp, reach)
    comps = cc3d.connected_components(touch, connectivity=26)
    sizes = np.bincount(comps.reshape(-1)) * float(np.prod(sp))
    sizes[0] = 0.0
    sub = out[box]
    root = (np.asarray(seed) - lo) * sp
    for v in np.nonzero(sizes >= SAC_MIN_MM3)[0]:
        pts = np.argwhere(comps == v) * sp
        if np.min(np.linalg.norm(pts - root, axis=1)) <= SAC_ROOT_MM:
            continue
        spread = np.sqrt(np.clip(np.linalg.eigvalsh(np.cov(pts.T)), 0.0, None))  # ascending
        if spread[1] > SAC_SPREAD_MM and spread[2] < SAC_ELONGATION * spread[1]:
            sub |= comps == v
    return out


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
    ext = [np.nonzero(mask.any(axis=tuple(b for b in range(3) if b != a)))[0] for a in range(3)]
    lo = np.array([e[0] for e in ext])
    box = tuple(slice(e[0], e[-1] + 1) for e in ext)  # the components within the mask's box
    comps = cc3d.connected_components(mask[box].astype(np.uint8), connectivity=26)
    s = np.array(seed) - lo
    v = comps[tuple(s)] if np.all((s >= 0) & (s < comps.shape)) else 0
    if v == 0:
        pts = np.argwhere(comps > 0)
        v = comps[tuple(pts[np.argmin(((pts - s) ** 2).sum(axis=1))])]
    out = np.zeros_like(mask)
    out[box] = comps == v
    return out


def extend_small_vessels(
    volume,
    mask,
    seed,
    blood,
    forbidden,
    sp,
    bridge=None,
    reach_mm: float = 4.0,
    lumen_hu: float | None = None,
    max_piece_ml: float = PIECE_ML,
    rounds: int = 30,
    cache: VesselnessCache | None = None,
) -> None:
    """Grow ``mask`` (in place) into tube-like voxels (vesselness) that stand out from their own
    surroundings (:mod:`.thin`: a quarter of the way from the local background to the blood HU,
    and brighter than the local median), within ``reach_mm`` of the tree (its bounding box
    follows the growth), never into ``forbidden``; connected to ``seed``.

    ``bridge``: where a coronary runs against a less enhanced chamber wall (right atrium, pulmonary
    trunk) the opening swallows it; there voxels at >= 80 % of the aortic blood HU with twice the
    vesselness threshold are allowed too (segment_trees passes only the opening's rim, no deeper
    than the widest coronary, so chamber interiors cost no vesselness). ``lumen_hu``: the lumen
    threshold of the tree; a separate lumen piece above it (at most ``max_piece_ml``: a vessel
    segment, not a chamber) that the tube-like voxels reach joins whole, so the vessel beyond a
    dim stretch (a narrowing, a noisy partial-volume gap) is taken at once instead of
    ``reach_mm`` per round. ``cache``: vesselness
    shared with other calls on the same image."""
    if not mask.any():
        return
    floor = lowest_floor_hu(blood, WEAK_LUMEN_FRACTION)
    if cache is None:  # vesselness is read only above the lowest weak-lumen floor
        cache = VesselnessCache(volume.array, blood, sp, need_above_hu=floor)
    if cache.contrast is None:
        cache.contrast = LocalContrast(volume.array, blood, WEAK_LUMEN_FRACTION)
    pad = np.ceil(reach_mm / sp).astype(int)
    cur_full = mask.copy()
    lo = np.zeros(3, int)  # the tree lies inside the box of the previous round: look for it there
    hi = np.array(mask.shape)
    for _ in range(rounds):  # vesselness only within reach of the tree, extended as the tree grows
        inside = cur_full[tuple(slice(a, b) for a, b in zip(lo, hi))]
        ext = [np.nonzero(inside.any(axis=tuple(b for b in range(3) if b != a)))[0] for a in range(3)]
        ext_lo = lo + np.array([e[0] for e in ext])
        ext_hi = lo + np.array([e[-1] for e in ext])
        lo = np.maximum(ext_lo - pad, 0)
        hi = np.minimum(ext_hi + pad + 1, mask.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        img = volume.array[box]
        cand = img > floor
        allowed = cand & ~forbidden[box]
        cur = cur_full[box]
        wide = bridge[box] & (img >= BRIDGE_FRACTION * blood) if bridge is not None else None
        # vesselness only where it can add a voxel: allowed (or bridge) voxels near the tree
        cache.ensure((allowed if wide is None else allowed | wide) & near_mask(cur, sp, reach_mm) & ~cur, lo)
        v = cache.out[box]
        weak = cache.contrast.test(allowed & (v > VESSELNESS_MIN) & ~cur, lo)
        if wide is not None:
            weak |= wide & (v > 2.0 * VESSELNESS_MIN)
        if lumen_hu is not None:
            pc = cc3d.connected_components((img > lumen_hu) & allowed & ~cur, connectivity=26)
            sizes = np.bincount(pc.reshape(-1)) * float(np.prod(sp)) / 1e3
            sizes[0] = np.inf
            weak |= (sizes <= max_piece_ml)[pc]
        comps = cc3d.connected_components((cur | weak).astype(np.uint8), connectivity=26)
        s = tuple(int(seed[a] - lo[a]) for a in range(3))
        if not comps[s]:
            return
        grown = comps == comps[s]
        if np.count_nonzero(grown) == np.count_nonzero(cur):
            break
        cur |= grown
    mask |= cur_full


def _seeded_component(volume, comps, o, seed_search_mm, sp):
    """(seed voxel, mask) of the largest component of ``comps`` within ``seed_search_mm`` of ostium ``o``."""
    arr = comps
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
    return tuple(int(lo[a] + k[a]) for a in range(3)), comps == best
