"""Locate a ridge (a kink) in a diameter profile measured on a blurred image, e.g. the sinotubular
junction along the aortic root.

Why not the narrowest level: the STJ is a ridge where the sinus wall, falling steeply, meets the
nearly cylindrical tubular aorta. Every image (and the smoothed label mask the sections are taken
from) blurs the profile along the axis; blurring a kink between a steep and a shallow side moves
the minimum of the blurred profile towards the shallow side by up to about two blur widths, and on
a cylindrical tubular aorta the "narrowest level" is not defined at all.

Model: the true profile is two lines meeting at the ridge level ``k``,
``d(x) = c + a * min(x - k, 0) + b * max(x - k, 0)``, seen through a Gaussian blur of width
``sigma`` (mm). With ``Z ~ N(0, sigma^2)`` and ``u = x - k``:
``E[max(u + Z, 0)] = u * Phi(u / sigma) + sigma * phi(u / sigma)`` and
``E[min(u + Z, 0)] = u - E[max(u + Z, 0)]``; the blurred profile is linear in ``(c, a, b)`` for
fixed ``(k, sigma)``, so ``(k, sigma)`` are found by a grid search and ``(c, a, b)`` by least
squares at each grid point (the ridge of a blurred two-line profile is recovered without bias).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

SQRT_2PI = np.sqrt(2 * np.pi)
SIGMAS_MM = tuple(np.round(np.arange(0.3, 2.51, 0.1), 2))  # blur widths searched


@dataclass
class Ridge:
    """A fitted ridge: ``level`` (mm), ``value`` (profile unit, the unblurred value at the ridge),
    ``slope_below`` / ``slope_above`` (unit per mm), ``sigma_mm`` (fitted blur) and ``rms`` (fit
    residual, profile unit)."""

    level: float
    value: float
    slope_below: float
    slope_above: float
    sigma_mm: float
    rms: float


def _basis(x: np.ndarray, k: float, sigma: float) -> np.ndarray:
    u = x - k
    pos = u * ndtr(u / sigma) + sigma * np.exp(-0.5 * (u / sigma) ** 2) / SQRT_2PI
    return np.stack([np.ones_like(u), u - pos, pos], axis=1)


def _search(x, d, ks, sigmas, best):
    """Best (rss, k, sigma, coef) over the grid ``ks`` x ``sigmas`` (waists only), or ``best``."""
    for sigma in sigmas:
        basis = np.stack([_basis(x, float(k), float(sigma)) for k in ks])  # (K, n, 3)
        gram = np.einsum("kni,knj->kij", basis, basis) + 1e-9 * np.eye(3)
        coef = np.linalg.solve(gram, np.einsum("kni,n->ki", basis, d)[..., None])[..., 0]
        rss = (((basis @ coef[..., None])[..., 0] - d) ** 2).sum(axis=1)
        rss[coef[:, 1] >= coef[:, 2]] = np.inf  # not a waist
        i = int(np.argmin(rss))
        if np.isfinite(rss[i]) and (best is None or rss[i] < best[0]):
            best = (float(rss[i]), float(ks[i]), float(sigma), coef[i])
    return best


def fit_ridge(
    x,
    d,
    *,
    sigmas=SIGMAS_MM,
    step_mm: float = 0.05,
    margin_mm: float = 1.0,
) -> Ridge:
    """Fit the blurred two-line model (module docstring) to a profile ``d`` at positions ``x`` (mm,
    increasing). The ridge is searched between ``margin_mm`` from either end. Only convex kinks
    (``slope_below < slope_above``, a waist) are accepted."""
    x = np.asarray(x, dtype=float)
    d = np.asarray(d, dtype=float)
    if x.ndim != 1 or x.shape != d.shape or len(x) < 6:
        raise CardiacInputError(f"a ridge fit needs at least 6 profile samples, got {len(x)}")
    lo, hi = x[0] + margin_mm, x[-1] - margin_mm
    if hi < lo:
        raise CardiacInputError("the profile is too short for a ridge fit")
    # coarse grid (0.25 mm, every second blur width), then the full grid around the best
    best = _search(x, d, np.arange(lo, hi + 1e-9, 0.25), np.asarray(sigmas)[::2], None)
    if best is not None:
        k0, s0 = best[1], best[2]
        ks = np.arange(max(lo, k0 - 0.5), min(hi, k0 + 0.5) + 1e-9, step_mm)
        near = [s for s in sigmas if abs(s - s0) <= 0.25]
        best = _search(x, d, ks, np.asarray(near), best)
    if best is None:
        raise CardiacInputError(
            "the profile has no waist (no level where a steeper fall meets a flatter part)"
        )
    rss, k, sigma, coef = best
    return Ridge(k, float(coef[0]), float(coef[1]), float(coef[2]), sigma, float(np.sqrt(rss / len(x))))
