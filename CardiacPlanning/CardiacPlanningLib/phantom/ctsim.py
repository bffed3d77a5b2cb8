"""Sampling one cardiac phase of a phantom onto the output grid: label map (exact pull-back of the
phase-0 tissue grid through ``motion.backward``) and CT numbers (partial volume by supersampling,
Gaussian scanner PSF, metal blooming, correlated noise of a set standard deviation).

Memory is bounded: the output grid is processed in slabs of slices; only one phase is held at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from . import tissues as tis
from .anatomy import Anatomy
from .motion import CardiacMotion

logger = logging.getLogger(__name__)

SLAB_VOXELS = 2_000_000  # output voxels per slab (bounds the temporary memory)
COARSE_MM = 4.0  # spacing of the grid on which backward() is solved exactly before refinement


def make_output_geometry(spacing_mm: float, size_xyz: tuple[int, int, int], center_lps) -> Volume:
    """An empty (int16) axial volume of ``size_xyz`` voxels of ``spacing_mm``, centred at ``center_lps``."""
    nx, ny, nz = (int(v) for v in size_xyz)
    extent = (np.array([nx, ny, nz]) - 1) * spacing_mm
    origin = np.asarray(center_lps, dtype=float) - extent / 2
    return Volume(np.zeros((nz, ny, nx), dtype=np.int16), (spacing_mm,) * 3, tuple(origin), np.eye(3))


def _lookup(anatomy: Anatomy, xyz: list) -> np.ndarray:
    """Tissue codes at LPS points given as component arrays [x, y, z] (mm), by nearest voxel of the
    reference grid (clamped)."""
    g = anatomy.grid
    flat = np.zeros(len(xyz[0]), dtype=np.int64)
    for a, n in enumerate(g.shape[::-1]):
        i = np.rint((xyz[a] - np.float32(g.origin[a])) * np.float32(1.0 / g.spacing)).astype(np.int64)
        np.clip(i, 0, n - 1, out=i)
        flat += i * int(np.prod(g.shape[::-1][:a]))
    return anatomy.tissue.ravel()[flat] if anatomy.tissue.flags.c_contiguous else anatomy.tissue.flat[flat]


def _coarse_field(motion: CardiacMotion, geom: Volume, f: float):
    """Exact backward displacement on a coarse grid: (field (cz,cy,cx,3), step in output voxels)."""
    step = max(1, int(round(COARSE_MM / geom.spacing[0])))
    ks, js, is_ = (np.arange(0, n + step, step) for n in geom.shape)
    kk, jj, ii = np.meshgrid(ks, js, is_, indexing="ij")
    ijk = np.stack([ii, jj, kk], axis=-1).reshape(-1, 3)
    y = geom.index_to_lps(ijk)
    x = motion.backward(y, f, tol_mm=1e-3, initial=y - motion.displacement(y, f))
    return (x - y).reshape(len(ks), len(js), len(is_), 3), step


def _interp_axis(arr: np.ndarray, axis: int, n_out: int, step: int, start: int = 0) -> np.ndarray:
    """Linear interpolation along ``axis`` of a field sampled every ``step`` output voxels, at output
    indices ``start .. start + n_out - 1``."""
    pos = (np.arange(start, start + n_out) / step).astype(np.float32)
    i0 = np.clip(np.floor(pos).astype(int), 0, arr.shape[axis] - 2)
    w = pos - i0
    shape = [1] * arr.ndim
    shape[axis] = n_out
    w = w.reshape(shape)
    return np.take(arr, i0, axis=axis) * (1 - w) + np.take(arr, i0 + 1, axis=axis) * w


def sample_phase(
    anatomy: Anatomy,
    motion: CardiacMotion,
    geom: Volume,
    f: float,
    supersample: int = 2,
    refine: int = 1,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(label map uint8 [z,y,x], HU before blur/noise float32 [z,y,x]) of phase fraction ``f``.

    Labels: the tissue of the reference grid at ``motion.backward(voxel centre)``. The exact inverse is
    computed on a coarse grid, interpolated, then refined by ``refine`` fixed-point steps per voxel
    (error < 1e-3 mm). CT: mean HU of ``supersample``^3 sub-voxel points mapped back with the
    displacement of their voxel centre.
    """
    progress = as_progress(progress)
    nz, ny, nx = geom.shape
    field, step = _coarse_field(motion, geom, f)
    field_xy = _interp_axis(_interp_axis(field.astype(np.float32), 2, nx, step), 1, ny, step)
    lut_hu = tis.hu_table()
    lut_label = tis.label_table_lut()
    labels_out = np.zeros(geom.shape, dtype=np.uint8)
    hu = np.zeros(geom.shape, dtype=np.float32)
    ss = max(1, int(supersample))
    offsets = ((np.arange(ss) + 0.5) / ss - 0.5) * geom.spacing[0]
    sub = np.stack(np.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3)[:, ::-1]
    slab = max(1, SLAB_VOXELS // (nx * ny))
    sp = np.float32(geom.spacing[0])
    org = np.asarray(geom.origin, dtype=np.float32)
    gx = np.broadcast_to(np.arange(nx, dtype=np.float32) * sp + org[0], (ny, nx))
    gy = np.broadcast_to((np.arange(ny, dtype=np.float32) * sp + org[1])[:, None], (ny, nx))
    for k0 in range(0, nz, slab):
        k1 = min(k0 + slab, nz)
        m = k1 - k0
        y = [
            np.broadcast_to(gx, (m, ny, nx)).ravel(),
            np.broadcast_to(gy, (m, ny, nx)).ravel(),
            np.repeat(np.arange(k0, k1, dtype=np.float32) * sp + org[2], ny * nx),
        ]
        v = _interp_axis(field_xy, 0, m, step, start=k0).reshape(-1, 3)
        v = [np.ascontiguousarray(v[:, a]) for a in range(3)]
        moving = np.flatnonzero(np.maximum(np.maximum(np.abs(v[0]), np.abs(v[1])), np.abs(v[2])) > 1e-6)
        x = [y[a] + v[a] for a in range(3)]
        for _ in range(refine):
            xm = [x[a][moving] for a in range(3)]
            um = motion.displacement_xyz(xm, f)
            for a in range(3):
                x[a][moving] = y[a][moving] - um[a]
        centre = _lookup(anatomy, x)
        labels_out[k0:k1] = lut_label[centre].reshape(m, ny, nx)
        values = lut_hu[centre]
        if len(sub) > 1:
            # partial volume only where the tissue changes within one voxel of the centre
            block = centre.reshape(m, ny, nx)
            edge = ndimage.maximum_filter(block, size=3) != ndimage.minimum_filter(block, size=3)
            edge[[0, -1]] = True
            sel = np.flatnonzero(edge.ravel())
            xs = [x[a][sel] for a in range(3)]
            acc = np.zeros(len(sel), dtype=np.float32)
            for d in sub.astype(np.float32):
                acc += lut_hu[_lookup(anatomy, [xs[a] + d[a] for a in range(3)])]
            values[sel] = acc / len(sub)
        hu[k0:k1] = values.reshape(m, ny, nx)
        progress(k1 / nz, f"phase {100 * f:.0f} %")
    return labels_out, hu


def apply_overlay(
    hu: np.ndarray, labels: np.ndarray, fraction: np.ndarray, value_hu: float, label: int
) -> None:
    """Blend an occupancy ``fraction`` (0..1, e.g. coronary lumen, calcium) of ``value_hu`` into the CT
    and set ``label`` where the fraction is >= 0.5 (in place)."""
    frac = np.clip(np.asarray(fraction, dtype=np.float32), 0.0, 1.0)
    hu *= 1.0 - frac
    hu += frac * np.float32(value_hu)
    labels[frac >= 0.5] = label


def finish_ct(
    hu: np.ndarray,
    spacing_mm: float,
    rng: np.random.Generator,
    noise_hu: float = 25.0,
    psf_fwhm_mm: float = 0.9,
    metal: np.ndarray | None = None,
    metal_hu: float = 2500.0,
) -> np.ndarray:
    """Blur with the scanner PSF (Gaussian, FWHM mm), add metal with blooming (a wider PSF) and
    correlated Gaussian noise of standard deviation ``noise_hu``; returns int16 HU (-1024..3071)."""
    sigma = psf_fwhm_mm / 2.3548 / spacing_mm
    out = ndimage.gaussian_filter(hu, sigma, mode="nearest") if sigma > 0.05 else hu
    if metal is not None and np.any(metal > 0):
        bloom = ndimage.gaussian_filter(metal.astype(np.float32) * (metal_hu - out), 2.2 * max(sigma, 0.4))
        out = out + bloom
    if noise_hu > 0:
        white = rng.standard_normal(hu.shape, dtype=np.float32)
        noise = ndimage.gaussian_filter(white, 0.6)
        noise *= np.float32(noise_hu / max(float(noise.std()), 1e-6))
        out = out + noise
    return np.clip(np.rint(out), -1024, 3071).astype(np.int16)


ProgressFn = Callable[[float, str], None]
