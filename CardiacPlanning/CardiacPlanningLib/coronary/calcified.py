"""Lumen radius of a narrowed section beside a calcified plaque: a two-object blurred model.

A calcified plaque in the wall next to a narrowed lumen is blurred by the scanner's point-spread
function (PSF) into the lumen's own blur (blooming): a small plaque (0.6-0.8 mm radius at 850 HU,
1 mm PSF) peaks at about the blood HU, brighter than the narrowed lumen beside it, so the section
rules and a single blurred disc read lumen plus plaque as one wider lumen (and the traced centerline
is pulled towards the plaque, seed 56: 1.2 mm). Here the section is fitted with two blurred objects
on a planar background: the lumen, a uniform disc at the blood level, and the plaque, a uniform disc
denser than contrast blood (calcium: 400-1500 HU against blood 300-500 HU, so at least blood +
``PLAQUE_ABOVE_BLOOD_HU``) in the wall beside the lumen (its centre at lumen radius + plaque radius
+ a gap of at most ``WALL_MM`` from the lumen's). Both are blurred by the same isotropic Gaussian
(width from the vessel's healthy sections). For a plaque smaller than the PSF only its blurred mass
(HU x area) is determined, which the free plaque HU and radius express together; its disc stands
for the section through (z-blurred) calcium of any shape. The plaque starts at the section's
brightest spot (the plaque is brighter than a narrowed lumen) and stays within ``ANCHOR_MM`` of it;
the lumen may lie on any side of it. The section is read by this model only where it explains the
samples clearly better than the lumen alone (``PLAQUE_RATIO``) and the fit is not held at a bound.

This is the 2-D Gaussian-smoothed cylinder model of Woerz and Rohr ("Segmentation and
quantification of human vessels using a 3-D cylindrical intensity model", IEEE TIP 2007) with a
second, superposed blurred object of its own intensity.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import least_squares

from ..imaging.volume import Volume
from .radius import _disc_profile, _normals, _planes

# calcium in coronary CTA is at least this much denser than contrast blood (real plaques 400-1500
# HU against 300-500 HU blood; less dense calcium cannot be told from lumen by its HU)
PLAQUE_ABOVE_BLOOD_HU = 150.0
PLAQUE_MAX_MM = 2.0  # largest plaque radius in one section
CENTRE_MM = 0.8  # the lumen-alone fit's centre may move this far from the brightest spot
ANCHOR_MM = 0.6  # the plaque's centre stays this close to the brightest spot
# the plaque lies in the wall: at most this far from the lumen, and a fit held at that bound is no
# plaque (a bright structure farther out, a parent vessel or a vein: seed 51's OM2 origin). A
# section off the centre of a plaque of radius R cuts it at R - sqrt(R^2 - z^2) from the lumen
# (fresh seed 90, diagnosed after its run: a 1.26 mm plaque 0.5 mm out was held at a 0.5 mm bound)
WALL_MM = 1.0
BOUND_MARGIN_HU = 25.0  # a plaque density within this of its lower bound is held there
WINDOW_MM = 3.2  # fitted samples within lumen guess + this of the section centre (plaque + blur)
TABLE_STEP = 0.04
# a section is read by the two-object model where it leaves this fraction of the lumen-alone RMS misfit
PLAQUE_RATIO = 0.85


@functools.cache
def _profile_table() -> tuple[np.ndarray, float]:
    """Blurred-disc fraction (:func:`.radius._disc_profile`) tabulated on (distance / sigma, radius /
    sigma) every ``TABLE_STEP`` up to 20 and 10: the two-object fit evaluates it ~10^5 times."""
    q = np.arange(0.0, 20.0 + TABLE_STEP, TABLE_STEP)
    x = np.arange(0.0, 10.0 + TABLE_STEP, TABLE_STEP)
    return _disc_profile(q[:, None] ** 2, x[None, :], 1.0).astype(np.float64), TABLE_STEP


def _profile(rho2: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    table, step = _profile_table()
    qi = np.minimum(np.sqrt(rho2) / sigma / step, table.shape[0] - 1.001)
    xi = min(radius / sigma / step, table.shape[1] - 1.001)
    q0, x0 = qi.astype(int), int(xi)
    fq, fx = qi - q0, xi - x0
    lo = table[q0, x0] * (1.0 - fx) + table[q0, x0 + 1] * fx
    hi = table[q0 + 1, x0] * (1.0 - fx) + table[q0 + 1, x0 + 1] * fx
    return lo * (1.0 - fq) + hi * fq


def plaque_lumen_radii(
    volume: Volume,
    centres: np.ndarray,
    tangent: np.ndarray,
    guess_mm: np.ndarray,
    blood_hu: float,
    sigma_mm: float,
    step_mm: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per section (centre LPS mm, unit tangent): (lumen radius mm of the two-object model, lumen
    radius mm of the lumen alone, RMS misfit of the two-object model / RMS misfit of the lumen
    alone; NaN where the section has too few samples, and whether calcium, a sample above blood +
    ``PLAQUE_ABOVE_BLOOD_HU``, lies in the fitted window). The plaque starts at the brightest spot
    near the centre and stays within ``ANCHOR_MM`` of it; ``guess_mm``: the section reading."""
    ctr = np.asarray(centres, float)
    guess = np.clip(np.asarray(guess_mm, float), 0.2, 2.0)
    two, one, ratio = (np.full(len(ctr), np.nan) for _ in range(3))
    calcium = np.zeros(len(ctr), bool)
    if len(ctr) == 0:
        return two, one, ratio, calcium
    u, v = _normals(ctr, np.asarray(tangent, float))
    win = guess + WINDOW_MM
    vals, a, b = _planes(volume, ctr, u, v, float(win.max()), step_mm)
    rr = np.hypot(a, b)
    plaque_lo = blood_hu + PLAQUE_ABOVE_BLOOD_HU
    for i in range(len(ctr)):
        use = rr <= win[i]
        xa, yb, hu = a[use], b[use], vals[i][use].astype(float)
        if hu.size < 50:
            continue
        calcium[i] = bool((hu > plaque_lo).any())
        smooth = ndi.uniform_filter(vals[i].astype(float), 3)
        k = np.unravel_index(np.argmax(np.where(rr <= guess[i] + 1.0, smooth, -np.inf)), rr.shape)
        ax, ay = float(a[k]), float(b[k])

        def lumen_only(p, xa=xa, yb=yb, hu=hu):
            xc, yc, r1, bg, gx, gy = p
            base = bg + gx * xa + gy * yb
            return base + (blood_hu - base) * _profile((xa - xc) ** 2 + (yb - yc) ** 2, r1, sigma_mm) - hu

        def both(p, xa=xa, yb=yb, hu=hu):
            x2, y2, r2, h2, th, gap, r1, bg, gx, gy = p
            d = r1 + r2 + gap
            xc, yc = x2 + d * np.cos(th), y2 + d * np.sin(th)
            base = bg + gx * xa + gy * yb
            lumen = _profile((xa - xc) ** 2 + (yb - yc) ** 2, r1, sigma_mm)
            plaque = _profile((xa - x2) ** 2 + (yb - y2) ** 2, r2, sigma_mm)
            return base + (blood_hu - base) * lumen + (h2 - base) * plaque - hu

        lo1 = [-CENTRE_MM, -CENTRE_MM, 0.02, -200.0, -150.0, -150.0]
        hi1 = [CENTRE_MM, CENTRE_MM, 3.0, 0.5 * blood_hu, 150.0, 150.0]
        p1 = np.clip([ax, ay, guess[i], 0.0, 0.0, 0.0], np.add(lo1, 1e-6), np.subtract(hi1, 1e-6))
        res1 = least_squares(lumen_only, p1, bounds=(lo1, hi1), x_scale="jac")
        lo = [ax - ANCHOR_MM, ay - ANCHOR_MM, 0.03, plaque_lo, -4 * np.pi, 0.0, 0.02, -200.0, -150.0, -150.0]
        hi = [ax + ANCHOR_MM, ay + ANCHOR_MM, PLAQUE_MAX_MM, 2500.0, 4 * np.pi, WALL_MM, 3.0, 0.5 * blood_hu]
        hi += [150.0, 150.0]
        best = None
        th0 = float(np.arctan2(-ay, -ax)) if np.hypot(ax, ay) > 0.1 else 0.0
        for th in th0 + np.array([0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi]):
            p0 = [ax, ay, 0.5, plaque_lo + 300.0, th, 0.05, 0.5 * guess[i], *res1.x[3:]]
            p0 = np.clip(p0, np.add(lo, 1e-6), np.subtract(hi, 1e-6))
            res = least_squares(both, p0, bounds=(lo, hi), x_scale="jac")
            if best is None or res.cost < best.cost:
                best = res
        two[i], one[i] = best.x[6], res1.x[2]
        ratio[i] = float(np.sqrt(best.cost / max(res1.cost, 1e-9)))
        # a fit held at a bound is no plaque: at the least density it stands for a structure at the
        # blood level (a parent vessel, a vein), at the widest gap for one outside the wall
        if best.x[3] < plaque_lo + BOUND_MARGIN_HU or best.x[5] > WALL_MM - 0.02:
            ratio[i] = 1.0
    return two, one, ratio, calcium
