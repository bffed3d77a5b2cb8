"""Rigid registration of a device's metal between two cardiac phases (LPS mm).

A metal frame moves with the anatomy but keeps its shape, so its pose at another phase is found by
registering the reference phase's metal excess image (HU above the local background, see
:func:`.region.metal_excess`) onto that phase's: a rigid (Euler) transform, correlation metric,
gradient descent over three levels (Gaussian smoothing 1.5, 0.7, 0 mm, shrink 2, 1, 1) with
parameter scales from the physical shift (SimpleITK's ImageRegistrationMethod). The blurred levels
see the lattice as a ring, so a start a few mm off converges; the last level aligns the struts. The
start comes from the 4D motion around the device (the rigid least-squares fit of the moved envelope,
:func:`rigid_fit`) or the neighbouring phase, with its translation corrected by the phase's tube
fit. Pose convention: a reference point ``x`` lies at ``R x + t`` in the phase.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

LEVELS = ((2, 1.5), (1, 0.7), (1, 0.0))  # (shrink factor, smoothing sigma mm)


def rigid_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) minimising sum |R x_i + t - y_i|^2 over proper rotations (Kabsch 1976)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    cx, cy = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - cx).T @ (y - cy))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, cy - rot @ cx


def _crop_to_metal(image: Volume, margin_mm: float = 3.0) -> Volume:
    """The part of an excess image around its non-zero voxels (``margin_mm`` more on each side)."""
    from .region import crop

    idx = np.argwhere(np.asarray(image.array) > 0)
    if len(idx) == 0:
        return image
    m = np.ceil(margin_mm / np.asarray(image.spacing, float)[::-1]).astype(int)
    return crop(image, idx.min(0) - m, idx.max(0) + m)


def register_metal(
    reference: Volume,
    phase: Volume,
    rotation: np.ndarray,
    translation: np.ndarray,
    centre: np.ndarray,
    iterations: int = 120,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Refine the pose (``rotation``, ``translation``: reference -> phase) of the metal excess image
    ``reference`` onto ``phase`` (both float images, LPS geometry); ``centre`` (3,) LPS mm is the
    device centre at the reference (the rotation centre). Returns (R, t, final correlation metric:
    -1 is a perfect match)."""
    import SimpleITK as sitk

    phase = _crop_to_metal(phase)
    fixed = sitk.Cast(phase.to_sitk(), sitk.sitkFloat32)
    # the metric runs over the metal and 1 mm around it (the rest of the box is zero in both images)
    it = np.maximum(np.round(1.0 / np.asarray(phase.spacing, float)[::-1]), 1).astype(int)
    near = ndimage.maximum_filter(np.asarray(phase.array) > 0, size=tuple(2 * it + 1))
    mask = sitk.GetImageFromArray(near.astype(np.uint8))
    mask.CopyInformation(fixed)
    moving = sitk.Cast(_crop_to_metal(reference).to_sitk(), sitk.sitkFloat32)
    rot = np.asarray(rotation, float)
    t = np.asarray(translation, float)
    c_phase = rot @ np.asarray(centre, float) + t
    # the transform maps phase (fixed) points to reference (moving) points: x_ref = A (x - c) + c + d
    a = rot.T
    tx = sitk.Euler3DTransform()
    tx.SetCenter(tuple(float(v) for v in c_phase))
    tx.SetMatrix(tuple(float(v) for v in a.ravel()))
    tx.SetTranslation(tuple(float(v) for v in (a @ (c_phase - t) - c_phase)))
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsCorrelation()
    reg.SetMetricSamplingStrategy(reg.NONE)
    reg.SetMetricFixedMask(mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.6
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([s for s, _ in LEVELS])
    reg.SetSmoothingSigmasPerLevel([g for _, g in LEVELS])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(tx, inPlace=True)
    reg.Execute(fixed, moving)
    a = np.array(tx.GetMatrix()).reshape(3, 3)
    c = np.array(tx.GetCenter())
    d = np.array(tx.GetTranslation())
    r_out = a.T
    t_out = c - r_out @ (c + d)
    metric = float(reg.GetMetricValue())
    logger.info("metal registration: metric %.3f after %d iterations", metric, reg.GetOptimizerIteration())
    return r_out, t_out, metric
