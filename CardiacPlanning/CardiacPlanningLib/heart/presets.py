"""Disease presets: extra structures carved from a heart segmentation for coronary or valve work.

``coronary``: aortic root (sinuses, where the coronaries arise), the two coronary origins (points,
LPS mm), LV myocardium (territories, viability) and calcium marked: voxels above a threshold that is
130 HU (Agatston) raised above the opacified blood (blood mode + half the blood-myocardium contrast)
within 12 mm of the heart, outside the blood pool, in pieces too small to be bone.
``valve``: aortic annulus region (the LV-aorta junction +-3 mm), aortic root/sinuses (3-22 mm
above the annulus plane), LVOT (3-15 mm below it), leaflet calcium in and around the root, mitral
annulus region (the LV-LA junction +-3 mm), RVOT (up to 20 mm below the RV-pulmonary artery
junction) with the pulmonary trunk kept as the pulmonary artery label (for PPVI).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from .. import labels as lbl
from ..imaging.volume import Volume
from ..progress import Progress, as_progress

logger = logging.getLogger(__name__)

AORTIC_ROOT, ANNULUS, LVOT, MITRAL, RVOT = (
    lbl.value_of(k) for k in ("aortic_root", "aortic_annulus", "lvot", "mitral_annulus", "rvot")
)
CALCIUM = lbl.value_of("calcium")
PRESET_LABELS = {
    "left": (AORTIC_ROOT, ANNULUS, LVOT, MITRAL, CALCIUM),
    "right": (RVOT, CALCIUM),
}
ANNULUS_HALF_MM = 3.0
ROOT_TOP_MM = 22.0
LVOT_DEPTH_MM = 15.0
RVOT_DEPTH_MM = 20.0


def junction(seg: Volume, below: int, above: int):
    """Plane between two touching labels: (centre LPS mm, unit normal from ``below`` to ``above``,
    radius mm of the contact), or None when they do not touch."""
    a, b = seg.array == below, seg.array == above
    contact = a & ndi.binary_dilation(b) | b & ndi.binary_dilation(a)
    idx = np.argwhere(contact)
    if len(idx) < 4:
        return None
    pts = seg.index_to_lps(idx[:, ::-1].astype(float))
    centre = pts.mean(0)
    # the normal follows the vessel/chamber axis beyond the junction: the centroid of the ``above``
    # voxels within 15 mm of the contact centre (robust to an oblique, curved contact patch)
    above_pts = seg.index_to_lps(np.argwhere(b)[:, ::-1].astype(float))
    near = above_pts[np.linalg.norm(above_pts - centre, axis=1) <= 15.0]
    if len(near) == 0:
        return None
    normal = near.mean(0) - centre
    if np.linalg.norm(normal) < 1e-6:
        _, _, vt = np.linalg.svd(pts - centre, full_matrices=False)
        normal = vt[2]
    normal = normal / np.linalg.norm(normal)
    radius = float(np.percentile(np.linalg.norm(pts - centre, axis=1), 95))
    return centre, normal, radius


def _plane_coords(seg: Volume, centre, normal):
    """Signed height along ``normal`` and distance from the axis (mm) of every voxel centre."""
    zz, yy, xx = np.indices(seg.shape)
    pts = seg.index_to_lps(np.stack([xx, yy, zz], -1).reshape(-1, 3).astype(float)) - centre
    h = pts @ normal
    r = np.linalg.norm(pts - h[:, None] * normal, axis=1)
    return h.reshape(seg.shape), r.reshape(seg.shape)


def _calcium(volume: Volume, seg: np.ndarray, threshold: float, region: np.ndarray) -> np.ndarray:
    """Voxels above ``threshold`` HU inside ``region`` whose bright piece (taken over the whole
    image) is < 1.5 ml: calcified plaque is small, bone (ribs, sternum, spine) is not."""
    hot = volume.array > threshold
    lab, n = ndi.label(hot)
    if n == 0:
        return hot
    ml = np.bincount(lab.ravel()) * np.prod(volume.spacing) / 1000.0
    ml[0] = np.inf
    return hot & region & (ml[lab] < 1.5)


def apply_preset(preset: str, volume: Volume, seg: Volume, info: dict, progress: Progress | None = None):
    """(segmentation with the preset's labels, landmarks {name: LPS mm}, labels to keep per scope)."""
    progress = as_progress(progress)
    out = seg.array.copy()
    landmarks: dict[str, list[float]] = {}
    model = info.get("contrast")
    calcium_hu = model.calcium_hu if model is not None else 600.0
    aortic = junction(seg, lbl.LV_BLOOD_POOL, lbl.AORTA)
    root = np.zeros(out.shape, bool)
    if aortic is not None:
        centre, normal, radius = aortic
        h, r = _plane_coords(seg, centre, normal)
        near_axis = r <= radius + 8.0
        root = (seg.array == lbl.AORTA) & (h > ANNULUS_HALF_MM) & (h <= ROOT_TOP_MM) & near_axis
        out[root] = AORTIC_ROOT
        landmarks["aortic_annulus_centre"] = centre.tolist()
        landmarks["aortic_valve_normal"] = normal.tolist()
        if preset == "valve":
            ring = (
                np.isin(seg.array, (lbl.AORTA, lbl.LV_BLOOD_POOL))
                & (np.abs(h) <= ANNULUS_HALF_MM)
                & near_axis
            )
            out[ring] = ANNULUS
            lvot = (seg.array == lbl.LV_BLOOD_POOL) & (h < -ANNULUS_HALF_MM) & (h >= -LVOT_DEPTH_MM)
            out[lvot & (r <= radius + 2.0)] = LVOT
    progress(0.4, "aortic root")
    if preset == "coronary":
        heart = np.isin(seg.array, (lbl.LV_BLOOD_POOL, lbl.LV_MYOCARDIUM, lbl.RV, lbl.LA, lbl.RA, lbl.AORTA))
        near = ndi.distance_transform_edt(~heart, sampling=volume.spacing[::-1]) <= 12.0
        blood = np.isin(
            seg.array, (lbl.LV_BLOOD_POOL, lbl.RV, lbl.LA, lbl.RA, lbl.AORTA, lbl.PULMONARY_ARTERY)
        )
        calcium = _calcium(volume, out, calcium_hu, near & ~blood)
        out[calcium] = CALCIUM
        landmarks.update(coronary_origins(seg, root))
    if preset == "valve":
        around = ndi.binary_dilation(np.isin(out, (AORTIC_ROOT, ANNULUS, LVOT)), iterations=2)
        out[_calcium(volume, out, calcium_hu, around)] = CALCIUM
        mitral = junction(seg, lbl.LV_BLOOD_POOL, lbl.LA)
        if mitral is not None:
            centre, normal, radius = mitral
            h, r = _plane_coords(seg, centre, normal)
            ring = np.isin(seg.array, (lbl.LV_BLOOD_POOL, lbl.LA)) & (np.abs(h) <= ANNULUS_HALF_MM)
            out[ring & (r <= radius + 4.0)] = MITRAL
            landmarks["mitral_annulus_centre"] = centre.tolist()
        pulmonary = junction(seg, lbl.RV, lbl.PULMONARY_ARTERY)
        if pulmonary is not None:
            centre, normal, radius = pulmonary
            h, r = _plane_coords(seg, centre, normal)
            rvot = (seg.array == lbl.RV) & (h < 0) & (h >= -RVOT_DEPTH_MM) & (r <= radius + 4.0)
            out[rvot] = RVOT
            landmarks["pulmonary_valve_centre"] = centre.tolist()
    progress(1.0, f"{preset} preset")
    missing = [k for k, v in (("aortic root", aortic),) if v is None]
    if missing:
        logger.warning("%s preset: no %s found (LV and aorta do not touch)", preset, ", ".join(missing))
    return seg.with_array(out.astype(np.uint8)), landmarks, PRESET_LABELS


def coronary_origins(seg: Volume, root: np.ndarray) -> dict[str, list[float]]:
    """Left and right coronary origins (LPS mm): where thin branches leave the aortic root.

    The root's bulk is its opening by a 3 mm ball; what the opening removes are stubs of vessels
    leaving the root. The stub nearest the patient's left-posterior is the left main, the one
    towards the right-anterior the right coronary (LPS: +x left, +y posterior)."""
    if not root.any():
        return {}
    radius_vox = max(1, int(round(3.0 / min(seg.spacing))))
    ball = ndi.iterate_structure(ndi.generate_binary_structure(3, 1), radius_vox)
    bulk = ndi.binary_opening(root, ball)
    stubs, n = ndi.label(root & ~bulk)
    if n == 0 or not bulk.any():
        return {}
    centre = seg.index_to_lps(np.argwhere(bulk)[:, ::-1].astype(float)).mean(0)
    found: dict[str, tuple[float, list[float]]] = {}
    for i in range(1, n + 1):
        idx = np.argwhere(stubs == i)
        if len(idx) < 3:
            continue
        pts = seg.index_to_lps(idx[:, ::-1].astype(float))
        tip = pts[np.argmax(np.linalg.norm(pts - centre, axis=1))]
        side = float(np.dot(tip - centre, np.array([1.0, 1.0, 0.0]) / np.sqrt(2)))
        name = "left_coronary_origin" if side > 0 else "right_coronary_origin"
        if name not in found or abs(side) * len(idx) > found[name][0]:
            found[name] = (abs(side) * len(idx), pts.mean(0).tolist())
    return {k: v[1] for k, v in found.items()}
