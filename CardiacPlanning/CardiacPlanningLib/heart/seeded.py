"""Semi-automatic mode: complete user seeds (a label map or labelled points) over the blood pool.

The random walker (Grady, IEEE PAMI 2006; ``skimage.segmentation.random_walker``) gives every
opacified blood voxel the seed label a random walk from it most likely reaches first, with steps
between similar intensities favoured; voxels outside the contrast blood pool take no part.
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
from ..markups import read_all_markups
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


def seeds_from_points(path: str | Path, reference: Volume) -> Volume:
    """Label map on ``reference``'s grid with a sphere (SEED_RADIUS_MM) per labelled point of a
    ``.mrk.json`` file (points in LPS mm after reading)."""
    seeds = np.zeros(reference.shape, np.uint8)
    zz, yy, xx = np.indices(reference.shape, sparse=True)
    for m in read_all_markups(path):
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


def load_seeds(seeds: Volume | str | Path, reference: Volume) -> Volume:
    """Seeds as a label map on ``reference``'s grid from a Volume, a label-map file or a .mrk.json."""
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
    beta: float = 130.0,
    progress: Progress | None = None,
) -> np.ndarray:
    """Random-walker completion of ``seeds`` (label values, 0 = unknown) over ``pool`` (bool).

    Returns a label array: every pool voxel connected to a seed gets a seed label; 0 elsewhere.
    ``image`` is in HU; it is scaled by the pool's spread before the walker's ``beta``."""
    progress = as_progress(progress)
    seeds = np.where(pool, seeds, 0).astype(np.int32)
    values = [int(v) for v in np.unique(seeds) if v > 0]
    if not values:
        raise CardiacInputError("the seeds do not touch the contrast blood pool; place them inside it")
    # only pool components that hold a seed take part
    lab, _ = ndi.label(pool)
    pool = np.isin(lab, np.unique(lab[seeds > 0]))
    out = np.zeros(image.shape, np.uint8)
    if len(values) == 1:
        out[pool] = values[0]
        return out
    box = ndi.find_objects(pool.astype(np.uint8))[0]
    sub_pool = pool[box]
    markers = np.where(sub_pool, seeds[box], -1)
    data = image[box].astype(np.float64)
    spread = float(np.std(data[sub_pool])) or 1.0
    progress(0.2, "random walker")
    result = random_walker(data / spread, markers, beta=beta, mode="cg_j", tol=1e-3)
    out[box] = np.where(sub_pool, np.maximum(result, 0), 0).astype(np.uint8)
    progress(1.0, "seeds completed")
    return out
