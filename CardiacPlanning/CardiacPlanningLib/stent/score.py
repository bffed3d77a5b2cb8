"""The structure matching score of a reconstruction (0-100), computed from the image alone.

Terms (all areas in mm^2, distances in mm, LPS points):

* **Wall apposition** (only when the region is a lumen label): the lateral envelope (triangles whose
  normal is within ~45 degrees of perpendicular to the axis; the end caps excluded) is sampled at its
  triangle centroids; ``d`` = |signed distance| of each to the lumen boundary (half-voxel corrected
  Euclidean distance transforms, linear interpolation).
  ``A = 100 * sum(area[d <= tol]) / sum(area)``, ``tol`` = 0.5 mm; malapposed area = ``sum(area[d > tol])``.
  For valve frames only the landing zone counts (sections whose median wall gap is within 1 mm of
  the smallest: the annulus, not the sinuses or the LVOT). The total uses the **tolerance-averaged
  share** ``Ab``: the share within tolerance averaged over tolerances spread uniformly from 0.5 to
  1.5 ``tol`` (``Ab = 100 * sum(area * clip((1.5 tol - d) / tol, 0, 1)) / sum(area)``: a sample counts
  fully up to 0.25 mm, not at all past 0.75 mm, linearly between). The step share cannot tell two
  envelopes apart whose samples all lie on one side of 0.5 mm (a coronary stent: d 0.25-0.4 mm for
  every algorithm), the averaged share follows d continuously there (round of 2026-11-29).
* **Contour completeness**: cross-sections every 0.5 mm along the axis, each split into ``n_bins``
  (24) angular bins; a bin is covered when any CT sample within +-``band`` (0.75 mm) of the envelope
  radius and +-``slab`` (1.5 mm, so open cells of a lattice still count) along the axis is metal:
  in the metal detection's mask when it is given (the pipeline; weak struts added by hysteresis
  count, 2026-11-29), else above the metal threshold. ``C = 100 * mean_k(covered_k / n_bins)``;
  the largest circular run of uncovered bins is the worst gap (degrees); continuity
  ``K = 100 * share of cross-sections with >= 50 % coverage``.
* **Strut fidelity** ``F`` (when the metal excess image is given): strut centres are estimated as
  the local maxima (3x3x3) of the metal excess (HU above the local background) at metal voxels,
  refined to sub-voxel position by a parabola through the neighbours along each axis. In the
  reconstruction's own curved-axis frame each centre ``i`` within the envelope's axial extent has
  arc length ``s_i``, angle ``theta_i`` and radius ``rho_i``; the surface's radius there is
  ``rho_i - d_i`` (``d_i`` the signed distance of the centre to the envelope, + outside). The local
  strut radius ``m_i`` is the median of ``rho_j`` over the centres with ``|s_j - s_i| <= 3 mm`` and
  ``|theta_j - theta_i| <= 90 deg`` (``rho_i`` itself with fewer than 5). ``D = mean_i |rho_i - d_i -
  m_i|`` (unweighted), ``F = 100 * max(0, 1 - D / 0.5 mm)``. The median rejects calcium beside the
  struts and bloom-shifted single peaks (a few among ~20 in the window); a surface that bends to
  chase individual peaks pays for leaving their local median, where a surface through the individual
  peaks would have been rewarded (round of 2026-11-29: degraded self-expanding frames). Unweighted:
  calcium has the highest excess and would weigh most.
* **Total**: ``0.5 Ab + 0.3 C + 0.2 K`` with a wall, ``0.6 C + 0.4 K`` without; with ``F``:
  ``0.4 F + 0.3 Ab + 0.2 C + 0.1 K`` with a wall, ``0.5 F + 0.3 C + 0.2 K`` without. Results are
  ranked by it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..imaging.volume import Volume
from .axis import CurvedAxis
from .geometry import Reconstruction, perpendicular_pair, sample, triangle_samples

logger = logging.getLogger(__name__)


@dataclass
class Score:
    """Score terms (see the module docstring); apposition terms are None without a wall."""

    total: float
    apposition: float | None
    malapposed_area_mm2: float | None
    mean_wall_distance_mm: float | None
    completeness: float
    max_gap_deg: float
    continuity: float
    sections: int
    fidelity: float | None = None
    strut_distance_mm: float | None = None
    apposition_averaged: float | None = None  # Ab: the share within tolerance averaged over 0.5-1.5 tol

    def as_dict(self) -> dict:
        return asdict(self)


def wall_distance_field(lumen: np.ndarray, spacing_kji) -> np.ndarray:
    """Signed distance (mm) to the lumen boundary, negative inside, boundary halfway between voxels."""
    sp = np.asarray(spacing_kji, float)
    half = 0.5 * float(sp.min())
    inside = ndimage.distance_transform_edt(lumen, sampling=sp) - half
    outside = ndimage.distance_transform_edt(~lumen, sampling=sp) - half
    return np.where(lumen, -inside, outside).astype(np.float32)


def lateral_triangles(rec: Reconstruction, centroids: np.ndarray, normals: np.ndarray):
    """(arc length along the curved axis (M,) mm, lateral mask (M,)) of mesh triangles: lateral when
    the normal is within ~45 degrees of perpendicular to the local axis direction (not an end cap)."""
    axis = CurvedAxis(np.asarray(rec.axis, float))
    s, _, _ = axis.project(centroids)
    t = axis.at(s)[1]
    return s, np.abs((normals * t).sum(1)) < 0.7


def wall_distances(
    rec: Reconstruction, ct: Volume, lumen: np.ndarray, landing_zone_mm: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(|distance| mm to the lumen boundary, area mm^2) of the lateral envelope's triangles; with
    ``landing_zone_mm`` only those of the landing zone (:func:`apposition`)."""
    cen, area, normal = triangle_samples(rec.mesh)
    s, lateral = lateral_triangles(rec, cen, normal)
    cen, area, s = cen[lateral], area[lateral], s[lateral]
    field = ct.with_array(wall_distance_field(lumen, np.asarray(ct.spacing, float)[::-1]))
    signed = sample(field, cen, cval=1e3)
    if landing_zone_mm is not None and len(cen):
        section = np.floor(s / 0.5).astype(int)
        ids = np.unique(section)
        gap = np.array([np.median(-signed[section == i]) for i in ids])
        zone = ids[gap <= gap.min() + landing_zone_mm]
        keep = np.isin(section, zone)
        signed, area = signed[keep], area[keep]
    return np.abs(signed), area


