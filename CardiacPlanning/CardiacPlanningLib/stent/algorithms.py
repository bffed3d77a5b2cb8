"""Three reconstruction algorithms that differ in method (all points LPS mm, HU intensities).

* :func:`threshold_surface` — metal thresholded at half of the local peak over blood (half-maximum,
  which undoes the blooming width of a symmetric PSF); each cross-section perpendicular to the axis
  with metal around at least half its circumference is filled by the convex hull of its metal, the
  hull shrunk by half the measured (bloomed) strut thickness, surfaced by flying edges. Good: no
  shape model, follows flares and waists. Bad: sparse or oblique cells make polygonal hulls (chords
  cut inside), noise spikes push the hull outwards, planes of one straight axis cut a curved stent
  obliquely.
* :func:`tube_fit` — axis from PCA of the metal (a valve frame: then the robust line through the
  slab centres; a coronary stent: a polynomial curve through them), then per 1.5 mm slab a robust
  circle fit (algebraic Kasa start, geometric least squares with a soft-L1 loss, 3-MAD outlier
  rejection) to the intensity-weighted metal points (for a long, coronary device: angular sectors of
  equal weight, and the centres re-fitted with a blurred-ring model of the scanner's PSF,
  :mod:`.psf_fit`), centres and radii smoothed by a smoothing spline (a long valve frame's end
  zones, dim under a wall, held at least to the radius trend next to them: :func:`_end_trend`).
  Good: robust to blooming (symmetric about the strut centre), calcium specks and missing struts;
  bad: assumes round cross-sections (an oval or crushed frame is averaged to a circle).
* :func:`deformable_cylinder` — a radial surface r(theta, s) started at the tube fit and relaxed
  towards the intensity-weighted metal peak along each radial ray with a membrane smoothness term
  (Jacobi iterations of w (r - target) + lambda * Laplacian). Good: follows oval / asymmetric
  expansion; bad: where cells leave no metal on a ray only smoothness holds it, and it inherits the
  tube fit's axis, ends and (bias-corrected) mean radius per section; only the shape is its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.interpolate import make_smoothing_spline

from ..imaging.volume import Volume
from .axis import CurvedAxis
from .circle import circle_fit as _circle_fit
from .geometry import Reconstruction, metal_points, principal_axis, sample, tube_mesh
from .psf_fit import psf_refined_centres, robust_cubic
from .region import MetalDetection

logger = logging.getLogger(__name__)

SLICE_STEP_MM = 0.5
HALO_MM = 1.2  # blooming halo kept around the thresholded metal (a 2.2 mm FWHM bloom)
PSF_MODEL_FOR_LONG_DEVICES = True  # re-fit a coronary stent's sections with the blurred-ring model
LONG_DEVICE_SECTORS = 16  # angular sectors of equal weight in the slab fits of a long (coronary) device


def _smooth(s: np.ndarray, values: np.ndarray, s_out: np.ndarray) -> np.ndarray:
    if len(s) >= 5:
        return make_smoothing_spline(s, values)(s_out)
    return np.interp(s_out, s, values)


def _cloud_mask(ct: Volume, metal: MetalDetection) -> np.ndarray:
    """The metal and its blooming halo: excess above 5 % of its maximum within ``HALO_MM`` (box) of
    the thresholded metal (tissue edges farther out, e.g. myocardium next to a coronary stent, are
    above the background model too but are no metal)."""
    reach = np.ceil(HALO_MM / np.asarray(ct.spacing, float)[::-1]).astype(int)
    halo = ndimage.maximum_filter(metal.mask, size=tuple(2 * reach + 1))
    return (metal.excess > 0.05 * float(metal.excess.max())) & halo


def _metal_cloud(ct: Volume, metal: MetalDetection) -> tuple[np.ndarray, np.ndarray]:
    """Voxel centres (LPS mm) and weights (excess squared) of :func:`_cloud_mask`."""
    sel = _cloud_mask(ct, metal)
    pts, _ = metal_points(ct, sel)
    return pts, metal.excess[sel].astype(float) ** 2


def _straight_start(pts: np.ndarray, w: np.ndarray, margin: float = 3.0) -> CurvedAxis:
    c, t = principal_axis(pts, w)
    s = (pts - c) @ t
    return CurvedAxis(c + np.array([s.min() - margin, s.max() + margin])[:, None] * t)


def _no_tube():
    from .region import NoDeviceFoundError

    return NoDeviceFoundError("no device found: the metal does not form a tube around an axis")


def _axial_ends(ct, metal, model: TubeModel, s_lo, s_hi) -> tuple[float, float]:
    """Device ends along the axis: where the mean metal excess on the envelope falls to half of its
    median over the device (an edge blurred by a symmetric PSF is at half height)."""
    s = np.arange(s_lo - 3.0, s_hi + 3.0, 0.2)
    ring = model.rings(s, model.radius(s), 48)
    prof = sample(ct.with_array(metal.excess), ring, cval=0.0).mean(1)
    inner = (s > s_lo + 2) & (s < s_hi - 2)
    half = 0.5 * np.median(prof[inner] if inner.sum() > 3 else prof)
    above = np.flatnonzero(prof >= half)
    if len(above) == 0:
        return s_lo, s_hi
    i0, i1 = above[0], above[-1]
    lo = s[i0] if i0 == 0 else np.interp(half, [prof[i0 - 1], prof[i0]], [s[i0 - 1], s[i0]])
    hi = s[i1] if i1 == len(s) - 1 else np.interp(half, [prof[i1 + 1], prof[i1]], [s[i1 + 1], s[i1]])
    return float(lo), float(hi)


LATTICE_HARMONICS = (6, 60)  # cells around a valve frame's circumference searched for the lattice period
LATTICE_ROW_FRACTION = 0.25  # a row of vertices: a maximum of the lattice harmonic above this x its maximum


def _lattice_ends(ct: Volume, model: TubeModel, s_lo: float, s_hi: float) -> tuple[float, float] | None:
    """Ends of a cell lattice (a valve frame of n diamond cells around) from its periodic angular
    structure. On rings of the fitted tube (radius +-1 mm, the CT itself: no metal threshold or
    background model) the amplitude of the angular harmonic n (the number of cells, the spectrum's
    peak over the middle of the frame) peaks at every row of vertices (n vertices around, rotated by
    half a cell from one row to the next) and vanishes midway between rows; a blood/wall step under
    the struts, blood lit by the blooming or a wall that is not round hardly reach harmonic n. Rows
    are followed outwards from the strongest while each next one follows a dip and has the opposite
    harmonic phase (its vertices half a cell round). The frame ends at its last row of crown apices:
    each end is where the harmonic falls to half of the outermost row's maximum (half height of an
    edge blurred by a symmetric PSF). None when no lattice period stands out (a coronary stent, a
    plain tube). On phantom frames the rows' phases alternate within 5 degrees of pi."""
    s = np.arange(s_lo - 3.0, s_hi + 3.0 + 1e-6, 0.25)
    dr = np.linspace(-1.0, 1.0, 5)
    n_theta = 256
    radius = model.radius(s)[:, None] + dr[None, :]
    ring = model.rings(np.repeat(s, len(dr)), radius.ravel(), n_theta)
    img = sample(ct, ring.reshape(-1, 3), cval=np.nan).reshape(len(s), len(dr), n_theta)
    img = np.where(np.isfinite(img), img, np.nanmean(img, -1, keepdims=True))
    img = np.nan_to_num(img)
    coef = np.fft.rfft(img, axis=-1) / n_theta  # (s, dr, harmonic)
    amp = np.abs(coef)
    inner = (s > s_lo + 5.0) & (s < s_hi - 5.0)
    if inner.sum() < 8:
        return None
    m0, m1 = LATTICE_HARMONICS
    spec = amp[inner].max(1).mean(0)[m0 : m1 + 1]
    if spec.max() < 3.0 * np.median(spec):  # no lattice period stands out
        return None
    n = m0 + int(np.argmax(spec))
    best = amp[:, :, n].argmax(1)  # the ring radius (of the five) where the lattice shows best
    c = coef[np.arange(len(s)), best, n]
    prof = np.abs(c)
    peaks = (
        np.flatnonzero(
            (prof[1:-1] >= prof[:-2])
            & (prof[1:-1] >= prof[2:])
            & (prof[1:-1] >= LATTICE_ROW_FRACTION * prof.max())
        )
        + 1
    )
    if len(peaks) < 2:
        return None

    def outermost_row(order: np.ndarray) -> int:
        """Walk the rows outwards from the strongest: the next row must follow a dip (below half of
        the weaker maximum) and have its vertices half a cell round (harmonic phase turned by pi,
        within 60 degrees); otherwise (calcium, an ostium, noise) the walk stops."""
        i = int(order[0])
        for j in order[1:]:
            lo_, hi_ = sorted((i, int(j)))
            if prof[lo_ : hi_ + 1].min() > 0.5 * min(prof[i], prof[j]):  # same row, no dip between
                i = int(j) if prof[j] > prof[i] else i
                continue
            turn = np.angle(c[j] / c[i])
            if abs(abs(turn) - np.pi) > np.pi / 3:
                break
            i = int(j)
        return i

    top = peaks[np.argmax(prof[peaks])]

    def edge(i: int, step: int) -> float:
        half = 0.5 * prof[i]
        while 0 <= i + step < len(s) and prof[i + step] > half:
            i += step
        j = i + step
        if not 0 <= j < len(s):
            return float(s[i])
        return float(np.interp(half, [prof[j], prof[i]], [s[j], s[i]]))

    first = outermost_row(peaks[peaks <= top][::-1])
    last = outermost_row(peaks[peaks >= top])
    return edge(first, -1), edge(last, 1)


