"""Stenosis detection along a vessel: percent diameter reduction against a reference radius.

Candidates: a straight-line fit of the log radius (exponential taper) against arc length over the
healthy segments (iteratively reweighted: points more than 10 % below the fit are dropped and the
fit repeated), so tapering is followed and the narrowing does not pull it down. A lesion is a run
of points with >= ``min_percent`` % diameter reduction against that fit; its degree is the maximal
reduction ``100 (1 - r / r_ref)`` against the reference interpolated between the healthy segments
proximal and distal to it (:func:`interpolated_reference`, as in quantitative coronary
angiography), its length the arc length (mm) between its shoulders, where the reduction against
the fit falls below ``shoulder_percent``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

# a narrowing too short to count as read is modelled this far on either side: a calcified plaque's
# blooming hides the rest of it (seed 56: 0.8 mm of a 60 % lesion read as narrowed)
PLAQUE_REACH_MM = 2.0
# a side branch's flared start (_junction_flare_mm): wider than this x its own median radius, at
# most this many of its diameters long
FLARE_RATIO, FLARE_DIAMETERS = 1.25, 3.0


@dataclass
class Lesion:
    """One narrowing on ``branch``: ``percent`` diameter reduction, ``length_mm``, ``center`` LPS mm
    (narrowest point), ``reference_radius_mm`` and ``minimal_radius_mm``, ``start_mm`` from the
    branch start."""

    branch: str
    percent: float
    length_mm: float
    center: np.ndarray
    reference_radius_mm: float
    minimal_radius_mm: float
    start_mm: float

    def to_json(self) -> dict:
        return {
            "branch": self.branch,
            "percentDiameter": round(self.percent, 1),
            "lengthMm": round(self.length_mm, 1),
            "centerLPS": [round(float(v), 2) for v in self.center],
            "referenceRadiusMm": round(self.reference_radius_mm, 3),
            "minimalRadiusMm": round(self.minimal_radius_mm, 3),
            "startMm": round(self.start_mm, 1),
        }


def reference_radius(
    s: np.ndarray, r: np.ndarray, iterations: int = 5, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Robust linear fit of radius ``r`` (mm) against arc length ``s`` (mm) over healthy points;
    ``exclude`` (bool): points never used in the fit."""
    use = np.ones(len(s), bool) if exclude is None else ~np.asarray(exclude, bool)
    keep = use.copy()
    fit = np.full(len(s), float(np.median(r)))
    for _ in range(iterations):
        if keep.sum() < 3 or np.ptp(s[keep]) <= 0:
            break
        a, b = np.polyfit(s[keep], np.log(np.maximum(r[keep], 1e-3)), 1)
        fit = np.exp(a * s + b)
        new = (r >= 0.9 * fit) & use
        if (new == keep).all():
            break
        keep = new
    return np.maximum(fit, 1e-3)


def interpolated_reference(
    s: np.ndarray,
    r: np.ndarray,
    fit: np.ndarray,
    a: int,
    e: int,
    healthy: np.ndarray,
    window_mm: float = 8.0,
    gap_mm: float = 1.0,
) -> np.ndarray:
    """Reference radius (mm) over a lesion running from point ``a`` to ``e`` (arc ``s`` mm, radii
    ``r`` mm), interpolated as in quantitative coronary angiography between the healthy segments
    just proximal and just distal to it: the median radius of the ``healthy`` points within
    ``window_mm`` beyond ``gap_mm`` of each shoulder, joined by a straight line in arc length. A side
    without healthy points (the branch start or end) takes the other side's value moved along the
    taper of ``fit`` (the branch-wide robust fit)."""
    sides = []
    for lo, hi in ((s[a] - gap_mm - window_mm, s[a] - gap_mm), (s[e] + gap_mm, s[e] + gap_mm + window_mm)):
        sel = healthy & (s >= lo) & (s <= hi)
        if sel.sum() >= 3:
            at = float(np.median(s[sel]))
            sides.append((at, float(np.median(r[sel])), float(np.interp(at, s, fit))))
    if not sides:
        return fit
    if len(sides) == 1:
        at, value, f = sides[0]
        return fit * (value / f)
    (s0, v0, _), (s1, v1, _) = sides
    return np.interp(s, [s0, s1], [v0, v1])


