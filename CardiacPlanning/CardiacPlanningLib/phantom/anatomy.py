"""Phase-0 (end-diastolic) anatomy of a phantom case: the real heart mesh varied per seed, analytic
great vessels (aortic root with sinuses, arch, pulmonary trunk and arteries, veins, appendage) and the
chest, all painted into one reference tissue grid (LPS mm, axis-aligned)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import vtk
from scipy import ndimage

from .. import labels
from ..progress import Progress, as_progress
from . import tissues as tis
from .body import BodyLayout, body_tissue
from .heartmesh import CAVITY, HeartMesh, closed_volume_mm3, load_heart_mesh, make_polydata
from .rasterize import surface_mask
from .shapes import AorticRoot, Grid, keep_shapes, paint, tube_sdf
from .truth import HEART_CODES, PA_WALL_MM, mitral_annulus_truth, mpa_length_truth, root_section_truth  # noqa: F401 (re-exported)
from .vessels import great_vessels

logger = logging.getLogger(__name__)

BODY_CODES = (
    tis.AIR,
    tis.FAT,
    tis.MUSCLE,
    tis.LUNG,
    tis.PERICARDIAL_FAT,
    tis.VESSEL_WALL,
    tis.LIVER,
    tis.STOMACH,
    tis.CARTILAGE,
)
EPI_SURFACES = (
    "Left ventricle epicardium",
    "Right ventricle epicardium",
    "Left atrium epicardium",
    "Right atrium epicardium",
)


@dataclass
class Anatomy:
    """End-diastolic anatomy (phase 0) in LPS mm.

    ``tissue`` is the reference tissue grid (codes of :mod:`.tissues`) on ``grid``; ``epicardium`` the
    outer heart surface (outward normals); ``aortic_root`` the TAVR landmarks (dict, see
    :meth:`aortic_root_dict`); ``landmarks`` points/axes the motion model uses; ``mesh`` the varied
    heart mesh; ``centerlines`` the analytic vessels' centrelines with radii.
    """

    grid: Grid
    tissue: np.ndarray
    mesh: HeartMesh
    root: AorticRoot
    epicardium: vtk.vtkPolyData
    body: BodyLayout
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)
    centerlines: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    mesh_volumes_ml: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    @property
    def aortic_root(self) -> dict:
        return self.aortic_root_dict()

    def mitral_annulus_dict(self) -> dict:
        """The mitral annulus truth (see :func:`mitral_annulus_truth`)."""
        return mitral_annulus_truth(self.mesh, self.root.center)

    def aortic_root_dict(self) -> dict:
        """Annulus centre/normal (into the aorta)/radius/area/perimeter (the circle in the hinge plane,
        continuous with the LVOT cylinder below it), sinus centres, STJ centre/radius/height (the
        ridge where the sinuses end and the tubular aorta starts) and the two coronary ostia (on the
        lumen wall of the left/right coronary sinuses at 60 % of the root height), all LPS mm."""
        r = self.root
        h_sinus = 0.5 * r.height
        sinus = {k: r.point(h_sinus, a, radial=0.6 * r.sinus_radius) for k, a in r.sinus_angles.items()}
        ostia = {k: r.point(0.6 * r.height, r.sinus_angles[k]) for k in ("left", "right")}
        return {
            "annulus_center": r.center.copy(),
            "annulus_normal": r.axis.copy(),
            "annulus_radius_mm": float(r.annulus_radius),
            "sinus_radius_mm": float(r.sinus_radius),
            "sinus_centers": sinus,
            "stj_center": r.center + r.height * r.axis,
            "stj_radius_mm": float(r.stj_radius),
            "root_height_mm": float(r.height),
            "stj_height_mm": float(r.height),
            "annulus_area_mm2": float(np.pi * r.annulus_radius**2),
            "annulus_perimeter_mm": float(2 * np.pi * r.annulus_radius),
            "lvot_radius_mm": float(r.annulus_radius),
            "lvot_length_mm": float(r.lvot_length),
            "ostia": ostia,
        }


def _seed_deformation(rng: np.random.Generator, center: np.ndarray, scale: float):
    """A smooth random map (LPS mm -> mm): anisotropic scaling about ``center`` plus three Fourier
    modes of 2 mm amplitude and 90-160 mm wavelength (gradient < 0.3, so no folding)."""
    aniso = scale * rng.uniform(0.96, 1.04, 3)
    waves = []
    for _ in range(3):
        k = rng.normal(size=3)
        k *= 2 * np.pi / rng.uniform(90, 160) / np.linalg.norm(k)
        amp = rng.normal(size=3)
        amp *= 2.0 / np.linalg.norm(amp)
        waves.append((k, amp, rng.uniform(0, 2 * np.pi)))

    def fn(p: np.ndarray) -> np.ndarray:
        q = (p - center) * aniso + center
        for k, amp, ph in waves:
            q = q + np.sin((p - center) @ k + ph)[:, None] * amp
        return q

    return fn


def _epicardium(mesh: HeartMesh) -> vtk.vtkPolyData:
    """Epicardial surfaces of the four chambers with outward normals."""
    tris = []
    for name in EPI_SURFACES:
        tri = mesh.triangles([mesh.surface_id(name)])
        a, b, c = (mesh.points[tri[:, i]] for i in range(3))
        normals = np.cross(b - a, c - a)
        outward = (a + b + c) / 3 - mesh.points[np.unique(tri)].mean(0)
        if np.einsum("ij,ij->", normals, outward) < 0:
            tri = tri[:, [0, 2, 1]]
        tris.append(tri)
    used, inverse = np.unique(np.concatenate(tris), return_inverse=True)
    poly = make_polydata(mesh.points[used], inverse.reshape(-1, 3))
    normals = vtk.vtkPolyDataNormals()
    normals.SetInputData(poly)
    normals.ComputePointNormalsOn()
    normals.ComputeCellNormalsOn()
    normals.ConsistencyOff()
    normals.AutoOrientNormalsOff()
    normals.SplittingOff()
    normals.Update()
    return normals.GetOutput()


def _aortic_root(mesh: HeartMesh, rng: np.random.Generator) -> AorticRoot:
    lv_center = mesh.points[np.unique(mesh.triangles([CAVITY["lv"]]))].mean(0)
    cap = mesh.cap("aortic-valve", away_from=lv_center)
    axis = cap.normal
    anterior = np.array([0.0, -1.0, 0.0])
    e1 = anterior - np.dot(anterior, axis) * axis
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    # right coronary sinus faces anterior; left sinus is the one 120 deg towards the patient's left (+x)
    right = np.deg2rad(rng.uniform(-15, 15))
    sign = 1.0 if np.dot(np.cos(2.1) * e1 + np.sin(2.1) * e2, [1, 0, 0]) > 0 else -1.0
    ann = float(np.clip(cap.radius * rng.uniform(0.97, 1.05), 9.5, 14.5))
    return AorticRoot(
        center=cap.center,
        axis=axis,
        e1=e1,
        e2=e2,
        annulus_radius=ann,
        sinus_radius=ann * rng.uniform(1.38, 1.5),
        stj_radius=ann * rng.uniform(1.08, 1.18),
        height=ann * rng.uniform(1.65, 1.9),
        sinus_angles={
            "right": right,
            "left": right + sign * 2 * np.pi / 3,
            "noncoronary": right - sign * 2 * np.pi / 3,
        },
    )


def _landmarks(mesh: HeartMesh) -> dict[str, np.ndarray]:
    lv = mesh.points[np.unique(mesh.triangles([CAVITY["lv"]]))]
    epi = mesh.points[np.unique(mesh.triangles([mesh.surface_id("Left ventricle epicardium")]))]
    mitral = mesh.cap("mitral-valve").center
    apex = epi[np.argmax(np.linalg.norm(epi - mitral, axis=1))]
    axis = (mitral - apex) / np.linalg.norm(mitral - apex)
    myo = mesh.part_points([1, 7])

    def perp(p):
        q = p - apex
        return np.linalg.norm(q - np.outer(q @ axis, axis), axis=1)

    # endocardial radius profile R(s) x rho(theta): median radius in 12 slabs along the axis, and a
    # second-order Fourier fit of the normalised radius around the axis (mid-ventricle)
    e1 = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    q = lv - apex
    s_lv = q @ axis
    r_lv = perp(lv)
    theta = np.arctan2(q @ e2, q @ e1)
    edges = np.linspace(0.0, s_lv.max(), 13)
    centres = 0.5 * (edges[1:] + edges[:-1])
    prof = np.array([np.median(r_lv[(s_lv >= a) & (s_lv < b)]) for a, b in zip(edges[:-1], edges[1:])])
    mid = (s_lv > 0.3 * s_lv.max()) & (s_lv < 0.8 * s_lv.max())
    basis = np.stack(
        [
            np.ones(mid.sum()),
            np.cos(theta[mid]),
            np.sin(theta[mid]),
            np.cos(2 * theta[mid]),
            np.sin(2 * theta[mid]),
        ],
        1,
    )
    coef = np.linalg.lstsq(basis, r_lv[mid] / np.interp(s_lv[mid], centres, prof), rcond=None)[0]
    marks = {
        "lv_frame_e1": e1,
        "lv_endo_s": centres,
        "lv_endo_r": prof,
        "lv_endo_fourier": coef / coef[0],
        "lv_apex": apex,
        "lv_axis": axis,
        "lv_length": np.array(float(np.max((lv - apex) @ axis))),
        "lv_endo_radius": np.array(float(np.percentile(perp(lv), 75))),
        "lv_epi_radius": np.array(float(np.percentile(perp(myo), 95))),
    }
    for key in ("la", "ra", "rv"):
        pts = mesh.points[np.unique(mesh.triangles([CAVITY[key]]))]
        marks[f"{key}_center"] = pts.mean(0)
        marks[f"{key}_radius"] = np.array(float(np.percentile(np.linalg.norm(pts - pts.mean(0), axis=1), 90)))
    return marks


def build_anatomy(
    grid: Grid,
    seed: int = 0,
    progress: Progress | None = None,
    mesh: HeartMesh | None = None,
) -> Anatomy:
    """Build the phase-0 anatomy for ``seed`` on the reference ``grid`` (LPS mm, identity direction)."""
    progress = as_progress(progress)
    rng = np.random.default_rng(seed)
    base = mesh or load_heart_mesh()
    heart = base.part_points([1, 2, 3, 4, 7])
    lo, hi = heart.min(0), heart.max(0)
    # world frame: midline x = 0 one third from the right heart border; heart centred in y and z
    offset = np.array([lo[0] + (hi[0] - lo[0]) / 3.0, 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2])])
    scale = float(rng.uniform(0.93, 1.07))
    deform = _seed_deformation(rng, 0.5 * (lo + hi), scale)
    mesh = base.transformed(lambda p: deform(p) - offset)
    progress(0.05, "heart mesh varied")
    root = _aortic_root(mesh, rng)
    marks = _landmarks(mesh)
    heart = mesh.part_points([1, 2, 3, 4, 7])
    body_scale = scale * rng.uniform(0.95, 1.05)
    la_pts = mesh.part_points([3])
    body = BodyLayout(
        center_y=30.0 * body_scale,
        half_width=160.0 * body_scale,
        half_depth=128.0 * body_scale,
        spine_y=float(la_pts[:, 1].max() + 30),
        sternum_y=float(heart[:, 1].min() - 6),
        diaphragm_z=float(heart[:, 2].min() - 4),
        trachea_top_z=float(heart[:, 2].max() + 10),
        esophagus_xy=(4.0, float(la_pts[:, 1].max() + 6)),
    )
    tissue = np.empty(grid.shape, dtype=np.uint8)
    full = (slice(0, grid.shape[0]), slice(0, grid.shape[1]), slice(0, grid.shape[2]))
    x, y, _ = grid.coords(full)
    for k0 in range(0, grid.shape[0], 16):
        k1 = min(k0 + 16, grid.shape[0])
        z = (grid.origin[2] + np.arange(k0, k1) * grid.spacing).astype(np.float32)[:, None, None]
        tissue[k0:k1] = body_tissue(x, y, z, body)
    progress(0.3, "chest painted")
    # myocardium from the tetrahedra of each part (atria, RV, LV + septum)
    for parts, code in (
        ((3, 4), labels.by_key("atrial_wall").value),
        ((2,), 17),
        ((1, 7), labels.LV_MYOCARDIUM),
    ):
        hit = surface_mask(mesh.points, mesh.part_boundary(parts), grid)
        if hit is not None:
            paint(tissue, hit[0], hit[1], code)
    progress(0.45, "myocardium painted")
    centerlines = great_vessels(mesh, root, body, rng)
    soft = set(BODY_CODES) | {tis.ESOPHAGUS}
    aorta = []  # (box, sdf, wall mm) of the aorta tube and the root: the atria must not cut them
    for _name, (pts, rad, code, open_start) in centerlines.items():
        reach = 3.5 if code == labels.AORTA else 2.0  # the aorta's: its wall and the PA's beyond it
        res = tube_sdf(grid, pts, rad, margin=reach, open_start=open_start)
        if res is None:
            continue
        box, sdf = res
        if code == labels.AORTA:
            aorta.append((box, sdf, 1.6))
        if code != tis.PULMONARY_VESSEL:
            paint(tissue, box, (sdf >= 0) & (sdf < 1.6), tis.VESSEL_WALL, overwrite=soft - {tis.VESSEL_WALL})
            paint(tissue, box, sdf < 0, code, overwrite=soft | {tis.VESSEL_WALL, 2, 17, 18})
        else:
            paint(tissue, box, sdf < 0, code, overwrite={tis.LUNG})
    res = root.sdf(grid, margin=3.5)
    if res is not None:
        aorta.append((res[0], res[1], 1.8))
        wall = (res[1] >= 0) & (res[1] < 1.8)
        paint(tissue, res[0], wall, tis.VESSEL_WALL, overwrite=soft - {tis.VESSEL_WALL})
        paint(tissue, res[0], res[1] < 0, labels.AORTA, overwrite=soft | {tis.VESSEL_WALL, 2, 17, 18, 7})
    progress(0.7, "great vessels painted")
    volumes = {}
    for key, sid in CAVITY.items():
        tri = mesh.triangles([sid])
        volumes[key] = closed_volume_mm3(mesh.points, tri) / 1000.0
        hit = surface_mask(mesh.points, tri, grid)
        if hit is not None:
            paint(tissue, hit[0], hit[1], labels.value_of({"lv": "lv_blood_pool"}.get(key, key)))
    # the atria lie behind/beside the aorta, wall to wall: clip them by its outer wall
    keep_shapes(tissue, aorta, labels.AORTA, tis.VESSEL_WALL, {labels.LA, labels.RA})
    # the pulmonary artery (its right branch passes behind the ascending aorta, the trunk beside the
    # root) touches the aorta wall to wall: the aorta keeps its lumen and wall, the PA's own 1.6 mm
    # wall (as painted for it) lies outside them
    pa_clear = [(box, sdf, wall + PA_WALL_MM) for box, sdf, wall in aorta]
    keep_shapes(tissue, pa_clear, labels.AORTA, tis.VESSEL_WALL, {labels.PULMONARY_ARTERY})
    _lvot(tissue, grid, root)
    _pericardium(tissue, grid, heart)
    progress(1.0, "anatomy ready")
    return Anatomy(
        grid=grid,
        tissue=tissue,
        mesh=mesh,
        root=root,
        epicardium=_epicardium(mesh),
        body=body,
        landmarks=marks,
        centerlines={k: (v[0], v[1]) for k, v in centerlines.items()},
        mesh_volumes_ml=volumes,
        seed=seed,
    )


def _lvot(tissue: np.ndarray, grid: Grid, root: AorticRoot) -> None:
    """The LV outflow tract continuous with the annulus: the LVOT cylinder of the root becomes LV
    blood pool (over myocardium, walls and soft tissue), LV blood pool of the mesh within 5 mm
    outside it becomes myocardium, and where the mesh's LV cavity reaches above the annulus plane
    (up to 4 mm) it becomes aorta inside the root and myocardium outside, so the lumen in the annulus
    plane and in the LVOT is the annulus circle (the phantom's truth) and the LV-aorta interface is
    the annulus plane."""
    res = root.lvot_mask(grid)
    if res is None:
        return
    box, mask = res
    soft = set(BODY_CODES) | {tis.VESSEL_WALL, labels.LV_MYOCARDIUM, 17, 18}
    paint(tissue, box, mask, labels.LV_BLOOD_POOL, overwrite=soft)
    x, y, z = grid.coords(box)
    q = (x - root.center[0], y - root.center[1], z - root.center[2])
    h = q[0] * root.axis[0] + q[1] * root.axis[1] + q[2] * root.axis[2]
    rho2 = q[0] ** 2 + q[1] ** 2 + q[2] ** 2 - h * h
    ring = (rho2 > root.annulus_radius**2) & (rho2 < (root.annulus_radius + 5.0) ** 2)
    outside = (h >= -root.lvot_length) & (h < 0) & ring
    paint(tissue, box, outside, labels.LV_MYOCARDIUM, overwrite={labels.LV_BLOOD_POOL})
    # where the mesh's LV cavity reaches above the annulus plane: aorta inside the root, wall outside
    res = root.sdf(grid, margin=6.0)
    if res is not None:
        box, sdf = res
        x, y, z = grid.coords(box)
        h = (x - root.center[0]) * root.axis[0] + (y - root.center[1]) * root.axis[1]
        h = h + (z - root.center[2]) * root.axis[2]
        low = h < 4.0
        paint(tissue, box, low & (sdf < 0), labels.AORTA, overwrite={labels.LV_BLOOD_POOL})
        paint(
            tissue,
            box,
            low & (sdf >= 0) & (sdf < 5.0),
            labels.LV_MYOCARDIUM,
            overwrite={labels.LV_BLOOD_POOL},
        )


def _pericardium(tissue: np.ndarray, grid: Grid, heart_points: np.ndarray) -> None:
    """Epicardial/pericardial fat (0-6 mm around the heart) and the pericardium (6-7.5 mm)."""
    box = grid.box(heart_points.min(0) - 15, heart_points.max(0) + 15)
    if box is None:
        return
    view = tissue[box]
    heart = np.isin(view, HEART_CODES)
    # valve planes: the thin gaps between neighbouring cavities (mitral/tricuspid caps of the mesh)
    # become fibrous tissue rather than fat
    gaps = ndimage.binary_closing(heart, iterations=2) & ~heart & np.isin(view, (tis.LUNG, tis.FAT))
    view[gaps] = tis.VESSEL_WALL
    dist = ndimage.distance_transform_edt(~(heart | gaps), sampling=grid.spacing)
    free = np.isin(view, (tis.LUNG, tis.FAT))
    view[free & (dist > 0) & (dist <= 6.0)] = tis.PERICARDIAL_FAT
    view[free & (dist > 6.0) & (dist <= 7.5)] = tis.PERICARDIUM
