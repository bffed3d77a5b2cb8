"""The fast re-implementations in the coronary pipeline give the same numbers as the library
filters they replace."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.filters import VesselnessCache, objectness


def _noisy_tubes(shape=(40, 44, 48), sp=(0.5, 0.6, 0.4)) -> tuple[np.ndarray, np.ndarray]:
    """Two bright tubes (one oblique) in noisy tissue, divided by a 450 HU blood pool."""
    z, y, x = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, sp)), indexing="ij")
    img = np.full(shape, -80.0) + np.random.default_rng(3).normal(0.0, 30.0, shape)
    img[np.hypot(z - 10.0, y - 12.0) < 1.5] = 450.0
    d = np.stack([z - 5.0, y - 4.0, x - 3.0], -1)
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    img[np.linalg.norm(d - (d @ axis)[..., None] * axis, axis=-1) < 0.9] = 400.0
    return (img / 450.0).astype(np.float32), np.asarray(sp)


def _itk_objectness(image: np.ndarray, sp: np.ndarray, sigmas=(0.6, 1.0)) -> np.ndarray:
    img = sitk.GetImageFromArray(image)
    img.SetSpacing(tuple(float(v) for v in sp[::-1]))
    out = []
    for s in sigmas:
        o = sitk.ObjectnessMeasure(
            sitk.SmoothingRecursiveGaussian(img, s), alpha=0.5, beta=0.5, gamma=5.0 / 450.0,
            scaleObjectnessMeasure=True, objectDimension=1, brightObject=True,
        )  # fmt: skip
        out.append(sitk.GetArrayFromImage(o))
    return np.maximum(*out)


def test_objectness_equals_itk_objectness_measure():
    image, sp = _noisy_tubes()
    ref = _itk_objectness(image, sp)
    got = objectness(image, sp)
    assert ref.max() > 0.2  # the tubes respond
    assert np.abs(got - ref).max() <= 1e-6 * ref.max()
    where = image > 0.25
    part = objectness(image, sp, where=where)
    assert np.array_equal(part[where], got[where])
    assert not part[~where].any()


def test_vesselness_cache_blocks_match_the_whole_image_inside():
    image, sp = _noisy_tubes((72, 70, 68), (0.5, 0.5, 0.5))
    hu = image * 450.0
    cache = VesselnessCache(hu, 450.0, sp, need_above_hu=0.25 * 450.0)
    wanted = np.zeros(hu.shape, bool)
    wanted[34:40, 34:40, 34:40] = True
    cache.ensure(wanted)
    assert cache.done.sum() == 1  # the block [32, 64) on each axis, smoothed with 8 voxels around
    ref = objectness(image[24:, 24:, 24:], sp)[8:40, 8:40, 8:40]
    inner = (slice(32, 64), slice(32, 64), slice(32, 64))
    need = hu[inner] > 0.25 * 450.0
    assert ref[need].max() > 0.2
    assert np.abs(cache.out[inner][need] - ref[need]).max() <= 1e-6
    assert not cache.out[inner][~need].any()
    assert not cache.out[:32].any()


def test_path_length_equals_mcp_geometric_on_unit_costs():
    from skimage.graph import MCP_Geometric

    from CardiacPlanningLib.coronary.centerline import _path_length_mm

    rng = np.random.default_rng(5)
    m = ndi.gaussian_filter(rng.random((30, 26, 34)), 1.0) > 0.5
    m[0, :, 0] = True  # a voxel row on the box faces
    seed = tuple(int(v) for v in np.argwhere(m)[len(np.argwhere(m)) // 2])
    sp = np.array([0.5, 0.7, 0.45])
    ref, _ = MCP_Geometric(np.where(m, 1.0, np.inf), sampling=tuple(sp)).find_costs([seed])
    ref = np.where(np.isfinite(ref), ref, -1.0)
    got = _path_length_mm(m, seed, sp)
    assert (got > 0).sum() > 1000 and (got < 0).any()  # reaches far, and some pieces are cut off
    assert np.array_equal(got, ref)


def test_within_mm_equals_the_thresholded_distance_map():
    from CardiacPlanningLib.coronary.filters import distance_mm, within_mm

    rng = np.random.default_rng(7)
    m = np.zeros((40, 50, 60), bool)
    m[10:14, 30:33, 40:47] = rng.random((4, 3, 7)) > 0.3
    m[5, 44, 52] = True
    sp = np.array([0.625, 0.45, 0.4])
    for reach in (0.4, 2.0, 3.3):
        assert np.array_equal(within_mm(m, sp, reach), distance_mm(~m, sp) <= reach)
    assert not within_mm(np.zeros_like(m), sp, 2.0).any()


def test_keep_seed_component_picks_the_seed_or_the_nearest_piece():
    from CardiacPlanningLib.coronary.segment import _keep_seed_component

    m = np.zeros((30, 30, 30), bool)
    m[5:10, 5:10, 5:10] = True
    m[20:25, 20:22, 3:28] = True
    assert np.array_equal(_keep_seed_component(m, (7, 7, 7)), m & (np.indices(m.shape)[0] < 15))
    far = _keep_seed_component(m, (29, 29, 29))  # outside both: the nearest piece
    assert np.array_equal(far, m & (np.indices(m.shape)[0] >= 15))
