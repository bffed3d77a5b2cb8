"""Implanted devices of the phantom with exact geometry (LPS mm): a coronary stent of zig-zag rings and
links on a vessel wall, and transcatheter aortic valve frames (balloon-expandable, Sapien-like;
self-expanding, Evolut-like) seated in the annulus; plus their metal partial-volume occupancy.

Every device is a set of strut centre polylines with one strut (wire) radius, an axis polyline and
the frame radius along it, so reconstruction algorithms can be scored against the truth.
Nominal dimensions: Edwards SAPIEN 3 (frame height 15.5-22.5 mm for 20-29 mm valves, cobalt-chromium
struts ~0.4-0.5 mm); Medtronic Evolut R/PRO (frame height ~45 mm, inflow at the annulus, narrower
waist, flared outflow; nitinol struts ~0.25-0.3 mm); coronary DES rings ~1 mm high with 6-9 crowns
and 2-3 links per ring, struts 0.08-0.1 mm thick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import CardiacInputError
from . import sweep

logger = logging.getLogger(__name__)


@dataclass
class Device:
    """A device: ``struts`` (list of (M, 3) LPS mm strut centre polylines) of wire radius
    ``strut_radius_mm``; ``axis`` (K, 3) LPS mm with the frame radius (mm, to strut centres)
    ``radius_profile`` (K,) along it."""

    kind: str  # "coronary_stent" | "valve_frame"
    style: str
    struts: list[np.ndarray]
    strut_radius_mm: float
    axis: np.ndarray
    radius_profile: np.ndarray
    metadata: dict = field(default_factory=dict)

    @property
    def wire_length_mm(self) -> float:
        return float(sum(np.linalg.norm(np.diff(s, axis=0), axis=1).sum() for s in self.struts))

    @property
    def wire_volume_mm3(self) -> float:
        """Metal volume pi r^2 L (junction overlaps and end caps neglected)."""
        return float(np.pi * self.strut_radius_mm**2 * self.wire_length_mm)

    def transformed(self, fn: Callable[[np.ndarray], np.ndarray]) -> Device:
        """A copy with struts and axis mapped by ``fn`` ((N, 3) LPS mm -> (N, 3)); radii kept."""
        return Device(
            self.kind,
            self.style,
            [np.asarray(fn(s), dtype=float) for s in self.struts],
            self.strut_radius_mm,
            np.asarray(fn(self.axis), dtype=float),
            self.radius_profile.copy(),
            dict(self.metadata),
        )

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "style": self.style,
            "coordinateSystem": "LPS",
            "units": "mm",
            "strutRadiusMm": self.strut_radius_mm,
            "struts": [np.round(s, 4).tolist() for s in self.struts],
            "axis": np.round(self.axis, 4).tolist(),
            "radiusProfileMm": np.round(self.radius_profile, 4).tolist(),
            "metadata": self.metadata,
        }


def _frames(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation-minimising (parallel transport) frame (t, n1, n2) along an axis polyline."""
    t = np.gradient(axis, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    n1 = np.zeros_like(axis)
    seed = np.eye(3)[int(np.argmin(np.abs(t[0])))]
    n1[0] = seed - seed.dot(t[0]) * t[0]
    n1[0] /= np.linalg.norm(n1[0])
    for i in range(1, len(axis)):
        v = n1[i - 1] - n1[i - 1].dot(t[i]) * t[i]
        n1[i] = v / np.linalg.norm(v)
    return t, n1, np.cross(t, n1)


class _Tube:
    """Cylindrical coordinates (z mm along the axis, theta rad, radius mm) around an axis polyline."""

    def __init__(self, axis: np.ndarray, radius: np.ndarray) -> None:
        self.axis, self.radius = axis, radius
        self.s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(axis, axis=0), axis=1))])
        self.t, self.n1, self.n2 = _frames(axis)

    def points(self, z: np.ndarray, theta: np.ndarray) -> np.ndarray:
        z = np.clip(z, 0.0, self.s[-1])
        c = np.stack([np.interp(z, self.s, self.axis[:, a]) for a in range(3)], axis=1)
        n1 = np.stack([np.interp(z, self.s, self.n1[:, a]) for a in range(3)], axis=1)
        n1 -= np.sum(n1 * self._t(z), axis=1, keepdims=True) * self._t(z)
        n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
        n2 = np.cross(self._t(z), n1)
        r = np.interp(z, self.s, self.radius)[:, None]
        return c + r * (np.cos(theta)[:, None] * n1 + np.sin(theta)[:, None] * n2)

    def _t(self, z: np.ndarray) -> np.ndarray:
        t = np.stack([np.interp(z, self.s, self.t[:, a]) for a in range(3)], axis=1)
        return t / np.linalg.norm(t, axis=1, keepdims=True)


