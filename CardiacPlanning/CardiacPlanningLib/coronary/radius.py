"""Lumen radius along a centerline from the cross-sectional area at the half-contrast level.

At each point the image is resampled (trilinear) on a plane normal to the centerline; the lumen is
the region connected to the centre above ``(blood + background) / 2`` HU, background being the median
of a ring outside the vessel (clipped to [-100, 0.3 blood] HU). Radius = sqrt(area / pi): sub-voxel,
unlike the distance transform of the voxel mask.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from ..imaging.volume import Volume

logger = logging.getLogger(__name__)


def _normals(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tan = np.gradient(points, axis=0) if len(points) > 1 else np.array([[0.0, 0.0, 1.0]])
    tan /= np.maximum(np.linalg.norm(tan, axis=1, keepdims=True), 1e-9)
    ref = np.where(np.abs(tan[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(tan, ref)
    u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-9)
    return u, np.cross(tan, u)


def cross_sections(
    volume: Volume,
    points: np.ndarray,
    guess_mm: np.ndarray,
    blood_hu: float,
    step_mm: float = 0.15,
    partial_volume: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At each centerline point (LPS mm): (radius mm, lumen centroid LPS mm, clean) where ``clean``
    is False when the lumen region reaches the edge of the sampled disc (a bifurcation, the aortic
    root, a neighbouring bright structure) so its centroid is not the vessel's.

    Radius: sqrt(area / pi) of the region above the half-contrast level, or with ``partial_volume``
    of the contrast mass ``sum clip((I - bg) / (blood - bg), 0, 1.5) dA`` over that region widened by
    twice the voxel size (the blur tails; other bright regions excluded): blurring keeps the mass, so
    small and narrowed lumens are not under-measured as they are at the half level."""
    pts = np.asarray(points, float)
    guess = np.asarray(guess_mm, float)
    if len(pts) == 0:
        return np.zeros(0), np.zeros((0, 3)), np.zeros(0, bool)
    if len(pts) > 64:  # bounded memory: the planes of 64 points at a time
        parts = [
            cross_sections(volume, pts[i : i + 64], guess[i : i + 64], blood_hu, step_mm, partial_volume)
            for i in range(0, len(pts), 64)
        ]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))
    u, v = _normals(pts)
    ext = float(np.clip(2.0 * guess.max() + 1.5, 2.0, 8.0))
    g = np.arange(-ext, ext + 1e-9, step_mm)
    a, b = np.meshgrid(g, g, indexing="ij")
    rr = np.hypot(a, b)
    grid = (
        pts[:, None, None, :]
        + a[None, ..., None] * u[:, None, None, :]
        + b[None, ..., None] * v[:, None, None, :]
    )
    ijk = volume.lps_to_index(grid.reshape(-1, 3))
    vals = ndi.map_coordinates(volume.array, ijk[:, ::-1].T, order=1, cval=-1000.0, output=np.float32)
    vals = vals.reshape(len(pts), len(g), len(g))
    c = len(g) // 2
    tail_mm = 2.0 * float(max(volume.spacing))
    radius = np.empty(len(pts))
    centre = pts.copy()
    clean = np.zeros(len(pts), bool)
    for i in range(len(pts)):
        r_out = min(2.0 * guess[i] + 1.0, ext)
        ring = vals[i][(rr >= r_out) & (rr <= r_out + 1.0)]
        bg = float(np.clip(np.median(ring) if ring.size else 0.0, -100.0, 0.3 * blood_hu))
        lumen = (vals[i] > 0.5 * (blood_hu + bg)) & (rr <= r_out)
        if not lumen[c, c]:
            near = lumen & (rr <= max(guess[i], step_mm * 2))
            if not near.any():
                radius[i] = guess[i]
                continue
            seed = np.unravel_index(np.argmin(np.where(near, rr, np.inf)), rr.shape)
        else:
            seed = (c, c)
        lab, _ = ndi.label(lumen)
        region = lab == lab[seed]
        area = float(np.count_nonzero(region)) * step_mm**2
        radius[i] = np.sqrt(area / np.pi)
        clean[i] = not (region & (rr > r_out - 2.0 * step_mm)).any()
        if partial_volume:
            tails = ndi.distance_transform_edt(~region, sampling=step_mm) <= tail_mm
            others = ndi.distance_transform_edt((lab == 0) | region, sampling=step_mm) <= tail_mm
            zone = tails & ~others & (rr <= ext)
            w = np.clip((vals[i][zone] - bg) / max(blood_hu - bg, 1.0), 0.0, 1.5)
            radius[i] = np.sqrt(float(w.sum()) * step_mm**2 / np.pi)
        if clean[i]:
            centre[i] = pts[i] + a[region].mean() * u[i] + b[region].mean() * v[i]
    return radius, centre, clean


