"""Split watershed pieces that hold both circulations' blood before they are named.

Where the right pulmonary artery runs over the LA roof and between the ascending aorta and the
pulmonary veins, partial volume across the thin walls joins the lumens, and one watershed piece of the
blood pool's distance map may hold the artery and part of the LA or a vein. Named as a whole, such a
piece gets one label (e.g. pulmonary vein, for its mixed centroid off the LA's prior), and the
circulation rules run after the naming can only move its right-heart part away, leaving the LA part
mis-named. When the ventricles' interior enhancement differs clearly (the contrast bolus reaches the
right heart first and is diluted in the lungs), one vessel or atrium carries one blood: such a piece
is cut into its left- and right-enhanced parts (interior voxels classed by the nearer ventricle's HU,
the partial-volume border following its nearest interior voxel) and all pieces are named again.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from .. import labels as lbl
from .regions import Region, describe_pieces

logger = logging.getLogger(__name__)

GAP_FRACTION = 0.2  # ventricles' interior HU differ by at least this fraction of their mean
DEPTH_MM = 3.0  # interior: this far inside the blood pool (no partial volume from walls)
MIN_PART_ML = 1.0  # interior of the smaller blood in a piece at least this large to cut it off
# chambers whose own blood is not one level: the RA (caval inflow streams undiluted or unenhanced)
# and the ventricles that define the two levels are never cut
KEEP = (
    lbl.LV_BLOOD_POOL,
    lbl.RV,
    lbl.RA,
    lbl.value_of("superior_vena_cava"),
    lbl.value_of("inferior_vena_cava"),
)


def split_two_bloods(
    ids: np.ndarray,
    regions: list[Region],
    named: dict[int, int],
    pool: np.ndarray,
    image: np.ndarray,
    spacing_mm: float,
    to_lps,
) -> tuple[np.ndarray, list[Region]] | None:
    """New ``(ids, regions)`` with every named piece that holds both bloods cut in two (or more, one per
    connected part of each blood), or None when nothing was cut (or the two circulations are not
    told apart by enhancement). ``named``: the first naming (LV and RV give the two levels);
    ``image`` in HU on the isotropic ``spacing_mm`` grid of ``ids``."""
    by_id = {r.rid: r for r in regions}
    level = {lab: by_id[rid].core_hu for rid, lab in named.items() if lab in (lbl.LV_BLOOD_POOL, lbl.RV)}
    if len(level) < 2:
        return None
    left, right = level[lbl.LV_BLOOD_POOL], level[lbl.RV]
    if abs(left - right) < GAP_FRACTION * 0.5 * abs(left + right):
        return None
    voxel_ml = spacing_mm**3 / 1000.0
    dist = ndi.distance_transform_edt(pool) * spacing_mm
    smooth = ndi.gaussian_filter(image.astype(np.float32), 0.7)
    is_left = np.abs(smooth - left) < np.abs(smooth - right)
    out = ids.copy()
    next_id = int(ids.max()) + 1
    cut = 0
    for rid, box in enumerate(ndi.find_objects(ids), start=1):
        if box is None or named.get(rid, KEEP[0]) in KEEP:  # unnamed pieces (lung vessels) stay
            continue
        piece = ids[box] == rid
        deep = piece & (dist[box] >= DEPTH_MM)
        cores = []
        for side in (is_left[box], ~is_left[box]):
            comp, n = ndi.label(deep & side)
            sizes = np.bincount(comp.ravel())[1:] * voxel_ml
            cores.append([comp == c + 1 for c in range(n) if sizes[c] >= MIN_PART_ML])
        if not cores[0] or not cores[1]:
            continue
        parts = cores[0] + cores[1]
        core_id = np.zeros(piece.shape, np.int32)
        for k, m in enumerate(parts, start=1):
            core_id[m] = k
        # every voxel of the piece follows its nearest core (the border's partial volume with it)
        _, nearest = ndi.distance_transform_edt(core_id == 0, return_indices=True)
        part_of = np.where(piece, core_id[tuple(nearest)], 0)
        largest = int(np.argmax(np.bincount(part_of[piece])))
        view = out[box]
        for k in range(1, len(parts) + 1):
            if k != largest:
                view[part_of == k] = next_id
                next_id += 1
        cut += 1
    if not cut:
        return None
    # ids 1..n without gaps, as the naming expects
    present = np.unique(out)
    present = present[present > 0]
    lut = np.zeros(int(out.max()) + 1, np.int32)
    lut[present] = np.arange(1, len(present) + 1)
    out = lut[out]
    logger.info("left/right heart %.0f / %.0f HU: %d pieces holding both bloods cut", left, right, cut)
    return out, describe_pieces(out, pool, image, dist, spacing_mm, to_lps)
