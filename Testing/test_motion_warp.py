"""Label warping (one field evaluation per voxel) against per-label one-hot resampling, edge extension,
and the contrast matching of the registration images."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.motion.register import RegistrationSettings, match_contrast
from CardiacPlanningLib.motion.warp import warp_labels


def _blobs(shape=(40, 44, 48), spacing=(0.8, 0.7, 0.9)) -> Volume:
    rng = np.random.default_rng(4)
    zz, yy, xx = np.indices(shape)
    lab = np.zeros(shape, np.uint8)
    for v in (1, 2, 4, 6, 9):
        c = rng.uniform(8, 32, 3)
        r = rng.uniform(4, 9)
        lab[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + ((xx - c[2]) * 0.8) ** 2 < r * r] = v
    lab[:, :3, 20:30] = 6  # a vessel leaving through the image border
    return Volume(lab, spacing, (5.0, -3.0, 2.0), np.eye(3))


def _field(vol: Volume, spacing: float, origin_shift: float, direction=None) -> sitk.Image:
    """A smooth field (up to ~3 mm) on a coarser grid that overhangs ``vol`` on some sides."""
    size = [int(np.ceil(n * s / spacing)) for n, s in zip(vol.shape[::-1], vol.spacing)]
    kk, jj, ii = np.indices(size[::-1]) * spacing
    u = np.stack([2.5 * np.sin(kk / 9.0), 1.8 * np.cos(ii / 7.0), 1.2 + jj / 25.0], axis=-1)
    field = sitk.GetImageFromArray(u, isVector=True)
    field.SetSpacing([spacing] * 3)
    field.SetOrigin(tuple(np.asarray(vol.origin) + origin_shift))
    if direction is not None:
        field.SetDirection(tuple(np.asarray(direction).flatten()))
    return field


def _per_label_reference(vol: Volume, field: sitk.Image) -> tuple[np.ndarray, dict]:
    """The definition: linear resampling of each label's one-hot mask, arg-max with background."""
    transform = sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))
    best = np.zeros(vol.shape, np.float32)
    label = np.zeros(vol.shape, np.uint8)
    total = np.zeros(vol.shape, np.float32)
    volumes = {}
    for v in [int(x) for x in np.unique(vol.array) if x]:
        onehot = vol.with_array((vol.array == v).astype(np.float32)).to_sitk()
        w = sitk.GetArrayFromImage(sitk.Resample(onehot, onehot, transform, sitk.sitkLinear, 0.0))
        volumes[v] = float(w.sum(dtype=np.float64)) * float(np.prod(vol.spacing)) / 1000.0
        wins = w > best
        best[wins], label[wins] = w[wins], v
        total += w
    label[best <= 1.0 - total] = 0
    return label, volumes


@pytest.mark.parametrize("spacing,shift", [(2.0, -1.0), (1.6, 3.0)])
def test_warp_equals_per_label_one_hot_resampling(spacing, shift):
    vol = _blobs()
    field = _field(vol, spacing, shift)
    expected, volumes = _per_label_reference(vol, field)
    got = warp_labels(vol, field)
    assert np.array_equal(got.labels.array, expected)
    assert got.volumes_ml == pytest.approx(volumes, rel=1e-6)
    assert (got.labels.array != vol.array).mean() > 0.02  # the field really moved the labels


def test_warp_with_a_rotated_field_grid_takes_the_point_by_point_path():
    vol = _blobs((24, 26, 28))
    c, s = np.cos(0.3), np.sin(0.3)
    field = _field(vol, 1.5, -6.0, direction=[[c, -s, 0], [s, c, 0], [0, 0, 1]])
    expected, _ = _per_label_reference(vol, field)
    assert np.array_equal(warp_labels(vol, field).labels.array, expected)


def test_edge_extension_continues_a_vessel_cut_by_the_image_border():
    lab = np.zeros((10, 12, 14), np.uint8)
    lab[:, 0:4, 5:9] = 6  # tube along y, cut by the y = 0 border
    vol = Volume(lab, (1.0, 1.0, 1.0))
    u = np.zeros((10, 12, 14, 3))
    u[..., 1] = -3.0  # pull from 3 mm lower y: the tube moves +3 voxels into the image
    field = sitk.GetImageFromArray(u, isVector=True)
    plain = warp_labels(vol, field).labels.array
    extended = warp_labels(vol, field, extend_edges=True).labels.array
    assert (plain[:, 0:3, 5:9] == 0).all()  # background pulled in from beyond the border
    assert (extended[:, 0:7, 5:9] == 6).all() and (extended[:, 7:, :] == 0).all()
    assert (extended[:, :, :5] == 0).all() and (extended[:, :, 9:] == 0).all()


def test_contrast_matching_restores_the_blood_level_of_a_later_phase():
    settings = RegistrationSettings()
    rng = np.random.default_rng(1)
    tissue = np.full((30, 30, 30), 40.0)
    tissue[8:22, 8:22, 8:22] = 400.0  # blood pool, 400 HU
    tissue[:4] = -800.0  # lung
    hu_ref = tissue + rng.normal(0, 15, tissue.shape)
    hu_phase = np.where(tissue > 300, 330.0, tissue)[:]  # contrast washing out: 330 HU
    hu_phase[10:20, 10:20, 10:20] = 330.0
    hu_phase = hu_phase + rng.normal(0, 15, tissue.shape)

    def unit(a):
        lo, hi = settings.hu_window
        return sitk.GetImageFromArray(np.clip((a - lo) / (hi - lo), 0, 1).astype(np.float32))

    matched = sitk.GetArrayFromImage(match_contrast(unit(hu_phase), unit(hu_ref), settings))
    lo, hi = settings.hu_window
    blood = matched[12:18, 12:18, 12:18] * (hi - lo) + lo
    assert np.median(blood) == pytest.approx(400.0, abs=5.0)
    soft = matched[25:, 25:, 25:] * (hi - lo) + lo
    assert np.median(soft) == pytest.approx(40.0, abs=3.0)  # the anchor stays
    same = match_contrast(unit(hu_ref), unit(hu_ref), settings)
    assert np.allclose(sitk.GetArrayFromImage(same), sitk.GetArrayFromImage(unit(hu_ref)), atol=1e-5)
