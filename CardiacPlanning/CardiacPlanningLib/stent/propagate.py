"""The chosen reconstruction generated at every phase of a 4D CT, keeping its place in the anatomy.

A metal device moves with the anatomy but keeps its shape. Per phase ``p`` (visited outwards from
the reference, as :mod:`..motion.propagate` does), with the default ``register`` methods:

1. *Predict* the device's rigid pose: the least-squares rigid fit of the chosen envelope to its
   positions under the 4D motion (``mover``: e.g. the displacement fields of
   :func:`..motion.propagate.propagate_labels` through :func:`field_mover`), or, without motion, the
   pose of the neighbouring phase towards the reference.
2. *Centre* the prediction: the metal of phase ``p`` within 6 mm of the predicted envelope (box, or
   the phase's lumen label with per-phase label maps); its excess-weighted centre corrects the
   predicted translation (the reference metal's centre is moved onto it).
3. *Register* the reference phase's metal excess rigidly onto phase ``p``'s
   (:func:`.register.register_metal`) and move the chosen (possibly hand-adjusted) reconstruction by
   that pose: adjustments keep their place relative to the device and the anatomy exactly.
4. *Radial step* (``radial``, default except for coronary stents): per-ring radial scaling of the
   metal (:mod:`.radial`) before the pose, so a self-expanding frame follows the annulus.

The ``refit`` methods instead re-fit the chosen algorithm per phase and *transfer* the chosen envelope
from the reference fit to the phase fit in curved axis coordinates (arc length about the middles
scaled by the length ratio, offsets by the radius ratio). ``method``: ``"register"`` (default without
motion), ``"motion+register"`` (default with a mover), ``"refit"``, ``"motion+refit"``, ``"motion"``
(warp only; no metal needed). A phase without metal near the prediction falls back to the motion-only
result when a mover exists, else raises :class:`NoDeviceFoundError` naming the phase. Points are LPS mm.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .adjust import map_reconstruction
from .algorithms import ALGORITHMS
from .axis import CurvedAxis
from .geometry import Reconstruction, mesh_arrays
from .radial import radial_scaling, radially_scaled
from .region import NoDeviceFoundError, Region, detect_metal, region_from_label, region_from_points
from .register import register_metal, rigid_fit
from .score import Score, score_for

logger = logging.getLogger(__name__)

Mover = Callable[[np.ndarray, int], np.ndarray]  # (reference points (N, 3) LPS, phase) -> phase points
METHODS = ("register", "motion+register", "refit", "motion+refit", "motion")


@dataclass
class PhaseDevice:
    """The device at one phase: ``reconstruction`` (LPS mm), its score (None without metal), how it
    was obtained (``method``) and the phase fit's metal threshold (HU, None without a fit)."""

    phase: int
    reconstruction: Reconstruction
    score: Score | None
    method: str
    threshold_hu: float | None = None


def _load(item) -> Volume:
    return item if isinstance(item, Volume) else item.load()


