"""Demons registration of a large contraction (``motion.register``): settings and accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.metrics import surface_distances
from CardiacPlanningLib.motion.register import (
    RegistrationSettings,
    crop_grid,
    register_phase,
    to_registration_image,
)
from CardiacPlanningLib.motion.warp import warp_labels

SP = 1.5  # mm
R_ENDO, R_EPI = 22.0, 30.0  # mm, reference (end-diastolic) cavity and epicardium


def _reference_radius(rho: np.ndarray, scale: float) -> np.ndarray:
    """Radius (mm) in the reference of a phase point at radius ``rho``: the cavity shrinks uniformly
    by ``scale``, the wall keeps its volume (r^3 - rho^3 constant), so it thickens."""
    c = R_ENDO**3 * (1.0 - scale**3)
    return np.where(rho < scale * R_ENDO, rho / scale, np.cbrt(rho**3 + c))


def _phase(scale: float, seed: int) -> tuple[Volume, Volume]:
    """(CT in HU, labels: 1 cavity, 2 wall) of a spherical ventricle whose cavity radius is ``scale``
    times the reference's, on a 1.5 mm grid, 8 HU noise."""
    shape = (48, 48, 48)
    zz, yy, xx = np.indices(shape)
    rho = np.sqrt(sum((a - 23.5) ** 2 for a in (zz, yy, xx))) * SP
    r = _reference_radius(rho, scale)
    lab = np.where(r < R_ENDO, 1, np.where(r < R_EPI, 2, 0)).astype(np.uint8)
    hu = np.array([-50.0, 400.0, 120.0])[lab]
    ct = ndimage.gaussian_filter(hu, 0.7) + np.random.default_rng(seed).normal(0, 8, shape)
    geom = Volume(np.zeros(shape, np.int16), (SP,) * 3, (-36.0, -36.0, -36.0))
    return geom.with_array(ct.astype(np.int16)), geom.with_array(lab)


def _propagate(settings: RegistrationSettings) -> tuple[np.ndarray, np.ndarray]:
    """End-systolic labels propagated like ``propagate_labels`` does (the end-systolic phase starts
    from the field of a half-contracted neighbour, both registered to the reference), and the truth."""
    ref_ct, ref_lab = _phase(1.0, 1)
    grid = crop_grid(ref_lab, ref_lab.array != 0, settings.spacing_mm, settings.margin_mm)
    moving = to_registration_image(ref_ct, grid, settings)
    field = None
    for scale, seed in ((0.8, 2), (0.6, 3)):
        ct, truth = _phase(scale, seed)
        field = register_phase(moving, to_registration_image(ct, grid, settings), settings, field)
    return warp_labels(ref_lab, field).labels.array, truth.array


def test_large_contraction_settings_follow_a_78_percent_ef_contraction():
    got, truth = _propagate(RegistrationSettings.large_contraction())
    true_ml = (truth == 1).sum() * SP**3 / 1000.0
    got_ml = (got == 1).sum() * SP**3 / 1000.0
    # the cavity keeps 0.6^3 = 21.6 % of its volume: EF 78 %
    assert true_ml == pytest.approx(4 / 3 * np.pi * (0.6 * R_ENDO) ** 3 / 1000.0, rel=0.03)
    assert got_ml == pytest.approx(true_ml, rel=0.05), (got_ml, true_ml)
    for v in (1, 2):
        sd = surface_distances(got == v, truth == v, (SP,) * 3)
        assert sd.mean_mm < 0.5 * SP and sd.hd95_mm <= SP + 1e-6, (v, sd.as_dict())
    # the default elastic-only smoothing (field sigma 1 voxel, no update smoothing, no noise
    # threshold) leaves the end-systolic cavity clearly too large
    old = RegistrationSettings()
    assert (old.field_sigma_voxels, old.update_sigma_voxels, old.difference_threshold_hu) == (1.0, 0.0, 0.0)
    got_old, _ = _propagate(old)
    old_ml = (got_old == 1).sum() * SP**3 / 1000.0
    assert old_ml - true_ml > 2.0 * abs(got_ml - true_ml), (old_ml, got_ml, true_ml)


def test_per_level_field_sigma_and_invalid_regularisation():
    s = RegistrationSettings(field_sigma_voxels=(1.5, 1.0, 0.5))
    assert [s.level_value(s.field_sigma_voxels, n) for n in range(3)] == [1.5, 1.0, 0.5]
    assert RegistrationSettings().level_value(0.5, 2) == 0.5
    with pytest.raises(CardiacInputError, match="one per pyramid level"):
        RegistrationSettings(field_sigma_voxels=(1.0, 0.5))
    with pytest.raises(CardiacInputError, match="difference threshold -1"):
        RegistrationSettings(difference_threshold_hu=-1.0)
    with pytest.raises(CardiacInputError, match="field sigma 0"):
        RegistrationSettings(field_sigma_voxels=0.0)
