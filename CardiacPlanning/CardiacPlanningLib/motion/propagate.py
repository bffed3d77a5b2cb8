"""Propagation of a reference-phase segmentation to every phase of a 4D cardiac CT.

For every phase ``p`` the reference phase is registered *directly* to ``p`` (:mod:`.register`), so
errors do not accumulate along the cycle (no chaining); the registration of ``p`` only *starts*
from the field of its neighbour towards the reference, which shortens convergence. The reference
labels are warped with linear interpolation of one-hot masks (:mod:`.warp`), keeping their values;
a structure cut by the scan's edge (the aorta or pulmonary artery leaving the field of view) is taken
to continue beyond it, so the part that moves into the image in another phase is labelled. Each
phase's contrast-enhanced blood is scaled to the reference's before registering
(:func:`.register.match_contrast`), since contrast arrival differs between the phases of a study.

Memory: one phase is read at a time and immediately cropped to the box around the labels (plus a
margin); the registration runs on that crop at ``settings.spacing_mm``; only the reference crop,
the fields of the two neighbours in progress (registration grid) and one output label map are kept.

Outputs in ``out_dir``: ``labels_phase_XX.nii.gz`` (same label values, phase grid),
``displacement_phase_XX.nii.gz`` (float32 vector images on the registration grid, pull-back
convention of :mod:`.register`, LPS mm), ``volume_curves.json/.csv`` and ``propagation.json``.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from .curves import VolumeCurves, label_volumes_ml
from .phase_io import PhaseSeries
from .register import RegistrationSettings, crop_grid, register_phase, to_registration_image
from .warp import label_box, sub_volume, warp_labels

logger = logging.getLogger(__name__)


@dataclass
class PropagationResult:
    """Files written by :func:`propagate_labels` and the volume curves."""

    out_dir: Path
    reference_index: int
    label_files: list[Path]
    field_files: list[Path | None]
    curves: VolumeCurves
    seconds_per_phase: list[float] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def visiting_order(n: int, reference: int) -> list[tuple[int, int]]:
    """(phase, neighbour it starts from) pairs, walking both ways round the cycle from ``reference``
    so that each phase's neighbour towards the reference is done before it."""
    order, seen = [], {reference}
    for d in range(1, n):
        for p, prev in (
            ((reference + d) % n, (reference + d - 1) % n),
            ((reference - d) % n, (reference - d + 1) % n),
        ):
            if p not in seen:
                seen.add(p)
                order.append((p, prev))
    return order


