"""Generate a phantom case: anatomy -> motion -> coronaries/devices -> per-phase labels and CT -> files.

Streams phase by phase (one phase in memory at a time) so that a clinical-size case (0.5 mm,
512 x 512 x 300) fits in a few GB.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from . import coronary, device_motion, devices, sweep
from . import tissues as tis
from .anatomy import Anatomy, build_anatomy
from .ctsim import apply_overlay, finish_ct, make_output_geometry, sample_phase
from .io import CaseWriter
from .motion import CardiacMotion, motion_for_anatomy
from .shapes import Grid

logger = logging.getLogger(__name__)

STENT_CHOICES = ("none", "coronary", "valve")
FOV_CENTER_LPS = (14.0, 14.0, 6.0)  # heart-centred field of view, including the spine's front
# Effective CT number of the strut metal itself (before partial volume): cobalt-chromium and nitinol
# attenuate 10-25x more than water at CT energies, so a 0.1-0.2 mm strut filling a few % of a voxel
# still shows as a bright, bloomed spot of 1000-3000 HU, as in clinical images. Coronary struts are
# ~0.12 mm thin, so their effective value also carries beam hardening: 90,000 gives strut voxels of
# ~800 HU median, ~1,000 HU p90 at 0.6 mm (clinical CTA shows coronary stents at ~700-1,500 HU).
METAL_HU = {"coronary": 90000.0, "valve": 20000.0}


@dataclass
class PhantomParameters:
    """What to generate. Sizes in voxels (x, y, z), spacing/PSF in mm, noise and contrast in HU."""

    seed: int = 0
    phases: int = 10
    spacing_mm: float = 1.25
    size: tuple[int, int, int] = (160, 160, 112)
    ef: float = 0.6
    noise_hu: float = 20.0
    stent: str = "none"
    supersample: int = 2
    psf_fwhm_mm: float = 1.0
    heart_rate_bpm: float = 65.0
    calcified: bool = False
    stenoses: list = field(default_factory=list)
    ref_factor: int = 0  # reference grid = spacing / ref_factor (0: 2 for spacing > 0.7 mm, else 1)
    dicom: bool = True

    def validate(self) -> None:
        if not 1 <= self.phases <= 40:
            raise CardiacInputError(f"phases must be 1-40, got {self.phases}")
        if not 0.25 <= self.spacing_mm <= 5.0:
            raise CardiacInputError(f"spacing must be 0.25-5 mm, got {self.spacing_mm}")
        if len(self.size) != 3 or min(self.size) < 8 or max(self.size) > 1024:
            raise CardiacInputError(f"size must be three voxel counts 8-1024 (x, y, z), got {self.size}")
        if self.stent not in STENT_CHOICES:
            raise CardiacInputError(f"stent must be one of {', '.join(STENT_CHOICES)}, got {self.stent!r}")
        if self.noise_hu < 0:
            raise CardiacInputError(f"noise must be >= 0 HU, got {self.noise_hu}")
        if not 0.05 <= self.ef <= 0.85:
            raise CardiacInputError(f"ejection fraction must be 0.05-0.85 (fraction), got {self.ef}")

    @property
    def phase_fractions(self) -> np.ndarray:
        return np.arange(self.phases) / self.phases


@dataclass
class PhantomCase:
    """An in-memory case: anatomy (phase 0), calibrated motion, output geometry, optional coronary
    tree and device (phase 0, LPS mm)."""

    params: PhantomParameters
    anatomy: Anatomy
    motion: CardiacMotion
    geometry: Volume
    tree: coronary.CoronaryTree | None = None
    device: devices.Device | None = None


def build_case(params: PhantomParameters, progress: Progress | None = None) -> PhantomCase:
    """Anatomy, motion, coronaries and device of a case (no files)."""
    params.validate()
    progress = as_progress(progress)
    geom = make_output_geometry(params.spacing_mm, params.size, FOV_CENTER_LPS)
    factor = params.ref_factor or (2 if params.spacing_mm > 0.7 else 1)
    ref = params.spacing_mm / factor
    margin = np.ceil(6.0 / ref) * ref  # whole reference voxels: output centres fall on reference centres
    lo = np.asarray(geom.origin) - margin
    extent = (np.array(params.size) - 1) * params.spacing_mm + 2 * margin
    grid = Grid(lo, ref, tuple(int(np.ceil(e / ref)) + 1 for e in extent[::-1]))
    anatomy = build_anatomy(grid, params.seed, progress.sub(0.0, 0.75))
    rng = np.random.default_rng([params.seed, 1])
    motion = motion_for_anatomy(anatomy, params.ef, params.phase_fractions, rng)
    progress(0.85, "motion calibrated")
    tree = coronary.build_coronary_tree(
        anatomy,
        np.random.default_rng([params.seed, 2]),
        stenoses=params.stenoses or None,
        calcified=params.calcified,
    )
    device = None
    if params.stent != "none":
        device = _make_device(params.stent, anatomy, tree, np.random.default_rng([params.seed, 3]))
    progress(1.0, "case built")
    return PhantomCase(params, anatomy, motion, geom, tree, device)


def _make_device(kind: str, anatomy: Anatomy, tree, rng):
    """A balloon-expandable valve frame in the annulus, or an 18 mm stent in the proximal LAD."""
    if kind == "valve":
        return devices.valve_frame(anatomy.aortic_root, style="balloon_expandable", rng=rng)
    return devices.coronary_stent(tree.branch("LAD"), start_fraction=0.12, length_mm=18.0, rng=rng)


def device_at_phase(case: PhantomCase, f: float) -> devices.Device:
    """The case's device at phase fraction ``f``: moved with the anatomy but keeping its shape (a
    rigid pose fitted to the motion of its envelope; see :mod:`.device_motion`)."""
    return device_motion.moved_device(case.device, lambda pts: case.motion.forward(pts, f))


def render_phase(case: PhantomCase, f: float, rng: np.random.Generator, progress=None):
    """(CT Volume int16 HU, label Volume uint8) of phase fraction ``f``."""
    p = case.params
    geom = case.geometry
    label_map, hu = sample_phase(case.anatomy, case.motion, geom, f, p.supersample, progress=progress)
    mover = lambda pts: case.motion.forward(pts, f)  # noqa: E731
    metal = None
    if case.tree is not None:
        tree = case.tree.transformed(mover)
        left, right = coronary.tree_occupancy(tree, geom, supersample=3)
        lut = tis.hu_table()
        apply_overlay(hu, label_map, left, lut[labels.LEFT_CORONARY], labels.LEFT_CORONARY)
        apply_overlay(hu, label_map, right, lut[labels.RIGHT_CORONARY], labels.RIGHT_CORONARY)
        # label also every voxel a centreline passes through, so that thin distal branches stay
        # connected and every centreline point lies inside its tree's label
        for side, value in (("left", labels.LEFT_CORONARY), ("right", labels.RIGHT_CORONARY)):
            lines = [b.points for b in tree.branches if b.tree == side]
            if lines:
                label_map[sweep.polyline_voxels(lines, geom)] = value
        if tree.calcium:
            apply_overlay(hu, label_map, coronary.calcium_occupancy(tree, geom, 3), lut[14], 14)
    if case.device is not None:
        moved = device_at_phase(case, f)
        metal = devices.wire_occupancy(moved, geom, 3)
        label_map[devices.wire_mask(moved, geom, metal)] = 15 if p.stent == "coronary" else 16
    metal_hu = METAL_HU.get(p.stent, 20000.0)
    ct = finish_ct(hu, p.spacing_mm, rng, p.noise_hu, p.psf_fwhm_mm, metal=metal, metal_hu=metal_hu)
    return geom.with_array(ct), geom.with_array(label_map)


def generate_case(
    params: PhantomParameters,
    out_dir: str | Path,
    progress: Progress | None = None,
    case: PhantomCase | None = None,
) -> dict:
    """Generate and write a case to ``out_dir`` (``case``: one already built from ``params``);
    returns the metadata (also in ``phantom.json``)."""
    progress = as_progress(progress)
    t0 = time.perf_counter()
    case = case or build_case(params, progress.sub(0.0, 0.25))
    writer = CaseWriter(Path(out_dir), dicom=params.dicom)
    rr_ms = 60000.0 / params.heart_rate_bpm
    rng = np.random.default_rng([params.seed, 4])
    volumes: dict[str, list[float]] = {lab.key: [] for lab in labels.label_table()}
    device_phases = []
    for i, f in enumerate(params.phase_fractions):
        part = progress.sub(0.25 + 0.75 * i / params.phases, 0.25 + 0.75 * (i + 1) / params.phases)
        ct, lab = render_phase(case, float(f), rng, part.sub(0.0, 0.8))
        counts = np.bincount(lab.array.ravel(), minlength=256)
        for key_lab in labels.label_table():
            volumes[key_lab.key].append(float(counts[key_lab.value]) * ct.voxel_volume_mm3 / 1000.0)
        writer.phase(i, 100.0 * f, f * rr_ms, ct, lab)
        if case.device is not None and hasattr(case.device, "to_json"):
            moved = device_at_phase(case, float(f))
            device_phases.append({"percent": 100.0 * f, **moved.to_json()})
        part(1.0, f"phase {100 * f:.0f} % written")
    lv = np.array(volumes["lv_blood_pool"])
    root = case.anatomy.aortic_root_dict()
    if case.tree is not None:
        writer.centerlines(case.tree.to_json())
    writer.ostia(root["ostia"])
    if device_phases:
        writer.devices(device_phases)
    meta = {
        "generator": "CardiacPlanningLib.phantom",
        "seed": params.seed,
        "parameters": asdict(params),
        "coordinateSystem": "LPS",
        "phasesPercent": (100.0 * params.phase_fractions).tolist(),
        "rrIntervalMs": rr_ms,
        "volumesMl": volumes,
        "ejectionFraction": {"requested": params.ef, "measured": float(1 - lv.min() / lv.max())},
        "aorticRoot": root,
        "mitralAnnulus": case.anatomy.mitral_annulus_dict(),
        "meshCavityVolumesMl": case.anatomy.mesh_volumes_ml,
        "motion": case.motion.to_json(),
        "anatomySource": "Rodero et al. 2021 (CC BY 4.0), case 01, via ansys-health-heart 0.16.2",
        "seconds": time.perf_counter() - t0,
    }
    writer.metadata(meta)
    logger.info("phantom case written to %s in %.1f s", out_dir, meta["seconds"])
    return {**meta, "files": writer.files}
