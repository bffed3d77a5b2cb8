"""Coronary tree of the phantom: named branches on the epicardium with tapering radii, stenoses and
calcified plaque, all in LPS mm, plus their partial-volume occupancy on a reference grid.

Only the anatomy interface is used: ``anatomy.epicardium`` (vtkPolyData, outward normals) and
``anatomy.aortic_root`` (dict with ``annulus_center``, ``annulus_normal`` and ``ostia``).

Sizes (radius in mm at the start -> end, lengths in mm) follow the patient-derived left coronary tree
of SimVascular's svOneDSolver test case ``Left_coronary_inlet_pressure_wave_outlet_coronary``
(../shared/data/geometry): main vessel 2.6 -> 0.8 mm over 110 mm (left main ~2.5 mm for the first
~7 mm, then ~1.75 mm), second main vessel 2.3 -> 1.0 mm over 147 mm, side branches 30-49 mm long
from 0.8-1.3 mm to 0.6-0.75 mm; and the usual clinical diameters (left main 4-5 mm, proximal LAD
~3.5 mm, proximal RCA 3.5-4 mm; Dodge et al., Circulation 1992).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..centerlines import branches_json, vessel_path
from ..errors import CardiacInputError
from . import sweep
from .coronary_paths import TAKEOFF_MM, HeartFrame, SurfacePather

logger = logging.getLogger(__name__)

BRANCH_NAMES = ("LM", "LAD", "D1", "D2", "LCX", "OM1", "OM2", "RCA", "AM", "PDA")


@dataclass
class Branch:
    """One vessel: centreline ``points`` (N, 3) LPS mm from proximal to distal, lumen ``radii`` (N,) mm.

    ``parent_index`` is the index of the parent centreline point where this branch starts."""

    name: str
    tree: str  # "left" | "right"
    parent: str | None
    points: np.ndarray
    radii: np.ndarray
    parent_index: int | None = None

    @property
    def arc_length(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(self.points, axis=0), axis=1))])

    @property
    def length_mm(self) -> float:
        return float(self.arc_length[-1])


@dataclass
class Stenosis:
    """A smooth (raised-cosine) narrowing of ``percent`` diameter reduction over ``length_mm``
    centred at fraction ``position`` of the branch length. Ground truth fields are filled on build."""

    branch: str
    position: float
    percent: float
    length_mm: float = 10.0
    center_lps: np.ndarray | None = None
    reference_radius_mm: float | None = None
    minimal_radius_mm: float | None = None

    def to_json(self) -> dict:
        return {
            "branch": self.branch,
            "position": self.position,
            "percentDiameter": self.percent,
            "lengthMm": self.length_mm,
            "centerLPS": None if self.center_lps is None else [float(v) for v in self.center_lps],
            "referenceRadiusMm": self.reference_radius_mm,
            "minimalRadiusMm": self.minimal_radius_mm,
        }


@dataclass
class CalciumBlob:
    """A calcified plaque: a sphere (LPS mm centre, radius mm) at the wall of ``branch``."""

    branch: str
    center: np.ndarray
    radius_mm: float


@dataclass
class CoronaryTree:
    branches: list[Branch]
    stenoses: list[Stenosis] = field(default_factory=list)
    calcium: list[CalciumBlob] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.branches]

    def branch(self, name: str) -> Branch:
        for b in self.branches:
            if b.name == name:
                return b
        raise CardiacInputError(f"no coronary branch named {name!r} (have {', '.join(self.names)})")

    def vessel_path(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(points (N, 3) LPS mm, radii (N,) mm) from the ostium through the parents to the end of
        branch ``name`` (e.g. LM + LAD + D1), as vessels are scored in the Rotterdam framework."""
        return vessel_path(self.branch, name)

    def to_json(self) -> dict:
        """``{"coordinateSystem": "LPS", "branches": [{name, tree, parent, points, radii}], ...}``."""
        return {
            "coordinateSystem": "LPS",
            "units": "mm",
            "branches": branches_json(self.branches, 4),
            "stenoses": [s.to_json() for s in self.stenoses],
            "calcium": [
                {"branch": c.branch, "center": [float(v) for v in c.center], "radiusMm": c.radius_mm}
                for c in self.calcium
            ],
        }

    def transformed(self, fn: Callable[[np.ndarray], np.ndarray]) -> CoronaryTree:
        """A copy with every point (centrelines, stenosis centres, calcium) mapped by ``fn``
        ((N, 3) LPS mm -> (N, 3) LPS mm, e.g. the phantom motion); radii are kept."""
        branches = [replace(b, points=np.asarray(fn(b.points), dtype=float)) for b in self.branches]
        stenoses = [
            replace(s, center_lps=None if s.center_lps is None else np.asarray(fn(s.center_lps[None]))[0])
            for s in self.stenoses
        ]
        calcium = [replace(c, center=np.asarray(fn(c.center[None]))[0]) for c in self.calcium]
        return CoronaryTree(branches, stenoses, calcium)


