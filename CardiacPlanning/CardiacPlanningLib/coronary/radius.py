"""Lumen radius along a centerline from cross-sections normal to it.

At each point the image is resampled (trilinear) on a plane normal to the centerline; the lumen is
the region connected to the centre above ``(blood + background) / 2`` HU, background being the median
of a ring outside the vessel (clipped to [-100, 0.3 blood] HU); its centroid re-centres the line.
The reported radius is sub-voxel and partial-volume aware (:func:`_lumen_radius`): the contrast mass
for wide lumens, and for narrow ones (small vessels, stenoses; a lumen blurred below the half level
is found at its peak) the peak contrast and full width at half maximum of a disc blurred by a
Gaussian point-spread function, which needs no PSF width and ignores tissue beyond the half width.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import brentq, least_squares
from scipy.stats import ncx2

from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

# In a cross-section, no contrast-blood sample (trilinear, noise SD 20-40 HU) is more than 150 HU
# above the blood pool, so brighter samples are calcium. Growth (segment.py) uses blood + 250 HU,
# safe against noise in every voxel of the image; here a small plaque blurred with the narrowed
# lumen beside it peaks at only 200-300 HU above the blood (0.5 mm voxels, 0.9 mm PSF), and read
# as lumen it hid calcified lesions (70 % graded 38 %). Its blurred halo (blooming) also reads
# as lumen next to it, so the lumen stops this far from the calcium-bright core.
CALCIUM_ABOVE_BLOOD_HU = 150.0
CALCIUM_HALO_MM = 0.5
# The blurred-disc model of a narrow lumen (narrow_lumen_radii) is used on voxels up to this size.
MODEL_MAX_VOXEL_MM = 0.8


def tangents(points: np.ndarray) -> np.ndarray:
    """Unit tangents (N, 3) of a centerline (LPS mm) by central differences."""
    tan = np.gradient(points, axis=0) if len(points) > 1 else np.array([[0.0, 0.0, 1.0]])
    return tan / np.maximum(np.linalg.norm(tan, axis=1, keepdims=True), 1e-9)


def _normals(points: np.ndarray, tan: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    tan = tangents(points) if tan is None else tan
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
    # the sampled disc holds the lumen, the blur tails of the mass (two voxels) and the band beyond
    tail_mm = 2.0 * float(max(volume.spacing))
    ext = float(np.clip(2.0 * guess.max() + 1.5, 2.0 + tail_mm, 8.0))
    vals, a, b = _planes(volume, pts, u, v, ext, step_mm)
    rr = np.hypot(a, b)
    c = a.shape[0] // 2
    radius = np.empty(len(pts))
    centre = pts.copy()
    clean = np.zeros(len(pts), bool)
    for i in range(len(pts)):
        # background ring beyond the blur tails too: an under-estimated guess on coarse voxels
        # would otherwise put the ring on the vessel's own edge and shrink it further each iteration
        r_out = min(max(2.0 * guess[i] + 1.0, guess[i] + tail_mm), ext)
        ring = vals[i][(rr >= r_out) & (rr <= r_out + 1.0)]
        bg = float(np.clip(np.median(ring) if ring.size else 0.0, -100.0, 0.3 * blood_hu))
        lumen = (vals[i] > 0.5 * (blood_hu + bg)) & (rr <= r_out)
        calc = vals[i] > blood_hu + CALCIUM_ABOVE_BLOOD_HU
        if calc.any():  # calcium and its blooming are not lumen
            calc = ndi.distance_transform_edt(~calc, sampling=step_mm) <= CALCIUM_HALO_MM
            lumen &= ~calc
        lab, _ = ndi.label(lumen)
        if lumen[c, c]:
            region = lab == lab[c, c]
        else:
            near = lumen & (rr <= max(guess[i], step_mm * 2))
            if near.any():
                region = lab == lab[np.unravel_index(np.argmin(np.where(near, rr, np.inf)), rr.shape)]
            elif partial_volume:  # a lumen blurred below the half level (tight stenosis): its peak
                region = _faint_lumen(np.where(calc, bg, vals[i]), rr, max(guess[i], 1.0), bg)
            else:
                radius[i] = guess[i]
                continue
        area = float(np.count_nonzero(region)) * step_mm**2
        radius[i] = np.sqrt(area / np.pi)
        clean[i] = not (region & (rr > r_out - 2.0 * step_mm)).any()
        if partial_volume:
            radius[i] = _lumen_radius(vals[i], region, lumen, rr, ext, step_mm, tail_mm, blood_hu, calc)
        if clean[i]:
            centre[i] = pts[i] + a[region].mean() * u[i] + b[region].mean() * v[i]
    return radius, centre, clean


def _planes(
    volume: Volume, pts: np.ndarray, u: np.ndarray, v: np.ndarray, ext: float, step_mm: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HU (trilinear, float32) on the planes through ``pts`` (LPS mm) spanned by ``u``, ``v``, every
    ``step_mm`` out to +-``ext`` mm: (values [point, a, b], a mm, b mm)."""
    g = np.arange(-ext, ext + 1e-9, step_mm)
    a, b = np.meshgrid(g, g, indexing="ij")
    # the sample grid in voxel coordinates (z, y, x) directly: the map from LPS is affine
    to_ijk = np.linalg.inv(volume.direction @ np.diag(volume.spacing))
    p_i = (pts - np.asarray(volume.origin)) @ to_ijk.T
    u_i, v_i = u @ to_ijk.T, v @ to_ijk.T
    zyx = np.empty((3, len(pts), len(g), len(g)))
    for k in range(3):
        c = 2 - k  # z, y, x = k, j, i
        zyx[k] = p_i[:, c, None, None] + a[None] * u_i[:, c, None, None] + b[None] * v_i[:, c, None, None]
    vals = ndi.map_coordinates(volume.array, zyx.reshape(3, -1), order=1, cval=-1000.0, output=np.float32)
    return vals.reshape(len(pts), len(g), len(g)), a, b


