"""Centrelines (LPS mm) and radii (mm) of the analytic great vessels attached to the heart mesh caps:
ascending aorta, arch and descending aorta (from the sinotubular junction), pulmonary trunk with left
and right pulmonary arteries, superior/inferior vena cava, four pulmonary veins, left atrial appendage,
and a few lung vessel branches. Typical adult calibres (ascending aorta 28-34 mm, descending 22-26 mm,
pulmonary trunk 22-28 mm, vena cavae ~20 mm, pulmonary veins 10-14 mm)."""

from __future__ import annotations

import logging

import numpy as np

from .. import labels
from . import tissues as tis
from .body import BodyLayout
from .heartmesh import CAVITY, HeartMesh
from .shapes import AorticRoot, smooth_centerline

logger = logging.getLogger(__name__)

UP = np.array([0.0, 0.0, 1.0])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _centre(mesh: HeartMesh, cavity: str) -> np.ndarray:
    return mesh.points[np.unique(mesh.triangles([CAVITY[cavity]]))].mean(0)


def great_vessels(mesh: HeartMesh, root: AorticRoot, body: BodyLayout, rng: np.random.Generator) -> dict:
    """name -> (points (N,3), radii (N,), tissue code, open_start)."""
    out: dict = {}
    s = root.annulus_radius / 11.5  # size factor relative to the template heart
    stj = root.center + root.height * root.axis
    # --- pulmonary trunk, bifurcation, left/right pulmonary arteries
    pv = mesh.cap("pulmonary-valve", away_from=_centre(mesh, "rv"))
    r_pa = pv.radius * rng.uniform(0.95, 1.05)
    bif = pv.center + 30 * s * pv.normal
    lpa_end = np.array([60.0, body.spine_y - 5, bif[2] - 5])
    rpa_end = np.array([-55.0, body.spine_y - 15, bif[2] - 12])
    # open start: the trunk begins at the pulmonary valve annulus (the cap plane), as the aorta does
    trunk = [pv.center, pv.center + 15 * s * pv.normal, bif]
    out["pulmonary_trunk"] = _tube(trunk, [r_pa, r_pa, r_pa], 7, open_start="plane")
    mid_l = 0.5 * (bif + lpa_end) + np.array([0, 5, 8])
    out["left_pulmonary_artery"] = _tube([bif, mid_l, lpa_end], [0.8 * r_pa, 0.7 * r_pa, 0.6 * r_pa], 7)
    mid_r = 0.5 * (bif + rpa_end) + np.array([0, 8, -6])
    out["right_pulmonary_artery"] = _tube([bif, mid_r, rpa_end], [0.8 * r_pa, 0.7 * r_pa, 0.6 * r_pa], 7)
    # --- aorta from the sinotubular junction: ascending, arch over the bifurcation, descending
    r_asc = root.stj_radius * rng.uniform(1.02, 1.1)
    top = max(bif[2] + 28, stj[2] + 50)
    desc_xy = np.array([26.0 * s, body.spine_y - 22])
    asc_top = np.array([stj[0] - 6, stj[1] + 4, top - 14])
    apex = np.array([0.5 * (asc_top[0] + desc_xy[0]), 0.5 * (asc_top[1] + desc_xy[1]) - 4, top])
    pts = [
        stj,
        stj + 14 * root.axis,
        asc_top,
        apex,
        [desc_xy[0], desc_xy[1], top - 16],
        [desc_xy[0], desc_xy[1] + 2, top - 60],
        [desc_xy[0] - 4, desc_xy[1] + 4, mesh.points[:, 2].min() - 80],
    ]
    rad = [root.stj_radius, r_asc, r_asc, 0.92 * r_asc, 0.85 * r_asc, 0.8 * r_asc, 0.78 * r_asc]
    out["aorta"] = _tube(pts, rad, labels.AORTA, open_start=True)
    # --- vena cavae
    ra = _centre(mesh, "ra")
    svc = mesh.cap("superior-vena-cava", away_from=ra)
    d = _unit(svc.normal + 2 * UP)
    out["superior_vena_cava"] = _tube(
        [svc.center, svc.center + 20 * d, svc.center + 20 * d + [0, 0, 150]], [svc.radius] * 3, 12
    )
    ivc = mesh.cap("inferior-vena-cava", away_from=ra)
    d = _unit(ivc.normal - 2 * UP)
    out["inferior_vena_cava"] = _tube(
        [ivc.center, ivc.center + 15 * d, ivc.center + 15 * d - [0, -8, 150]], [ivc.radius * 1.1] * 3, 13
    )
    # --- pulmonary veins: out of the caps, then laterally into the lung
    la = _centre(mesh, "la")
    for cap_name in (
        "right-superior-pulmonary-vein",
        "right-inferior-pulmonary-vein",
        "left-superior-pulmonary-vein",
        "left-inferior-pulmonary-vein",
    ):
        cap = mesh.cap(cap_name, away_from=la)
        side = np.array([-1.0 if cap_name.startswith("right") else 1.0, 0.3, 0.0])
        p1 = cap.center + 14 * cap.normal
        p2 = p1 + 35 * _unit(side + 0.5 * cap.normal)
        r = max(cap.radius, 5.0)
        out[cap_name.replace("-", "_")] = _tube([cap.center, p1, p2], [r, 0.9 * r, 0.55 * r], 11)
    # --- left atrial appendage: a curved, tapering lobe towards anterior-inferior
    laa = mesh.cap("left-atrium-appendage", away_from=la)
    fwd = _unit(np.array([0.2, -1.0, -0.4]))
    r = max(laa.radius, 6.0)
    out["la_appendage"] = _tube(
        [
            laa.center,
            laa.center + 10 * laa.normal,
            laa.center + 16 * laa.normal + 12 * fwd,
            laa.center + 18 * laa.normal + 26 * fwd,
        ],
        [r, 1.15 * r, 0.85 * r, 0.3 * r],
        10,
    )
    # --- lung vessels fanning out of the hila, each splitting once (contrast-filled: bright in the lungs)
    hila = [
        (lpa_end, 1.0),
        (rpa_end, -1.0),
        (out["right_superior_pulmonary_vein"][0][-1], -1.0),
        (out["left_superior_pulmonary_vein"][0][-1], 1.0),
    ]
    for h, (start, side) in enumerate(hila):
        for b in range(5):
            d = _unit(np.array([side * 1.0, rng.uniform(-0.8, 0.9), rng.uniform(-1.1, 1.1)]))
            p1 = np.asarray(start) + 30 * d
            p2 = p1 + 25 * _unit(d + rng.normal(scale=0.3, size=3))
            out[f"lung_vessel_{h}_{b}"] = _tube(
                [start, p1, p2], [4.0, 3.0, 2.2], tis.PULMONARY_VESSEL, step=3.0
            )
            for c in range(2):
                e = _unit(d + rng.normal(scale=0.6, size=3))
                q = p2 + 30 * e
                out[f"lung_vessel_{h}_{b}_{c}"] = _tube(
                    [p2, q, q + 20 * _unit(e + rng.normal(scale=0.3, size=3))],
                    [2.0, 1.4, 0.9],
                    tis.PULMONARY_VESSEL,
                    step=3.0,
                )
    return out


def _tube(points, radii, code: int, open_start: bool | str = False, step: float = 1.5):
    pts, rad = smooth_centerline(np.asarray(points, dtype=float), np.asarray(radii, dtype=float), step)
    return pts, rad, code, open_start


def _union_sdf(points: np.ndarray, tubes) -> np.ndarray:
    """Signed distance-like value (mm, < 0 inside) of LPS ``points`` (N, 3) to the union of ``tubes``
    ((centreline (M, 3), radii (M,)) pairs), by the same segment formula as :func:`.shapes.tube_sdf`."""
    out = np.full(len(points), np.inf)
    for pts, rad in tubes:
        for i in range(len(pts) - 1):
            a, d = pts[i], pts[i + 1] - pts[i]
            t = np.clip((points - a) @ d / max(float(d @ d), 1e-12), 0.0, 1.0)
            dist = np.linalg.norm(points - a - t[:, None] * d, axis=1) - (rad[i] + t * (rad[i + 1] - rad[i]))
            np.minimum(out, dist, out=out)
    return out
