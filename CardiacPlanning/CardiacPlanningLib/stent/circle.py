"""Robust weighted circle fits to 2-D point clouds (a stent's metal in one slab across its axis; mm).

Algebraic start (Kasa 1976, "A circle fitting procedure and its error analysis", IEEE Trans. Instrum.
Meas. 25(1)), then geometric least squares with a soft-L1 loss and an analytic Jacobian, points
beyond 3 MAD of the residuals dropped (twice). Optionally the weights are equalised over angular
sectors about the current centre, so that a bright cluster on one side (calcium against a coronary
stent's struts) weighs no more than any other part of the circumference.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize


def kasa(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Algebraic weighted circle fit (Kasa 1976): (a, b, r)."""
    sw = np.sqrt(w)
    A = np.stack([2 * x, 2 * y, np.ones_like(x)], 1) * sw[:, None]
    sol, *_ = np.linalg.lstsq(A, (x * x + y * y) * sw, rcond=None)
    a, b = sol[0], sol[1]
    return np.array([a, b, np.sqrt(max(sol[2] + a * a + b * b, 1e-6))])


def equalised_weights(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, a: float, b: float, sectors: int
) -> np.ndarray:
    """Weights rescaled so that every occupied angular sector about (a, b) carries the same total:
    one bright cluster on one side of a ring (calcium against the struts) then counts as much as any
    other part of the circumference instead of dominating the fit."""
    k = ((np.arctan2(y - b, x - a) + np.pi) / (2 * np.pi) * sectors).astype(int) % sectors
    tot = np.bincount(k, w, minlength=sectors)
    return w / np.maximum(tot[k], 1e-12) * (w.sum() / max(int((tot > 0).sum()), 1))


def circle_fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, sectors: int = 0
) -> tuple[float, float, float] | None:
    """Robust weighted circle (a, b, r) through 2-D points; None when under-determined. ``sectors``
    > 0 equalises the weight of that many angular sectors about the current centre (see
    :func:`equalised_weights`) at every step."""
    if len(x) < 6:
        return None
    w0 = w
    p = kasa(x, y, w)
    if sectors:
        for _ in range(2):
            w = equalised_weights(x, y, w0, p[0], p[1], sectors)
            p = kasa(x, y, w)
    sw = np.sqrt(w)
    keep = np.ones(len(x), bool)
    for _ in range(2):

        def res(q, keep=keep, sw=sw):
            return sw[keep] * (np.hypot(x[keep] - q[0], y[keep] - q[1]) - q[2])

        def jac(q, keep=keep, sw=sw):
            dx, dy = x[keep] - q[0], y[keep] - q[1]
            d = np.maximum(np.hypot(dx, dy), 1e-9)
            return -sw[keep][:, None] * np.stack([dx / d, dy / d, np.ones_like(d)], 1)

        p = optimize.least_squares(res, p, jac=jac, loss="soft_l1", f_scale=0.5).x
        e = np.hypot(x - p[0], y - p[1]) - p[2]
        mad = 1.4826 * np.median(np.abs(e - np.median(e))) + 1e-3
        keep = np.abs(e - np.median(e)) <= 3 * mad
        if keep.sum() < 6:
            break
        if sectors:
            sw = np.sqrt(equalised_weights(x, y, w0, p[0], p[1], sectors))
    ang = np.arctan2(y - p[1], x - p[0])
    if np.ptp(np.unwrap(np.sort(ang))) < np.pi:  # points on less than half a circle
        return None
    # Weights e^2 (excess squared) of voxels make a blurred ring's weighted point density
    # ~ exp(-(rho - r)^2 / sigma^2) (the rho of the area element cancels the 1/sqrt(rho) of the blurred
    # ring's profile), so the least-squares radius is unbiased to first order.
    return float(p[0]), float(p[1]), float(abs(p[2]))