def cross_section_radii(
    volume: Volume,
    points: np.ndarray,
    guess_mm: np.ndarray,
    blood_hu: float,
    step_mm: float = 0.15,
) -> np.ndarray:
    """Radius (mm) at each centerline point (LPS mm); ``guess_mm`` sets the sampled extent."""
    return cross_sections(volume, points, guess_mm, blood_hu, step_mm)[0]


def refine_centerline(
    volume: Volume,
    points: np.ndarray,
    guess_mm: np.ndarray,
    blood_hu: float,
    iterations: int = 2,
    fixed_start: bool = True,
    smooth_mm: float = 1.5,
    max_root_mm: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-voxel centerline: move each point (LPS mm) to the centroid of its lumen cross-section
    (normal plane, half-contrast level), repeated ``iterations`` times; points whose section is not
    clean (bifurcation, aortic root) take the shift interpolated from their clean neighbours; the
    shifts are smoothed over ``smooth_mm`` of arc. Returns (points, radii mm)."""
    pts = np.asarray(points, float).copy()
    guess = np.asarray(guess_mm, float)
    if len(pts) < 4:
        return pts, cross_section_radii(volume, pts, guess, blood_hu)
    for _ in range(iterations):
        radius, centre, clean = cross_sections(volume, pts, guess, blood_hu)
        # a section much larger than its neighbours' is a junction: its centroid is pulled
        med = ndi.median_filter(radius, size=9, mode="nearest")
        clean &= radius <= 1.3 * med
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        if fixed_start:
            # from the ostium on the aortic wall the sections hold aortic lumen: the artery leaves the
            # aorta straight, so up to the first clean section (<= max_root_mm) it is a straight line
            clean[0] = True
            centre[0] = pts[0]
            k = int(np.argmax(clean[1:])) + 1 if clean[1:].any() else 0
            if 1 < k and s[k] <= max_root_mm:
                t = (s[1:k] / s[k])[:, None]
                centre[1:k] = pts[0] + t * (centre[k] - pts[0])
                clean[1:k] = True
        if clean.sum() < 2:
            break
        shift = centre - pts
        shift = np.stack([np.interp(s, s[clean], shift[clean, k]) for k in range(3)], axis=1)
        step = max(s[-1] / max(len(s) - 1, 1), 1e-3)
        half = max(int(round(0.5 * smooth_mm / step)), 1)
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        shift = np.stack(
            [np.convolve(np.pad(shift[:, k], half, mode="edge"), kernel, mode="valid") for k in range(3)],
            axis=1,
        )
        if fixed_start:
            shift[0] = 0.0
        pts = pts + shift
        guess = np.maximum(radius, 0.3)
    radius, _, clean = cross_sections(volume, pts, guess, blood_hu, partial_volume=True)
    # junction sections hold the side branch too: take the radius from the clean ones around them
    good = clean & (radius <= 1.2 * ndi.median_filter(radius, size=9, mode="nearest"))
    if good.sum() >= 2:
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        radius = np.where(good, radius, np.interp(s, s[good], radius[good]))
    return pts, radius