def coronary_stent(
    branch,
    start_fraction: float,
    length_mm: float,
    rng: np.random.Generator | int | None = None,
    crowns: int | None = None,
    ring_height_mm: float = 1.1,
    link_length_mm: float = 0.6,
    links: int = 3,
    strut_radius_mm: float = 0.06,
    radius_mm: float | None = None,
) -> Device:
    """A stent of sinusoidal rings joined by straight links on the wall of ``branch`` (a coronary
    :class:`~.coronary.Branch`), from ``start_fraction`` of its length over ``length_mm``.

    Strut centres lie at the local lumen radius minus the strut radius (fully expanded against the
    wall), or at ``radius_mm`` - strut radius when a nominal expanded radius is given."""
    rng = np.random.default_rng(rng)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(branch.points, axis=0), axis=1))])
    s0, s1 = start_fraction * s[-1], start_fraction * s[-1] + length_mm
    if not 0.0 <= start_fraction < 1.0 or length_mm < ring_height_mm or s1 > s[-1] + 1e-6:
        raise CardiacInputError(
            f"stent from {start_fraction:.2f} of {branch.name} ({s[-1]:.1f} mm) over {length_mm} mm "
            "does not fit in the branch"
        )
    z = np.linspace(s0, s1, max(int(np.ceil(length_mm / 0.1)), 2) + 1)
    axis = np.stack([np.interp(z, s, branch.points[:, a]) for a in range(3)], axis=1)
    lumen = np.interp(z, s, branch.radii) if radius_mm is None else np.full(len(z), float(radius_mm))
    frame_r = lumen - strut_radius_mm
    if np.any(frame_r <= strut_radius_mm):
        raise CardiacInputError(f"{branch.name} is too narrow for a stent here (lumen {lumen.min():.2f} mm)")
    tube = _Tube(axis, frame_r)
    n_crowns = int(crowns or (6 if lumen.mean() < 1.4 else 8))
    pitch = ring_height_mm + link_length_mm
    n_rings = int((length_mm + link_length_mm) // pitch)
    z0 = 0.5 * (length_mm - (n_rings * pitch - link_length_mm))  # centre the rings on the segment
    phase = float(rng.uniform(0, 2 * np.pi))
    th = np.linspace(0.0, 2 * np.pi, 24 * n_crowns + 1)
    struts = []
    for i in range(n_rings):
        # ring i: valleys (proximal apexes) where cos(n (theta - shift)) = 1, rotated by pi/n each ring
        shift = phase + i * np.pi / n_crowns
        zz = z0 + i * pitch + 0.5 * ring_height_mm * (1.0 - np.cos(n_crowns * (th - shift)))
        struts.append(tube.points(zz, th))
        if i + 1 < n_rings:
            for k in range(links):
                m = int(round(k * n_crowns / links))
                peak = shift + (2 * m + 1) * np.pi / n_crowns  # distal apex of ring i = valley of i + 1
                zl = np.linspace(z0 + i * pitch + ring_height_mm, z0 + (i + 1) * pitch, 7)
                struts.append(tube.points(zl, np.full(len(zl), peak)))
    meta = {
        "branch": branch.name,
        "startFraction": start_fraction,
        "lengthMm": length_mm,
        "rings": n_rings,
        "crowns": n_crowns,
        "linksPerRing": links,
        "ringHeightMm": ring_height_mm,
        "linkLengthMm": link_length_mm,
        "lumenRadiusMm": [float(lumen.min()), float(lumen.max())],
    }
    dev = Device("coronary_stent", "ring_link", struts, strut_radius_mm, axis, frame_r, meta)
    dev.metadata["wireLengthMm"] = dev.wire_length_mm
    return dev


def valve_frame(
    aortic_root: dict,
    style: str = "balloon_expandable",
    rng: np.random.Generator | int | None = None,
    height_mm: float | None = None,
    cells: int | None = None,
    strut_radius_mm: float | None = None,
) -> Device:
    """A transcatheter valve frame seated in the aortic annulus (``aortic_root`` dict, LPS mm).

    ``balloon_expandable``: a cylinder of diamond cells (4 rows, 12 around, ~19 mm tall) at the
    annulus radius, 15 % of its height below the annulus. ``self_expanding``: ~45 mm tall, inflow 4 mm
    below the annulus at the annulus radius, a waist (0.88x) at 40 % height, flared outflow
    (1.35x, but at most the STJ radius + 3 mm) in the ascending aorta; 15 cells around, 6 rows of
    increasing height. Strut centres are one strut radius inside these radii."""
    rng = np.random.default_rng(rng)
    for key in ("annulus_center", "annulus_normal", "annulus_radius_mm"):
        if key not in aortic_root:
            raise CardiacInputError(f"aortic_root lacks {key!r}")
    c = np.asarray(aortic_root["annulus_center"], dtype=float)
    n = np.asarray(aortic_root["annulus_normal"], dtype=float)
    n /= np.linalg.norm(n)
    ra = float(aortic_root["annulus_radius_mm"])
    if style == "balloon_expandable":
        h = float(height_mm or rng.uniform(18.0, 20.0))
        sr = float(strut_radius_mm or 0.22)
        below = 0.15 * h
        n_cells = int(cells or 12)
        rows = np.linspace(0.0, h, 5)
        knots_z, knots_r = np.array([0.0, h]), np.array([ra, ra])
    elif style == "self_expanding":
        h = float(height_mm or rng.uniform(44.0, 46.0))
        sr = float(strut_radius_mm or 0.15)
        below = 4.0
        n_cells = int(cells or 15)
        w = np.array([1.0, 1.0, 1.2, 1.4, 1.7, 2.0])  # cell rows grow towards the outflow
        rows = np.concatenate([[0.0], np.cumsum(w)]) / w.sum() * h
        out_r = min(1.35 * ra, float(aortic_root.get("stj_radius_mm", ra)) + 3.0)
        knots_z = np.array([0.0, 0.12, 0.4, 0.7, 1.0]) * h
        knots_r = np.array([ra, ra, 0.88 * ra, 0.5 * (0.88 * ra + out_r), out_r])
    else:
        raise CardiacInputError(f"unknown valve frame style {style!r} (balloon_expandable or self_expanding)")
    zs = np.linspace(0.0, h, int(h / 0.25) + 1)
    radius = np.interp(zs, knots_z, knots_r) - sr
    axis = c[None, :] + (zs - below)[:, None] * n[None, :]
    tube = _Tube(axis, radius)
    phase = float(rng.uniform(0, 2 * np.pi))
    # Diamond lattice: vertices (theta = phase + pi k / n, z = rows[j]) with k + j even; each strut
    # polyline climbs one row per vertex, half of them turning left and half right.
    struts = []
    for k in range(0, 2 * n_cells, 2):
        for turn in (1, -1):
            k_path = k + turn * np.arange(len(rows))
            u = np.linspace(0.0, len(rows) - 1, 40 * (len(rows) - 1) + 1)
            th = phase + np.pi / n_cells * np.interp(u, np.arange(len(rows)), k_path)
            zz = np.interp(u, np.arange(len(rows)), rows)
            struts.append(tube.points(zz, th))
    meta = {
        "heightMm": h,
        "cellsAround": n_cells,
        "rows": len(rows) - 1,
        "depthBelowAnnulusMm": below,
        "annulusRadiusMm": ra,
    }
    dev = Device("valve_frame", style, struts, sr, axis, radius, meta)
    dev.metadata["wireLengthMm"] = dev.wire_length_mm
    return dev


def wire_occupancy(device: Device, reference, supersample: int = 3) -> np.ndarray:
    """Float32 fraction ``[z, y, x]`` of each voxel of ``reference`` filled with metal.

    Wires resolved by the sub-voxel samples (radius >= voxel / supersample) are swept spheres;
    thinner wires deposit their exact volume per sub-voxel piece (line-integral partial volume)."""
    sub = float(min(reference.spacing)) / max(int(supersample), 1)
    if device.strut_radius_mm >= sub:
        step = min(0.5 * device.strut_radius_mm, 0.25)
        pts = [sweep.densify(s, None, step)[0] for s in device.struts]
        centers = np.vstack(pts)
        return sweep.sphere_sweep_occupancy(centers, device.strut_radius_mm, reference, supersample)
    return sweep.wire_deposit_occupancy(device.struts, device.strut_radius_mm, reference, supersample)


def wire_mask(device: Device, reference, occupancy: np.ndarray | None = None) -> np.ndarray:
    """Boolean ``[z, y, x]`` label mask of the device: voxels a strut centreline passes through, plus
    voxels at least half metal. Use it for the label map: struts far thinner than a voxel never fill
    half a voxel, so ``occupancy >= 0.5`` alone would label nothing."""
    mask = sweep.polyline_voxels(device.struts, reference)
    if occupancy is not None:
        mask |= occupancy >= 0.5
    return mask
