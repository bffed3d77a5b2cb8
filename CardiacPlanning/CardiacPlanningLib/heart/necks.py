"""Cut vessels that merely touch apart at the narrow necks between them.

Where two vessels run side by side (the superior vena cava along the ascending aorta, a pulmonary
vein past the descending aorta or under a pulmonary artery branch), partial volume across their thin
walls joins their lumens in the blood mask, and a watershed piece may straddle both. Within one
label, a finer watershed of the blood pool's distance map puts a border at every neck. Neighbouring
basins are one lumen when the neck between them is at least half as wide as the narrower of the two
(inscribed radius at the border over the basins' inscribed radii) and their interior blood is
enhanced alike: one vessel carries one blood, while the venae cavae (undiluted or unopacified
venous inflow), the pulmonary veins (blood from the lungs) and the arteries differ by a few per cent
of the blood-myocardium contrast or more. Basins not joined to the label's largest lumen that way
belong to another vessel: they go to the label they open widely onto and are enhanced like, or are
left unnamed.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from .. import labels as lbl

logger = logging.getLogger(__name__)

BASIN_GAP_MM = 4.5  # inscribed-sphere centres of the fine basins lie at least this far apart
OPEN_RATIO = 0.5  # neck radius / the narrower basin's radius for one continuous lumen
MIN_ML = 0.5  # detached groups smaller than this stay (partial-volume fringes)
HU_FRACTION = 0.04  # one lumen's basins differ in interior HU by less than this x blood contrast
CORE_MM = 3.0  # a basin's interior: at least this deep (or 60 % of its radius) in the blood pool


def distance_basins(
    mask: np.ndarray, dist: np.ndarray, gap_mm: float, spacing_mm: float, min_depth_mm: float = 2.0
):
    """Watershed basins of the distance map ``dist`` (mm) inside ``mask`` around its inscribed-sphere
    centres (local maxima of ``dist`` above ``min_depth_mm``, at least ``gap_mm`` apart): their
    borders are the narrowest cross-sections between the centres (Beucher & Meyer 1993). An int32
    label array, or None when the mask has fewer than two centres."""
    peaks = peak_local_max(
        np.where(mask, dist, 0.0),
        min_distance=max(1, int(round(gap_mm / spacing_mm))),
        threshold_abs=min_depth_mm,
        labels=mask.astype(np.int32),
        exclude_border=False,
    )
    if len(peaks) < 2:
        return None
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=mask)


def detach_bridged(
    seg: np.ndarray,
    smooth: np.ndarray,
    pool_dist: np.ndarray,
    label: int,
    spacing_mm: float,
    myocardium_hu: float,
    to_lps=None,
    split_mixed: bool = False,
) -> int:
    """Relabel the parts of ``label`` not joined to its main lumen as one lumen (in place).

    ``smooth``: the image (HU, lightly smoothed); ``pool_dist``: distance (mm) to the blood pool's
    border; ``myocardium_hu``: the myocardium's HU (the blood contrast is the label's median minus
    it); ``to_lps`` maps (N, 3) (x, y, z) indices to LPS mm: a part opening onto the RA is then
    the superior or inferior vena cava, by whether it lies above or below the atrium's centre.
    With ``split_mixed`` a part holding two bloods is split by enhancement first
    (:func:`_split_mixed`). Returns the number of voxels moved."""
    mask = seg == label
    if mask.sum() < 50:
        return 0
    box = tuple(slice(max(int(a.min()) - 1, 0), int(a.max()) + 2) for a in np.nonzero(mask))
    m, d, s, img = mask[box], pool_dist[box], seg[box], smooth[box]
    basins = distance_basins(m, d, BASIN_GAP_MM, spacing_mm)
    if basins is None:
        return 0
    n = int(basins.max())
    radius = np.zeros(n + 1)
    radius[1:] = ndi.maximum(d, basins, np.arange(1, n + 1))
    size = np.bincount(basins.ravel(), minlength=n + 1)
    index = np.arange(1, n + 1)
    deep = np.where(d >= np.minimum(CORE_MM, 0.6 * radius[basins]), basins, 0)
    core = np.zeros(n + 1)
    core[1:] = ndi.median(img, deep, index)
    tolerance = HU_FRACTION * abs(float(np.median(img[m])) - myocardium_hu)
    parent = np.arange(n + 1)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), neck in _saddles(basins, d).items():
        if neck >= OPEN_RATIO * min(radius[a], radius[b]) and abs(core[a] - core[b]) <= tolerance:
            parent[find(a)] = find(b)
    roots = np.array([find(i) for i in range(n + 1)])
    group_size = np.bincount(roots[1:], weights=size[1:], minlength=n + 1)
    # each connected piece of the label keeps its largest lumen (an aorta cut by the field of view
    # into ascending and descending parts is two pieces)
    comp, _ = ndi.label(m)
    comp_of = np.zeros(n + 1, int)
    comp_of[1:] = ndi.maximum(comp, basins, np.arange(1, n + 1))
    main = {}
    for g in np.unique(roots[1:]):
        c = comp_of[g]
        if c not in main or group_size[g] > group_size[main[c]]:
            main[c] = g
    voxel_ml = spacing_mm**3 / 1000.0

    def interior_hu(group: int) -> float:
        inner = np.isin(basins, np.where(roots == group)[0]) & (deep > 0)
        return float(np.median(img[inner])) if inner.any() else float(core[group])

    # the main lumens of separate pieces are one vessel only when they carry the same blood as the
    # largest piece's: a piece enhanced otherwise (a vein cut off by the field of view near the top
    # of the scan) is measured against the largest lumen like any other part
    big = max(main.values(), key=lambda g: group_size[g])
    big_hu = interior_hu(big)
    home_of = {g: g for g in main.values()}
    for g in main.values():
        if g != big and abs(interior_hu(g) - big_hu) > tolerance:
            home_of[g] = big
    moved = 0
    for g in np.unique(roots[1:]):
        home_group = home_of.get(g, main[comp_of[g]])
        if g == home_group or group_size[g] * voxel_ml < MIN_ML:
            continue
        part = np.isin(basins, np.where(roots == g)[0]) & m
        level = float(np.median(img[part & (deep > 0)])) if (part & (deep > 0)).any() else float(core[g])
        home = np.isin(basins, np.where(roots == home_group)[0]) & (deep > 0)
        home_hu = float(np.median(img[home])) if home.any() else level
        if abs(level - home_hu) <= tolerance:
            continue  # the same blood beyond a basin of mixed enhancement: the same vessel
        target = _open_neighbour(part, s, d, img, label, float(radius[roots == g].max()), level, tolerance)
        if split_mixed and target == 0:
            # opening onto no chamber or vessel of its blood: it may straddle this vessel and another
            home_all = np.isin(basins, np.where(roots == home_group)[0]) & m
            part, level = _split_mixed(part, home_all, img, d, home_hu, level, tolerance)
            if part.sum() * voxel_ml < MIN_ML:
                continue
            target = _open_neighbour(
                part, s, d, img, label, float(radius[roots == g].max()), level, tolerance
            )
        if target == lbl.RA and to_lps is not None:
            offset = [int(sl.start) for sl in box]
            z_part = to_lps((np.argwhere(part) + offset)[:, ::-1].mean(0, keepdims=True))[0][2]
            z_ra = to_lps(np.argwhere(seg == lbl.RA)[:, ::-1].mean(0, keepdims=True))[0][2]
            target = lbl.value_of("superior_vena_cava" if z_part > z_ra else "inferior_vena_cava")
        s[part] = target
        moved += int(part.sum())
        logger.info(
            "label %d: %.1f ml (r %.1f mm, %.0f HU; main lumen %.0f HU) not one lumen with it -> label %d",
            label,
            part.sum() * voxel_ml,
            float(radius[roots == g].max()),
            level,
            home_hu,
            target,
        )
    return moved


def _split_mixed(
    part: np.ndarray,
    home: np.ndarray,
    img: np.ndarray,
    d: np.ndarray,
    home_hu: float,
    level: float,
    tolerance: float,
) -> tuple[np.ndarray, float]:
    """The voxels of ``part`` that are not the main lumen's blood, and their interior HU.

    A basin may straddle two vessels (a pulmonary artery branch and a vein beside it near the edge
    of the scan): its median is then between the two bloods and the whole basin would leave. Where
    ``part`` holds blood of two enhancements (its upper and lower tenth of interior HU apart by more
    than 4 ``tolerance``), it is split half-way between the main lumen's HU and the other blood's;
    the main-lumen-like voxels connected to the main lumen ``home`` stay with it."""
    inner = part & (d >= 1.5)
    if inner.sum() < 20:
        return part, level
    lo, hi = np.percentile(img[inner], [10, 90])
    if hi - lo < 4 * tolerance:
        return part, level
    other = hi if level > home_hu else lo
    cut = 0.5 * (home_hu + other)
    like = part & ((img < cut) if other > home_hu else (img > cut))
    comp, n = ndi.label(like | home)
    keep = np.isin(comp, np.unique(comp[home])) & like
    rest = part & ~keep
    rest_inner = rest & (d >= 1.5)
    new_level = float(np.median(img[rest_inner])) if rest_inner.any() else level
    return rest, new_level


def _saddles(basins: np.ndarray, d: np.ndarray) -> dict[tuple[int, int], float]:
    """Neck radius (largest distance on the shared border) of each pair of touching basins."""
    out: dict[tuple[int, int], float] = {}
    for axis in range(3):
        a, b = np.moveaxis(basins, axis, 0), np.moveaxis(d, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        sel = (lo != hi) & (lo > 0) & (hi > 0)
        if not sel.any():
            continue
        val = np.minimum(b[:-1].ravel()[sel], b[1:].ravel()[sel])
        p, q = np.minimum(lo[sel], hi[sel]), np.maximum(lo[sel], hi[sel])
        key = p.astype(np.int64) * (basins.max() + 1) + q
        order = np.argsort(key)
        key, val = key[order], val[order]
        uniq, start = np.unique(key, return_index=True)
        best = np.maximum.reduceat(val, start)
        for k, v in zip(uniq, best):
            pair = (int(k // (basins.max() + 1)), int(k % (basins.max() + 1)))
            out[pair] = max(out.get(pair, 0.0), float(v))
    return out


def _open_neighbour(
    part: np.ndarray,
    s: np.ndarray,
    d: np.ndarray,
    img: np.ndarray,
    label: int,
    radius: float,
    level: float,
    tolerance: float,
) -> int:
    """The other label that ``part`` opens widely onto (neck >= OPEN_RATIO of its radius) and whose
    blood next to it is enhanced like ``level`` (HU, within ``tolerance``), else 0."""
    ring = ndi.binary_dilation(part) & ~part & (s != label) & (s > 0)
    if not ring.any():
        return 0
    labs = s[ring]
    best, width = 0, 0.0
    for lab in np.unique(labs):
        near = labs == lab
        w = float(d[ring][near].max())
        hu = float(np.median(img[ring][near]))
        if w > width and w >= OPEN_RATIO * radius and abs(hu - level) <= 2 * tolerance:
            best, width = int(lab), w
    return best