def _slab_circles(s, x, y, w, slab, sectors: int = 0):
    fits = []
    for s0 in np.arange(s.min(), s.max() + 1e-6, SLICE_STEP_MM):
        sel = np.abs(s - s0) <= slab / 2
        f = _circle_fit(x[sel], y[sel], w[sel], sectors) if sel.sum() >= 6 else None
        if f is not None:
            fits.append((s0, *f))
    if len(fits) < 2:
        raise _no_tube()
    f = np.array(fits)
    med_r = np.median(f[:, 3])
    return f[np.abs(f[:, 3] - med_r) < 0.5 * med_r]  # drop slabs fitted to a stray cluster


@dataclass
class TubeModel:
    """The robust tube fit: a smooth frame ``axis`` (straight, or a low-order polynomial curve for a
    long device), the smoothed circle-centre offsets (x along n1, y along n2; mm) and radius (mm) as
    functions of its arc length, and the device ends ``s`` (K,) sampled every 0.5 mm."""

    axis: CurvedAxis
    fits: np.ndarray  # (n, 4) slab position, centre x, centre y, radius
    s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        f = self.fits
        self._splines = [
            make_smoothing_spline(f[:, 0], f[:, c]) if c and len(f) >= 5 else None for c in range(4)
        ]

    def _f(self, col: int, q: np.ndarray) -> np.ndarray:
        f = self.fits
        q = np.clip(np.asarray(q, float), f[0, 0], f[-1, 0])
        spline = self._splines[col]
        return spline(q) if spline is not None else np.interp(q, f[:, 0], f[:, col])

    def centres(self, q: np.ndarray) -> np.ndarray:
        return self.axis.to_world(q, self._f(1, q), self._f(2, q))

    def radius(self, q: np.ndarray) -> np.ndarray:
        return np.maximum(self._f(3, q), 0.1)

    def rings(self, q: np.ndarray, radius: np.ndarray, n_theta: int | None = None) -> np.ndarray:
        """Surface points (K, T, 3) LPS around the fitted centres in the axis frames."""
        c0 = self.axis.at(q)[0]
        return self.axis.rings(q, radius, n_theta) + (self.centres(q) - c0)[:, None, :]