# Nominal (proximal, distal) lumen radii in mm, each varied by +-10 % per seed; a child starts at most
# at 85 % of its parent's radius at the branch point. Path angles and heights: see the calls below.
_RADII = {
    "LM": (2.3, 2.15),
    "LAD": (1.8, 0.7),
    "D1": (1.1, 0.6),
    "D2": (0.95, 0.55),
    "LCX": (1.65, 0.8),
    "OM1": (1.1, 0.6),
    "OM2": (1.0, 0.55),
    "RCA": (1.9, 1.1),
    "AM": (0.95, 0.55),
    "PDA": (1.2, 0.6),
}

# A side branch leaves its parent at no less than this angle (degrees, drawn per branch) over its
# first few mm (``SurfacePather.side_branch``). Bifurcation angles measured by CT in patients:
# LAD/diagonal and LCX/obtuse marginal roughly 40-60 degrees on average, SD ~20 (Pflederer et al.,
# Invest Radiol 2006; Girasis et al., 2013). Before 2026-11-29 the phantom's OM2 left an already
# descending LCX at 4-13 degrees and the two lumens overlapped for 11-33 mm (seeds 51-98).
TAKEOFF_DEG = (40.0, 70.0)
# The (non-dominant) LCX runs in the left AV groove to its end, which lies this far (degrees round the
# heart's long axis) before the crux; the obtuse marginals leave it towards the apex. The distal LCX
# is the segment "distal to the most distal obtuse marginal, running along the posterolateral AV
# groove" (SCCT segment 13; Leipsic et al., J Cardiovasc Comput Tomogr 2014; AHA segment 13, Austen
# et al. 1975). Before 2026-11-29 (afternoon) the phantom's LCX left the groove at the obtuse margin
# and ran 60 mm down the lateral wall (``descend_mm=60``): past OM2 it was itself a marginal, running
# down beside OM2, and the name "LCX" on it had no anatomical landmark (cases generated before).
LCX_END_BEFORE_CRUX_DEG = 15.0
# At the last obtuse marginal (OM2) the LCX divides by Murray's law (r_parent^3 = r_om^3 + r_lcx^3;
# Murray 1926) with the marginal's share drawn per seed: OM2 / distal-LCX radius ratio in this range.
# In a right-dominant heart the circumflex past its last marginal is often the smaller daughter; with
# the LCX's own taper the marginal reads the wider a few mm past the take-off on about half the seeds
# (before, OM2 started at <= 0.85 x the LCX, which ran on unchanged: the marginal was always the
# narrower). The distal LCX narrows to its share over LCX_STEP_MM past the take-off (the two lumens
# part there).
OM2_OVER_DISTAL_LCX = (0.7, 1.2)
LCX_STEP_MM = 4.0