def apposition(
    rec: Reconstruction,
    ct: Volume,
    lumen: np.ndarray,
    tolerance_mm: float = 0.5,
    landing_zone_mm: float | None = None,
):
    """(share % within tolerance, malapposed area mm^2, mean |distance| mm) of the lateral envelope.

    With ``landing_zone_mm`` (valve frames) only the landing zone counts: the 0.5 mm sections along
    the axis whose median wall gap (wall minus envelope, mm) is within ``landing_zone_mm`` of the
    smallest one, i.e. the annulus, not the sinuses above it or the LVOT outside the label."""
    return _apposition_terms(*wall_distances(rec, ct, lumen, landing_zone_mm), tolerance_mm)


def _apposition_terms(d: np.ndarray, area: np.ndarray, tolerance_mm: float) -> tuple[float, float, float]:
    ok = d <= tolerance_mm
    total = float(area.sum())
    share = 100.0 * float(area[ok].sum()) / total if total > 0 else 0.0
    return share, float(area[~ok].sum()), float((d * area).sum() / max(total, 1e-9))


def averaged_share(d: np.ndarray, area: np.ndarray, tolerance_mm: float = 0.5) -> float:
    """The share (%) of ``area`` within tolerance averaged over tolerances spread uniformly from 0.5
    to 1.5 ``tolerance_mm``: each sample counts ``clip((1.5 tol - d) / tol, 0, 1)``."""
    total = float(np.sum(area))
    if total <= 0:
        return 0.0
    weight = np.clip((1.5 * tolerance_mm - np.abs(d)) / tolerance_mm, 0.0, 1.0)
    return 100.0 * float((weight * area).sum()) / total


