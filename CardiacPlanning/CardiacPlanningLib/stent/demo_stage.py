"""Demo stage ``stent``: a transcatheter valve frame implanted in the demo case, reconstructed with
every algorithm, scored and ranked; the best one propagated over the cardiac cycle with the 4D
motion of the ``propagate`` stage and registered rigidly to the metal per phase (then the radial
step of :mod:`.radial`, default for valves; this balloon-expandable frame keeps its radius, the step
finds ~1), and compared with the true frame at every phase.

The default demo case has no device (its heart and coronary stages need none), so this stage
implants the phantom's balloon-expandable frame (:func:`..phantom.devices.valve_frame`) in its
aortic annulus: per phase the frame moves with the anatomy keeping its shape (the rigid pose fitted
to the case's exact motion around it, :func:`..phantom.device_motion.moved_device`), and the
phase's CT around the aortic root is resampled to 0.6 mm (linear) with the frame's metal added as
the phantom's CT finishing does (partial volume, blooming PSF, correlated noise).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..phantom import device_motion, devices
from ..phantom.motion import motion_from_json
from ..progress import Progress
from .geometry import sample, triangle_samples
from .pipeline import reconstruct_all, write_results
from .propagate import field_mover, propagate_device, write_phase_devices
from .region import region_from_label
from .score import lateral_triangles

logger = logging.getLogger(__name__)

SPACING_MM = 0.6
MARGIN_MM = 7.0
METAL_HU = 20000.0  # as the phantom's valve frames (phantom.generate.METAL_HU)


def _grid(moved: list[devices.Device]) -> Volume:
    """A 0.6 mm grid holding the frame at every phase (the aortic root moves ~15 mm over the cycle)."""
    pts = np.vstack([s for dev in moved for s in dev.struts])
    lo, hi = pts.min(0) - MARGIN_MM, pts.max(0) + MARGIN_MM
    size = np.ceil((hi - lo) / SPACING_MM).astype(int) + 1
    return Volume(np.zeros(size[::-1], np.int16), (SPACING_MM,) * 3, tuple(lo), np.eye(3))


def resample_labels(lab: Volume, grid: Volume) -> Volume:
    """A label map resampled onto ``grid`` (nearest neighbour)."""
    kji = np.indices(grid.shape).reshape(3, -1).T
    ijk = lab.lps_to_index(grid.index_to_lps(kji[:, ::-1].astype(float)))[:, ::-1].T
    arr = ndimage.map_coordinates(np.asarray(lab.array), ijk, order=0, mode="nearest").reshape(grid.shape)
    return grid.with_array(arr.astype(np.uint8))


def implant_phase(ct: Volume, lab: Volume, dev: devices.Device, grid: Volume, rng) -> tuple[Volume, Volume]:
    """(CT, label map) on ``grid`` (0.6 mm): the phase resampled, with the frame ``dev`` (at this
    phase, LPS mm) rendered into it with partial volume, blooming and 20 HU noise."""
    kji = np.indices(grid.shape).reshape(3, -1).T
    pts = grid.index_to_lps(kji[:, ::-1].astype(float))
    base = sample(ct, pts, order=1, cval=-1000.0).reshape(grid.shape).astype(np.float32)
    lab_arr = resample_labels(lab, grid).array
    occ = devices.wire_occupancy(dev, grid, 3)
    sigma = 1.0 / 2.3548 / SPACING_MM  # the phantom's 1 mm FWHM PSF
    out = base + ndimage.gaussian_filter(occ * (METAL_HU - base), 2.2 * max(sigma, 0.4))
    noise = ndimage.gaussian_filter(rng.standard_normal(grid.shape).astype(np.float32), 0.6)
    out += noise * np.float32(20.0 / max(float(noise.std()), 1e-6))
    lab_arr = lab_arr.astype(np.uint8)
    lab_arr[devices.wire_mask(dev, grid, occ)] = labels.by_key("valve_frame").value
    return grid.with_array(np.clip(np.rint(out), -1024, 3071).astype(np.int16)), grid.with_array(lab_arr)


def envelope_points(dev: devices.Device, step_mm: float = 0.1, n_theta: int = 360) -> np.ndarray:
    """Dense points (N, 3) LPS mm of a device's lateral envelope (its tube at the radius profile)."""
    from ..phantom.devices import _Tube

    tube = _Tube(dev.axis, dev.radius_profile)
    z, th = np.meshgrid(
        np.linspace(0, tube.s[-1], int(tube.s[-1] / step_mm) + 1),
        np.linspace(0, 2 * np.pi, n_theta, endpoint=False),
    )
    return tube.points(z.ravel(), th.ravel())