def _faint_lumen(section: np.ndarray, rr: np.ndarray, within_mm: float, bg: float) -> np.ndarray:
    """The pixels above half the local peak (full width at half maximum above ``bg`` HU) connected
    to the brightest pixel within ``within_mm`` of the centre: a lumen whose blurred peak stays below
    the half-contrast level."""
    near = rr <= within_mm
    k = np.unravel_index(np.argmax(np.where(near, section, -np.inf)), rr.shape)
    lab, _ = ndi.label((section > 0.5 * (section[k] + bg)) & near)
    return lab == lab[k]


def _half_peak_area(
    section, k, peak, blood_hu, step_mm, ext, calcium=None, n_rays: int = 24
) -> tuple[float, float, np.ndarray]:
    """(area mm^2, mean background HU, background HU per ray) of the full width at half maximum
    around pixel ``k`` (the
    peak, ``peak`` HU): along each of ``n_rays`` rays the profile's own background (its lowest
    value, 3-sample mean) sets the half level, so that a lumen lying against myocardium is measured
    against the myocardium on that side and against fat on the other. A ray that meets ``calcium``
    (bool samples: calcium and its halo) first stops there."""
    t = np.arange(0.0, ext, 0.5 * step_mm)
    ang = np.linspace(0.0, 2.0 * np.pi, n_rays, endpoint=False)
    ya = k[0] + np.outer(np.cos(ang), t) / step_mm
    yb = k[1] + np.outer(np.sin(ang), t) / step_mm
    prof = ndi.map_coordinates(section, [ya.ravel(), yb.ravel()], order=1, mode="nearest")
    prof = prof.reshape(n_rays, len(t))
    stop_at = np.full(n_rays, len(t) - 1)
    if calcium is not None and calcium.any():
        hit = ndi.map_coordinates(calcium.astype(np.float32), [ya.ravel(), yb.ravel()], order=0)
        hit = hit.reshape(n_rays, len(t)) > 0.5
        stop_at = np.where(hit.any(axis=1), np.argmax(hit, axis=1), stop_at)
    # per ray: its background is the lowest 3-sample mean before the stop, the half level between
    # it and the peak, the end the first sub-sample crossing below that level before the low
    n = len(t)
    j = np.arange(1, n - 1)
    avg = (prof[:, :-2] + prof[:, 1:-1] + prof[:, 2:]) / 3.0  # centred at j
    last = np.maximum(stop_at, 3) - 2  # the last centre inside each ray's kept part
    low = np.argmin(np.where(j[None] <= last[:, None], avg, np.inf), axis=1) + 1
    rows = np.arange(n_rays)
    bgs = np.clip(avg[rows, low - 1], -150.0, 0.3 * blood_hu)
    half = bgs + 0.5 * (peak - bgs)
    below = (prof < half[:, None]) & (np.arange(n)[None] <= low[:, None])
    has = below.any(axis=1)
    stop = np.where(has, np.argmax(below, axis=1), low)
    p0, p1 = prof[rows, np.maximum(stop - 1, 0)], prof[rows, stop]
    frac = (p0 - half) / np.maximum(p0 - p1, 1e-6)
    dt = t[1] - t[0]
    ends = np.where(has & (stop > 0), t[np.maximum(stop - 1, 0)] + frac * dt, t[stop])
    return float(0.5 * np.sum(ends**2) * (2.0 * np.pi / n_rays)), float(bgs.mean()), bgs