def calcium_near_points(
    volume, points: np.ndarray, radii: np.ndarray, level_hu: float, reach_mm: float = 1.0
) -> np.ndarray:
    """Per centerline point (LPS mm, lumen radius mm): a voxel of ``volume`` above ``level_hu``
    (calcium) within ``radius + reach_mm`` of it (bool)."""
    arr = volume.array
    sp = np.asarray(volume.spacing, dtype=float)[::-1]
    out = np.zeros(len(points), bool)
    idx = volume.lps_to_index(np.asarray(points, float))[:, ::-1]
    for n, (c, rad) in enumerate(zip(idx, radii)):
        half = np.ceil((rad + reach_mm) / sp).astype(int)
        lo = np.maximum(np.floor(c).astype(int) - half, 0)
        hi = np.minimum(np.ceil(c).astype(int) + half + 1, arr.shape)
        if np.any(hi <= lo):
            continue
        win = arr[tuple(slice(a, b) for a, b in zip(lo, hi))]
        hot = np.argwhere(win > level_hu)
        if len(hot):
            d = np.linalg.norm((hot + lo - c) * sp, axis=1)
            out[n] = bool((d <= rad + reach_mm).any())
    return out


def _longest_run(s: np.ndarray, flag: np.ndarray) -> float:
    """Longest arc length (mm) of consecutive flagged points (arc ``s`` mm); -1 without any."""
    best, start = -1.0, None
    for n, f in enumerate(flag):
        if f and start is None:
            start = n
        if f:
            best = max(best, float(s[n] - s[start]))
        else:
            start = None
    return best


def _junction_flare_mm(s: np.ndarray, r: np.ndarray, skip_mm: float) -> float:
    """Length (mm) past ``skip_mm`` of a side branch's flared start: the points still wider than
    ``FLARE_RATIO`` x the branch's median radius over its next 20 mm, up to ``FLARE_DIAMETERS`` of
    that median diameter (the junction widens the first millimetres of a branch; taken as its
    reference they graded healthy branches as lesions: tuning seed 54 OM1 45 %, seed 78 D1 38 %)."""
    own = (s >= skip_mm) & (s <= skip_mm + 20.0)
    if own.sum() < 5:
        return 0.0
    typical = float(np.median(r[own]))
    cap = skip_mm + FLARE_DIAMETERS * 2.0 * typical
    past = np.nonzero((s >= skip_mm) & (r <= FLARE_RATIO * typical))[0]
    end = float(s[past[0]]) if len(past) else cap
    return max(min(end, cap) - skip_mm, 0.0)


