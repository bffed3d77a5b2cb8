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


def cross_section_radii(
    volume: Volume,
    points: np.ndarray,
    guess_mm: np.ndarray,
    blood_hu: float,
    step_mm: float = 0.15,
) -> np.ndarray:
    """Radius (mm) at each centerline point (LPS mm); ``guess_mm`` sets the sampled extent."""
    pts = np.asarray(points, float)
    guess = np.asarray(guess_mm, float)
    if len(pts) == 0:
        return np.zeros(0)
    if len(pts) > 64:  # bounded memory: the planes of 64 points at a time
        return np.concatenate(
            [
                cross_section_radii(volume, pts[i : i + 64], guess[i : i + 64], blood_hu, step_mm)
                for i in range(0, len(pts), 64)
            ]
        )
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
    vals = ndi.map_coordinates(volume.array.astype(np.float32), ijk[:, ::-1].T, order=1, cval=-1000.0)
    vals = vals.reshape(len(pts), len(g), len(g))
    c = len(g) // 2
    out = np.empty(len(pts))
    for i in range(len(pts)):
        r_out = min(2.0 * guess[i] + 1.0, ext)
        ring = vals[i][(rr >= r_out) & (rr <= r_out + 1.0)]
        bg = float(np.clip(np.median(ring) if ring.size else 0.0, -100.0, 0.3 * blood_hu))
        lumen = (vals[i] > 0.5 * (blood_hu + bg)) & (rr <= r_out)
        if not lumen[c, c]:
            near = lumen & (rr <= max(guess[i], step_mm * 2))
            if not near.any():
                out[i] = guess[i]
                continue
            seed = np.unravel_index(np.argmin(np.where(near, rr, np.inf)), rr.shape)
        else:
            seed = (c, c)
        lab, _ = ndi.label(lumen)
        area = float(np.count_nonzero(lab == lab[seed])) * step_mm**2
        out[i] = np.sqrt(area / np.pi)
    return out
