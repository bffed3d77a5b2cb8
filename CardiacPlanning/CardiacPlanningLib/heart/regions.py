"""The opacified blood pool split into convex pieces (chambers, vessel segments) at its narrow necks.

Pieces come from a marker-controlled watershed of the negated distance map of the blood mask: valve
planes and vessel ostia are the narrow necks between the large inscribed spheres of chambers
(Beucher & Meyer 1993, the classical way to split touching blobs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

MIN_HEART_RADIUS_MM = 12.0
MIN_HEART_ML = 60.0
CORE_DEPTH_MM = 2.0


@dataclass
class Region:
    """One watershed piece: id, voxel count, centroid (LPS mm), inscribed radius (mm), mean HU."""

    rid: int
    voxels: int
    centroid: np.ndarray
    radius: float
    mean_hu: float
    z_extent_mm: float
    neighbours: dict[int, int]
    component: int = 0
    hu_std: float = 0.0
    hu_iqr: float = 0.0
    core_hu: float = 0.0  # mean HU of the voxels >= CORE_DEPTH_MM inside (no partial volume)

    def ml(self, voxel_ml: float) -> float:
        return self.voxels * voxel_ml


def blood_mask(image: np.ndarray, threshold: float, spacing_mm: float) -> np.ndarray:
    """Voxels brighter than ``threshold`` (HU) after light smoothing
    and thin bridges (one voxel) opened."""
    smooth = ndi.gaussian_filter(image.astype(np.float32), 0.6)
    mask = smooth > threshold
    return ndi.binary_opening(mask, structure=ndi.generate_binary_structure(3, 1))


def near_components(
    blood: np.ndarray, heart: np.ndarray, spacing_mm: float, reach_mm: float = 30.0
) -> np.ndarray:
    """Blood components of at least 3 ml with a voxel within ``reach_mm`` of the heart component
    (great arteries behind closed valves, a descending aorta below the field of view's arch)."""
    near = ndi.distance_transform_edt(~heart) * spacing_mm <= reach_mm
    lab, n = ndi.label(blood)
    sizes = np.bincount(lab.ravel()) * spacing_mm**3 / 1000.0
    hits = np.unique(lab[near & blood])
    keep = [c for c in hits if c > 0 and sizes[c] >= 3.0]
    return np.isin(lab, keep) | heart


def heart_component(blood: np.ndarray, spacing_mm: float, voxel_ml: float, name: str) -> np.ndarray:
    """The connected blood component holding the heart: the largest one that contains a sphere of
    radius >= MIN_HEART_RADIUS_MM (chambers); raises :class:`CardiacInputError` if there is none."""
    lab, n = ndi.label(blood)
    if n == 0:
        raise CardiacInputError(f"{name}: no contrast-enhanced blood pool; is this a cardiac CTA?")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    for rid in np.argsort(sizes)[::-1][:5]:
        if rid == 0 or sizes[rid] * voxel_ml < MIN_HEART_ML:
            break
        comp = lab == rid
        radius = ndi.distance_transform_edt(comp).max() * spacing_mm
        if radius >= MIN_HEART_RADIUS_MM:
            return comp
    raise CardiacInputError(
        f"{name}: no heart found (no opacified blood region of >= {MIN_HEART_ML:.0f} ml holding a "
        f"{MIN_HEART_RADIUS_MM:.0f} mm sphere); check that the image covers the heart"
    )


def split_pool(
    pool: np.ndarray, image: np.ndarray, spacing_mm: float, to_lps, min_gap_mm: float = 13.0
) -> tuple[np.ndarray, list[Region]]:
    """Watershed split of the blood pool. ``to_lps`` maps (N, 3) (x, y, z) indices to LPS mm.

    Returns the region id map (0 outside) and the regions with centroids, radii and neighbour
    contact counts (shared face voxels)."""
    dist = ndi.distance_transform_edt(pool) * spacing_mm
    peaks = peak_local_max(
        dist,
        min_distance=max(1, int(round(min_gap_mm / spacing_mm))),
        threshold_abs=4.0,
        labels=pool.astype(np.int32),
        exclude_border=False,
    )
    markers = np.zeros(pool.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    ids = watershed(-dist, markers, mask=pool)
    regions = describe_pieces(ids, pool, image, dist, spacing_mm, to_lps)
    logger.info("blood pool split into %d regions", len(regions))
    return ids, regions


def describe_pieces(
    ids: np.ndarray, pool: np.ndarray, image: np.ndarray, dist: np.ndarray, spacing_mm: float, to_lps
) -> list[Region]:
    """The :class:`Region` of every piece of the id map ``ids`` (1..n; ``dist``: the pool's distance
    map in mm)."""
    n = int(ids.max())
    index = np.arange(1, n + 1)
    counts = np.bincount(ids.ravel(), minlength=n + 1)
    zz, yy, xx = np.indices(pool.shape, sparse=True)
    cen = np.stack(
        [
            ndi.sum(np.broadcast_to(c, pool.shape), ids, index) / np.maximum(counts[1:], 1)
            for c in (xx, yy, zz)
        ],
        axis=1,
    )
    radius = ndi.maximum(dist, ids, index)
    hu = ndi.mean(image, ids, index)
    inner = np.where(dist >= CORE_DEPTH_MM, ids, 0)
    inner_n = np.bincount(inner.ravel(), minlength=n + 1)[1:]
    core_hu = np.where(inner_n > 0, ndi.sum(image, inner, index) / np.maximum(inner_n, 1), hu)
    hu_std = ndi.standard_deviation(image, ids, index)
    hu_iqr = _iqr_per_label(image, ids, n)
    zmin = ndi.minimum(np.broadcast_to(zz, pool.shape), ids, index)
    zmax = ndi.maximum(np.broadcast_to(zz, pool.shape), ids, index)
    contacts = _contacts(ids)
    comp, _ = ndi.label(pool)
    comp_of = ndi.maximum(comp, ids, index)
    lps = to_lps(cen)
    regions = [
        Region(
            i,
            int(counts[i]),
            lps[i - 1],
            float(radius[i - 1]),
            float(hu[i - 1]),
            float((zmax[i - 1] - zmin[i - 1] + 1) * spacing_mm),
            contacts.get(i, {}),
            int(comp_of[i - 1]),
            float(hu_std[i - 1]),
            float(hu_iqr[i]),
            float(core_hu[i - 1]),
        )
        for i in index
    ]
    return regions


def _iqr_per_label(image: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Interquartile range of HU per id (index = id; 0 unused), by one sort of the labelled voxels."""
    sel = ids > 0
    lab, val = ids[sel], image[sel]
    order = np.lexsort((val, lab))
    lab, val = lab[order], val[order]
    counts = np.bincount(lab, minlength=n + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.zeros(n + 1)
    ok = counts > 0
    q1 = starts + (0.25 * (counts - 1)).astype(int)
    q3 = starts + (0.75 * (counts - 1)).astype(int)
    out[ok] = val[q3[ok]] - val[q1[ok]]
    return out


def _contacts(ids: np.ndarray) -> dict[int, dict[int, int]]:
    """Face contacts between different non-zero ids along the three axes."""
    out: dict[int, dict[int, int]] = {}
    for axis in range(3):
        a = np.moveaxis(ids, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        sel = (lo != hi) & (lo > 0) & (hi > 0)
        pairs, cnt = np.unique(np.stack([lo[sel], hi[sel]], 1), axis=0, return_counts=True)
        for (p, q), c in zip(pairs, cnt):
            for u, v in ((int(p), int(q)), (int(q), int(p))):
                out.setdefault(u, {})
                out[u][v] = out[u].get(v, 0) + int(c)
    return out
