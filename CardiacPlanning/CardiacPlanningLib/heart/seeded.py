"""Semi-automatic mode: complete user seeds (a label map or labelled points) over the blood pool.

Seeds are spread over the opacified blood pool piece by piece (pieces split at valve-like necks),
and pieces that hold seeds of several structures are divided by the random walker (Grady, IEEE
PAMI 2006; ``skimage.segmentation.random_walker``); voxels outside the blood pool take no part.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import random_walker

from .. import labels as lbl
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..markups import Markups, read_all_markups
from ..progress import Progress, as_progress

logger = logging.getLogger(__name__)

SEED_RADIUS_MM = 3.0


def _label_of(text: str, source: str) -> int:
    """Label value named by a point label: a value ("3"), a key ("rv") or a name ("Right ventricle");
    a trailing "-N" / " N" numbering is ignored."""
    t = text.strip()
    if t.isdigit():
        return lbl.by_value(int(t)).value
    base = t.rsplit("-", 1)[0] if "-" in t and t.rsplit("-", 1)[1].isdigit() else t
    for cand in (t, base, base.rstrip("0123456789 ")):
        for lab in lbl.label_table():
            if cand.lower() in (lab.key.lower(), lab.name.lower()):
                return lab.value
    raise CardiacInputError(
        f"{source}: point label {text!r} names no structure of the label table (use a value, a key "
        "such as 'lv_blood_pool' or a name such as 'Right ventricle')"
    )


def seeds_from_points(path: str | Path | Markups, reference: Volume) -> Volume:
    """Label map on ``reference``'s grid with a sphere (SEED_RADIUS_MM) per labelled point of a
    ``.mrk.json`` file or of a :class:`Markups` in memory (points in LPS mm)."""
    seeds = np.zeros(reference.shape, np.uint8)
    zz, yy, xx = np.indices(reference.shape, sparse=True)
    if isinstance(path, Markups):
        path, all_markups = path.name or "seed points", [path]
    else:
        all_markups = read_all_markups(path)
    for m in all_markups:
        for label, point, ok in zip(m.labels, m.points_lps, m.defined_mask):
            if not ok:
                continue
            reference.require_inside(point, f"seed point {label!r} of {path}")
            value = _label_of(label, str(path))
            i, j, k = reference.lps_to_index(point)
            sx, sy, sz = reference.spacing
            d2 = ((xx - i) * sx) ** 2 + ((yy - j) * sy) ** 2 + ((zz - k) * sz) ** 2
            seeds[d2 <= SEED_RADIUS_MM**2] = value
    if not seeds.any():
        raise CardiacInputError(f"{path}: no placed seed points")
    return reference.with_array(seeds)


def load_seeds(seeds: Volume | Markups | str | Path, reference: Volume) -> Volume:
    """Seeds as a label map on ``reference``'s grid from a Volume, labelled points (a Markups), a
    label-map file or a .mrk.json."""
    if isinstance(seeds, Markups):
        return seeds_from_points(seeds, reference)
    if isinstance(seeds, (str, Path)):
        path = Path(seeds)
        if path.name.endswith(".json"):
            return seeds_from_points(path, reference)
        seeds = Volume.read(path)
    if not seeds.same_geometry(reference):
        from .classical import resample

        seeds = resample(seeds, 1.0, label=True, reference=reference)
    return seeds


def complete_seeds(
    image: np.ndarray,
    seeds: np.ndarray,
    pool: np.ndarray,
    spacing_mm: float,
    progress: Progress | None = None,
) -> np.ndarray:
    """Complete ``seeds`` (label values, 0 = unknown) over ``pool`` (bool) on an isotropic grid.

    The pool is split into pieces at its narrow necks (:func:`.regions.split_pool`); a piece takes
    the majority seed label inside it (a piece holding several labels is divided by the random
    walker), and unseeded pieces take the label of the seeded piece they are best connected to
    (widest contact, most similar HU first). Pool components without a seed stay 0."""
    import heapq

    from .regions import split_pool

    progress = as_progress(progress)
    seeds = np.where(pool, seeds, 0).astype(np.uint8)
    if not seeds.any():
        raise CardiacInputError("the seeds do not touch the contrast blood pool; place them inside it")
    lab, _ = ndi.label(pool)
    pool = np.isin(lab, np.unique(lab[seeds > 0]))
    progress(0.1, "splitting the blood pool")
    ids, regions = split_pool(pool, image, spacing_mm, lambda p: p * spacing_mm)
    by_id = {r.rid: r for r in regions}
    out = np.zeros(image.shape, np.uint8)
    named: dict[int, int] = {}
    for r in regions:
        in_piece = seeds[ids == r.rid]
        values, counts = np.unique(in_piece[in_piece > 0], return_counts=True)
        if len(values) == 1:
            named[r.rid] = int(values[0])
        elif len(values) > 1:
            box = ndi.find_objects((ids == r.rid).astype(np.uint8))[0]
            piece = ids[box] == r.rid
            markers = np.where(piece, seeds[box], -1).astype(np.int32)
            walk = random_walker(
                image[box].astype(np.float64) / 25.0, markers, beta=1.0, mode="cg_j", tol=1e-3
            )
            out[box][piece] = walk[piece]
            named[r.rid] = int(values[np.argmax(counts)])
    progress(0.6, "completing the seeds")
    face = spacing_mm**2

    def cost(r, via) -> float:
        lumen = np.pi * min(r.radius, via.radius) ** 2
        opening = min(r.neighbours.get(via.rid, 0) * face / max(lumen, 1e-6), 1.0)
        return -opening + abs(r.mean_hu - via.mean_hu) / 100.0

    heap = [
        (cost(by_id[nb], by_id[rid]), nb, lab_) for rid, lab_ in named.items() for nb in by_id[rid].neighbours
    ]
    heapq.heapify(heap)
    seeded = set(named)
    while heap:
        _, rid, value = heapq.heappop(heap)
        if rid in named:
            continue
        named[rid] = value
        for nb in by_id[rid].neighbours:
            if nb not in named:
                heapq.heappush(heap, (cost(by_id[nb], by_id[rid]), nb, value))
    lut = np.zeros(int(ids.max()) + 1, np.uint8)
    for rid, value in named.items():
        if rid not in seeded or not out[ids == rid].any():
            lut[rid] = value
    filled = lut[ids]
    out = np.where(out > 0, out, filled)
    progress(1.0, "seeds completed")
    return out