@functools.cache
def _blurred_disc_table() -> tuple[np.ndarray, np.ndarray]:
    """(peak contrast A, k) for a disc of radius x sigma blurred by an isotropic Gaussian of sigma,
    x = 0.3 .. 4: A = 1 - exp(-x^2 / 2) at the centre, and k = (disc area) / (A x area above half
    the peak), the factor from the half-peak area to the contrast mass (1 / ln 2 for a point-like
    lumen, 1 for a wide one). The profile is the 2-D Gaussian integral over the disc, a noncentral
    chi-square CDF with 2 degrees of freedom."""
    xs = np.linspace(0.3, 4.0, 38)
    peak, k = [], []
    for x in xs:
        a = 1.0 - np.exp(-x * x / 2.0)
        rho = brentq(lambda r, x=x, a=a: ncx2.cdf(x * x, 2, r * r) - a / 2.0, 0.0, x + 6.0)
        peak.append(a)
        k.append(x * x / (a * rho * rho))
    return np.array(peak), np.array(k)


def _lumen_radius(section, region, lumen, rr, ext, step_mm, tail_mm, blood_hu, calcium=None) -> float:
    """Sub-voxel lumen radius (mm) of ``region`` in one cross-section (HU samples every ``step_mm``).

    Wide lumens (blurred peak >= 95 % of the blood contrast): radius of the disc holding the contrast
    mass, the sum of ``(I - bg) / (blood - bg)`` over the region widened by ``tail_mm`` (the blur
    tails; other bright regions left out), ``bg`` the median HU of the band just outside. Narrow
    lumens (small vessels, stenoses), whose mass zone would take in the myocardium or fat next to
    the artery: from the peak contrast A over the local background and the area above half the peak
    (full width at half maximum, :func:`_half_peak_area`), as a disc blurred by a Gaussian
    point-spread function of unknown width: mass = k(A) A area (:func:`_blurred_disc_table`).
    Between 85 and 95 % contrast the two are blended. ``calcium``: samples of calcium and its halo
    (bool), left out of the mass and where the half-maximum rays stop."""
    dist_out = ndi.distance_transform_edt(~region, sampling=step_mm)
    others = ndi.distance_transform_edt(~(lumen & ~region), sampling=step_mm) <= tail_mm
    if calcium is not None and calcium.any():
        others |= calcium
    zone = (dist_out <= tail_mm) & ~others & (rr <= ext)
    band = (dist_out > tail_mm) & (dist_out <= tail_mm + 1.0) & ~others & (rr <= ext)
    ring = section[band] if band.sum() >= 8 else np.zeros(1)
    bg = float(np.clip(np.median(ring), -150.0, 0.3 * blood_hu))
    k = np.unravel_index(np.argmax(np.where(region, section, -np.inf)), section.shape)
    ia, ib = np.ogrid[: section.shape[0], : section.shape[1]]
    peak = float(section[np.hypot(ia - k[0], ib - k[1]) * step_mm <= 0.25].mean())
    half_area, bg_c, bg_rays = _half_peak_area(section, k, peak, blood_hu, step_mm, ext, calcium)
    # Background per direction: where the band's median (one value all round) lies on a neighbouring
    # enhanced structure (myocardium, a vein: not lumen, so not left out) the fat on the other sides
    # of the tail zone would weigh strongly negative and the mass collapse (coarse voxels: a 1.4 mm
    # LCX read as 0.0 mm). A sector whose ray reached tissue more than 50 HU below that median
    # (beyond noise) takes its ray's own background.
    n_rays = len(bg_rays)
    zi, zj = np.nonzero(zone)
    sector = np.round(np.arctan2(zj - k[1], zi - k[0]) / (2.0 * np.pi / n_rays)).astype(int) % n_rays
    bg_pix = np.where(bg_rays[sector] < bg - 50.0, bg_rays[sector], bg)
    w = np.clip((section[zi, zj] - bg_pix) / np.maximum(blood_hu - bg_pix, 1.0), -1.0, 1.5)
    r_mass = float(np.sqrt(max(float(w.sum()), 0.0) * step_mm**2 / np.pi))
    a = (peak - bg_c) / max(blood_hu - bg_c, 1.0)
    if a >= 0.95:
        return r_mass
    table_a, table_k = _blurred_disc_table()
    a_c = float(np.clip(a, table_a[0], table_a[-1]))
    r_peak = float(np.sqrt(np.interp(a_c, table_a, table_k) * a_c * half_area / np.pi))
    t = float(np.clip((a - 0.85) / 0.1, 0.0, 1.0))
    return (1.0 - t) * r_peak + t * r_mass


