"""Where the device is (a label of a label map, or points/box from a markups file) and which voxels
are metal there.

Metal detection is adaptive to the local blood pool: the region's own CT numbers give the blood level
(median of the lumen, or of the box), the noise sigma (MAD of neighbour differences) and the blood
tail p99 (99th percentile of the region's voxels below ``min_hu``); metal is
``HU > max(min_hu, blood_p99 + k * sigma)``. Bloomed struts of thin wires peak at ~900-1500 HU in a
0.5 mm CTA, so the floor ``min_hu`` defaults to 700 HU (450 HU for coronary stents); calcium
(typically 130-800 HU in the same images) next to the struts stays below it in most cases.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..errors import CardiacInputError
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

DEVICE_KINDS = ("coronary", "valve", "generic")
# Floor of the metal threshold per device kind (HU). Thin coronary struts (0.06-0.1 mm) fill a few %
# of a voxel and bloom to only ~200-300 HU above the lumen in a 0.4-0.5 mm CTA (measured on the
# phantom: peak 640 HU over a 400 HU lumen), so coronary relies on the adaptive term alone above 450.
METAL_FLOOR_HU = {"valve": 700.0, "generic": 700.0, "coronary": 450.0}
DEVICE_LABELS = (15, 16)  # coronary stent, valve frame (labels.json): part of the lumen for the wall
# Hysteresis (Canny 1986) for valve frames and generic devices: struts weaker than the threshold but
# connected to metal above it are kept when they stand out from the local background by at least
# this fraction of the threshold's contrast over blood. Thin single nitinol struts (0.3 mm) bloom to
# only ~+260 HU, and the outflow crown of a self-expanding frame rests on the aortic wall (a darker
# background than the blood), so the absolute threshold alone misses the ends of such frames.
WEAK_STRUT_FRACTION = 0.5
WEAK_STRUT_KINDS = ("valve", "generic")
WEAK_BACKGROUND_MM = 3.6  # grey opening box: removes bloomed struts (FWHM ~2 mm), keeps lumen and wall
WEAK_NEW_BAND_MM = 1.5  # weak voxels nearer than this to thresholded metal are its halo, not new struts
# Only for frames whose thresholded metal spans more than this along its principal axis (a
# self-expanding frame, 40-55 mm; balloon-expandable frames are 15-23 mm): on balloon-expandable
# tuning frames the added voxels (calcium and noise next to the struts) cost 0.005-0.025 mm.
WEAK_MIN_EXTENT_MM = 28.0
# Device kinds whose background outside the lumen label is the nearest metal-free voxel's level
# (``metal_excess(nearest_outside=True)``) even when the frame is short: a balloon-expandable
# frame's inflow sits on the LV outflow tract's blood/wall step below an aortic-root label just as a
# self-expanding frame's does (phantom balloon frames 31-36: inflow radius 0.5 mm short over its
# first 3 mm, mean distance 0.18-0.20 -> 0.09-0.11 mm; 2026-11-29).
NEAREST_OUTSIDE_KINDS = ("valve",)


class NoDeviceFoundError(CardiacInputError):
    """The region holds no voxel bright enough to be metal."""


@dataclass
class Region:
    """The cropped CT (``ct``), a boolean ``support`` mask [z, y, x] on its grid where metal is
    searched, and ``lumen`` (bool mask of the vessel / aortic root lumen, or None for a box region)
    whose boundary is the wall used for apposition. ``name`` names the input in messages."""

    ct: Volume
    support: np.ndarray
    lumen: np.ndarray | None
    name: str


@dataclass
class MetalDetection:
    """Metal voxels of a region: ``mask`` [z, y, x], ``threshold_hu`` and the blood statistics (HU)."""

    mask: np.ndarray
    threshold_hu: float
    blood_median_hu: float
    blood_sigma_hu: float
    blood_p99_hu: float
    excess: np.ndarray  # HU above the local non-metal background, within 2 mm of metal, else 0
    cache: dict = field(default_factory=dict, repr=False)  # shared intermediate fits (e.g. the axis)


def crop(volume: Volume, lo: np.ndarray, hi: np.ndarray) -> Volume:
    """The sub-volume of voxel index box ``lo..hi`` (inclusive, (k, j, i) order), same geometry."""
    lo = np.maximum(np.asarray(lo, int), 0)
    hi = np.minimum(np.asarray(hi, int), np.array(volume.shape) - 1)
    arr = volume.array[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1]
    origin = volume.index_to_lps(np.array([[lo[2], lo[1], lo[0]]], float))[0]
    return Volume(np.ascontiguousarray(arr), volume.spacing, tuple(origin), volume.direction)


def _margin_voxels(volume: Volume, margin_mm: float) -> np.ndarray:
    return np.ceil(margin_mm / np.asarray(volume.spacing, float)[::-1]).astype(int)  # (k, j, i)


def region_from_label(
    volume: Volume, labelmap: Volume, value: int, margin_mm: float = 4.0, name: str = "label map"
) -> Region:
    """Region of label ``value`` of ``labelmap`` (same grid as ``volume``), cropped with ``margin_mm``.

    The lumen is the label plus device labels (15, 16), holes filled; metal is searched within
    ``margin_mm`` of it (struts sit on the wall and bloom outwards)."""
    if not volume.same_geometry(labelmap):
        raise CardiacInputError(f"{name}: the label map is not on the grid of the image")
    lab = np.asarray(labelmap.array)
    sel = lab == int(value)
    if not sel.any():
        raise CardiacInputError(f"{name}: no voxel has label {value}")
    idx = np.argwhere(sel)
    m = _margin_voxels(volume, margin_mm)
    lo, hi = idx.min(0) - m, idx.max(0) + m
    ct = crop(volume, lo, hi)
    lo = np.maximum(lo, 0)
    sl = tuple(slice(a, a + n) for a, n in zip(lo, ct.shape, strict=True))
    lumen = (lab[sl] == int(value)) | np.isin(lab[sl], DEVICE_LABELS)
    lumen = ndimage.binary_fill_holes(ndimage.binary_closing(lumen, iterations=1))
    dist = ndimage.distance_transform_edt(~lumen, sampling=np.asarray(ct.spacing, float)[::-1])
    return Region(ct, dist <= margin_mm, lumen, f"{name} label {value}")


def region_from_points(
    volume: Volume, points_lps: np.ndarray, margin_mm: float = 4.0, name: str = "points"
) -> Region:
    """Region of the bounding box of LPS points (mm) enlarged by ``margin_mm``; no wall (lumen None)."""
    pts = np.asarray(points_lps, float).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) < 2:
        raise CardiacInputError(f"{name}: give at least two placed points (box corners or device ends)")
    volume.require_inside(pts, f"{name} point")
    ijk = volume.lps_to_index(pts)[:, ::-1]  # (k, j, i)
    m = _margin_voxels(volume, margin_mm)
    lo, hi = np.floor(ijk.min(0)).astype(int) - m, np.ceil(ijk.max(0)).astype(int) + m
    ct = crop(volume, lo, hi)
    return Region(ct, np.ones(ct.shape, bool), None, name)


def load_region(volume: Volume, path: str | Path, label: int | None = None, margin_mm: float = 4.0) -> Region:
    """Region from a file: a ``.mrk.json`` (all its points span a box) or a label map (with ``label``)."""
    path = Path(path)
    if not path.exists():
        raise CardiacInputError(f"region file {path} does not exist")
    if path.name.endswith(".mrk.json"):
        from ..markups import read_all_markups

        pts = np.vstack([m.points_lps[m.defined_mask] for m in read_all_markups(path)] or [np.zeros((0, 3))])
        return region_from_points(volume, pts, margin_mm, name=str(path))
    if label is None:
        raise CardiacInputError(f"region {path} is a label map: give the label value (--label)")
    return region_from_label(volume, Volume.read(path), label, margin_mm, name=str(path))


def detect_metal(
    region: Region, kind: str = "generic", min_hu: float | None = None, k: float = 4.0, min_voxels: int = 4
) -> MetalDetection:
    """Metal voxels of ``region``: HU > max(``min_hu``, blood p99 + ``k`` sigma), within the support;
    ``min_hu`` defaults to :data:`METAL_FLOOR_HU` of the device ``kind``.

    Raises :class:`NoDeviceFoundError` naming the region when fewer than ``min_voxels`` qualify."""
    if min_hu is None:
        min_hu = METAL_FLOOR_HU.get(kind, METAL_FLOOR_HU["generic"])
    ct = np.asarray(region.ct.array, dtype=np.float32)
    pool = region.lumen if region.lumen is not None and region.lumen.sum() > 50 else region.support
    vals = ct[pool]
    med = float(np.median(vals))
    # noise from neighbour differences (robust to tissue edges in a box); blood tail from the voxels
    # below the metal floor, so blooming halos and a second tissue do not inflate it
    diff = np.diff(ct, axis=2)
    sigma = max(1.4826 * float(np.median(np.abs(diff - np.median(diff)))) / np.sqrt(2.0), 1.0)
    below = vals[vals < min_hu]
    p99 = float(np.percentile(below, 99)) if len(below) else med
    thr = max(float(min_hu), p99 + k * sigma)
    mask = (ct > thr) & region.support
    if mask.sum() < min_voxels:
        raise NoDeviceFoundError(
            f"no device found in {region.name}: {int(mask.sum())} voxels above the metal threshold "
            f"{thr:.0f} HU (blood {med:.0f} +- {sigma:.0f} HU, max {ct[region.support].max():.0f} HU)"
        )
    # drop isolated specks (noise, small calcium): keep components of >= min_voxels voxels
    lab, n = ndimage.label(mask, ndimage.generate_binary_structure(3, 3))
    sizes = np.bincount(lab.ravel())
    keep = sizes >= min_voxels
    keep[0] = False
    mask = keep[lab]
    if not mask.any():
        raise NoDeviceFoundError(f"no device found in {region.name}: only isolated bright voxels")
    spacing = np.asarray(region.ct.spacing, float)[::-1]
    weak, local = None, None
    if kind in WEAK_STRUT_KINDS and _axial_extent_mm(region.ct, mask) > WEAK_MIN_EXTENT_MM:
        weak, local = weak_struts(ct, mask, region.support, WEAK_STRUT_FRACTION * (thr - med), spacing)
    full = mask | weak if weak is not None else mask
    nearest = weak is not None or kind in NEAREST_OUTSIDE_KINDS
    excess = metal_excess(ct, full, spacing, med, region.lumen, nearest_outside=nearest)
    if weak is not None and weak.any():
        # a weak strut on the wall or outside the lumen label: its excess over the local (opening)
        # background; the lumen model takes the blood level there and sees little or none. Only
        # there: over thresholded metal the opening's excess is biased inwards at a wall step
        # (constructed balloon frame against its wall: radius 0.3 mm short).
        it = np.maximum(np.ceil(2.0 / spacing), 1).astype(int)
        near_weak = ndimage.maximum_filter(weak, size=tuple(2 * it + 1))
        near_strong = ndimage.maximum_filter(mask, size=tuple(2 * it + 1))
        quiet = region.support & ~(near_weak | near_strong)
        bias = float(np.median(local[quiet])) if quiet.sum() > 50 else 0.0
        local = np.maximum(local - bias, 0.0)
        excess = np.where(near_weak, np.maximum(excess, local), excess).astype(np.float32)
        logger.info("weak struts: %d voxels added to %d", int(weak.sum()), int(mask.sum()))
    logger.info("metal > %.0f HU: %d voxels in %s", thr, int(mask.sum()), region.name)
    detection = MetalDetection(full, thr, med, sigma, p99, excess)
    # a long (self-expanding) frame: its axis through the slab centres and its ends from the
    # lattice's periodic structure (algorithms)
    detection.cache["long_frame"] = weak is not None
    return detection


def _axial_extent_mm(ct: Volume, mask: np.ndarray) -> float:
    """Extent (mm) of the metal voxels along their (weighted-free) principal axis."""
    from .geometry import metal_points, principal_axis

    pts, _ = metal_points(ct, mask)
    c, t = principal_axis(pts)
    s = (pts - c) @ t
    return float(s.max() - s.min())


def weak_struts(
    ct: np.ndarray, mask: np.ndarray, support: np.ndarray, low_hu: float, spacing_kji: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(new strut voxels [z, y, x], local excess HU) by hysteresis: voxels more than ``low_hu`` above
    the local background (grey opening of the lightly smoothed image with a
    :data:`WEAK_BACKGROUND_MM` box, which removes thin bright struts but keeps the lumen, the wall
    and the step between them), connected (26-neighbourhood) to the thresholded ``mask``, within
    ``support``, and farther than :data:`WEAK_NEW_BAND_MM` from the thresholded metal (nearer, they
    are its blooming halo, already represented). The local excess (>= 0) is returned for them."""
    sp = np.asarray(spacing_kji, float)
    size = tuple(int(n) | 1 for n in np.ceil(WEAK_BACKGROUND_MM / sp).astype(int))
    smooth = ndimage.gaussian_filter(ct, 0.4 / sp)
    local = np.maximum(ct - ndimage.grey_opening(smooth, size=size), 0.0).astype(np.float32)
    candidate = ((local > low_hu) & support) | mask
    # connected through gaps of up to two voxels (a strut crossing the lumen's edge fades there)
    bridged = ndimage.binary_dilation(candidate, ndimage.generate_binary_structure(3, 3)) & support
    lab, _ = ndimage.label(bridged | mask, ndimage.generate_binary_structure(3, 3))
    ids = np.unique(lab[mask])
    grown = np.isin(lab, ids[ids > 0]) & candidate
    band = np.maximum(np.ceil(WEAK_NEW_BAND_MM / sp), 1).astype(int)
    near = ndimage.maximum_filter(mask, size=tuple(2 * band + 1))
    return grown & ~near, local


