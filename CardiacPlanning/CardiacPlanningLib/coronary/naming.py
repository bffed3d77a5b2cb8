"""Branch names by topology and position (AHA segment naming, simplified).

Left tree: the first traced path (ostium to the farthest lumen) carries the left main; the LM ends
at the first side branch within ``lm_max_mm`` of the ostium that is long (>= 20 mm) and wide
(>= 0.7 x the main radius there). Of the two daughters the one ending more anterior (smaller LPS P)
is the LAD (it runs in the anterior interventricular groove to the apex), the other the LCX; their
side branches are diagonals (D1, D2, ...) and obtuse marginals (OM1, ...) ordered proximal to distal.
The LCX continues, at each side branch, along the vessel that stays in the AV groove where the
other clearly heads for the apex (an obtuse marginal), else along the wider of the two past their
parting (:func:`follow_wider`): a marginal may outlast the circumflex and so be the
path the tracer took.
Right tree: the main path is the RCA; where its distal part turns towards the apex (the long axis
from the ostia to the LAD end, or the path's own end) past the crux it continues as the PDA
(:func:`crux_split`, also where the traced PDA is short); side
branches of the RCA are named AM (:func:`acute_marginal`: the widest branch that leaves the RCA's
mid-to-distal segment before the crux and runs towards the apex) and RV1, RV2, ... .
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .centerline import TracedBranch, _arc

logger = logging.getLogger(__name__)

# A daughter is narrower than its parent (Murray's law); a "side branch" wider past the parting than
# the parent just before the junction, by more than the radii's scatter, is no daughter (an
# appendage or a vein run into) and never takes over. Tuning cases, side branches taken over:
# 0.67-0.93 x the parent (1.04 at 1.25 mm voxels); an appendage remnant beside the LAD: 1.34.
SIDE_OVER_PARENT_MAX = 1.15
# The parent's calibre for that test: the upper quartile of its radii 2-15 mm before the junction (its
# healthy sections; the mean over 2-8 mm read a 55 % lesion ending at the junction, seed 93 regenerated
# with the 2026-11-29 afternoon phantom, and kept the LCX in OM1).
PARENT_BEFORE_MM = 15.0
# Two lumens count as parted where their walls are this far apart (mm): closer, the scanner's blur
# still joins them and each section reading takes in some of the other lumen.
PARTING_GAP_MM = 1.0
# The two daughters' radii past the parting are compared by an upper quartile over this window (mm),
# the radius of their healthy sections: a focal lesion (the phantom's: raised cosine, 10 mm) just
# past the junction lowers a mean over 10 mm to 0.7 x at 60 % and can make the true continuation
# read narrower than its marginal; the 75th percentile over 15 mm is the healthy radius while the
# lesion leaves a third of the window (0.91 x where it fills a 10 mm one). On 33 tuning trees every
# decision is the 10 mm mean's (side / continuation 0.70-0.89 kept and 1.11-1.31 swapped, against
# 0.70-0.91 and 1.01-1.31).
RADIUS_WINDOW_MM = 15.0
RADIUS_PERCENTILE = 75.0
# Before the calibres, the groove: the LCX runs in the left AV groove, round the heart's base about
# level along the long axis; an obtuse marginal leaves it over the lateral LV wall towards the apex
# (SCCT segments 11-13, Leipsic et al. 2014: the distal LCX is the part past the last marginal "along
# the posterolateral AV groove"). In a right-dominant heart a marginal is often wider than the distal
# LCX, so calibre alone names it LCX. Each daughter's chord over its first RING_WINDOW_MM (at least
# half that long) is projected on the long axis (left ostium -> the LAD's end, the apex): where one
# daughter runs apex-ward by RING_MARGIN (a cosine) less than the other, it is the LCX. Tuning trees
# (phantom 1281233, seeds 92-94, 99, 100, 102, 104-107, 115): LCX 0.09-0.31, marginals 0.30-0.70,
# difference 0.21-0.49 at every OM2 junction, 0.10-0.39 at OM1 (the three under 0.15 left to the
# calibres, which name them right). A ring tangent round that axis (tried first) is no safe
# reference: the ostium-to-apex line misses the heart's axis enough that at OM2 the incoming LCX ran
# at 63-87 degrees to it, and on seed 115 the marginal read as the one going round.
RING_WINDOW_MM = 20.0
RING_MARGIN = 0.15
# A vessel under half the other's calibre past the parting is a small branch whatever its course (an
# atrial or posterolateral twig along the groove); then the calibres decide as before.
RING_MIN_SHARE = 0.5

# The acute marginal leaves the RCA at the acute margin of the heart, where the RCA turns from the
# anterior AV groove towards the inferior crux (the end of the AHA mid RCA segment, about half way
# from the ostium to the crux; Austen et al., Circulation 1975), and runs over the RV free wall
# towards the apex; conus / RV branches leave proximally and run anteriorly over the outflow tract,
# the PDA leaves at the crux. Where its junction lies (fraction of the RCA's arc from the ostium to
# the crux; tuning AMs 0.51-0.74, spurs at 0.00-0.26 and 0.91-0.99):
AM_SEGMENT = (0.3, 0.9)
# cosine between its first 12 mm and the base-to-apex axis (tuning AMs 0.77-1.00; the spurs along
# the RCA, into a vein or a chamber remnant that pass the tests below -0.33 to -0.03):
AM_MIN_APEX_COS = 0.5
# and it must be a branch: this long (mm), its own lumen (past the RCA's wall + 1 mm) at least this
# wide and narrower than the RCA 2-8 mm before the junction (a daughter; tuning AMs 0.51-0.68 x),
# its end clear of the RCA's wall by this much (mm; spurs along the RCA end 0.4-1.7 mm from its axis).
AM_MIN_MM = 6.0
AM_MIN_RADIUS_MM = 0.5
AM_MAX_OVER_RCA = 0.8
AM_CLEAR_MM = 3.0


# The crux split of the traced RCA (:func:`crux_split`): the PDA runs apex-ward at a slope of at least
# this along the base-to-apex axis (the RCA in the AV groove runs about level);
PDA_MIN_RISE = 0.35
# the split is the last point running less steeply with this much path (mm) after it;
PDA_SPLIT_MM = 15.0
# where the traced PDA is shorter (the tracer stopped in it; seed 101: 20 mm of a 71 mm PDA, the last
# shallow point 12 mm before the end, the PDA's first ~10 mm curving out of the AV groove), the crux
# is the most basal point within this window (mm) before that last shallow point, if at least
# PDA_MIN_MM of path follow it (a PDA traced over less is left in the RCA).
PDA_CRUX_WINDOW_MM = 20.0
PDA_MIN_MM = 10.0


@dataclass
class NamedBranch:
    """A named branch: ``points`` (N, 3) LPS mm, ``radii`` (N,) mm, ``parent`` name or None and
    ``parent_index`` (the parent point it starts at); ``tree`` "left"/"right"."""

    name: str
    tree: str
    points: np.ndarray
    radii: np.ndarray
    parent: str | None
    parent_index: int | None


def _children(branches: list[TracedBranch], parent: int) -> list[int]:
    kids = [i for i, b in enumerate(branches) if b.parent == parent]
    return sorted(kids, key=lambda i: branches[i].parent_index)


def _split(branches, i, k, names, tree, parent, pidx, head, tail):
    """Name traced branch ``i`` as ``head`` up to point k and ``tail`` after it."""
    b = branches[i]
    out = [NamedBranch(head, tree, b.points[: k + 1], b.radii[: k + 1], parent, pidx)]
    if len(b.points) - k > 2:
        out.append(NamedBranch(tail, tree, b.points[k:], b.radii[k:], head, k))
    return out


def name_left(branches: list[TracedBranch], min_side_mm: float = 10.0, lm_max_mm: float = 25.0):
    """Named left-tree branches (see the module docstring)."""
    if not branches:
        return []
    main = branches[0]
    s = _arc(main.points)
    kids = _children(branches, 0)
    split = None
    for c in kids:
        k = branches[c].parent_index
        if s[k] > lm_max_mm:
            break
        if branches[c].length_mm >= 20.0 and branches[c].radii[:5].mean() >= 0.7 * main.radii[k]:
            split = c
            break
    if split is None:
        long_kids = [c for c in kids if branches[c].length_mm >= 20.0]
        if not long_kids:
            return _with_sides(branches, 0, "LAD", "left", None, None, "D", min_side_mm)
        split = long_kids[0]
    k = branches[split].parent_index
    cont_end, side_end = main.points[-1], branches[split].points[-1]
    lad_is_main = cont_end[1] <= side_end[1]
    out = [NamedBranch("LM", "left", main.points[: k + 1], main.radii[: k + 1], None, None)]
    cont = TracedBranch(main.points[k:], main.radii[k:], None, None)
    sub = list(branches)
    sub[0] = cont
    for c in range(len(sub)):  # re-index the continuation's side branches
        if c and branches[c].parent == 0:
            sub[c] = TracedBranch(branches[c].points, branches[c].radii, 0, branches[c].parent_index - k)
    sub[split] = TracedBranch(branches[split].points, branches[split].radii, None, None)
    for c in range(len(sub)):
        if c != split and sub[c].parent == 0 and sub[c].parent_index < 0:
            sub[c] = TracedBranch(sub[c].points, sub[c].radii, -1, None)  # before the split: LM sides
    apex = cont_end if lad_is_main else side_end  # the LAD's end
    follow_wider(sub, split if lad_is_main else 0, ring=(main.points[0], apex))
    names = ("LAD", "D", "LCX", "OM") if lad_is_main else ("LCX", "OM", "LAD", "D")
    out += _with_sides(sub, 0, names[0], "left", "LM", k, names[1], min_side_mm)
    out += _with_sides(sub, split, names[2], "left", "LM", k, names[3], min_side_mm)
    return out


def _resampled(points: np.ndarray, radii: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    s = _arc(points)
    g = np.arange(0.0, s[-1] + 1e-9, step)
    return np.stack([np.interp(g, s, points[:, a]) for a in range(3)], axis=1), np.interp(g, s, radii)


def wider_after_parting(
    a_pts,
    a_r,
    b_pts,
    b_r,
    window_mm: float = RADIUS_WINDOW_MM,
    min_mm: float = 3.0,
    step: float = 0.5,
    gap_mm=PARTING_GAP_MM,
    percentile: float = RADIUS_PERCENTILE,
):
    """``(radius a, radius b, parting mm)``: the healthy radii of two vessels leaving one junction
    (both polylines start there), the ``percentile`` of each one's radii over ``window_mm`` from where
    their lumens part (robust to a focal lesion there), the parting the first arc distance from the
    junction at which the two points that far along have walls ``gap_mm`` apart. Before that the two
    traced paths run in one merged lumen and both read its radius. None where they do not part, or
    either has less than ``min_mm`` left after it."""
    pa, ra = _resampled(a_pts, a_r, step)
    pb, rb = _resampled(b_pts, b_r, step)
    n = min(len(pa), len(pb))
    parted = np.nonzero(np.linalg.norm(pa[:n] - pb[:n], axis=1) > ra[:n] + rb[:n] + gap_mm)[0]
    if not len(parted):
        return None
    i, w = int(parted[0]), int(round(window_mm / step))
    if min(len(pa), len(pb)) - i < min_mm / step:
        return None
    return (
        float(np.percentile(ra[i : i + w], percentile)),
        float(np.percentile(rb[i : i + w], percentile)),
        i * step,
    )


def apex_course(points: np.ndarray, ring, window_mm: float = RING_WINDOW_MM) -> float | None:
    """Cosine between the chord of a vessel leaving a junction (``points`` (N, 3) LPS mm from the
    junction) over its first ``window_mm`` (or its length) and the long axis (``ring`` = (a point of
    the axis, the apex), LPS mm): how much it heads for the apex. None where it is shorter than half
    the window."""
    origin, apex = (np.asarray(v, dtype=float) for v in ring)
    axis = apex - origin
    axis = axis / max(np.linalg.norm(axis), 1e-9)
    s = _arc(points)
    if s[-1] < 0.5 * window_mm:
        return None
    d = points[min(int(np.searchsorted(s, window_mm)), len(points) - 1)] - points[0]
    return float(d @ axis / max(np.linalg.norm(d), 1e-9))


def groove_daughter(main: TracedBranch, k: int, side: TracedBranch, ring, radii=None) -> str | None:
    """Which vessel leaving point ``k`` of the traced LCX ``main`` runs on in the AV groove:
    "main" (the traced continuation), "side" (branch ``side``) or None where neither heads for the
    apex clearly less than the other (``RING_MARGIN``) or the one that does is under
    ``RING_MIN_SHARE`` of the other's calibre (``radii``: :func:`wider_after_parting` of the two)."""
    if ring is None:
        return None
    a = apex_course(main.points[k:], ring)
    b = apex_course(side.points, ring)
    if a is None or b is None:
        return None
    r_main, r_side = (radii[0], radii[1]) if radii is not None else (1.0, 1.0)
    if b - a >= RING_MARGIN and r_main >= RING_MIN_SHARE * r_side:
        return "main"
    if a - b >= RING_MARGIN and r_side >= RING_MIN_SHARE * r_main:
        return "side"
    return None