def _disc_profile(rho2: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """Fraction of a uniform disc of ``radius`` mm blurred by an isotropic Gaussian of ``sigma`` mm,
    at squared distances ``rho2`` mm^2 from its centre (the 2-D Gaussian integral over the disc: a
    noncentral chi-square CDF with 2 degrees of freedom)."""
    return ncx2.cdf((radius / sigma) ** 2, 2, rho2 / sigma**2)


def blurred_disc_radii(
    volume: Volume,
    points: np.ndarray,
    guess_mm: np.ndarray,
    blood_hu: float,
    sigma_mm: float | None = None,
    step_mm: float = 0.15,
    tangent: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model-based sub-voxel radius (mm) of narrow lumens at centerline points (LPS mm): per normal
    cross-section, a least-squares fit of a uniform disc at the blood level ``blood_hu`` blurred by
    an isotropic Gaussian point-spread function (``sigma_mm``, or fitted per section when None) on a
    constant local background, to the samples within the lumen guess + a blur window of the
    section's peak. Returns (radius mm, sigma mm, root-mean-square misfit HU) per point.
    ``tangent`` (N, 3): the centerline's unit tangents (default: from ``points``, which must then be
    consecutive points of one line).

    A lumen narrower than the point-spread function never reaches the blood level, so a threshold
    (half contrast) or a half-maximum width over-reads it, and a contrast mass against a background
    taken beyond the plaque (fat) counts the plaque's own HU as lumen. The fitted background is the
    tissue right around the lumen (plaque, wall) and the disc's radius follows from the blurred peak
    and profile together (a 2-D form of the Gaussian-smoothed cylinder model of Woerz and Rohr,
    "Segmentation and quantification of human vessels using a 3-D cylindrical intensity model",
    IEEE TIP 2007). Calcium (above blood + 150 HU, with its blooming halo) is left out of the fit."""
    pts = np.asarray(points, float)
    guess = np.clip(np.asarray(guess_mm, float), 0.2, 1.5)
    radius, sigma, misfit = (np.full(len(pts), np.nan) for _ in range(3))
    if len(pts) == 0:
        return radius, sigma, misfit
    voxel = float(max(volume.spacing))
    win = guess + max(1.0, 1.6 * voxel)
    u, v = _normals(pts, None if tangent is None else np.asarray(tangent, float))
    vals, a, b = _planes(volume, pts, u, v, float(win.max()) + 0.8, step_mm)
    rr = np.hypot(a, b)
    for i in range(len(pts)):
        sec = vals[i].astype(float)
        calc = sec > blood_hu + CALCIUM_ABOVE_BLOOD_HU
        if calc.any():
            calc = ndi.distance_transform_edt(~calc, sampling=step_mm) <= CALCIUM_HALO_MM
        near = (rr <= guess[i] + 0.3) & ~calc
        if not near.any():
            continue
        smooth = ndi.uniform_filter(np.where(calc, np.nan, sec), 3)
        k = np.unravel_index(np.nanargmax(np.where(near, smooth, -np.inf)), sec.shape)
        x0, y0 = float(a[k]), float(b[k])
        use = (np.hypot(a - x0, b - y0) <= win[i]) & ~calc
        if use.sum() < 20:
            continue
        xa, yb, hu = a[use], b[use], sec[use]

        def resid(p, xa=xa, yb=yb, hu=hu):
            xc, yc, r, s, bg = p if sigma_mm is None else (p[0], p[1], p[2], sigma_mm, p[3])
            return bg + (blood_hu - bg) * _disc_profile((xa - xc) ** 2 + (yb - yc) ** 2, r, s) - hu

        s0 = max(0.5 * voxel, 0.3)
        p0 = [x0, y0, guess[i], s0, 0.0] if sigma_mm is None else [x0, y0, guess[i], 0.0]
        lo = [x0 - 0.6, y0 - 0.6, 0.02, 0.15, -200.0]
        hi = [x0 + 0.6, y0 + 0.6, 3.0, 2.0, 0.5 * blood_hu]
        if sigma_mm is not None:
            lo, hi = lo[:3] + lo[4:], hi[:3] + hi[4:]
        p0 = np.clip(p0, np.add(lo, 1e-6), np.subtract(hi, 1e-6))
        res = least_squares(resid, p0, bounds=(lo, hi))
        radius[i] = res.x[2]
        sigma[i] = res.x[3] if sigma_mm is None else sigma_mm
        misfit[i] = float(np.sqrt(np.mean(res.fun**2)))
    return radius, sigma, misfit


def narrow_lumen_radii(
    volume: Volume,
    points: np.ndarray,
    guess_mm: np.ndarray,
    blood_hu: float,
    reference_points: np.ndarray,
    reference_mm: np.ndarray,
    tangent: np.ndarray | None = None,
    reference_tangent: np.ndarray | None = None,
    plaque_only: bool = False,
) -> np.ndarray:
    """Radius (mm) of narrow lumens at ``points`` (LPS mm, e.g. the narrowed part of one lesion,
    read ``guess_mm`` by :func:`cross_sections`) corrected by :func:`blurred_disc_radii`, with the
    point-spread width held fixed at its median over the healthy ``reference_points`` (LPS mm, lumen
    ``reference_mm``) of the same vessel: in a lumen much wider than the blur the width is well
    determined, while in a sub-resolution lumen width and radius trade off against each other (one
    scanner, one place: one width). ``tangent`` / ``reference_tangent``: the unit tangents at those
    points, taken from the whole centerline (the point sets need not be consecutive).

    The model corrects the upward bias of the half-level and half-maximum readings of a lumen
    narrower than the blur, so a section keeps ``guess_mm`` where the model reads it wider (then
    something bright besides the lumen lies in the fitted window: a small calcium plaque, a
    neighbouring vessel, which the section rules leave out and the model cannot), and all keep it
    on voxels coarser than ``MODEL_MAX_VOXEL_MM`` (coronary CTA is read at 0.5-0.75 mm; a lumen of
    one voxel leaves the fit a handful of independent samples, and on 1.25 mm voxels its radius
    scattered by about +-0.1 mm and over-graded a 60 % lesion by 12 points).

    A calcified plaque beside the lumen (:mod:`.calcified`) is fitted as a second blurred object:
    where it explains the section, its lumen radius is taken (where smaller than ``guess_mm``), and
    the lumen-alone fit is not used on sections holding calcium samples. ``plaque_only``: only that
    plaque reading changes a section (points not read as narrowed)."""
    guess = np.asarray(guess_mm, float)
    if len(reference_points) == 0 or len(points) == 0 or max(volume.spacing) > MODEL_MAX_VOXEL_MM:
        return guess.copy()
    sig = blurred_disc_radii(volume, reference_points, reference_mm, blood_hu, tangent=reference_tangent)[1]
    if not np.isfinite(sig).any():
        return guess.copy()
    from .calcified import PLAQUE_RATIO, plaque_lumen_radii

    width = float(np.nanmedian(sig))
    tan = tangents(np.asarray(points, float)) if tangent is None else np.asarray(tangent, float)
    two, _, ratio, calcium = plaque_lumen_radii(volume, points, tan, guess, blood_hu, width)
    out = guess.copy()
    if not plaque_only:
        # the lumen alone where no calcium lies in the window (with its samples and halo left out the
        # rest of the plaque's blur misleads the fit: 0.02 mm beside a 1.2 mm plaque)
        fitted = blurred_disc_radii(volume, points, guess, blood_hu, sigma_mm=width, tangent=tangent)[0]
        out = np.where(np.isfinite(fitted) & (fitted < guess) & ~calcium, fitted, guess)
    plaque = np.isfinite(ratio) & (ratio < PLAQUE_RATIO)  # a plaque beside the lumen explains the section
    return np.where(plaque, np.minimum(two, guess), out)


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
