"""Contrast blood-pool model of a cardiac CT estimated from its histogram (HU).

The opacified blood pool is the brightest large soft-tissue population of a contrast CT (typically
250-600 HU); myocardium sits near 40-120 HU, fat near -100 HU, lung below -500 HU. The blood/tissue
threshold is placed halfway between the myocardium mode and the blood mode, the usual full-width
half-maximum choice for a two-class boundary blurred by the scanner's point spread function.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

MIN_CONTRAST_HU = 150.0
MIN_BLOOD_ML = 40.0


@dataclass(frozen=True)
class ContrastModel:
    """Tissue intensities (HU) of one scan: blood mode, myocardium mode and the blood threshold."""

    blood_hu: float
    myocardium_hu: float
    threshold_hu: float
    blood_ml: float

    @property
    def calcium_hu(self) -> float:
        """Calcium threshold (HU): 130 HU (Agatston) raised above the contrast blood pool."""
        return float(max(130.0, self.blood_hu + 0.5 * (self.blood_hu - self.myocardium_hu)))


def body_mask(array: np.ndarray) -> np.ndarray:
    """Voxels inside the patient: the largest connected region above -300 HU, holes (lungs) filled
    slice by slice."""
    mask = array > -300
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    mask = lab == int(np.argmax(sizes))
    for z in range(mask.shape[0]):
        mask[z] = ndi.binary_fill_holes(mask[z])
    return mask


def estimate_contrast(
    array: np.ndarray, voxel_ml: float, body: np.ndarray | None = None, name: str = "image"
):
    """Estimate the :class:`ContrastModel` of ``array`` (HU); ``voxel_ml`` is one voxel's volume in ml.

    Raises :class:`CardiacInputError` naming ``name`` when there is no opacified blood pool (a
    non-contrast scan: no population of at least ``MIN_BLOOD_ML`` ml above ``MIN_CONTRAST_HU`` HU).
    """
    values = array[body] if body is not None else array.ravel()
    values = values[(values > -200) & (values < 1200)]
    bins = np.arange(-200, 1201, 10)
    hist, edges = np.histogram(values, bins=bins)
    centers = 0.5 * (edges[:-1] + edges[1:])
    smooth = ndi.gaussian_filter1d(hist.astype(float), 2.0)
    tissue = (centers > -20) & (centers < 140)
    myo = float(centers[tissue][np.argmax(smooth[tissue])])
    hot = centers >= MIN_CONTRAST_HU
    # the blood mode: the highest local maximum of the smoothed histogram above MIN_CONTRAST_HU
    local_max = np.r_[False, (smooth[1:-1] >= smooth[:-2]) & (smooth[1:-1] >= smooth[2:]), False]
    candidates = np.where(hot & local_max)[0]
    blood_ml = float(hist[hot].sum() * voxel_ml)
    if candidates.size == 0 or blood_ml < MIN_BLOOD_ML:
        raise CardiacInputError(
            f"{name}: no contrast-enhanced blood pool found (only {blood_ml:.0f} ml above "
            f"{MIN_CONTRAST_HU:.0f} HU); the heart engines need a contrast (CTA) scan"
        )
    peak = candidates[np.argmax(smooth[candidates])]
    if smooth[peak] < 0.02 * smooth[tissue].max() or centers[peak] < MIN_CONTRAST_HU + 20:
        raise CardiacInputError(
            f"{name}: the brightest soft-tissue population peaks at {centers[peak]:.0f} HU, too faint "
            "for an opacified blood pool; the heart engines need a contrast (CTA) scan"
        )
    blood = float(centers[peak])
    threshold = 0.5 * (blood + myo)
    model = ContrastModel(blood, myo, threshold, blood_ml)
    logger.info("contrast model of %s: %s", name, model)
    return model