def propagate_labels(
    series: PhaseSeries,
    reference: int,
    reference_labels: Volume,
    out_dir: str | Path,
    *,
    settings: RegistrationSettings | None = None,
    write_fields: bool = True,
    progress: ProgressCallback | Progress | None = None,
) -> PropagationResult:
    """Propagate ``reference_labels`` (label map on the grid of phase ``reference``) to every phase of
    ``series``; write label maps, displacement fields and volume curves to ``out_dir``."""
    settings = settings or RegistrationSettings()
    prog = as_progress(progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = len(series)
    if not 0 <= reference < n:
        raise CardiacInputError(f"reference phase {reference} outside 0..{n - 1} ({series.where})")
    labels_arr = np.asarray(reference_labels.array)
    if not np.issubdtype(labels_arr.dtype, np.integer):
        if not np.all(np.mod(labels_arr, 1) == 0):
            raise CardiacInputError("the reference segmentation must be a label map of integer values")
        labels_arr = labels_arr.astype(np.int16)
    if labels_arr.min() < 0:
        raise CardiacInputError("the reference segmentation has negative label values")
    prog(0.0, f"reading reference phase {series[reference].label}")
    ref_vol = series[reference].load()
    if not reference_labels.same_geometry(ref_vol, tol=0.01):
        raise CardiacInputError(
            f"the reference segmentation (shape {reference_labels.shape}, spacing "
            f"{reference_labels.spacing}) is "
            f"not on the grid of phase {series[reference].label} (shape {ref_vol.shape}, spacing "
            f"{ref_vol.spacing}); segment that phase or resample the segmentation to it"
        )
    labels_vol = reference_labels.with_array(labels_arr)
    values = [int(v) for v in np.unique(labels_arr) if v != 0]
    box = label_box(labels_vol, settings.margin_mm)
    grid = crop_grid(
        labels_vol, labels_arr != 0, settings.spacing_mm, settings.margin_mm, settings.edge_pad_mm
    )
    ref_labels_crop = sub_volume(labels_vol, box)
    ref_labels_crop.array = np.ascontiguousarray(ref_labels_crop.array)
    ref_img = to_registration_image(sub_volume(ref_vol, box), grid, settings)
    full_shape = ref_vol.shape
    geometry = (ref_vol.spacing, ref_vol.origin, ref_vol.direction.copy())
    del ref_vol
    logger.info(
        "propagation: %d phases, labels %s, crop %s voxels, registration grid %s at %.2f mm",
        n,
        values,
        ref_labels_crop.shape,
        grid.GetSize(),
        settings.spacing_mm,
    )

    label_files: list[Path | None] = [None] * n
    field_files: list[Path | None] = [None] * n
    volumes: list[dict[int, float] | None] = [None] * n
    seconds = [0.0] * n
    cpu_seconds = [0.0] * n
    label_files[reference] = _write_labels(out, reference, geometry, labels_arr)
    volumes[reference] = label_volumes_ml(labels_arr, labels_vol.spacing, values)
    fields: dict[int, sitk.Image] = {}
    order = visiting_order(n, reference)
    for step, (p, prev) in enumerate(order):
        sub = prog.sub(0.02 + 0.96 * step / max(len(order), 1), 0.02 + 0.96 * (step + 1) / max(len(order), 1))
        t0, c0 = time.perf_counter(), time.process_time()
        sub(0.0, f"phase {series[p].label}: reading ({step + 1}/{len(order)})")
        vol = series[p].load()
        if vol.shape != full_shape:
            raise CardiacInputError(
                f"phase {series[p].label} has shape {vol.shape}, the reference phase {full_shape}; "
                "resample the phases to one grid"
            )
        moving_img = to_registration_image(sub_volume(vol, box), grid, settings)
        del vol
        sub(0.1, f"phase {series[p].label}: registering")
        u = register_phase(
            ref_img, moving_img, settings, initial_field=fields.get(prev), progress=sub.sub(0.1, 0.85)
        )
        sub(0.85, f"phase {series[p].label}: warping labels")
        warped = warp_labels(ref_labels_crop, u, extend_edges=True)
        full = np.zeros(full_shape, dtype=labels_arr.dtype)
        full[box] = warped.labels.array
        label_files[p] = _write_labels(out, p, geometry, full)
        del full
        volumes[p] = {v: warped.volumes_ml.get(v, 0.0) for v in values}
        if write_fields:
            field_files[p] = out / f"displacement_phase_{p:02d}.nii.gz"
            sitk.WriteImage(sitk.Cast(u, sitk.sitkVectorFloat32), str(field_files[p]), useCompression=True)
        fields[p] = u
        if _done_with(prev, order, step):
            fields.pop(prev, None)  # keep only fields that a later phase starts from
        seconds[p] = time.perf_counter() - t0
        cpu_seconds[p] = time.process_time() - c0
        logger.info("phase %s propagated in %.1f s", series[p].label, seconds[p])

    curves = VolumeCurves(
        series.labels, series.percents, {v: [volumes[p][v] for p in range(n)] for v in values}
    )
    curves.write(out)
    timed = [s for i, s in enumerate(seconds) if i != reference]
    summary = {
        "source": series.where,
        "reference_phase": reference,
        "reference_label": series[reference].label,
        "labels": values,
        "settings": asdict(settings),
        "seconds_per_phase": [round(s, 2) for s in seconds],
        "mean_seconds_per_propagated_phase": round(float(np.mean(timed)), 2) if timed else 0.0,
        "cpu_seconds_per_phase": [round(s, 2) for s in cpu_seconds],  # all threads of the process
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        **curves.summary(),
    }
    (out / "propagation.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    prog(1.0, f"propagated {len(values)} labels to {n - 1} phases")
    return PropagationResult(out, reference, label_files, field_files, curves, seconds, summary)  # type: ignore[arg-type]


def _done_with(prev: int, order: list[tuple[int, int]], step: int) -> bool:
    """True when no later phase starts from ``prev``."""
    return all(q != prev for _, q in order[step + 1 :])


def _write_labels(out: Path, p: int, geometry: tuple, array: np.ndarray) -> Path:
    path = out / f"labels_phase_{p:02d}.nii.gz"
    Volume(array, *geometry).write(path)
    return path