WIDE_FRAME_RADIUS_MM = 5.0  # a valve frame (10-17 mm); coronary and peripheral stents are narrower


def _line_through_centres(model: TubeModel) -> CurvedAxis:
    """A valve frame's axis: the straight line through its slab circle centres, fitted by
    iteratively reweighted total least squares with Tukey's biweight (c = 4.685 robust sigmas of the
    distances to the line, at least 0.1 mm), so slabs pulled aside by calcium or by the crowns'
    sparse struts do not tilt it; prolonged 3 mm beyond the fitted range. The principal axis of the
    weighted metal, the start, is tilted by the lattice's uneven weight (4.5-10 degrees on the
    phantom's self-expanding frames), and a curve through the centres of a sparse lattice follows
    their scatter (the blurred-ring centres of a coronary stent do not apply: the ring model is for
    blooming as wide as the radius)."""
    f = model.fits
    c = model.axis.to_world(f[:, 0], f[:, 1], f[:, 2])
    w = np.ones(len(c))
    centre, t = c.mean(0), model.axis.t[0]
    for _ in range(6):
        centre = (w[:, None] * c).sum(0) / w.sum()
        d = c - centre
        _, _, vt = np.linalg.svd(d * np.sqrt(w)[:, None], full_matrices=False)
        t = vt[0] if vt[0] @ model.axis.t[0] >= 0 else -vt[0]
        res = np.linalg.norm(d - np.outer(d @ t, t), axis=1)
        sigma = max(1.4826 * float(np.median(res)), 0.1)
        u = res / (4.685 * sigma)
        w_new = np.where(u < 1, (1 - u * u) ** 2, 0.0)
        if w_new.sum() < 3:
            break
        w = w_new
    s = (c - centre) @ t
    ends = centre + np.array([s.min() - 3.0, s.max() + 3.0])[:, None] * t
    return CurvedAxis(ends, n1_start=model.axis.n1[0])