def _resample_axis(axis: np.ndarray, radius: np.ndarray, step: float):
    seg = np.linalg.norm(np.diff(axis, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    q = np.linspace(0.0, s[-1], max(int(round(s[-1] / step)), 1) + 1)
    pts = np.stack([np.interp(q, s, axis[:, a]) for a in range(3)], 1)
    tan = np.gradient(pts, axis=0) if len(pts) > 1 else np.array([[0.0, 0.0, 1.0]])
    tan /= np.maximum(np.linalg.norm(tan, axis=1, keepdims=True), 1e-9)
    return pts, tan, np.interp(q, s, radius)


def completeness(
    rec: Reconstruction,
    ct: Volume,
    threshold_hu: float,
    n_bins: int = 24,
    band_mm: float = 0.75,
    slab_mm: float = 1.5,
    step_mm: float = 0.5,
    metal_mask: np.ndarray | None = None,
) -> tuple[float, float, float, int]:
    """(completeness %, worst gap degrees, continuity %, number of cross-sections). With
    ``metal_mask`` (the detection on ``ct``'s grid, weak struts found by hysteresis included) a
    sample is metal when it falls in the mask, else when its HU exceeds ``threshold_hu``."""
    pts, tan, rad = _resample_axis(
        np.asarray(rec.axis, float), np.asarray(rec.radius_profile, float), step_mm
    )
    per_bin = 5
    th = 2 * np.pi * (np.arange(n_bins * per_bin) + 0.5) / (n_bins * per_bin)
    dr = np.arange(-band_mm, band_mm + 1e-6, 0.25)
    dz = np.arange(-slab_mm, slab_mm + 1e-6, 0.5) if slab_mm > 0 else np.zeros(1)
    image, level = ct, threshold_hu
    if metal_mask is not None:
        image, level = ct.with_array(np.asarray(metal_mask, np.float32)), 0.5
    cov, gaps = [], []
    for p, t, r in zip(pts, tan, rad, strict=True):
        u, v = perpendicular_pair(t)
        ring = np.cos(th)[:, None] * u + np.sin(th)[:, None] * v  # (A, 3)
        q = (
            p + dz[None, None, :, None] * t + (r + dr)[None, :, None, None] * ring[:, None, None, :]
        )  # (A, R, Z, 3)
        hit = (sample(image, q) > level).any(axis=(1, 2)).reshape(n_bins, per_bin).any(1)
        cov.append(hit.mean())
        gaps.append(_longest_false_run(hit) * 360.0 / n_bins)
    cov = np.asarray(cov)
    return 100.0 * float(cov.mean()), float(max(gaps)), 100.0 * float((cov >= 0.5).mean()), len(cov)


def strut_peaks(ct: Volume, excess: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(LPS points (N, 3) mm, weights (N,)) of the strut centres seen in the metal ``excess`` image:
    local maxima (3x3x3) at ``mask`` voxels, refined by a parabola through the two neighbours along
    each index axis (offset clipped to half a voxel)."""
    e = np.asarray(excess, np.float32)
    peak = mask & (e > 0) & (e >= ndimage.maximum_filter(e, size=3))
    kji = np.argwhere(peak)
    kji = kji[np.all((kji > 0) & (kji < np.array(e.shape) - 1), axis=1)]
    if len(kji) == 0:
        return np.zeros((0, 3)), np.zeros(0)
    c = e[tuple(kji.T)]
    off = np.zeros((len(kji), 3))
    for a in range(3):
        step = np.zeros(3, int)
        step[a] = 1
        lo, hi = e[tuple((kji - step).T)], e[tuple((kji + step).T)]
        den = lo - 2 * c + hi
        off[:, a] = np.clip(np.where(den < 0, 0.5 * (lo - hi) / np.where(den < 0, den, -1.0), 0.0), -0.5, 0.5)
    return ct.index_to_lps((kji + off)[:, ::-1]), c.astype(float)


FIDELITY_WINDOW_MM = 3.0  # axial half-width of the local-median window (mm)
FIDELITY_WINDOW_DEG = 90.0  # angular half-width (degrees)
FIDELITY_MIN_NEIGHBOURS = 5


def local_strut_radius(s: np.ndarray, theta: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Median strut radius ``m_i`` around each centre (window of :data:`FIDELITY_WINDOW_MM` along
    the axis and :data:`FIDELITY_WINDOW_DEG` around it, the centre included); ``rho_i`` itself where
    the window holds fewer than :data:`FIDELITY_MIN_NEIGHBOURS` centres."""
    out = np.asarray(rho, float).copy()
    half = np.deg2rad(FIDELITY_WINDOW_DEG)
    for lo in range(0, len(s), 512):  # (512, N) blocks: memory bounded for coronary point clouds
        ds = np.abs(s[lo : lo + 512, None] - s[None, :])
        dt = np.abs((theta[lo : lo + 512, None] - theta[None, :] + np.pi) % (2 * np.pi) - np.pi)
        near = (ds <= FIDELITY_WINDOW_MM) & (dt <= half)
        for k, row in enumerate(near):
            if row.sum() >= FIDELITY_MIN_NEIGHBOURS:
                out[lo + k] = float(np.median(rho[row]))
    return out


def fidelity(
    rec: Reconstruction, ct: Volume, excess: np.ndarray, mask: np.ndarray
) -> tuple[float, float] | None:
    """(F 0-100, D mm): the mean distance ``D`` between the envelope and the local median strut
    radius at the strut centres within the envelope's axial extent (module docstring),
    ``F = 100 max(0, 1 - D / 0.5)``; None when the image shows fewer than 10 separate strut peaks
    (e.g. a coronary stent whose bloomed struts merge), so that every reconstruction of one image is
    scored by the same formula."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk

    pts, _ = strut_peaks(ct, excess, mask)
    if len(pts) < 10:
        return None
    axis = CurvedAxis(np.asarray(rec.axis, float))
    s, x, y = axis.project(pts)
    inside = (s >= 0.0) & (s <= axis.length)
    if inside.sum() < 10:  # the envelope misses the struts: measure to all of them
        inside = np.ones(len(pts), bool)
    dist = vtk.vtkImplicitPolyDataDistance()
    dist.SetInput(rec.mesh)
    vals = vtk.vtkDoubleArray()
    dist.FunctionValue(numpy_to_vtk(np.ascontiguousarray(pts[inside]), deep=True), vals)
    signed = np.array([vals.GetValue(i) for i in range(vals.GetNumberOfTuples())])
    rho = np.hypot(x, y)[inside]
    m = local_strut_radius(s[inside], np.arctan2(y, x)[inside], rho)
    mean = float(np.abs(rho - signed - m).mean())
    return 100.0 * max(0.0, 1.0 - mean / 0.5), mean


def _longest_false_run(hit: np.ndarray) -> int:
    if hit.all():
        return 0
    if not hit.any():
        return len(hit)
    h = np.roll(hit, -int(np.argmax(hit)))  # start on a covered bin: runs do not wrap
    best = run = 0
    for x in h:
        run = 0 if x else run + 1
        best = max(best, run)
    return best


def score(
    rec: Reconstruction,
    ct: Volume,
    threshold_hu: float,
    lumen: np.ndarray | None = None,
    tolerance_mm: float = 0.5,
    slab_mm: float = 1.5,
    landing_zone_mm: float | None = None,
    excess: np.ndarray | None = None,
    metal_mask: np.ndarray | None = None,
) -> Score:
    """The structure matching score of ``rec`` on the (cropped) ``ct``; ``lumen`` bool mask on its
    grid; ``excess`` (HU above background) and ``metal_mask`` on its grid add the strut fidelity."""
    c, gap, k, n = completeness(rec, ct, threshold_hu, slab_mm=slab_mm, metal_mask=metal_mask)
    fid = fidelity(rec, ct, excess, metal_mask) if excess is not None and metal_mask is not None else None
    f, sd = fid if fid is not None else (None, None)
    if lumen is not None and lumen.any():
        d, area = wall_distances(rec, ct, lumen, landing_zone_mm)
        a, mal, dist = _apposition_terms(d, area, tolerance_mm)
        ab = averaged_share(d, area, tolerance_mm)
        total = 0.5 * ab + 0.3 * c + 0.2 * k if f is None else 0.4 * f + 0.3 * ab + 0.2 * c + 0.1 * k
    else:
        a = mal = dist = ab = None
        total = 0.6 * c + 0.4 * k if f is None else 0.5 * f + 0.3 * c + 0.2 * k
    return Score(float(total), a, mal, dist, c, gap, k, n, f, sd, ab)


def score_for(rec: Reconstruction, region, metal, kind: str = "generic") -> Score:
    """:func:`score` of ``rec`` on a :class:`~.region.Region` with its metal detection, as the
    pipeline scores it (valve frames: apposition over the annulus landing zone; strut fidelity from
    the metal excess)."""
    zone = 1.0 if kind == "valve" else None
    return score(
        rec,
        region.ct,
        metal.threshold_hu,
        region.lumen,
        landing_zone_mm=zone,
        excess=metal.excess,
        metal_mask=metal.mask,
    )