def lateral_mean(rec, truth_points: np.ndarray) -> float:
    """Area-weighted mean distance (mm) of ``rec``'s lateral envelope to dense true envelope points.

    At a phase the truth is the frame at that phase (moved with the anatomy, keeping its shape), so
    this is the deviation relative to the anatomy."""
    from scipy.spatial import cKDTree

    c, a, n = triangle_samples(rec.mesh)
    _, lat = lateral_triangles(rec, c, n)
    d = cKDTree(truth_points).query(c[lat])[0]
    return float((d * a[lat]).sum() / a[lat].sum())


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Implant, reconstruct, rank and propagate (see the module docstring); returns accuracy per
    algorithm and the deviation from the true frame per phase."""
    phantom = context.get("phantom")
    if not phantom:
        raise CardiacInputError("the stent stage needs the phantom stage's case (context['phantom'])")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    meta = json.loads(Path(phantom["metadata"]).read_text(encoding="utf-8"))
    motion = motion_from_json(meta["motion"])
    fractions = [p / 100.0 for p in phantom["percent"]]
    dev0 = devices.valve_frame(phantom["aortic_root"], rng=np.random.default_rng([0, 3]))
    moved = [device_motion.moved_device(dev0, lambda x, f=f: motion.forward(x, f)) for f in fractions]
    grid = _grid(moved)
    rng = np.random.default_rng([0, 5])
    progress(0.0, "implanting the valve frame")
    cts, labs = [], []
    for i, (ct_path, lab_path) in enumerate(zip(phantom["ct"], phantom["labels"], strict=True)):
        ct, lab = implant_phase(Volume.read(ct_path), Volume.read(lab_path), moved[i], grid, rng)
        cts.append(ct)
        labs.append(lab)
        progress(0.3 * (i + 1) / len(fractions), f"phase {i} implanted")
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    cts[0].write(out_dir / "images" / "ct_phase_00.nii.gz")
    labs[0].write(out_dir / "images" / "labels_phase_00.nii.gz")
    aorta = labels.by_key("aorta").value
    region = region_from_label(cts[0], labs[0], aorta, name="demo aortic root")
    results, metal = reconstruct_all(cts[0], region, "valve", progress.sub(0.3, 0.5))
    write_results(results, metal, out_dir / "reference")
    ref_envelope = envelope_points(dev0)
    accuracy = {r.name: round(lateral_mean(r, ref_envelope), 3) for r, _ in results}
    prop = context.get("propagate") or {}
    mover = None
    if prop.get("dir"):
        files = [Path(prop["dir"]) / f"displacement_phase_{p:02d}.nii.gz" for p in range(len(cts))]
        if all(f.exists() for i, f in enumerate(files) if i != 0):
            mover = field_mover([None if i == 0 else f for i, f in enumerate(files)])
    # the re-fit region per phase: the aorta of the propagate stage's label maps (the 4D labels a
    # user would have), else the box around the predicted frame
    phase_labels = None
    if prop.get("labels") and len(prop["labels"]) == len(cts):
        phase_labels = [resample_labels(Volume.read(p), grid) for p in prop["labels"]]
    chosen = results[0][0]
    per_phase = propagate_device(
        chosen,
        cts,
        0,
        "valve",
        mover,
        phase_labels=phase_labels,
        label=aorta,
        progress=progress.sub(0.5, 1.0),
    )
    write_phase_devices(per_phase, out_dir / "phases")
    deviation = [round(lateral_mean(d.reconstruction, envelope_points(moved[d.phase])), 3) for d in per_phase]
    context["stent"] = {"dir": str(out_dir), "best": chosen.name, "phases": str(out_dir / "phases")}
    return {
        "ranking": [[r.name, round(s.total, 1)] for r, s in results],
        "mean_distance_to_true_frame_mm": accuracy,
        "propagated": chosen.name,
        "propagation": per_phase[1].method if len(per_phase) > 1 else "none",
        "deviation_per_phase_mm": deviation,
        "seconds": round(time.perf_counter() - t0, 1),
    }