def _polynomial_axis(model: TubeModel) -> CurvedAxis:
    """A smooth curve through the fitted centres: a polynomial in arc length of degree 2-3 (one
    bend, or an S bend past 20 mm), prolonged 3 mm beyond the fitted range."""
    f = model.fits
    q = np.arange(f[0, 0], f[-1, 0] + 1e-6, SLICE_STEP_MM)
    c = model.centres(q)
    deg = 2 if f[-1, 0] - f[0, 0] < 20.0 else 3
    z = (q - q.mean()) / max(np.ptp(q), 1e-6)
    coef = [np.polyfit(z, c[:, a], deg) for a in range(3)]
    qq = np.arange(f[0, 0] - 3.0, f[-1, 0] + 3.0 + 1e-6, SLICE_STEP_MM)
    zz = (qq - q.mean()) / max(np.ptp(q), 1e-6)
    return CurvedAxis(np.stack([np.polyval(k, zz) for k in coef], 1), n1_start=model.axis.n1[0])


def _tube_model(ct: Volume, metal: MetalDetection) -> TubeModel:
    """The robust tube fit of ``metal`` (see :class:`TubeModel`), cached on ``metal`` (the three
    algorithms share it)."""
    if "tube_model" not in metal.cache:
        metal.cache["tube_model"] = _fit_tube_model(ct, metal)
    return metal.cache["tube_model"]


def _fit_tube_model(ct: Volume, metal: MetalDetection) -> TubeModel:
    """Slab circle fits along the straight principal axis; for a wide device (median radius >=
    :data:`WIDE_FRAME_RADIUS_MM`: a valve frame, balloon-expandable or self-expanding) again along
    the robust straight line through those centres (:func:`_line_through_centres`, twice); for a
    long thin device (length > 3 radii, a coronary stent) again along a polynomial curve through
    those centres, so sections of a curved stent are perpendicular to its local direction (a curve
    fitted to a valve frame's sparse lattice would only tilt its sections: on degraded phantom
    self-expanding frames the curve and the blurred-ring centres wandered 0.5-4.5 mm off the
    frame's axis, mean distance up to 1.2 mm; 2026-11-29). For a long thin device, metal
    farther than max(0.9 mm, 0.4 r) from the fitted tube (r clipped to 0.8-1.2 x the median radius:
    calcium against the struts) is dropped and the fit repeated (twice at most)."""
    pts, w = _metal_cloud(ct, metal)
    model = _tube_from_cloud(pts, w, ct)
    f = model.fits
    ends = metal
    if float(np.median(f[:, 3])) >= WIDE_FRAME_RADIUS_MM:
        slab = max(1.5, 2.5 * max(ct.spacing))
        for _ in range(2):  # the line through the slab centres, then the slabs again across it
            axis = _line_through_centres(model)
            model = TubeModel(axis, _slab_circles(*axis.project(pts), w, slab))
        # the slab centres of a sparse lattice scatter (crowns on the wall, calcium, open cells):
        # a robust cubic through them (Tukey's biweight) keeps a smooth bend or shift only
        fits = model.fits.copy()
        fits[:, 1:3] = robust_cubic(fits[:, 0], fits[:, 1:3])
        model = TubeModel(model.axis, fits)
        f = model.fits
    elif f[-1, 0] - f[0, 0] > 3.0 * float(np.median(f[:, 3])):
        kji = np.argwhere(_cloud_mask(ct, metal))
        for _ in range(2):
            outlier = _tube_outliers(model, pts)
            if outlier.sum() < 0.02 * len(pts) or (~outlier).sum() < 20:
                break
            pts, w, kji = pts[~outlier], w[~outlier], kji[~outlier]
            model = _tube_from_cloud(pts, w, ct)
            excess = np.zeros_like(metal.excess)
            excess[tuple(kji.T)] = metal.excess[tuple(kji.T)]
            ends = MetalDetection(metal.mask, metal.threshold_hu, 0.0, 0.0, 0.0, excess)
        if PSF_MODEL_FOR_LONG_DEVICES:
            fits, sigma = psf_refined_centres(ct, metal.excess, model)
            model = TubeModel(model.axis, fits)
            metal.cache["psf_sigma_mm"] = sigma
        f = model.fits
    lo, hi = _axial_ends(ct, ends, model, f[0, 0], f[-1, 0])
    if metal.cache.get("long_frame"):
        lattice = _lattice_ends(ct, model, f[0, 0], f[-1, 0])
        if lattice is not None:
            lo, hi = lattice
        model = _end_trend(ct, metal, model, lo, hi)
    model.s = np.linspace(lo, hi, max(int(np.ceil((hi - lo) / SLICE_STEP_MM)), 1) + 1)
    return model