def metal_excess(
    ct: np.ndarray,
    mask: np.ndarray,
    spacing_kji: np.ndarray,
    fallback_hu: float,
    lumen: np.ndarray | None = None,
    near_mm: float = 2.0,
    psf_sigma_mm: float = 0.45,
    nearest_outside: bool = False,
) -> np.ndarray:
    """HU above the local background near the metal (0 elsewhere).

    With a lumen mask the background is a model: the lumen's and the wall's own levels (medians of
    their non-metal voxels) blurred by a scanner PSF (``psf_sigma_mm``), so the contrast step under a
    strut and the lumen inside a small stent are not taken for metal. Without one (a box) it is the
    normalised Gaussian convolution (sigma 1 mm) of the voxels farther than ``near_mm`` from metal.
    A constant blood level instead biased valve strut centres 0.28 mm inwards (0.5 mm grid).

    ``nearest_outside`` (self-expanding frames, the weak-strut path): outside the lumen label a voxel
    near metal takes the (smoothed) level of its *nearest* metal-free voxel instead of the Gaussian
    mixture of all of them. The inflow crown sits below the aortic label on the LV outflow tract's
    blood/wall step; the mixture put the blood just inside the struts ~+150 HU over its background,
    which pulled the fitted inflow radius 0.6-0.75 mm inwards and the end rule 3 mm past the crown.
    The nearest-voxel model places the step under the struts and the PSF blur keeps it symmetric."""
    it = np.maximum(np.ceil(near_mm / spacing_kji), 1).astype(int)
    near = ndimage.maximum_filter(mask, size=tuple(2 * it + 1))  # box dilation, separable
    far = ~near
    if lumen is not None and (lumen & ~mask).sum() > 20 and (~lumen & far).sum() > 20:
        # the lumen level away from the metal (vessel beyond the stent), else its lower quartile
        # near it (all of a coronary lumen inside a stent is lifted by the blooming)
        quiet = lumen & far
        inner = (
            float(np.median(ct[quiet])) if quiet.sum() > 50 else float(np.percentile(ct[lumen & ~mask], 25))
        )
        # outside the lumen label: the local level of the metal-free voxels (normalised Gaussian
        # convolution, 1 mm), so contrast-filled blood next to the label (e.g. the LV outflow tract
        # below an aortic label, where a valve frame's inflow sits) is not taken for metal
        out_far = (~lumen & far).astype(np.float32)
        sig = 1.0 / spacing_kji
        num = ndimage.gaussian_filter(ct * out_far, sig, mode="nearest")
        den = ndimage.gaussian_filter(out_far, sig, mode="nearest")
        outer_median = float(np.median(ct[~lumen & far]))
        outer = np.where(den > 0.05, num / np.maximum(den, 1e-6), outer_median)
        if nearest_outside:
            # Voronoi assignment to the metal-free voxels outside the label (a step under the struts)
            _, idx = ndimage.distance_transform_edt(
                ~(far & ~lumen), sampling=spacing_kji, return_indices=True
            )
            outer = np.where(far, outer, outer[tuple(idx)])
        model = np.where(lumen, inner, outer).astype(np.float32)
        bg = ndimage.gaussian_filter(model, psf_sigma_mm / spacing_kji, mode="nearest")
    else:
        sig = 1.0 / spacing_kji
        num = ndimage.gaussian_filter(ct * far, sig)
        den = ndimage.gaussian_filter(far.astype(np.float32), sig)
        bg = np.where(den > 1e-3, num / np.maximum(den, 1e-3), fallback_hu)
    return np.where(near, np.maximum(ct - bg, 0.0), 0.0).astype(np.float32)