def build_coronary_tree(
    anatomy,
    rng: np.random.Generator | int | None = None,
    stenoses: list[Stenosis | dict] | None = None,
    calcified: bool = False,
    step_mm: float = 0.4,
) -> CoronaryTree:
    """Build the left (LM, LAD, D1, D2, LCX, OM1, OM2) and right (RCA, AM, PDA) trees for ``anatomy``.

    Paths start at the ostia, run on / just outside the epicardium (centre at surface + radius +
    a 0.6 mm fat gap): LAD in the anterior interventricular groove to the apex, LCX and RCA in the AV groove,
    PDA in the posterior groove. Lengths, angles and radii are varied per ``rng`` (seed or Generator).
    ``stenoses``: :class:`Stenosis` or dicts with branch, position, percent, length_mm.
    ``calcified``: add calcium blobs at the wall (and under each stenosis).
    """
    rng = np.random.default_rng(rng)
    # Take-off angles come from a child stream: the main stream (paths, lengths, radii, calcium of
    # every seed) draws exactly what it drew before side branches had a take-off angle.
    try:
        takeoff_rng = rng.spawn(1)[0]
        share_rng = rng.spawn(1)[0]  # the marginal's share (a second child: the others unchanged)
    except (TypeError, ValueError, AttributeError):  # a Generator without a seed sequence
        takeoff_rng, share_rng = np.random.default_rng(0), np.random.default_rng(1)
    frame = HeartFrame.from_anatomy(anatomy)
    pather = SurfacePather(anatomy.epicardium, frame, step_mm)
    jit = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    scale = {k: (v[0] * jit(0.9, 1.1), v[1] * jit(0.9, 1.1)) for k, v in _RADII.items()}
    ostia = anatomy.aortic_root["ostia"]
    branches: dict[str, Branch] = {}

    def add(name, tree, parent, parent_index, pts):
        r0, r1 = scale[name]
        if parent is not None:
            r0 = min(r0, 0.85 * float(branches[parent].radii[parent_index]))
            r1 = min(r1, 0.8 * r0)
        r1 = min(r1, 0.95 * r0)
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        radii = r0 * (r1 / r0) ** (s / max(s[-1], 1e-6))
        branches[name] = Branch(name, tree, parent, pts, radii, parent_index)

    def child(name, parent, fraction, dphi, dh_frac, length):
        par = branches[parent]
        k = int(np.argmin(np.abs(par.arc_length - fraction * par.length_mm)))
        ahead = int(np.searchsorted(par.arc_length, par.arc_length[k] + TAKEOFF_MM))
        course = (
            par.points[min(max(ahead, k + 1), len(par.points) - 1)] - par.points[min(k, len(par.points) - 2)]
        )
        takeoff = np.deg2rad(takeoff_rng.uniform(*TAKEOFF_DEG))
        args = (par.points[k], dphi, dh_frac * frame.height, length, _RADII[name][0])
        course = course / np.linalg.norm(course)
        # as drawn, unless its lumen stays merged with the parent's past two parent diameters from
        # the junction (a real side branch's parts within one to two): then taking off to either
        # side of the parent, whichever path's lumen overlaps the parent's the least (the first on
        # a tie)
        r_child = min(scale[name][0], 0.85 * float(par.radii[k]))
        pts = pather.side_branch(*args)
        if _merged_mm(par, pts, r_child) > 4.0 * float(par.radii[k]):
            paths = [pts] + [
                pather.side_branch(*args, parent_course=course, takeoff=takeoff, side=sd)
                for sd in (1.0, -1.0)
            ]
            pts = min(paths, key=lambda p: _merged_mm(par, p, r_child))
        add(name, par.tree, parent, k, pts)

    # Left tree: LM leftwards (behind the pulmonary trunk) towards the AV groove, bifurcating into the
    # LAD (round the outflow tracts into the anterior interventricular groove) and the LCX.
    phi_lad = np.deg2rad(jit(20, 35))
    lm = pather.straight_from(ostia["left"], frame.surface_point(frame.h_av, np.deg2rad(jit(85, 100))))
    lm = pather.truncate(lm, jit(8.0, 13.0))
    add("LM", "left", None, None, lm)
    add("LAD", "left", "LM", len(lm) - 1, pather.groove_path(lm[-1], "iv", phi_lad, _RADII["LAD"][0]))
    phi_crux = np.deg2rad(jit(-200, -180))  # where the RCA gives the PDA (right dominance)
    phi_lcx_end = np.deg2rad(jit(145, 170))  # the LCX ends before the crux
    phi_lcx0 = float(np.clip(frame.angle(lm[-1:])[0], np.deg2rad(45), np.deg2rad(100)))  # no U-turn
    phi_lcx_end = min(
        max(phi_lcx_end, phi_lcx0 + np.deg2rad(50)),
        phi_crux + 2 * np.pi - np.deg2rad(LCX_END_BEFORE_CRUX_DEG),
    )
    lcx = pather.groove_path(lm[-1], "av", (phi_lcx0, phi_lcx_end), _RADII["LCX"][0])
    lcx = pather.truncate(lcx, jit(60.0, 85.0))  # drawn as before (the groove is 39-62 mm long)
    add("LCX", "left", "LM", len(lm) - 1, lcx)
    child("D1", "LAD", jit(0.18, 0.26), np.deg2rad(jit(45, 60)), 0.55, jit(38, 50))
    child("D2", "LAD", jit(0.38, 0.48), np.deg2rad(jit(40, 55)), 0.5, jit(32, 45))
    child("OM1", "LCX", jit(0.30, 0.40), np.deg2rad(jit(5, 15)), 0.7, jit(40, 52))
    child("OM2", "LCX", jit(0.60, 0.72), np.deg2rad(jit(0, 12)), 0.7, jit(34, 48))
    _murray_split(branches["LCX"], branches["OM2"], float(share_rng.uniform(*OM2_OVER_DISTAL_LCX)))
    # Right tree: RCA round the right AV groove to the crux, AM on the RV free wall, PDA downwards.
    rca = pather.groove_path(ostia["right"], "av", (np.deg2rad(-30), phi_crux), _RADII["RCA"][0])
    add("RCA", "right", None, None, rca)
    off = frame.angle(rca) - np.deg2rad(jit(-110, -95))
    k_am = int(np.argmin(np.abs(np.angle(np.exp(1j * off)))))  # the acute margin (right lateral)
    child("AM", "RCA", branches["RCA"].arc_length[k_am] / branches["RCA"].length_mm, 0.0, 0.6, jit(35, 48))
    pda_phi = float(frame.angle(rca)[-1])
    pda = pather.groove_path(
        rca[-1], "iv", pda_phi, _RADII["PDA"][0], h_end=0.85 * frame.height, window_deg=24
    )
    add("PDA", "right", "RCA", len(rca) - 1, pather.truncate(pda, jit(55, 75)))

    tree = CoronaryTree([branches[n] for n in BRANCH_NAMES])
    for spec in stenoses or []:
        tree.stenoses.append(_apply_stenosis(tree, spec))
    if calcified:
        tree.calcium = _calcium_blobs(tree, rng)
    logger.info(
        "coronary tree: %s",
        ", ".join(f"{b.name} {b.length_mm:.0f} mm r {b.radii[0]:.2f}" for b in tree.branches),
    )
    return tree


