"""Coronary inputs: ostia from markups, checks that each ostium sits at bright contrast lumen, and the
blood-pool HU near each ostium (robust percentile) from which the lumen thresholds adapt."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..markups import Markups, read_all_markups

logger = logging.getLogger(__name__)

# Accepted point labels (case-insensitive) for each tree.
OSTIUM_LABELS = {
    "left": ("lca ostium", "left coronary ostium", "left ostium", "left", "lca", "lm ostium"),
    "right": ("rca ostium", "right coronary ostium", "right ostium", "right", "rca"),
}
MIN_BLOOD_HU = 150.0  # below this the aortic root is not contrast enhanced


@dataclass
class Ostium:
    """One coronary ostium: ``tree`` "left"/"right", ``point`` LPS mm, ``blood_hu`` the blood pool
    (aortic lumen) HU estimated around it."""

    tree: str
    point: np.ndarray
    blood_hu: float


def read_ostia(source: str | Path | Markups | list[Markups] | dict) -> dict[str, np.ndarray]:
    """``{"left": xyz, "right": xyz}`` (LPS mm) from a ``.mrk.json`` path, Markups or a dict.

    Labels "LCA ostium"/"RCA ostium" (also "Left coronary ostium", "left", ...) name the trees; at
    least one ostium is required."""
    if isinstance(source, dict):
        found = {k: np.asarray(v, dtype=float).reshape(3) for k, v in source.items() if k in OSTIUM_LABELS}
        where = "ostia"
    else:
        if isinstance(source, (str, Path)):
            items, where = read_all_markups(source), str(source)
        elif isinstance(source, Markups):
            items, where = [source], f"markups '{source.name}'"
        else:
            items, where = list(source), "markups"
        found = {}
        for m in items:
            for i, label in enumerate(m.labels):
                key = label.strip().lower()
                for tree, names in OSTIUM_LABELS.items():
                    if key in names:
                        if not m.defined_mask[i]:
                            raise CardiacInputError(f"{where}: the point {label!r} has not been placed")
                        if tree in found:
                            raise CardiacInputError(f"{where}: more than one {tree} coronary ostium")
                        found[tree] = m.points_lps[i].copy()
    if not found:
        raise CardiacInputError(
            f"{where}: no coronary ostium found; label the points 'LCA ostium' and/or 'RCA ostium'"
        )
    for tree, p in found.items():
        if not np.all(np.isfinite(p)):
            raise CardiacInputError(f"{where}: the {tree} ostium has no valid position")
    return found


def _sphere_values(volume: Volume, point: np.ndarray, radius_mm: float) -> np.ndarray:
    """Intensities (HU) of the voxels within ``radius_mm`` of ``point`` (LPS mm)."""
    ijk = volume.lps_to_index(point[None])[0]
    sp = np.asarray(volume.spacing, dtype=float)
    half = np.ceil(radius_mm / sp).astype(int)
    c = np.round(ijk).astype(int)
    lo = np.maximum(c - half, 0)
    hi = np.minimum(c + half + 1, np.array(volume.shape[::-1]))
    sub = volume.array[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]
    zz, yy, xx = np.meshgrid(
        *(np.arange(lo[a], hi[a]) for a in (2, 1, 0)),
        indexing="ij",
    )
    idx = np.stack([xx, yy, zz], axis=-1).reshape(-1, 3).astype(float)
    d = np.linalg.norm(volume.index_to_lps(idx) - point, axis=1).reshape(sub.shape)
    return sub[d <= radius_mm].astype(float)


def check_ostia(volume: Volume, ostia: dict[str, np.ndarray], source: str = "ostia") -> list[Ostium]:
    """Validate each ostium (LPS mm) and estimate its blood-pool HU.

    Errors (:class:`CardiacInputError`) when a point lies outside the image, when the aortic root near
    it is not contrast enhanced (90th percentile within 8 mm < 150 HU), or when the ostium is not at
    the lumen: fewer than 10 % of the voxels within 2.5 mm reach half of the blood-pool HU."""
    out = []
    for tree, point in ostia.items():
        point = np.asarray(point, dtype=float)
        volume.require_inside(point[None], f"{tree} coronary ostium ({source})")
        wide = _sphere_values(volume, point, 8.0)
        blood = float(np.percentile(wide, 90)) if len(wide) else -1000.0
        if blood < MIN_BLOOD_HU:
            raise CardiacInputError(
                f"{tree} coronary ostium ({source}) at {np.round(point, 1).tolist()} mm LPS: no contrast-"
                f"enhanced lumen within 8 mm (90th percentile {blood:.0f} HU < {MIN_BLOOD_HU:.0f} HU); "
                "place the point at the ostium on the aortic wall of a contrast CT"
            )
        near = _sphere_values(volume, point, 2.5)
        frac = float(np.mean(near >= 0.5 * blood)) if len(near) else 0.0
        if frac < 0.1:
            raise CardiacInputError(
                f"{tree} coronary ostium ({source}) at {np.round(point, 1).tolist()} mm LPS is not at the "
                f"contrast lumen (only {100 * frac:.0f} % of voxels within 2.5 mm above "
                f"{0.5 * blood:.0f} HU); place it where the coronary leaves the aortic wall"
            )
        logger.info("%s ostium: blood pool %.0f HU, %.0f %% lumen nearby", tree, blood, 100 * frac)
        out.append(Ostium(tree, point, blood))
    return out
