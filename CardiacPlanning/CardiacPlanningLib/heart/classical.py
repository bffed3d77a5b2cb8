"""The ``classical`` engine: contrast blood-pool model, watershed pieces named by a shape prior,
soft-tissue walls. Runs on a plain CPU with no trained weights."""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from .. import labels as lbl
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .aortic import move_aortic_valve
from .assign import name_regions, split_fused_outflow
from .atrium import split_left_atrium
from .bloods import split_two_bloods
from .circulation import (
    adopt_pulmonary_branches,
    reclaim_aorta,
    reclaim_pulmonary_artery,
    release_pulmonary_veins,
    split_caval_inflow,
)
from .contrast import ContrastModel, body_mask, estimate_contrast
from .myocardium import outer_level
from .necks import detach_bridged
from .regions import blood_mask, heart_component, near_components, split_pool
from .valves import move_valve_plane
from .walls import add_walls, refine_left_heart

logger = logging.getLogger(__name__)

WORK_SPACING_MM = 1.5
# the LVOT is walled by the mitral curtain: no clean wall cue; its valve plane is found from the
# sinuses' bulge instead (aortic.py)
VALVES = ((lbl.RV, lbl.PULMONARY_ARTERY),)


def resample(
    volume: Volume, spacing_mm: float, label: bool = False, reference: Volume | None = None
) -> Volume:
    """``volume`` on an isotropic ``spacing_mm`` grid over the same extent and axes, or on the grid of
    ``reference``; nearest neighbour for label maps, linear for HU."""
    image = volume.to_sitk()
    if reference is not None:
        ref = reference.to_sitk()
    else:
        size = np.array(volume.shape[::-1]) * np.array(volume.spacing)
        new_size = [max(1, int(round(s / spacing_mm))) for s in size]
        ref = sitk.Image(new_size, sitk.sitkUInt8)
        ref.SetSpacing([spacing_mm] * 3)
        ref.SetDirection(image.GetDirection())
        # same outer extent: the first voxel centre moves by half the spacing change
        shift = (spacing_mm - np.array(volume.spacing)) / 2.0
        ref.SetOrigin(tuple(np.asarray(volume.origin) + volume.direction @ shift))
    interp = sitk.sitkNearestNeighbor if label else sitk.sitkLinear
    default = 0 if label else -1024
    out = sitk.Resample(image, ref, sitk.Transform(), interp, default, image.GetPixelID())
    return Volume.from_sitk(out)


def segment_classical(
    volume: Volume, progress: Progress | None = None, name: str = "image"
) -> tuple[Volume, dict]:
    """Label map (label table values) of the heart in ``volume`` (HU) on the input grid, plus info:
    the contrast model and the working spacing."""
    progress = as_progress(progress)
    progress(0.0, "resampling")
    work_mm = max(WORK_SPACING_MM, min(volume.spacing))
    work = resample(volume, work_mm) if not np.allclose(volume.spacing, work_mm) else volume
    image = work.array.astype(np.float32)
    voxel_ml = work_mm**3 / 1000.0
    progress(0.1, "contrast model")
    body = body_mask(image)
    model: ContrastModel = estimate_contrast(image, voxel_ml, body, name)
    progress(0.2, "blood pool")
    blood = blood_mask(image, model.threshold_hu, work_mm) & body
    pool = near_components(blood, heart_component(blood, work_mm, voxel_ml, name), work_mm)
    progress(0.35, "splitting the blood pool")
    ids, regions = split_pool(pool, image, work_mm, work.index_to_lps)
    progress(0.6, "naming chambers and vessels")
    named = name_regions(regions, voxel_ml, work_mm)
    carved = split_fused_outflow(ids, regions, named, pool, image, work_mm, work.index_to_lps, voxel_ml)
    if carved is not None:
        ids, regions = carved
        named = name_regions(regions, voxel_ml, work_mm)
    cut = split_two_bloods(ids, regions, named, pool, image, work_mm, work.index_to_lps)
    if cut is not None:
        ids, regions = cut
        named = name_regions(regions, voxel_ml, work_mm)
    lut = np.zeros(int(ids.max()) + 1, np.uint8)
    for rid, lab in named.items():
        lut[rid] = lab
    seg = lut[ids]
    reclaim_pulmonary_artery(seg, image, work_mm)
    reclaim_aorta(seg, image, work_mm)
    adopt_pulmonary_branches(seg, pool, image, work_mm)
    split_caval_inflow(seg, image, work_mm, work.index_to_lps)
    smooth = ndi.gaussian_filter(image, 0.7)
    pool_dist = ndi.distance_transform_edt(seg > 0) * work_mm
    for vessel in (lbl.AORTA, lbl.PULMONARY_ARTERY):
        # the pulmonary artery runs beside veins of the left heart's enhancement out to the lungs: a
        # basin straddling a branch and a vein is split by enhancement; the aorta's fused neighbour
        # (the SVC) carries mixing inflow of spread HU, which such a split would cut apart
        detach_bridged(
            seg,
            smooth,
            pool_dist,
            vessel,
            work_mm,
            model.myocardium_hu,
            work.index_to_lps,
            split_mixed=vessel == lbl.PULMONARY_ARTERY,
        )
    release_pulmonary_veins(seg, image, work_mm)
    split_left_atrium(seg, work_mm, work.index_to_lps)
    band = (smooth > outer_level(model.myocardium_hu)) & (smooth < model.threshold_hu)
    for chamber, vessel in VALVES:
        move_valve_plane(seg, band, chamber, vessel, work_mm)
    move_aortic_valve(seg, work_mm)
    progress(0.75, "walls")
    lv_level = refine_left_heart(seg, image, model.myocardium_hu)
    add_walls(seg, image, model.threshold_hu, work_mm, lv_level, model.myocardium_hu)
    progress(0.9, "back to the input grid")
    out = work.with_array(seg)
    if work is not volume:
        out = resample(out, work_mm, label=True, reference=volume)
    out.array = out.array.astype(np.uint8)
    progress(1.0, "done")
    info = {"contrast": model, "work_spacing_mm": work_mm, "regions": len(regions)}
    return out, info