def follow_wider(branches: list[TracedBranch], i: int, min_side_mm: float = 5.0, ring=None) -> None:
    """Make traced branch ``i`` continue, at each of its side branches (proximal to distal), along
    the vessel that runs on in the AV groove (:func:`groove_daughter`, where ``ring`` = (left ostium,
    LAD end) LPS mm is given and one clearly does), else the wider of the two (in place).

    The tracer follows the farthest lumen, so where a side branch outlasts the parent vessel (an
    obtuse marginal longer than the distal circumflex it leaves, as with a non-dominant LCX) the
    traced path runs into the side branch and the vessel's true continuation becomes a "side
    branch". At a bifurcation the parent vessel continues as the larger daughter (Murray's law,
    r_parent^3 = r_1^3 + r_2^3, with the main daughter the wider one; Murray 1926, Zamir 1976);
    the radii (of the healthy sections: an upper quartile, not lowered by a focal lesion) are
    compared past the point where the two lumens part (see :func:`wider_after_parting`), since both
    paths read the merged lumen before it. Where the side
    branch is wider (a tie keeps the traced path), and not wider than the parent 2-8 mm before the
    junction (``SIDE_OVER_PARENT_MAX``), the two swap: branch ``i`` takes the side branch's points
    from the junction, the side branch slot the old continuation from where the lumens part (joined
    to the nearest point of branch ``i``), and the later side branches follow their vessel."""
    seen: set[int] = set()
    while True:
        main = branches[i]
        kids = [c for c in _children(branches, i) if c not in seen and branches[c].length_mm >= min_side_mm]
        if not kids:
            return
        c = kids[0]
        seen.add(c)
        k = int(branches[c].parent_index)
        side = branches[c]
        radii = wider_after_parting(main.points[k:], main.radii[k:], side.points, side.radii)
        groove = groove_daughter(main, k, side, ring, radii)
        if radii is None or groove == "main" or (groove is None and radii[1] <= radii[0]):
            continue
        before = _radii_before(main, _arc(main.points), k, PARENT_BEFORE_MM)
        if len(before) >= 2 and radii[1] > SIDE_OVER_PARENT_MAX * float(
            np.percentile(before, RADIUS_PERCENTILE)
        ):
            continue
        logger.info(
            "traced branch %d continues along its side branch %d (%s; %.2f vs %.2f mm)",
            i,
            c,
            "in the AV groove" if groove else "wider",
            radii[1],
            radii[0],
        )
        new = TracedBranch(
            np.vstack([main.points[:k], side.points]),
            np.concatenate([main.radii[:k], side.radii]),
            main.parent,
            main.parent_index,
        )
        # the old continuation, now a side branch, starts where it leaves the merged lumen (its
        # points before read the shared lumen, which its own narrower one would then "narrow")
        q = max(int(np.searchsorted(_arc(main.points[k:]), radii[2])), 1)
        j = k + int(np.argmin(np.linalg.norm(new.points[k:] - main.points[k + q], axis=1)))
        branches[i] = new
        branches[c] = TracedBranch(
            np.vstack([new.points[j], main.points[k + q :]]),
            np.concatenate([[new.radii[j]], main.radii[k + q :]]),
            i,
            j,
        )
        for m, b in enumerate(branches):
            if b.parent == i and m != c and b.parent_index > k:  # on the old continuation
                branches[m] = TracedBranch(b.points, b.radii, c, max(b.parent_index - k - q + 1, 0))
            elif b.parent == c:  # on the side branch that is now the continuation
                branches[m] = TracedBranch(b.points, b.radii, i, b.parent_index + k)