END_CONFIDENCE = 0.65  # a slab is trusted while its ring's mean excess is above this x the middle's
END_MARGIN_MM = 3.0  # the outermost slabs always checked against the trend (a crown on the LVOT step)
END_WINDOW_MM = 8.0  # trusted slabs next to an end zone that give the trend


def _end_trend(ct: Volume, metal: MetalDetection, model: TubeModel, lo: float, hi: float) -> TubeModel:
    """A long (self-expanding) frame's ends under a wall: a crown pressed into the aortic wall or
    resting on the LVOT's blood/wall step has its blooming split by the step, so the excess over the
    background model sits on the blood side and the slab circles come out short (on degraded phantom
    frames the outflow crown 0.4-1.2 mm, the inflow's first 3 mm 0.25-0.5 mm) and their centres bend
    towards the wall. A slab is *trusted* while the mean excess on its fitted ring (+-0.5 mm) is at
    least :data:`END_CONFIDENCE` of the median over the middle half; each end zone is the untrusted
    run at that end plus :data:`END_MARGIN_MM`, extended to the lattice end (``lo``, ``hi``). In the
    zone the radius is at least the straight-line trend (least squares) of the radii over the
    :data:`END_WINDOW_MM` of slabs inward of the zone (a crown flares, it does not shrink towards its
    end), and the centres hold the value at the zone's edge (the axis is already the frame's line)."""
    f = model.fits
    if len(f) < 12:
        return model
    rings = np.stack([model.rings(f[:, 0], f[:, 3] + dr, 96) for dr in (-0.5, 0.0, 0.5)], 1)
    conf = sample(ct.with_array(metal.excess), rings.reshape(-1, 3), cval=0.0).reshape(len(f), -1).mean(1)
    n = len(f)
    middle = conf[n // 4 : n - n // 4]
    trusted = conf >= END_CONFIDENCE * float(np.median(middle))
    logger.debug("end trend: conf %s", np.round(conf / np.median(middle), 2).tolist())
    ok = np.flatnonzero(trusted)
    if len(ok) < 6:
        return model
    s0 = min(lo, float(f[0, 0]))
    s1 = max(hi, float(f[-1, 0]))
    q = np.arange(s0, s1 + 1e-6, SLICE_STEP_MM)
    r = model._f(3, q)
    x, y = model._f(1, q), model._f(2, q)
    a = max(float(f[ok[0], 0]), float(f[0, 0])) + END_MARGIN_MM  # first slab outside the inflow zone
    b = min(float(f[ok[-1], 0]), float(f[-1, 0])) - END_MARGIN_MM
    if b - a < 2 * END_WINDOW_MM:
        return model
    for edge, inward in ((a, 1.0), (b, -1.0)):
        win = (f[:, 0] - edge) * inward
        win = (win >= 0) & (win <= END_WINDOW_MM) & trusted
        if win.sum() < 4:
            continue
        k = np.polyfit(f[win, 0], f[win, 3], 1)
        zone = (q - edge) * inward < 0
        r[zone] = np.maximum(r[zone], np.polyval(k, q[zone]))
        x[zone], y[zone] = model._f(1, np.array([edge]))[0], model._f(2, np.array([edge]))[0]
    return TubeModel(model.axis, np.stack([q, x, y, r], 1))


def _tube_from_cloud(pts: np.ndarray, w: np.ndarray, ct: Volume) -> TubeModel:
    slab = max(1.5, 2.5 * max(ct.spacing))
    axis = _straight_start(pts, w)
    model = TubeModel(axis, _slab_circles(*axis.project(pts), w, slab))
    f = model.fits
    if f[-1, 0] - f[0, 0] > 3.0 * float(np.median(f[:, 3])):
        axis = _polynomial_axis(model)
        model = TubeModel(axis, _slab_circles(*axis.project(pts), w, slab, LONG_DEVICE_SECTORS))
    return model


def _tube_outliers(model: TubeModel, pts: np.ndarray) -> np.ndarray:
    """Metal points farther than max(0.9 mm, 0.4 r) from the fitted tube (radius clipped to 0.8-1.2
    times the median), within 2 mm of its fitted range."""
    r_med = float(np.median(model.fits[:, 3]))
    s, x, y = model.axis.project(pts)
    f = model.fits
    rho = np.hypot(x - model._f(1, s), y - model._f(2, s))
    r = np.clip(model.radius(s), 0.8 * r_med, 1.2 * r_med)
    within = (s >= f[0, 0] - 2.0) & (s <= f[-1, 0] + 2.0)
    return (np.abs(rho - r) > max(0.9, 0.4 * r_med)) & within


def tube_fit(ct: Volume, metal: MetalDetection) -> Reconstruction:
    """Curved axis + radius profile by robust per-slab circle fits; tube mesh (see module docstring)."""
    model = _tube_model(ct, metal)
    centres, radius = model.centres(model.s), model.radius(model.s)
    mesh = tube_mesh(model.rings(model.s, radius, 72), centres)
    return Reconstruction(
        "tube_fit", mesh, centres, radius, {"method": "curved axis, robust circle fit per slab"}
    )


def deformable_cylinder(
    ct: Volume, metal: MetalDetection, smoothness: float = 2.0, n_theta: int = 72, iterations: int = 150
) -> Reconstruction:
    """Radial surface r(theta, s) relaxed towards the metal peaks (see module docstring)."""
    model = _tube_model(ct, metal)
    sq = model.s
    centres, radius = model.centres(sq), model.radius(sq)
    _, _, n1, n2 = model.axis.at(sq)
    th = 2 * np.pi * np.arange(n_theta) / n_theta
    ring = np.cos(th)[None, :, None] * n1[:, None, :] + np.sin(th)[None, :, None] * n2[:, None, :]
    r = np.repeat(radius[:, None], n_theta, 1)
    reach = min(1.5, 0.5 * float(np.median(radius)))  # rays never cross the axis of a small stent
    d = np.linspace(-reach, reach, 31)
    excess = ct.with_array(metal.excess)
    for _outer in range(2):
        rays = r[:, :, None] + d[None, None, :]
        p = centres[:, None, None, :] + rays[..., None] * ring[:, :, None, :]
        e = sample(excess, p, cval=0.0) ** 2
        tot = e.sum(-1)
        target = np.where(tot > 0, (e * rays).sum(-1) / np.maximum(tot, 1e-9), r)
        conf = np.clip(e.max(-1) / max(np.percentile(e.max(-1), 90), 1e-6), 0, 1)
        for _ in range(iterations):
            nb = np.roll(r, 1, 1) + np.roll(r, -1, 1)
            nb = nb + np.vstack([r[1:2], r[:-1]]) + np.vstack([r[1:], r[-2:-1]])
            r = (conf * target + smoothness * nb / 4) / (conf + smoothness)
        r = np.clip(r, radius[:, None] - reach, radius[:, None] + reach)
    # The peak of a blurred small ring lies inside it (the far side's blur adds on the inside): keep
    # the relaxed shape (ovality, dents) but anchor each section's mean radius to the corrected fit.
    r = r + (radius - r.mean(1))[:, None]
    mesh = tube_mesh(model.rings(sq, r), centres)
    return Reconstruction(
        "deformable_cylinder",
        mesh,
        centres,
        r.mean(1),
        {"method": "radial surface relaxed to metal peaks", "ovality": float(np.mean(np.ptp(r, 1)))},
    )


def threshold_surface(ct: Volume, metal: MetalDetection, step_mm: float | None = None) -> Reconstruction:
    """Half-maximum metal, convex hull per cross-section of the curved centroid axis (a straightened
    reformat), bloom-corrected, flying edges, mapped back to LPS (see above)."""
    import vtk
    from skimage.morphology import convex_hull_image
    from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    pts, _ = _metal_cloud(ct, metal)
    axis = _tube_model(ct, metal).axis
    s, x, y = axis.project(pts)
    h = float(step_mm or 0.6 * min(ct.spacing))
    rmax = float(np.hypot(x, y).max()) + 2.0
    lat = np.arange(-rmax, rmax + 1e-6, h)
    ss = np.arange(s.min() - 2.0, s.max() + 2.0 + 1e-6, h)
    c, _, n1, n2 = axis.at(ss)
    grid = (
        c[:, None, None, :]
        + lat[None, :, None, None] * n2[:, None, None, :]
        + lat[None, None, :, None] * n1[:, None, None, :]
    )  # [s, v, u]
    img = sample(ct.with_array(metal.excess), grid, cval=0.0)
    peak = ndimage.maximum_filter(img, size=max(3, int(round(3.0 / h))))
    high = (img > 0.5 * peak) & (peak > metal.threshold_hu - metal.blood_median_hu)
    field = np.full(img.shape, -5.0, np.float32)
    depth_bins = []
    hulls = []
    for k in range(len(ss)):
        if high[k].sum() < 6:
            hulls.append(None)
            continue
        hull = convex_hull_image(high[k])
        inside = ndimage.distance_transform_edt(hull) * h
        jj, ii = np.nonzero(high[k])
        ang = np.arctan2(lat[jj], lat[ii])
        b = ((ang + np.pi) / (2 * np.pi) * 36).astype(int) % 36
        dep = np.zeros(36)
        np.maximum.at(dep, b, inside[jj, ii])
        if (dep > 0).sum() < 18:  # metal around less than half the circumference: not a section
            hulls.append(None)
            continue
        depth_bins.extend(dep[dep > 0].tolist())
        hulls.append((hull, inside))
    half = 0.5 * float(np.median(depth_bins)) if depth_bins else 0.0
    for k, item in enumerate(hulls):
        if item is not None:
            hull, inside = item
            field[k] = np.where(hull, inside, -ndimage.distance_transform_edt(~hull) * h) - half
    field = np.pad(field, 1, constant_values=-5.0)
    image = vtk.vtkImageData()
    image.SetDimensions(field.shape[2], field.shape[1], field.shape[0])
    image.SetSpacing(h, h, h)
    image.GetPointData().SetScalars(numpy_to_vtk(field.ravel(), deep=True))
    fe = vtk.vtkFlyingEdges3D()
    fe.SetInputData(image)
    fe.SetValue(0, 0.0)
    fe.ComputeNormalsOff()
    fe.Update()
    mesh = fe.GetOutput()
    q = vtk_to_numpy(mesh.GetPoints().GetData()).astype(float) / h - 1.0  # (iu, iv, is) indices
    lps = axis.to_world(ss[0] + q[:, 2] * h, lat[0] + q[:, 0] * h, lat[0] + q[:, 1] * h)
    mesh.GetPoints().SetData(numpy_to_vtk(np.ascontiguousarray(lps), deep=True))
    filled = field[1:-1, 1:-1, 1:-1] > 0
    area = filled.sum((1, 2)) * h * h
    ok = area > 0
    vv, uu = np.meshgrid(lat, lat, indexing="ij")
    cu = np.array([(uu * f).sum() / max(f.sum(), 1) for f in filled])
    cv = np.array([(vv * f).sum() / max(f.sum(), 1) for f in filled])
    centres = axis.to_world(ss, cu, cv)
    return Reconstruction(
        "threshold_surface",
        mesh,
        centres[ok],
        np.sqrt(area[ok] / np.pi),
        {"method": "half-maximum metal, convex hull per slice, flying edges", "bloomHalfWidthMm": half},
    )


ALGORITHMS = {
    "threshold_surface": threshold_surface,
    "tube_fit": tube_fit,
    "deformable_cylinder": deformable_cylinder,
}
