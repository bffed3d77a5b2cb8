"""Demons forces with a curvature (bending) regulariser, for the coarse pyramid levels of
:func:`.register.register_phase`.

Each iteration takes the symmetric demons step of Thirion ("Image matching as a diffusion process",
Med Image Anal 2(3), 1998; symmetric gradient as in ITK's ``FastSymmetricForcesDemonsRegistrationFilter``
and Vercauteren et al., NeuroImage 45, 2009) and then, instead of the Gaussian smoothing of the
elastic demons, one implicit step of the curvature regulariser of Fischer and Modersitzki ("Curvature
based image registration", J Math Imaging Vis 18, 2003): ``(I + lambda Laplacian^2) u_new = u + step``,
solved exactly per component in the cosine basis, ``lambda = alpha h^4`` on the level's voxel size
``h``, on the field continued by its edge values for ``PAD_VOXELS`` beyond the grid (the basis's
zero-slope boundary at the faces themselves held back a contracting ball cut by the scan's edge in
its edge slice: 7 voxels of 188 too many, against 1 with the padding; Testing/test_motion_register.py).

Why (docs/benchmarks.md, "4D propagation", sixth pass): repeated Gaussian smoothing is a diffusion, and
where the image gives no force (inside one contrast-filled pool, along walls parallel to the motion:
the basal LV wall, the aortic root and the valve planes between LV, LA and aorta, which move mostly
along the LV long axis) the field tends to the *harmonic* interpolation of its surroundings, which
cannot keep the long-axis descent of the base, largest at the valve planes. Registered from the
phantom's exact field, the elastic pyramid drifted back to the same shortfall (1.5 mm of 15 mm at the
LV/aorta interface), so the shortfall is the regulariser's steady state, not a convergence failure.
The curvature term leaves every affine field unpenalised (a linear long-axis ramp from the still apex
to the base costs nothing), so where the image is silent the field continues the gradients of its
surroundings (biharmonic interpolation) instead of flattening them.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import fft

from .fields import warp_image

PAD_VOXELS = 2  # edge-value continuation of the field beyond each face in the regularisation step


def curvature_demons(
    fixed: sitk.Image,
    moving: sitk.Image,
    init: sitk.Image,
    iterations: int,
    alpha: float,
    max_step_mm: float,
) -> sitk.Image:
    """Pull-back displacement field (vector float64 on ``fixed``'s grid, mm) after ``iterations``
    curvature-regularised symmetric demons steps from ``init``: ``moving(y + u(y))`` matches
    ``fixed(y)``. Each step is at most ``max_step_mm`` long before the regularisation."""
    spacing = np.asarray(fixed.GetSpacing(), dtype=float)[::-1]  # [z, y, x]
    direction = np.reshape(fixed.GetDirection(), (3, 3))
    f = sitk.GetArrayFromImage(fixed).astype(np.float64)
    grad_f = _gradient(f, spacing, direction)
    u = sitk.GetArrayFromImage(sitk.Cast(init, sitk.sitkVectorFloat64)).astype(np.float64)
    lam = alpha * float(spacing.min()) ** 4
    padded = tuple(n + 2 * PAD_VOXELS for n in f.shape)
    denominator = 1.0 + lam * _bilaplacian_eigenvalues(padded, spacing)
    inner = tuple(slice(PAD_VOXELS, PAD_VOXELS + n) for n in f.shape)
    normaliser = float(np.mean(spacing**2))  # as ITK's demons: intensity difference^2 / mean spacing^2
    for _ in range(int(iterations)):
        warped = _warp(moving, fixed, u)
        diff = f - warped
        g = 0.5 * (grad_f + _gradient(warped, spacing, direction))
        step = diff[..., None] * g / ((g * g).sum(-1) + diff * diff / normaliser + 1e-12)[..., None]
        length = np.sqrt((step * step).sum(-1))
        step *= np.minimum(1.0, max_step_mm / np.maximum(length, 1e-12))[..., None]
        u += step
        for c in range(3):
            # solved on the field continued by its edge values: the cosine basis's zero-slope
            # condition then holds PAD_VOXELS beyond the faces, not at them (a structure cut by the
            # scan's edge keeps its motion up to the edge)
            ext = np.pad(u[..., c], PAD_VOXELS, mode="edge")
            spectrum = fft.dctn(ext, type=2, norm="ortho")
            u[..., c] = fft.idctn(spectrum / denominator, type=2, norm="ortho")[inner]
    out = sitk.GetImageFromArray(u, isVector=True)
    out.CopyInformation(fixed)
    return out


def _gradient(image: np.ndarray, spacing: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Physical gradient [z, y, x, (x, y, z)] of a [z, y, x] array (central differences)."""
    grid = np.stack(np.gradient(image, *spacing), -1)[..., ::-1]  # along the grid's i, j, k axes
    return grid @ direction.T


def _bilaplacian_eigenvalues(shape: tuple[int, ...], spacing: np.ndarray) -> np.ndarray:
    """Eigenvalues of the squared 7-point Laplacian (Neumann boundary) in the DCT-II basis."""
    lap = np.zeros(shape)
    for axis, (n, h) in enumerate(zip(shape, spacing)):
        k = np.arange(n)
        view = [1] * len(shape)
        view[axis] = n
        lap = lap + ((2.0 - 2.0 * np.cos(np.pi * k / n)) / h**2).reshape(view)
    return lap * lap


def _warp(moving: sitk.Image, fixed: sitk.Image, u: np.ndarray) -> np.ndarray:
    """``moving`` pulled back through ``u`` onto ``fixed``'s grid (linear, edge values beyond)."""
    field = sitk.GetImageFromArray(u, isVector=True)
    field.CopyInformation(fixed)
    return sitk.GetArrayFromImage(warp_image(moving, fixed, field)).astype(np.float64)
