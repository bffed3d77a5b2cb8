"""Locate a ridge (a kink) in a diameter profile measured on a blurred image, e.g. the sinotubular
junction along the aortic root.

Why not the narrowest level: the STJ is a ridge where the sinus wall, falling steeply, meets the
nearly cylindrical tubular aorta. Every image (and the smoothed label mask the sections are taken
from) blurs the profile along the axis; blurring a kink between a steep and a shallow side moves
the minimum of the blurred profile towards the shallow side by up to about two blur widths, and on
a cylindrical tubular aorta the "narrowest level" is not defined at all.

Model: the true profile is a curved steep side and a straight shallow side meeting at the ridge
level ``k``, ``d(x) = c + a * m + q * m^2 + b * max(x - k, 0)`` with ``m = min(x - k, 0)``, seen
through a Gaussian blur of width ``sigma`` (mm). The steep side (the sinus wall) is curved: it falls
fastest where it meets the tube and bulges out below, a concave arc (``q <= 0``, its second-order
Taylor expansion at the ridge). A straight steep side (``q = 0``, the earlier two-line model) fitted
to such an arc crosses it, meets the shallow side above the true ridge and takes a blur narrower
than the image's (on the phantom's roots: ridge 0.1-0.3 mm high on the exact profile, 0.3-0.6 mm
on the label maps, blur 0.3-0.5 mm where the smoothing alone is 0.75 mm). With ``Z ~ N(0, sigma^2)``,
``u = x - k`` and ``z = u / sigma``:
``E[max(u + Z, 0)] = u * Phi(z) + sigma * phi(z)``, ``E[min(u + Z, 0)] = u - E[max(u + Z, 0)]`` and
``E[min(u + Z, 0)^2] = (u^2 + sigma^2) * Phi(-z) - u * sigma * phi(z)``; the blurred profile is linear
in ``(c, a, q, b)`` for fixed ``(k, sigma)``, so ``(k, sigma)`` are found by a grid search and
``(c, a, q, b)`` by least squares at each grid point, with ``q <= 0`` (where the free fit has
``q > 0`` the constrained optimum has ``q = 0``: the straight fit) and the bent side steeper than
the shallow side over the whole window (else the straight fit: a peak below the ridge is not a
sinus wall). The ridge of a blurred profile of this form is recovered without bias.
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
    ``slope_below`` / ``slope_above`` (unit per mm, at the ridge), ``curvature_below`` (``q``, unit
    per mm^2, <= 0), ``sigma_mm`` (fitted blur) and ``rms`` (fit residual, profile unit)."""

    level: float
    value: float
    slope_below: float
    slope_above: float
    sigma_mm: float
    rms: float
    curvature_below: float = 0.0


def _basis(x: np.ndarray, k: float, sigma: float) -> np.ndarray:
    """Columns (1, E[m], E[max(u, 0)], E[m^2]) of the blurred model (module docstring)."""
    u = x - k
    z = u / sigma
    phi = np.exp(-0.5 * z * z) / SQRT_2PI
    pos = u * ndtr(z) + sigma * phi
    sq = (u * u + sigma * sigma) * ndtr(-z) - u * sigma * phi
    return np.stack([np.ones_like(u), u - pos, pos, sq], axis=1)


def _lsq(basis: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coef (K, ncol), rss (K,)) of the least-squares fits of ``d`` on each of the K bases."""
    ncol = basis.shape[2]
    gram = np.einsum("kni,knj->kij", basis, basis) + 1e-9 * np.eye(ncol)
    coef = np.linalg.solve(gram, np.einsum("kni,n->ki", basis, d)[..., None])[..., 0]
    return coef, (((basis @ coef[..., None])[..., 0] - d) ** 2).sum(axis=1)


def _search(x, d, ks, sigmas, best):
    """Best (rss, k, sigma, coef (c, a, b, q)) over the grid ``ks`` x ``sigmas`` (waists only)."""
    for sigma in sigmas:
        basis = np.stack([_basis(x, float(k), float(sigma)) for k in ks])  # (K, n, 4)
        coef, rss = _lsq(basis, d)
        straight, rss3 = _lsq(basis[..., :3], d)  # q = 0: the constrained optimum where q > 0
        # the bent side must stay a waist over the whole window: steeper than the shallow side down
        # to the first sample (a peak below the ridge is not a sinus wall)
        lowest_slope = coef[:, 1] + 2.0 * coef[:, 3] * (x[0] - np.asarray(ks, dtype=float))
        bent = (coef[:, 3] <= 0.0) & (lowest_slope < coef[:, 2])
        coef = np.where(bent[:, None], coef, np.concatenate([straight, np.zeros((len(ks), 1))], 1))
        rss = np.where(bent, rss, rss3)
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
    """Fit the blurred ridge model (module docstring) to a profile ``d`` at positions ``x`` (mm,
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
    c, a, b, q = (float(v) for v in coef)
    return Ridge(k, c, a, b, sigma, float(np.sqrt(rss / len(x))), q)
