"""Known, smooth, invertible cardiac motion of a phantom case (LPS mm).

``forward(X, f)`` maps reference (phase 0, end-diastole) points ``X`` to their position at the cardiac
phase ``f`` (fraction of the R-R interval, 0 <= f < 1); ``backward(Y, f)`` inverts it by fixed-point
iteration ``X <- Y - u(X, f)`` (the displacement ``u`` has a Lipschitz constant well below 1, so the
iteration contracts). The displacement is the sum of:

* LV contraction about the LV long axis: a thick-walled-cylinder map ``r'^2 = r^2 - k w(s) H(r)`` that
  shrinks the cavity (r < R_endo) and keeps the wall's cross-section area (R_endo < r < R_epi), then
  (``version`` 2) widens that area by the wall's long-axis shortening, so that the myocardium keeps
  its volume (incompressible: it thickens), and fades out beyond the epicardium;
* longitudinal shortening: the base descends towards the fixed apex by ``beta * s``; above the base
  (atria, aortic root) the descent fades out, so the atria are stretched in systole (atrial filling);
* atrial contraction (atrial kick at ~85-90 % R-R) about each atrium's centre;
* rotation of the aortic root about its axis.

The LV amplitude ``k`` is calibrated so that the LV blood pool volume over the sampled phases gives the
requested ejection fraction (volumes from the Jacobian determinant of ``forward``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

# LV volume curve (fraction of the stroke volume ejected) over the R-R interval: ejection to end-systole
# at 35-40 %, rapid filling, diastasis, atrial kick (Wiggers diagram shape).
_KNOTS_T = np.array([0.0, 0.1, 0.2, 0.3, 0.38, 0.45, 0.55, 0.65, 0.75, 0.85, 0.93, 1.0])
_KNOTS_C = np.array([0.0, 0.3, 0.75, 0.97, 1.0, 0.85, 0.45, 0.25, 0.2, 0.17, 0.05, 0.0])
_CURVE = CubicSpline(_KNOTS_T, _KNOTS_C, bc_type="periodic")


def fade(x: np.ndarray) -> np.ndarray:
    """C2 step: 1 for x <= 0, 0 for x >= 1 (one minus the quintic smootherstep)."""
    t = np.clip(x, 0.0, 1.0)
    return 1.0 - t * t * t * (10.0 - 15.0 * t + 6.0 * t * t)


def ventricular_curve(f) -> np.ndarray:
    """Fraction (0..~1) of the maximal ventricular contraction at phase fraction ``f``."""
    return np.clip(_CURVE(np.mod(f, 1.0)), 0.0, None)


def atrial_curve(f) -> np.ndarray:
    """Atrial contraction (0..1), peaking at 88 % R-R, zero outside 78-98 % (so phase 0 is the
    reference configuration)."""
    d = np.mod(np.asarray(f, dtype=float) - 0.88 + 0.5, 1.0) - 0.5
    return fade(np.abs(d) / 0.1)


@dataclass
class CardiacMotion:
    """Parameters of the motion (LPS mm); build with :func:`motion_for_anatomy`."""

    apex: np.ndarray
    axis: np.ndarray
    length: float
    r_endo: float
    r_epi: float
    atria: tuple  # ((centre, radius), ...)
    rv: tuple  # (centre, radius) of the RV cavity
    root_center: np.ndarray
    root_axis: np.ndarray
    endo_s: np.ndarray | None = None  # axial positions (mm from the apex) of the radius profile
    endo_r: np.ndarray | None = None  # endocardial radius (mm) there
    endo_fourier: np.ndarray | None = None  # rho(theta) = c0 + c1 cos + c2 sin + c3 cos2 + c4 sin2
    frame_e1: np.ndarray | None = None  # theta = 0 direction (perpendicular to the axis)
    k_peak: float = 0.0
    beta: float = 0.12
    atrial_gamma: float = 0.07
    rv_gamma: float = 0.2
    root_angle_deg: float = 5.0
    curve_scale: float = 1.0
    fade_radial: float = 28.0
    fade_axial: float = 40.0
    # 1: cavity map G(t) = 2 - t (k < 0.5, EF up to ~65 %), wall area kept; 2: G(t) = 1 + t (1 - t)
    # (k < 0.75, EF up to 70 % and more) and the wall band of ``wall_mm`` thickens with the shortening
    version: int = 1
    wall_mm: float = 0.0

    def to_json(self) -> dict:
        """All parameters as plain JSON values (see :func:`motion_from_json`)."""
        out = {}
        for key, value in self.__dict__.items():
            if key == "atria":
                value = [[np.asarray(c).tolist(), float(r)] for c, r in value]
            elif key == "rv":
                value = [np.asarray(value[0]).tolist(), float(value[1])]
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            out[key] = value
        return out

    def levels(self, f: float) -> tuple[float, float]:
        """(ventricular, atrial) contraction levels at phase fraction ``f``."""
        return min(float(ventricular_curve(f) * self.curve_scale), 1.0), float(atrial_curve(f))

    def displacement(self, points: np.ndarray, f: float, k: float | None = None) -> np.ndarray:
        """Displacement (mm) of reference points (N,3) LPS mm at phase fraction ``f``."""
        X = np.asarray(points)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(float)
        # component arrays: numpy is much faster on long 1-D arrays than on (N, 3) rows
        return np.stack(self.displacement_xyz([np.ascontiguousarray(X[:, a]) for a in range(3)], f, k), 1)

    def displacement_xyz(self, c: list, f: float, k: float | None = None) -> list:
        """:meth:`displacement` on component arrays ``[x, y, z]`` (LPS mm); returns ``[ux, uy, uz]``."""
        u = [np.zeros_like(c[0]) for _ in range(3)]
        cv, ca = self.levels(f)
        k = (self.k_peak if k is None else k) * cv
        beta = self.beta * cv
        if k or beta:
            p = [c[a] - self.apex[a] for a in range(3)]
            ax = self.axis
            s = p[0] * ax[0] + p[1] * ax[1] + p[2] * ax[2]
            q = [p[a] - s * ax[a] for a in range(3)]
            r2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2]
            w_r = fade((np.sqrt(r2) - self.r_epi) / self.fade_radial)
            w_s = fade((s - self.length) / 25.0) * fade(-s / 15.0)
            # r'^2 = r^2 - k R1^2 w G(t), t = r^2 / R1^2, G = 2 - t (t < 1, homogeneous near the axis)
            # or 1 / t (t >= 1: r'^2 = r^2 - k R1^2, cross-section area preserved, the wall thickens);
            # R1 = R1(s, theta) follows the endocardium (radius profile x angular Fourier series)
            r1 = self._r1_squared(s, q)
            t = r2 / r1
            big = np.maximum(t, 1e-12)
            if self.version >= 2:
                # G(t) = 1 + t (1 - t): d(r'^2)/d(r^2) = 1 - k (1 + 2t - 3t^2) >= 1 - 4k/3 (invertible
                # for k < 3/4), equal to 1 at t = 1 like the wall branch (C1 at the endocardium)
                gfac = np.where(t < 1.0, 1.0 + t * (1.0 - t), 1.0 / big)
            else:
                gfac = np.where(t < 1.0, 2.0 - t, 1.0 / big)
            shrink = 1.0 - k * w_s * w_r * gfac
            if self.version >= 2 and self.wall_mm > 0 and beta:
                # incompressible wall: the band R1 < r < R1 + wall_mm shortens axially by the factor
                # a = 1 - beta (ramped in over 10 mm above the apex), so its cross-section area grows
                # by 1/a; beyond the band r'^2 keeps the constant offset (area preserved)
                a = 1.0 - beta * w_r * w_s * np.clip(s / 10.0, 0.0, 1.0)
                band = np.clip(np.minimum(r2, (np.sqrt(r1) + self.wall_mm) ** 2) - r1, 0.0, None)
                shrink = shrink + band * (1.0 / a - 1.0) / np.maximum(r2, 1e-12)
            scale = np.sqrt(np.maximum(shrink, 1e-6)) - 1.0
            ramp = np.where(
                s < self.length,
                np.clip(s, 0.0, None),
                self.length * fade((s - self.length) / self.fade_axial),
            )
            down = beta * ramp * w_r
            for a in range(3):
                u[a] += scale * q[a] - down * ax[a]
        blobs = []
        if cv and self.rv_gamma:
            blobs.append((self.rv[0], self.rv[1], self.rv_gamma * cv, 0.6, 0.5))
        if ca and self.atrial_gamma:
            blobs += [(ctr, rad, self.atrial_gamma * ca, 0.6, 0.8) for ctr, rad in self.atria]
        for center, radius, gamma, inner, width in blobs:
            d = [c[a] - center[a] for a in range(3)]
            rho = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) / radius
            w = gamma * fade((rho - inner) / width)
            for a in range(3):
                u[a] -= w * d[a]
        if cv and self.root_angle_deg:
            n = self.root_axis
            d = [c[a] - self.root_center[a] for a in range(3)]
            w = fade((np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) - 20.0) / 25.0)
            ang = np.deg2rad(self.root_angle_deg) * cv * w
            cos1, sin = np.cos(ang) - 1.0, np.sin(ang)
            along = d[0] * n[0] + d[1] * n[1] + d[2] * n[2]
            cross = (n[1] * d[2] - n[2] * d[1], n[2] * d[0] - n[0] * d[2], n[0] * d[1] - n[1] * d[0])
            for a in range(3):
                u[a] += d[a] * cos1 + cross[a] * sin - along * n[a] * cos1
        return u

    def _r1_squared(self, s: np.ndarray, q: list) -> np.ndarray:
        """Squared endocardial reference radius R1(s, theta)^2 (mm^2) at axial position ``s``."""
        if self.endo_s is None:
            return np.full_like(s, self.r_endo**2)
        radial = np.interp(s, self.endo_s, self.endo_r) * 1.05
        e1 = self.frame_e1
        e2 = np.cross(self.axis, e1)
        u = q[0] * e1[0] + q[1] * e1[1] + q[2] * e1[2]
        v = q[0] * e2[0] + q[1] * e2[1] + q[2] * e2[2]
        th = np.arctan2(v, u)
        c = self.endo_fourier
        rho = c[0] + c[1] * np.cos(th) + c[2] * np.sin(th) + c[3] * np.cos(2 * th) + c[4] * np.sin(2 * th)
        return (radial * rho) ** 2

    def wall_thickness(self, myocardium_points: np.ndarray) -> float:
        """Thickness (mm) of the LV wall band beyond the reference radius R1: the 90th percentile of
        ``r - R1`` over LV myocardium points (N,3 LPS mm) between apex and base."""
        p = np.asarray(myocardium_points, dtype=float) - self.apex
        s = p @ self.axis
        keep = (s > 0) & (s < self.length)
        if not keep.any():
            return 0.0
        p, s = p[keep], s[keep]
        q = p - np.outer(s, self.axis)
        excess = np.linalg.norm(q, axis=1) - np.sqrt(self._r1_squared(s, list(q.T)))
        return float(np.percentile(excess[excess > 0], 90)) if (excess > 0).any() else 0.0

    def forward(self, points_lps_ref: np.ndarray, phase_fraction: float) -> np.ndarray:
        """Positions (N,3 LPS mm) at ``phase_fraction`` of reference (phase 0) points."""
        pts = np.atleast_2d(np.asarray(points_lps_ref, dtype=float))
        return pts + self.displacement(pts, phase_fraction)

    def backward(
        self, points_lps: np.ndarray, phase_fraction: float, tol_mm: float = 1e-5, initial=None
    ) -> np.ndarray:
        """Reference (phase 0) positions of points (N,3 LPS mm) seen at ``phase_fraction``.

        Fixed-point steps ``X <- Y - u(X)`` first, then Newton steps (finite-difference Jacobian) for
        the points that have not converged to ``tol_mm``."""
        Y = np.atleast_2d(np.asarray(points_lps, dtype=float))
        X = Y.copy() if initial is None else np.array(initial, dtype=float)
        active = np.arange(len(Y))
        for it in range(60):
            if it < 12:
                Xa = Y[active] - self.displacement(X[active], phase_fraction)
            else:
                Xa = self._newton_step(X[active], Y[active], phase_fraction)
            step = np.abs(Xa - X[active]).max(axis=1)
            X[active] = Xa
            active = active[step > tol_mm]
            if active.size == 0:
                return X
        raise CardiacInputError(f"motion inverse did not converge at phase {phase_fraction:.2f}")

    def _newton_step(self, X: np.ndarray, Y: np.ndarray, f: float, h: float = 1e-3) -> np.ndarray:
        residual = X + self.displacement(X, f) - Y
        cols = []
        for a in range(3):
            e = np.zeros(3)
            e[a] = h
            cols.append((self.displacement(X + e, f) - self.displacement(X - e, f)) / (2 * h))
        jac = np.stack(cols, axis=2) + np.eye(3)
        return X - np.linalg.solve(jac, residual[..., None])[..., 0]

    def jacobian_det(self, points: np.ndarray, f: float, k: float | None = None, h: float = 0.05):
        """det(d forward / dX) at reference points (central differences, step ``h`` mm)."""
        cols = []
        for a in range(3):
            e = np.zeros(3)
            e[a] = h
            plus = points + e + self.displacement(points + e, f, k)
            minus = points - e + self.displacement(points - e, f, k)
            cols.append((plus - minus) / (2 * h))
        return np.linalg.det(np.stack(cols, axis=2))

    def calibrate(self, lv_points: np.ndarray, ef: float, phases: np.ndarray) -> float:
        """Set ``k_peak`` so that min over ``phases`` of the LV volume is (1 - ef) x the end-diastolic
        volume; ``lv_points`` are reference LV blood pool voxel centres (equal volumes)."""
        if not 0.05 <= ef <= 0.85:
            raise CardiacInputError(f"ejection fraction {ef:.2f} is outside the supported range 0.05-0.85")
        phases = np.asarray(phases, dtype=float)
        levels = ventricular_curve(phases)
        if levels.max() <= 0:
            # e.g. a single end-diastolic phase: calibrate on the whole cycle so that the motion (and
            # the EF in phantom.json) stays defined for phases sampled later
            phases = np.linspace(0.0, 0.95, 20)
            levels = ventricular_curve(phases)
        self.curve_scale = 1.0 / float(levels.max())
        f_es = float(np.asarray(phases)[np.argmax(levels)])
        lo, hi = 0.0, (0.72 if self.version >= 2 else 0.485)

        def ratio(k: float) -> float:
            return float(self.jacobian_det(lv_points, f_es, k).mean())

        while ratio(hi) > 1 - ef:
            # the radial contraction alone cannot reach the EF: shorten the ventricle more (<= 25 %)
            if self.beta >= 0.25:
                raise CardiacInputError(f"ejection fraction {ef:.2f} is too high for this anatomy")
            self.beta = min(0.25, self.beta * 1.15)
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ratio(mid) > 1 - ef else (lo, mid)
        self.k_peak = 0.5 * (lo + hi)
        logger.info("LV motion calibrated: k = %.3f for EF %.2f at phase %.2f", self.k_peak, ef, f_es)
        return self.k_peak


def motion_from_json(data: dict) -> CardiacMotion:
    """Rebuild the exact motion of a case from ``phantom.json``'s ``"motion"`` entry, so that
    ``forward``/``backward`` can be evaluated without regenerating the case."""
    names = ("apex", "axis", "root_center", "root_axis", "endo_s", "endo_r", "endo_fourier", "frame_e1")
    arrays = {k: np.asarray(data[k], dtype=float) for k in names if data.get(k) is not None}
    atria = tuple((np.asarray(c, dtype=float), float(r)) for c, r in data["atria"])
    rv = (np.asarray(data["rv"][0], dtype=float), float(data["rv"][1]))
    rest = {k: v for k, v in data.items() if k not in arrays and k not in ("atria", "rv")}
    return CardiacMotion(**arrays, atria=atria, rv=rv, **rest)


def motion_for_anatomy(anatomy, ef: float, phases: np.ndarray, rng: np.random.Generator) -> CardiacMotion:
    """A calibrated motion for an :class:`~.anatomy.Anatomy` (EF as a fraction, phases as fractions)."""
    m = anatomy.landmarks
    root = anatomy.root
    motion = CardiacMotion(
        apex=m["lv_apex"],
        axis=m["lv_axis"],
        length=float(m["lv_length"]),
        r_endo=1.15 * float(m["lv_endo_radius"]),
        endo_s=m["lv_endo_s"],
        endo_r=m["lv_endo_r"],
        endo_fourier=m["lv_endo_fourier"],
        frame_e1=m["lv_frame_e1"],
        r_epi=float(m["lv_epi_radius"]),
        atria=((m["la_center"], 1.3 * float(m["la_radius"])), (m["ra_center"], 1.3 * float(m["ra_radius"]))),
        rv=(m["rv_center"], float(m["rv_radius"])),
        root_center=root.center + 0.5 * root.height * root.axis,
        root_axis=root.axis,
        beta=float(rng.uniform(0.10, 0.14)) * min(1.0, ef / 0.6),
        root_angle_deg=float(rng.uniform(3.0, 6.0)),
        version=2,
    )
    grid = anatomy.grid
    sub = max(1, int(round(2.0 / grid.spacing)))

    def voxels(code: int) -> np.ndarray:
        idx = np.argwhere(anatomy.tissue[::sub, ::sub, ::sub] == code) * sub
        return grid.origin + idx[:, ::-1] * grid.spacing

    motion.wall_mm = motion.wall_thickness(voxels(2))
    motion.calibrate(voxels(1), ef, phases)
    return motion
