"""The constrained non-rigid step of the propagation: per-ring radial scaling of a device's metal.

A balloon-expandable frame or a coronary stent is plastically deformed and keeps its shape over the
cycle, but a self-expanding (nitinol) frame keeps pressing outwards and follows part of the
annulus' radial change over the cycle (a few per cent; the phantom bounds it at 3 %, see
``phantom.device_motion``). After the rigid registration of the metal (:mod:`.register`) the
frame's rings are therefore allowed to scale radially about the device axis, each ring on its own
but only by a small amount, and only the metal decides it:

* the metal voxels of both phases (excess images, HU above the local background; the phase's moved
  back into the reference frame by the inverse of the rigid pose) in curved axis coordinates
  ``(s, rho, theta)`` about the chosen reconstruction's axis;
* per ring (an axial band of ``ring_mm``) and angular sector, the excess²-weighted mean distance
  from the axis, relative to the envelope radius at the same arc length, of the metal within
  ``BAND_MM`` of the envelope (for the phase: of the envelope scaled by the current estimate, three
  rounds); the ratio phase / reference is that cell's scale;
* a ring's scale is the median over its sectors (a bright cluster in one sector, e.g. calcium
  against the frame, is outvoted); the global scale (median over all cells) is clipped to
  ``1 +- max_change`` and each ring to within ``ring_spread`` of it (one frame: its rings change
  alike; where the reference reconstruction misses the envelope, e.g. the flared outflow of a
  self-expanding frame, the band truncates the metal and biases that ring); rings with too few
  sectors of metal take the global scale;
* ``k(s)`` is interpolated linearly between the ring centres (constant past the end rings).

The first version matched intensities (normalised cross-correlation of the reference metal, scaled,
against the phase's): exact on a radially scaled copy of an image, but on frames rendered at a 3 %
larger radius (same strut thickness and blooming) it found only 1.022-1.025 of the true 1.031; the
weighted mean distance found 1.029 (``Testing/test_stent_propagate.py``'s frame).

Points are LPS mm; scales are dimensionless (1 = unchanged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..imaging.volume import Volume
from .adjust import map_reconstruction
from .axis import CurvedAxis
from .geometry import Reconstruction

logger = logging.getLogger(__name__)

BAND_MM = 2.5  # metal counted within this of the (scaled) envelope radius


@dataclass
class RadialScaling:
    """Radial scale ``k`` at arc lengths ``s`` (mm) of ``axis`` (the reference reconstruction's
    axis, LPS mm; ring centres), plus the global scale (median over all rings and sectors)."""

    axis: np.ndarray
    s: np.ndarray
    k: np.ndarray
    global_k: float

    def at(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self.s, self.k)

    def to_json(self) -> dict:
        return {
            "ringCentresMm": np.round(self.s, 3).tolist(),
            "radialScale": np.round(self.k, 5).tolist(),
            "globalScale": round(self.global_k, 5),
        }


def _metal_coordinates(image: Volume, pose, axis: CurvedAxis) -> tuple[np.ndarray, ...]:
    """Curved coordinates (s, rho, theta) about ``axis`` (reference frame) and weights (excess²) of
    the metal voxels of an excess ``image``; ``pose`` (R, t) maps the reference frame onto the
    image's (its inverse is applied to the voxel positions)."""
    arr = np.asarray(image.array, np.float32)
    kji = np.argwhere(arr > 0)
    e = arr[tuple(kji.T)].astype(float)
    rot, t = pose
    p = (image.index_to_lps(kji[:, ::-1].astype(float)) - np.asarray(t, float)) @ np.asarray(rot, float)
    s, x, y = axis.project(p)
    return s, np.hypot(x, y), np.arctan2(y, x), e * e