def _murray_split(parent: Branch, om: Branch, ratio: float) -> None:
    """Radii (in place) of ``parent`` past the take-off of ``om`` and of ``om``: the two daughters
    of the parent's radius there by Murray's law, ``om`` ``ratio`` x the parent's continuation; the
    continuation narrows to its share over ``LCX_STEP_MM``, both keep their own taper."""
    k = int(om.parent_index)
    r_p = float(parent.radii[k])
    r_cont = r_p / (1.0 + ratio**3) ** (1.0 / 3.0)
    s = parent.arc_length[k:] - parent.arc_length[k]
    parent.radii[k:] = parent.radii[k:] * (1.0 + (r_cont / r_p - 1.0) * np.clip(s / LCX_STEP_MM, 0.0, 1.0))
    om.radii = om.radii * (ratio * r_cont / float(om.radii[0]))


def _merged_mm(parent: Branch, pts: np.ndarray, radius: float) -> float:
    """Arc length (mm) along ``pts`` up to its last point whose lumen (``radius``) touches the lumen
    of ``parent`` (union of its swept spheres)."""
    dense, dense_r = sweep.densify(parent.points, parent.radii, 0.2)
    gap = np.array([np.min(np.linalg.norm(dense - p, axis=1) - dense_r) for p in pts]) - radius
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    touching = np.nonzero(gap <= 0.0)[0]
    return float(s[touching[-1]]) if len(touching) else 0.0


def _apply_stenosis(tree: CoronaryTree, spec: Stenosis | dict) -> Stenosis:
    if isinstance(spec, dict):
        missing = [k for k in ("branch", "position", "percent") if k not in spec]
        if missing:
            raise CardiacInputError(f"stenosis {spec} lacks {', '.join(missing)}")
        spec = Stenosis(
            branch=spec["branch"],
            position=float(spec["position"]),
            percent=float(spec["percent"]),
            length_mm=float(spec.get("length_mm", 10.0)),
        )
    if not 0.0 <= spec.percent < 100.0:
        raise CardiacInputError(f"stenosis percent must be in [0, 100), got {spec.percent}")
    if not 0.0 < spec.position < 1.0 or spec.length_mm <= 0:
        raise CardiacInputError(
            f"stenosis position must be in (0, 1) and length > 0 mm, got {spec.position}, {spec.length_mm}"
        )
    b = tree.branch(spec.branch)
    s = b.arc_length
    s0 = spec.position * s[-1]
    u = np.clip((s - s0) / spec.length_mm, -0.5, 0.5)
    k = int(np.argmin(np.abs(s - s0)))
    ref = float(np.interp(s0, s, b.radii))
    b.radii = b.radii * (1.0 - spec.percent / 100.0 * 0.5 * (1.0 + np.cos(2.0 * np.pi * u)))
    return replace(
        spec,
        center_lps=b.points[k].copy(),
        reference_radius_mm=ref,
        minimal_radius_mm=ref * (1.0 - spec.percent / 100.0),
    )