def _radii_before(b: TracedBranch, s: np.ndarray, k: int, reach_mm: float = 8.0) -> np.ndarray:
    """Radii of ``b`` 2 to ``reach_mm`` mm before its point ``k`` (``s``: its arc length): the parent's
    calibre just before a junction, clear of the junction's widening."""
    return b.radii[(s >= s[k] - reach_mm) & (s <= s[k] - 2.0)]


def _with_sides(branches, i, name, tree, parent, pidx, prefix, min_side_mm):
    """Branch ``i`` named ``name`` plus its side branches ``prefix``1.. (and their own sides)."""
    b = branches[i]
    out = [NamedBranch(name, tree, b.points, b.radii, parent, pidx)]
    n = 0
    for c in _children(branches, i):
        if branches[c].length_mm < min_side_mm:
            continue
        n += 1
        out += _with_sides(
            branches, c, f"{prefix}{n}", tree, name, branches[c].parent_index, f"{prefix}{n}-", min_side_mm
        )
    return out


def name_right(branches: list[TracedBranch], axis: np.ndarray | None = None, min_side_mm: float = 10.0):
    """Named right-tree branches; ``axis`` the unit base-to-apex direction (LPS) if known."""
    if not branches:
        return []
    main = branches[0]
    if axis is None:
        axis = main.points[-1] - main.points[0]
        axis = axis / max(np.linalg.norm(axis), 1e-9)
    split = crux_split(main.points, axis)
    if split is None:
        out = [NamedBranch("RCA", "right", main.points, main.radii, None, None)]
        k = len(main.points) - 1
    else:
        k = split
        out = _split(branches, 0, k, None, "right", None, None, "RCA", "PDA")
    am = acute_marginal(branches, k, axis)
    kids = [c for c in _children(branches, 0) if branches[c].length_mm >= min_side_mm or c == am]
    n_rv = 0
    for c in kids:
        b = branches[c]
        if c == am:
            name, parent, pidx = "AM", "RCA", b.parent_index
        elif b.parent_index <= k:
            n_rv += 1
            name, parent, pidx = f"RV{n_rv}", "RCA", b.parent_index
        else:
            name, parent, pidx = f"PL{c}", "PDA", b.parent_index - k
        out += _with_sides(branches, c, name, "right", parent, pidx, f"{name}-", min_side_mm)
    return out


