"""Blood-pool fill (``pool_fill_mm`` 3 mm, since 2026-11-29, fifth pass). Inside a contrast-filled pool
only the image noise drives the demons, and the finest levels (1.5 mm smoothing) follow it: the
field wobbles by a few tenths of a millimetre to a millimetre, and where two labels meet inside one
pool (the LA and the pulmonary-vein ostia, the LA against the aortic root) that wobble moves their
interface. After the registration, the field at the phase's blood-pool voxels farther than
``pool_fill_mm`` from anything that is not blood (:func:`pool_mask`) is replaced by the harmonic
interpolation of the field around them (:func:`fill_blood_pool`: the Laplace equation with the field
at the pool's rim as Dirichlet values; a membrane, the steady state the elastic smoothing itself tends
to without the noise forces). Measured: a harmonic fill of the phantom's *exact* motion from outside
the pool reproduces the valve-plane descent within 0.25 mm, so the fill is as good as the field at
the pool's walls; it does not correct a wall that is itself short of the descent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk
from scipy import ndimage, sparse
from scipy.sparse.linalg import cg

if TYPE_CHECKING:
    from .register import RegistrationSettings

logger = logging.getLogger(__name__)


def to_unit(hu: float, settings: RegistrationSettings) -> float:
    """``hu`` on the 0..1 scale of the registration images (``settings.hu_window``)."""
    lo, hi = settings.hu_window
    return (hu - lo) / (hi - lo)


def pool_mask(phase: sitk.Image, settings: RegistrationSettings) -> np.ndarray:
    """[z, y, x] mask of the force-free interior of the contrast-filled blood pool of ``phase`` (a
    :func:`to_registration_image`): voxels above the pool level (``pool_fill_level`` of the way from
    the soft-tissue anchor ``contrast_hu[0]`` to the median of the voxels above ``contrast_hu[1]``)
    that lie farther than ``pool_fill_mm`` from any voxel below it, the grid's faces excluded."""
    img = sitk.GetArrayViewFromImage(phase)
    anchor = to_unit(settings.contrast_hu[0], settings)
    bright = img[img > to_unit(settings.contrast_hu[1], settings)]
    if bright.size < 100 or settings.pool_fill_mm <= 0:
        return np.zeros(img.shape, dtype=bool)
    level = anchor + settings.pool_fill_level * (float(np.median(bright)) - anchor)
    blood = ndimage.binary_opening(img > level, iterations=1)
    mask = ndimage.distance_transform_edt(blood, sampling=phase.GetSpacing()[::-1]) > settings.pool_fill_mm
    mask[[0, -1], :, :] = mask[:, [0, -1], :] = mask[:, :, [0, -1]] = False
    return mask


def fill_blood_pool(field: sitk.Image, phase: sitk.Image, settings: RegistrationSettings) -> sitk.Image:
    """``field`` (on ``phase``'s grid) with its values in the force-free blood pool of ``phase``
    (:func:`pool_mask`) replaced by the harmonic interpolation of the field around it: the discrete
    Laplace equation (7-point, spacing-weighted) with the field outside the mask as Dirichlet values,
    solved per component by conjugate gradients from the given field."""
    mask = pool_mask(phase, settings)
    n = int(mask.sum())
    if n == 0:
        return field
    u = sitk.GetArrayFromImage(field).astype(np.float64)  # [z, y, x, 3]
    num = np.full(mask.shape, -1, dtype=np.int64)
    num[mask] = np.arange(n)
    pts = np.argwhere(mask)
    weight = 1.0 / np.square(np.asarray(phase.GetSpacing()[::-1], dtype=float))  # [z, y, x]
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.full(n, 2.0 * weight.sum())]
    rhs = np.zeros((n, 3))
    for axis in range(3):
        for step in (-1, 1):
            q = pts.copy()
            q[:, axis] += step
            nb = num[q[:, 0], q[:, 1], q[:, 2]]
            inside = nb >= 0
            rows.append(np.nonzero(inside)[0])
            cols.append(nb[inside])
            vals.append(np.full(int(inside.sum()), -weight[axis]))
            rhs[~inside] += weight[axis] * u[q[~inside, 0], q[~inside, 1], q[~inside, 2]]
    entries = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    lap = sparse.csr_matrix(entries, shape=(n, n))
    start = u[mask]
    for c in range(3):
        x, info = cg(lap, rhs[:, c], x0=start[:, c], rtol=1e-6, maxiter=2000)
        if info:
            logger.warning("blood-pool fill: conjugate gradients stopped before converging (%d)", info)
        u[..., c][mask] = x
    out = sitk.GetImageFromArray(u, isVector=True)
    out.CopyInformation(field)
    logger.debug("blood-pool fill: %d voxels", n)
    return out