def _calcium_blobs(tree: CoronaryTree, rng: np.random.Generator) -> list[CalciumBlob]:
    """Eccentric calcium spheres (radius 0.6-1.4 mm): one at each stenosis and 3-6 in the
    proximal-mid segments of LM/LAD/LCX/RCA.

    The 3-6 scattered plaques are centred 0.4 radius outside the lumen (60 % of the radius protrudes
    into it). A stenosis's plaque lies in the wall *outside* the narrowed lumen, touching it (centre
    at lumen radius + plaque radius, moved further out where it would reach into any lumen), so
    that the lesion's truth (``percentDiameter``, from the centreline radii) is the lumen the CT
    shows: a plaque painted over the narrowed lumen narrowed it further than its truth said (seed
    54's 70 % LAD lesion left a 99 % lumen). The search for a free spot draws the same random
    numbers as before, so the other plaques and the paths of a seed do not move."""
    n_lesion = len(tree.stenoses)
    spots = [(s.branch, s.position) for s in tree.stenoses]
    for _ in range(int(rng.integers(3, 7))):
        spots.append(
            (str(rng.choice(["LM", "LAD", "LAD", "LCX", "RCA", "RCA"])), float(rng.uniform(0.05, 0.6)))
        )
    dense = [sweep.densify(b.points, b.radii, 0.1) for b in tree.branches]
    every = np.vstack([p for p, _ in dense])
    every_r = np.concatenate([r for _, r in dense])
    blobs = []
    for i, (name, frac) in enumerate(spots):
        b = tree.branch(name)
        rad = float(rng.uniform(0.6, 1.4))
        best, best_depth, best_kd = None, -np.inf, None
        for attempt in range(40):  # a spot whose blob reaches no deeper into any lumen (bifurcations)
            shift = 0.0 if attempt < 10 else rng.uniform(-8.0, 8.0)
            k = int(np.argmin(np.abs(b.arc_length - (frac * b.length_mm + shift))))
            k1 = min(max(k, 1), len(b.points) - 1)
            t = b.points[k1] - b.points[k1 - 1]
            t /= np.linalg.norm(t)
            d = rng.normal(size=3)
            d -= d.dot(t) * t
            d /= np.linalg.norm(d)
            center = b.points[k] + d * (b.radii[k] + 0.4 * rad)
            depth = float(np.min(np.linalg.norm(every - center, axis=1) - every_r))
            if depth > best_depth:
                best, best_depth, best_kd = center, depth, (k, d)
            if depth > 0.4 * rad - 0.02:
                break
        if i < n_lesion:
            best = _outside_lumen(b.points[best_kd[0]], best_kd[1], b.radii[best_kd[0]], rad, every, every_r)
        blobs.append(CalciumBlob(name, best, rad))
    return blobs


def _outside_lumen(
    point: np.ndarray,
    direction: np.ndarray,
    lumen_mm: float,
    rad: float,
    every: np.ndarray,
    every_r: np.ndarray,
) -> np.ndarray:
    """Centre (LPS mm) of a plaque of radius ``rad`` on the ray from the centreline ``point`` along
    ``direction``, touching the lumen (``lumen_mm`` out) and moved out until its sphere clears every
    lumen (union of the swept spheres ``every`` / ``every_r``) by 0.05 mm."""
    dist = lumen_mm + rad + 0.05
    for _ in range(20):
        center = point + direction * dist
        depth = float(np.min(np.linalg.norm(every - center, axis=1) - every_r))
        if depth >= rad + 0.05 - 1e-6:
            break
        dist += rad + 0.05 - depth
    return center


def tree_occupancy(tree: CoronaryTree, reference, supersample: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) float32 fractions ``[z, y, x]`` of each voxel of ``reference`` inside the lumen
    of the left / right tree (union of spheres swept along the centrelines)."""
    out = []
    for side in ("left", "right"):
        pts, rad = [], []
        for b in tree.branches:
            if b.tree == side:
                step = max(min(0.25, 0.25 * float(b.radii.min())), 0.05)
                p, r = sweep.densify(b.points, b.radii, step)
                pts.append(p)
                rad.append(r)
        if not pts:
            out.append(np.zeros(reference.shape, np.float32))
            continue
        out.append(sweep.sphere_sweep_occupancy(np.vstack(pts), np.concatenate(rad), reference, supersample))
    return out[0], out[1]


def calcium_occupancy(tree: CoronaryTree, reference, supersample: int = 3) -> np.ndarray:
    """Float32 fraction ``[z, y, x]`` of each voxel inside a calcium blob (label 14)."""
    if not tree.calcium:
        return np.zeros(reference.shape, np.float32)
    centers = np.array([c.center for c in tree.calcium])
    radii = np.array([c.radius_mm for c in tree.calcium])
    return sweep.sphere_sweep_occupancy(centers, radii, reference, supersample)