def crux_split(points: np.ndarray, axis: np.ndarray) -> int | None:
    """Index of the crux on the traced RCA ``points`` (the split into RCA and PDA), or None.

    The RCA runs in the AV groove (at the base, about level along the base-to-apex ``axis``) to the
    crux and the PDA leaves it down the posterior interventricular groove towards the apex. The split
    is the last point before the path's end where it runs less than ``PDA_MIN_RISE`` apex-ward
    (slope of the height along ``axis`` over ~5 mm), with at least ``PDA_SPLIT_MM`` of path after it
    and at 0.4 of the path or later. Where the traced PDA is shorter than that (the tracer stopped in
    it) the crux is the most basal point in the ``PDA_CRUX_WINDOW_MM`` before the last such point,
    kept where at least ``PDA_MIN_MM`` of path follow it that rise apex-ward on average by
    ``PDA_MIN_RISE`` or more (the PDA's first few mm curve out of the AV groove and rise less)."""
    s = _arc(points)
    if s[-1] <= 40.0:
        return None
    h = (points - points[0]) @ axis
    step = max(int(round(5.0 / max(s[-1] / len(s), 1e-3))), 1)
    dh = np.gradient(h, s)
    dh = np.convolve(dh, np.ones(step) / step, mode="same")
    low = np.nonzero(dh[: len(s) - step] < PDA_MIN_RISE)[0]
    if not len(low):
        return None
    last = int(low[-1])
    if s[-1] - s[last] >= PDA_SPLIT_MM and s[last] >= 0.4 * s[-1]:
        return last
    win = np.nonzero((s >= s[last] - PDA_CRUX_WINDOW_MM) & (s <= s[last]))[0]
    k = int(win[np.argmin(h[win])])
    tail = s[-1] - s[k]
    if tail >= PDA_MIN_MM and s[k] >= 0.4 * s[-1] and (h[-1] - h[k]) / tail >= PDA_MIN_RISE:
        return k
    return None


