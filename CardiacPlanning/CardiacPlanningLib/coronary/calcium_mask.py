"""Calcified plaque and its blooming halo, kept out of the coronary lumen label.

A calcification lies in the vessel wall, not in the lumen; the scanner's point-spread function
blurs it into a bright blob larger than the plaque (blooming, e.g. Kalisz et al., "Artifacts at
cardiac CT: physics and solutions", RadioGraphics 2016), whose outer part reads like contrast
blood and is taken by the lumen growth and the half-maximum layer. Lumen labels must exclude it
(the SCCT guidelines measure the lumen beside, not through, calcium).

Calcium core: voxels clearly denser than any contrast-blood sample, i.e. above blood +
``radius.CALCIUM_ABOVE_BLOOD_HU`` (150 HU; the section rule of the radius read) on the image
smoothed by 0.25 mm against noise. Halo: within ``HALO_MM`` of a core, about the half width of
the blur of a 0.9-1 mm PSF (FWHM) that spreads the plaque's edge outwards. The halo is removed from a
tree only where that does not split it: a halo piece whose removal would cut off lumen beyond
it (a plaque in a narrowed section) stays.
"""

from __future__ import annotations

import cc3d
import numpy as np
from scipy import ndimage as ndi

from .filters import distance_mm
from .radius import CALCIUM_ABOVE_BLOOD_HU as CALCIUM_CORE_ABOVE_BLOOD_HU

HALO_MM = 0.75
SMOOTH_MM = 0.25


def calcium_halo(image: np.ndarray, blood_hu: float, spacing_zyx, near: np.ndarray | None = None) -> np.ndarray:
    """Voxels (bool [z, y, x]) within ``HALO_MM`` of a calcium core of ``image`` (HU; see the module
    docstring); ``near`` (bool, optional): only the bounding box of these voxels (+ margin) is read."""
    sp = np.asarray(spacing_zyx, float)
    out = np.zeros(image.shape, bool)
    if near is not None:
        if not near.any():
            return out
        idx = np.argwhere(near)
        pad = np.ceil((HALO_MM + 4 * SMOOTH_MM) / sp).astype(int) + 2
        lo = np.maximum(idx.min(0) - pad, 0)
        hi = np.minimum(idx.max(0) + pad + 1, image.shape)
    else:
        lo, hi = np.zeros(3, int), np.array(image.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    sm = ndi.gaussian_filter(image[box].astype(np.float32), SMOOTH_MM / sp)
    core = sm > blood_hu + CALCIUM_CORE_ABOVE_BLOOD_HU
    if core.any():
        out[box] = distance_mm(~core, sp) <= HALO_MM + 1e-6
    return out


def drop_calcium(mask: np.ndarray, seed: tuple[int, int, int], halo: np.ndarray) -> np.ndarray:
    """``mask`` without ``halo``, except the halo pieces (26-connected) whose removal would cut any
    lumen voxel off the component of ``seed`` (z, y, x); the result is that component."""
    rm = mask & halo
    if not rm.any():
        return mask
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - 1, 0)
    hi = np.minimum(idx.max(0) + 2, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    m, r = mask[box], rm[box]
    s = tuple(int(a - b) for a, b in zip(seed, lo))
    pieces = cc3d.connected_components(r, connectivity=26)
    restore = np.zeros(pieces.max() + 1, bool)
    for _ in range(int(pieces.max()) + 1):  # a chain of halo pieces is restored piece by piece
        keep = m & ~(r & ~restore[pieces])
        comps = cc3d.connected_components(keep, connectivity=26)
        if not (0 <= min(s) and all(a < b for a, b in zip(s, m.shape))) or not comps[s]:
            restore[:] = True  # the seed itself is in a halo: leave the tree as it is
            break
        lost = keep & (comps != comps[s])
        if not lost.any():
            break
        touch = np.unique(pieces[ndi.binary_dilation(lost, np.ones((3, 3, 3), bool)) & (pieces > 0)])
        restore[touch] = True
    keep = m & ~(r & ~restore[pieces])
    comps = cc3d.connected_components(keep, connectivity=26)
    out = np.zeros_like(mask)
    if 0 <= min(s) and all(a < b for a, b in zip(s, m.shape)) and comps[s]:
        out[box] = comps == comps[s]
    else:
        out[box] = m
    return out