def _arc(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def transfer(chosen: Reconstruction, source: Reconstruction, target: Reconstruction) -> Reconstruction:
    """``chosen`` (an adjusted or plain fit lying near ``source``) carried onto ``target`` (the same
    algorithm's fit at another phase) in curved axis coordinates (see the module docstring)."""
    src = CurvedAxis(source.axis, step_mm=0.1)
    tgt_pts = np.asarray(target.axis, float)
    if np.dot(tgt_pts[-1] - tgt_pts[0], src.points[-1] - src.points[0]) < 0:
        tgt_pts, tgt_r = tgt_pts[::-1], np.asarray(target.radius_profile, float)[::-1]
    else:
        tgt_r = np.asarray(target.radius_profile, float)
    tgt = CurvedAxis(tgt_pts, step_mm=0.1, n1_start=src.n1[0])
    src_arc, tgt_arc = _arc(np.asarray(source.axis, float)), _arc(tgt_pts)
    ratio = tgt.length / max(src.length, 1e-9)

    def along(s: np.ndarray) -> np.ndarray:  # about the middles: an axial shift stays a shift
        return 0.5 * tgt.length + (s - 0.5 * src.length) * ratio

    def factor(s: np.ndarray) -> np.ndarray:
        src_r = np.interp(s, src_arc, source.radius_profile)
        return np.interp(along(s), tgt_arc, tgt_r) / np.maximum(src_r, 1e-6)

    def fn(p: np.ndarray) -> np.ndarray:
        s, x, y = src.project(p)
        k = factor(s)
        return tgt.to_world(along(s), k * x, k * y)

    k_axis = factor(src.project(np.asarray(chosen.axis, float))[0])
    return map_reconstruction(chosen, fn, radius=np.asarray(chosen.radius_profile, float) * k_axis)


def _box_points(rec: Reconstruction, volume: Volume) -> np.ndarray:
    """Corners of the envelope's bounding box in index space, clipped to the image, as LPS points."""
    ijk = volume.lps_to_index(mesh_arrays(rec.mesh)[0])
    top = np.array(volume.shape[::-1], float) - 1.0
    corners = np.clip(np.vstack([ijk.min(0), ijk.max(0)]), 0.0, top)
    if np.any(corners[1] - corners[0] < 1.0):
        raise NoDeviceFoundError(f"the device lies outside the image of {rec.name}'s phase")
    return volume.index_to_lps(corners)


def _region(volume: Volume, predicted: Reconstruction, labels, label, name: str, margin_mm: float) -> Region:
    if labels is not None and label is not None:
        return region_from_label(volume, labels, label, name=name)
    region = region_from_points(volume, _box_points(predicted, volume), margin_mm=margin_mm, name=name)
    # the inside of the predicted envelope stands in for the lumen of the background model, so
    # blood-filled chambers in the box keep their own local level (see region.metal_excess)
    axis = CurvedAxis(predicted.axis)
    kji = np.indices(region.ct.shape).reshape(3, -1).T
    s, x, y = axis.project(region.ct.index_to_lps(kji[:, ::-1].astype(float)))
    arc = _arc(np.asarray(predicted.axis, float))
    r = np.interp(np.clip(s, 0.0, axis.length), arc, predicted.radius_profile)
    inside = (s >= 0) & (s <= axis.length) & (np.hypot(x, y) <= r - 0.5)
    if inside.sum() > 50:
        region.lumen = inside.reshape(region.ct.shape)
    return region


def _for_score(region: Region, labels) -> Region:
    """The region as scored: a box region's stand-in lumen is no wall (apposition needs a label)."""
    return region if labels is not None else Region(region.ct, region.support, None, region.name)


def _fit(volume, predicted, algorithm, kind, labels, label, name):
    """The algorithm's fit near ``predicted``: first within 6 mm of it (the device may have moved
    that far since the neighbouring phase), then within 2.5 mm of that first fit."""
    first = _fit_near(volume, predicted, "tube_fit", kind, labels, label, name, 6.0)[0]
    return _fit_near(volume, first, algorithm, kind, labels, label, name, 2.5)


def _fit_near(volume, predicted, algorithm, kind, labels, label, name, margin_mm):
    """The algorithm's fit in the region around ``predicted``: metal farther than ``margin_mm`` from
    the predicted envelope (radially or past its ends) is ignored and the fit starts from the
    predicted axis, so a partly cut lattice or other bright tissue in the box cannot tilt it."""
    region, metal = _metal_near(volume, predicted, kind, labels, label, name, margin_mm)
    # the fit re-estimates its axis from the restricted metal (a frame tilted like the prediction
    # would cut oblique, elliptical sections)
    return ALGORITHMS[algorithm](region.ct, metal), region, metal


def _metal_near(volume, predicted, kind, labels, label, name, margin_mm):
    """(region, metal detection) around ``predicted`` with the metal farther than ``margin_mm`` from
    its envelope (radially or past its ends) removed."""
    region = _region(volume, predicted, labels, label, name, margin_mm + 1.0)
    metal = detect_metal(region, kind)
    axis = CurvedAxis(predicted.axis)
    kji = np.argwhere(metal.excess > 0)
    s, x, y = axis.project(region.ct.index_to_lps(kji[:, ::-1].astype(float)))
    reach = np.interp(
        np.clip(s, 0, axis.length), _arc(np.asarray(predicted.axis, float)), predicted.radius_profile
    )
    far = (np.hypot(x, y) > reach + margin_mm) | (s < -margin_mm) | (s > axis.length + margin_mm)
    metal.excess[tuple(kji[far].T)] = 0.0
    metal.mask &= metal.excess > 0
    if not metal.mask.any():
        raise NoDeviceFoundError(f"no device found in {name}: no metal near the predicted device")
    return region, metal


def _metal_centre(region: Region, metal) -> np.ndarray:
    """Excess-weighted centre (3,) LPS mm of the metal."""
    kji = np.argwhere(metal.mask)
    w = metal.excess[metal.mask].astype(float)
    return (region.ct.index_to_lps(kji[:, ::-1].astype(float)) * w[:, None]).sum(0) / w.sum()


def _posed(rec: Reconstruction, pose) -> Reconstruction:
    rot, t = pose
    return map_reconstruction(rec, lambda x: np.asarray(x, float) @ rot.T + t)


def _register(vol, chosen, ref_centre, ref_image, pose, kind, labels, label, p, radial=False):
    """``chosen`` at phase ``p`` by rigid registration of the reference metal (``ref_image``, centre
    ``ref_centre``) onto the phase's metal near the predicted pose; the start's translation is
    corrected so that the reference metal's excess-weighted centre lands on the phase's. ``radial``:
    then the per-ring radial scaling of the metal (:mod:`.radial`) before the pose."""
    rot, t = pose
    region, metal = _metal_near(vol, _posed(chosen, pose), kind, labels, label, f"phase {p}", 6.0)
    t = _metal_centre(region, metal) - rot @ ref_centre
    phase_image = region.ct.with_array(metal.excess)
    rot, t, metric = register_metal(ref_image, phase_image, rot, t, ref_centre)
    if radial:
        scaling = radial_scaling(ref_image, phase_image, chosen.axis, chosen.radius_profile, (rot, t))
        if labels is None:  # a box region's stand-in lumen (background model) was the unscaled envelope
            scaled = _posed(radially_scaled(chosen, scaling), (rot, t))
            region, metal = _metal_near(vol, scaled, kind, labels, label, f"phase {p}", 6.0)
            phase_image = region.ct.with_array(metal.excess)
            scaling = radial_scaling(ref_image, phase_image, chosen.axis, chosen.radius_profile, (rot, t))
        rec = _posed(radially_scaled(chosen, scaling), (rot, t))
        rec.metadata["radialScaling"] = scaling.to_json()
    else:
        rec = _posed(chosen, (rot, t))
    rec.metadata["registrationMetric"] = metric
    return rec, region, metal, (rot, t)


def propagate_device(
    chosen: Reconstruction,
    phases: Sequence,
    reference: int,
    kind: str = "generic",
    mover: Mover | None = None,
    method: str | None = None,
    phase_labels: Sequence | None = None,
    label: int | None = None,
    progress: Progress | None = None,
    radial: bool | None = None,
) -> list[PhaseDevice]:
    """``chosen`` (found on phase ``reference``) at every phase of ``phases`` (Volumes, or items with
    ``.load()`` such as a :class:`..motion.phase_io.PhaseSeries`); see the module docstring.

    ``phase_labels`` (optional, per phase, Volume or loadable) with ``label`` make the re-fit region
    the lumen label of each phase (with apposition in the score) instead of a box. ``radial``
    (default: not for a coronary stent) adds the per-ring radial scaling after the rigid
    registration (``register`` methods), so a self-expanding frame follows the annulus."""
    progress = as_progress(progress)
    if radial is None:
        radial = kind != "coronary"
    n = len(phases)
    if not 0 <= reference < n:
        raise CardiacInputError(f"reference phase {reference} is outside 0..{n - 1}")
    method = method or ("motion+register" if mover is not None else "register")
    if method not in METHODS:
        raise CardiacInputError(f"propagation method {method!r} is not one of {', '.join(METHODS)}")
    if method.startswith("motion") and mover is None:
        raise CardiacInputError(f"propagation method {method!r} needs the 4D motion (displacement fields)")
    algorithm = chosen.metadata.get("algorithm", chosen.name)
    if method != "motion" and algorithm not in ALGORITHMS:
        raise CardiacInputError(f"{chosen.name}: unknown algorithm {algorithm!r} to re-fit per phase")

    def labels_of(p):
        return _load(phase_labels[p]) if phase_labels is not None else None

    from ..motion.propagate import visiting_order

    out: list[PhaseDevice | None] = [None] * n
    progress(0.0, f"phase {reference}: reference fit")
    source = None
    register = method in ("register", "motion+register")
    if method != "motion":
        vol = _load(phases[reference])
        name = f"phase {reference}"
        if register:  # the reference metal (moving image) and its centre
            region, metal = _metal_near(vol, chosen, kind, labels_of(reference), label, name, 6.0)
            ref_image, source = region.ct.with_array(metal.excess), _metal_centre(region, metal)
        else:
            source, region, metal = _fit(vol, chosen, algorithm, kind, labels_of(reference), label, name)
        ref_score = score_for(chosen, _for_score(region, phase_labels), metal, kind)
        out[reference] = PhaseDevice(reference, chosen, ref_score, "reference", metal.threshold_hu)
    else:
        out[reference] = PhaseDevice(reference, chosen, None, "reference")
    poses = {reference: (np.eye(3), np.zeros(3))}
    verts = mesh_arrays(chosen.mesh)[0][::7]
    order = visiting_order(n, reference)
    for step, (p, prev) in enumerate(order):
        progress((step + 0.5) / max(len(order), 1), f"phase {p}")
        moved = map_reconstruction(chosen, lambda x, p=p: mover(x, p)) if mover is not None else None
        if method == "motion":
            out[p] = PhaseDevice(p, moved, None, "motion")
            continue
        if register:
            pose = rigid_fit(verts, mover(verts, p)) if mover is not None else poses[prev]
            predicted = _posed(chosen, pose)
        else:
            predicted = moved if moved is not None else out[prev].reconstruction
        vol = _load(phases[p])
        try:
            if register:
                rec, region, metal, pose = _register(
                    vol, chosen, source, ref_image, pose, kind, labels_of(p), label, p, radial
                )
                poses[p] = pose
            else:
                fit, region, metal = _fit(vol, predicted, algorithm, kind, labels_of(p), label, f"phase {p}")
                rec = transfer(chosen, source, fit)
        except NoDeviceFoundError:
            if moved is None:
                raise
            logger.warning("phase %d: no metal near the moved device; kept the motion-only result", p)
            out[p] = PhaseDevice(p, moved, None, "motion (no metal found)")
            continue
        rec.metadata.update({"phase": p, "propagation": method})
        sc = score_for(rec, _for_score(region, phase_labels), metal, kind)
        out[p] = PhaseDevice(p, rec, sc, method, metal.threshold_hu)
        logger.info("phase %d: %s, score %.1f", p, method, out[p].score.total)
    progress(1.0, f"device propagated to {n - 1} phases")
    return out  # type: ignore[return-value]


def field_mover(field_files: Sequence[str | Path | None]) -> Mover:
    """A mover from per-phase pull-back displacement fields (``displacement_phase_XX.nii.gz`` of
    :func:`..motion.propagate.propagate_labels`; None at the reference phase = identity)."""
    import SimpleITK as sitk

    from ..motion.warp import warp_points

    cache: dict[int, object] = {}

    def move(points: np.ndarray, p: int) -> np.ndarray:
        path = field_files[p]
        if path is None:
            return np.asarray(points, float)
        if p not in cache:
            if not Path(path).exists():
                raise CardiacInputError(f"displacement field {path} does not exist")
            cache.clear()  # one field in memory at a time
            cache[p] = sitk.ReadImage(str(path), sitk.sitkVectorFloat64)
        return warp_points(cache[p], points)

    return move


def write_phase_devices(devices: list[PhaseDevice], out_dir: str | Path) -> Path:
    """Per phase ``phase_XX.vtp`` / ``.stl`` (envelope, LPS mm) and ``phase_XX_axis.json``, plus
    ``propagation.json`` (method, score and mean radius per phase); returns its path."""
    from .pipeline import write_mesh

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for d in devices:
        rec = d.reconstruction
        write_mesh(rec.mesh, out / f"phase_{d.phase:02d}")
        axis = {
            "phase": d.phase,
            "coordinateSystem": "LPS",
            "units": "mm",
            "axis": np.round(rec.axis, 4).tolist(),
            "radiusProfileMm": np.round(rec.radius_profile, 4).tolist(),
        }
        (out / f"phase_{d.phase:02d}_axis.json").write_text(json.dumps(axis, indent=1), encoding="utf-8")
        rows.append(
            {
                "phase": d.phase,
                "method": d.method,
                "score": None if d.score is None else round(d.score.total, 2),
                "meanRadiusMm": round(float(np.mean(rec.radius_profile)), 4),
                "radialScaling": rec.metadata.get("radialScaling"),
                "metalThresholdHu": d.threshold_hu,
            }
        )
    path = out / "propagation.json"
    algorithm = devices[0].reconstruction.metadata.get("algorithm") if devices else None
    path.write_text(json.dumps({"algorithm": algorithm, "phases": rows}, indent=1), encoding="utf-8")
    return path