def find_lesions(
    branch: str,
    points: np.ndarray,
    radii: np.ndarray,
    min_percent: float = 25.0,
    min_length_mm: float = 1.0,
    skip_start_mm: float = 2.0,
    skip_end_mm: float = 4.0,
    min_reference_mm: float = 0.75,
    shoulder_percent: float = 10.0,
    voxel_mm: float = 0.0,
    near_calcium: np.ndarray | None = None,
    side_branch: bool = False,
    narrow_radius: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    plaque_radius: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> list[Lesion]:
    """Lesions (>= ``min_percent`` % diameter reduction) along one centerline (LPS mm, radii mm).

    Only where the reference radius is >= ``min_reference_mm`` (vessels >= 1.5 mm diameter are
    graded), beyond ``skip_start_mm`` (a side branch passes that inside its parent's lumen: those
    points are left out of the reference fit too) and not within ``skip_end_mm`` of the branch end
    (the lumen fades there). A narrowing must be more than the noise of a radius estimate on
    ``voxel_mm`` voxels: at least ``min_length_mm`` and two voxels long, and focal: the lumen is
    healthy (below ``shoulder_percent`` reduction) before it and recovers before the branch end,
    else it is the vessel's taper or its step down past a side branch, which an exponential fit
    does not follow (QCA grades a lesion against the healthy segments on both sides of it; a
    lesion at the very start of a traced branch, e.g. ostial, is therefore not reported).

    ``near_calcium`` (bool per point): calcium within reach of the lumen. There a cross-section that
    reads no narrowing is not trusted: the blurred edge of a plaque too small or too faint to cross
    the calcium level reads as lumen (blooming), so the flanks of a calcified lesion look as wide as
    the healthy vessel or wider and would split the lesion and raise its reference. Such points
    are neither reference nor a break in a narrowing; the narrowed points beside them are graded.

    ``narrow_radius`` (narrowed point indices, indices of healthy reference points within 9 mm ->
    radius mm of the narrowed points): a finer radius estimate for the narrowed points of a found
    lesion (a model fit, :func:`..radius.narrow_lumen_radii`, which lowers a reading only), beside
    calcium too: the blooming of a plaque in the wall widens the section readings there (tuning
    seed 54, a 70 % LAD lesion with its plaque outside the lumen: 49 % without the model there, 54 %
    with it); the lesion's degree is then taken from it, and a lesion that it grades below
    ``min_percent`` is dropped.

    ``plaque_radius`` (same arguments): a reading of the other points of a lesion's span, the
    calcium-flagged ones and all within ``PLAQUE_REACH_MM`` of a narrowed run too short to count,
    that only changes a section where a calcified plaque beside the lumen explains it (the
    two-object model, :func:`..calcified.plaque_lumen_radii`): a point it lowers counts as narrowed
    (tuning seed 54's 70 % LAD lesion, whose plaque-side points read 21-24 %: 54 -> 67 %; seed
    56's 60 % LCX lesion, read narrowed over 0.8 mm only: missed -> 47 %)."""
    pts = np.asarray(points, dtype=float)
    r = np.asarray(radii, dtype=float)
    if len(pts) < 5:
        return []
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    inside = s < skip_start_mm
    if side_branch:
        inside = s < skip_start_mm + _junction_flare_mm(s, r, skip_start_mm)
    calc = np.zeros(len(s), bool) if near_calcium is None else np.asarray(near_calcium, bool)
    ref = reference_radius(s, r, exclude=inside if (~inside).sum() >= 5 else None)
    pct = 100.0 * (1.0 - r / ref)
    doubtful = calc & (pct < min_percent)  # beside calcium and not narrowed: blooming, not lumen
    if doubtful.any() and (~(inside | doubtful)).sum() >= 5:
        ref = reference_radius(s, r, exclude=inside | doubtful)
        pct = 100.0 * (1.0 - r / ref)
        doubtful = calc & (pct < min_percent)
    min_run_mm = max(min_length_mm, 2.0 * voxel_mm)
    narrow = (
        (pct >= min_percent) & (s >= skip_start_mm) & (s <= s[-1] - skip_end_mm) & (ref >= min_reference_mm)
    )
    out = []
    i = 0
    while i < len(s):
        if not narrow[i]:
            i += 1
            continue
        j = i  # a run of narrowed points, bridging the doubtful points beside calcium
        while True:
            n = j + 1
            while n < len(s) and doubtful[n] and not narrow[n]:
                n += 1
            if n < len(s) and narrow[n]:
                j = n
            else:
                break
        short = float(s[j] - s[i]) < min_run_mm
        if not short or plaque_radius is not None:
            a, e = i, j  # the lesion runs from shoulder to shoulder, where the narrowing falls to 10 %
            while a > 0 and (pct[a - 1] >= shoulder_percent or doubtful[a - 1]):
                a -= 1
            while e + 1 < len(s) and (pct[e + 1] >= shoulder_percent or doubtful[e + 1]):
                e += 1
            if short:  # a plaque's blooming may hide the rest of the narrowing: model the sections around
                a = min(a, int(np.searchsorted(s, s[i] - PLAQUE_REACH_MM)))
                e = max(e, int(np.searchsorted(s, s[j] + PLAQUE_REACH_MM, side="right")) - 1)
                while inside[a]:
                    a += 1
            # not focal: no healthy segment of its own before it (the point before it lies in the parent
            # lumen, an ostial narrowing) or after it
            if a == 0 or inside[a - 1] or e + 1 >= len(s) or s[e + 1] > s[-1] - skip_end_mm:
                i = e + 1
                continue
            healthy = (pct < shoulder_percent) & ~inside & ~doubtful
            local = interpolated_reference(s, r, ref, a, e, healthy)
            rl = r[a : e + 1].copy()
            read = pct[a : e + 1] >= min_percent  # narrowed as read; others count where the model lowers them
            near = healthy & (s >= s[a] - 9.0) & (s <= s[e] + 9.0)
            near[a : e + 1] = False
            for fine, ask in ((narrow_radius, read), (plaque_radius, ~read & (doubtful[a : e + 1] | short))):
                idx = a + np.nonzero(ask)[0]
                if fine is not None and len(idx):
                    rl[idx - a] = fine(idx, np.nonzero(near)[0])
            lp = 100.0 * (1.0 - rl / local[a : e + 1])
            lp[~read & (rl >= r[a : e + 1])] = -np.inf
            if short and _longest_run(s[a : e + 1], lp >= min_percent) < min_run_mm:
                lp[:] = -np.inf
            k = a + int(np.argmax(lp))
            if lp[k - a] >= min_percent:
                out.append(
                    Lesion(branch, float(lp[k - a]), float(s[e] - s[a]), pts[k].copy(), float(local[k]),
                           float(rl[k - a]), float(s[a]))
                )  # fmt: skip
            if not short or lp[k - a] >= min_percent:  # a short run that is no lesion spans nothing
                j = max(j, e)  # one lesion per shoulder-to-shoulder span
        i = j + 1
    return out