def _moments(s, rho, theta, w, radius, k, n_rings, length, sectors):
    """Per (ring, sector): weighted mean of rho / radius (the distance from the axis relative to the
    envelope radius at the point's arc length, so that on a flared or waisted frame an axial shift
    of the metal within a ring does not read as a radial change) and total weight of the points
    within ``BAND_MM`` of ``k`` times the radius."""
    sel = (s >= 0) & (s <= length) & (np.abs(rho - k * radius) < BAND_MM)
    ring = np.clip((s[sel] / max(length, 1e-6) * n_rings).astype(int), 0, n_rings - 1)
    sector = ((theta[sel] + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
    cell = ring * sectors + sector
    tot = np.bincount(cell, w[sel], n_rings * sectors)
    rel = rho[sel] / np.maximum(radius[sel], 1e-6)
    mean = np.bincount(cell, w[sel] * rel, n_rings * sectors) / np.maximum(tot, 1e-12)
    return mean.reshape(n_rings, sectors), tot.reshape(n_rings, sectors)


def radial_scaling(
    reference: Volume,
    phase: Volume,
    axis_points: np.ndarray,
    radius_profile: np.ndarray,
    pose: tuple[np.ndarray, np.ndarray],
    ring_mm: float = 6.0,
    max_change: float = 0.05,
    sectors: int = 12,
    ring_spread: float = 0.02,
) -> RadialScaling:
    """Per-ring radial scale of the metal ``reference`` (excess image at the reference phase) that
    best matches ``phase`` (excess image at the phase) after the rigid ``pose`` (R, t: reference
    point x lies at R x + t); see the module docstring. ``axis_points`` / ``radius_profile``: the
    reference reconstruction's axis (K, 3) LPS mm and radii (K,) mm."""
    axis_points = np.asarray(axis_points, float)
    axis = CurvedAxis(axis_points, step_mm=0.2)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(axis_points, axis=0), axis=1))])
    n_rings = max(int(round(axis.length / ring_mm)), 1)
    ref = _metal_coordinates(reference, (np.eye(3), np.zeros(3)), axis)
    ph = _metal_coordinates(phase, pose, axis)
    r_ref = np.interp(np.clip(ref[0], 0.0, axis.length), arc, radius_profile)
    r_ph = np.interp(np.clip(ph[0], 0.0, axis.length), arc, radius_profile)
    m_ref, w_ref = _moments(*ref, r_ref, 1.0, n_rings, axis.length, sectors)
    k_ring, k_global = np.ones(n_rings), 1.0
    for _ in range(3):  # the phase's band follows the estimate (no truncation at its edges)
        m_ph, w_ph = _moments(
            *ph,
            r_ph,
            k_ring[np.clip((ph[0] / axis.length * n_rings).astype(int), 0, n_rings - 1)],
            n_rings,
            axis.length,
            sectors,
        )
        ok = (w_ref > 0.2 * np.median(w_ref[w_ref > 0])) & (w_ph > 0.2 * np.median(w_ph[w_ph > 0]))
        ratio = np.where(ok, m_ph / np.maximum(m_ref, 1e-6), np.nan)
        if not ok.any():
            break
        k_global = float(np.clip(np.nanmedian(ratio), 1 - max_change, 1 + max_change))
        k_ring = np.array(
            [np.nanmedian(row) if np.isfinite(row).sum() >= sectors // 3 else k_global for row in ratio]
        )
        k_ring = np.clip(k_ring, k_global - ring_spread, k_global + ring_spread)
    centres = (np.arange(n_rings) + 0.5) * axis.length / n_rings
    logger.info("radial scaling: global %.4f, rings %s", k_global, np.round(k_ring, 4).tolist())
    return RadialScaling(axis_points, centres, k_ring, k_global)


def radially_scaled(rec: Reconstruction, scaling: RadialScaling) -> Reconstruction:
    """``rec`` (at the reference phase) with every point moved radially about ``scaling.axis``:
    curved coordinates (s, x, y) -> (s, k(s) x, k(s) y); the radius profile scaled likewise."""
    axis = CurvedAxis(scaling.axis, step_mm=0.1)

    def fn(p: np.ndarray) -> np.ndarray:
        s, x, y = axis.project(p)
        _, _, n1, n2 = axis.at(s)
        # (k - 1) times the offset perpendicular to the axis: exactly the identity at k = 1
        return p + (scaling.at(s) - 1.0)[:, None] * (x[:, None] * n1 + y[:, None] * n2)

    k_axis = scaling.at(axis.project(np.asarray(rec.axis, float))[0])
    return map_reconstruction(rec, fn, radius=np.asarray(rec.radius_profile, float) * k_axis)