def _am_candidate(main: TracedBranch, s: np.ndarray, b: TracedBranch, axis: np.ndarray):
    """``(own radius, apex cosine)`` of RCA side branch ``b``, or None where it is no branch (too
    short, no lumen of its own past the RCA's wall, as wide as the RCA, or ending beside it)."""
    k = int(b.parent_index)
    if b.length_mm < AM_MIN_MM:
        return None
    before = _radii_before(main, s, k)
    r_rca = float(np.median(before)) if len(before) >= 2 else float(main.radii[k])
    off = np.linalg.norm(b.points[:, None, :] - main.points[None, :, :], axis=2).min(axis=1)
    own = b.radii[off > r_rca + 1.0]
    if len(own) < 2 or off[-1] < r_rca + AM_CLEAR_MM:
        return None
    r = float(np.median(own))
    if r < AM_MIN_RADIUS_MM or r > AM_MAX_OVER_RCA * r_rca:
        return None
    bs = _arc(b.points)
    d = b.points[min(int(np.searchsorted(bs, 12.0)), len(bs) - 1)] - b.points[0]
    return r, float(d @ axis / max(np.linalg.norm(d), 1e-9))


def acute_marginal(branches: list[TracedBranch], k: int, axis: np.ndarray) -> int | None:
    """Index of the traced RCA side branch to name AM (or None): of the branches leaving the RCA
    (branch 0) before point ``k`` (the crux) that run towards the apex (``axis``, unit base to apex;
    cosine >= ``AM_MIN_APEX_COS``) and are branches by :func:`_am_candidate`, the widest one whose
    junction lies in the mid-to-distal segment (``AM_SEGMENT`` of the arc to the crux); failing that,
    the widest anywhere before the crux; failing that none (no RV branch or spur takes the name)."""
    main = branches[0]
    s = _arc(main.points)
    found = []
    for c in _children(branches, 0):
        if branches[c].parent_index > k:
            continue
        f = _am_candidate(main, s, branches[c], axis)
        if f is not None and f[1] >= AM_MIN_APEX_COS:
            mid = AM_SEGMENT[0] <= s[branches[c].parent_index] / max(s[k], 1e-9) <= AM_SEGMENT[1]
            found.append((mid, f[0], branches[c].length_mm, c))
    return max(found)[3] if found else None
