"""A metal device in the phantom moves with the anatomy but keeps its shape (phantom.device_motion)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from CardiacPlanningLib.phantom import device_motion, devices

ROOT = {"annulus_center": [3.0, -2.0, 5.0], "annulus_normal": [0.2, 0.3, 1.0], "annulus_radius_mm": 12.0}


def _pairwise(dev: devices.Device) -> np.ndarray:
    p = np.vstack(dev.struts)[::50]
    return np.linalg.norm(p[:, None] - p[None], axis=2)


def test_a_rigid_anatomy_motion_is_recovered_exactly():
    dev = devices.valve_frame(ROOT, rng=3)
    rot = Rotation.from_euler("xyz", [4.0, -7.0, 11.0], degrees=True).as_matrix()
    shift = np.array([5.0, -3.0, 8.0])
    moved = device_motion.moved_device(dev, lambda x: x @ rot.T + shift)
    for a, b in zip(dev.struts, moved.struts, strict=True):
        np.testing.assert_allclose(b, a @ rot.T + shift, atol=1e-9)
    assert moved.metadata["pose"]["anatomyResidualMm"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(moved.radius_profile, dev.radius_profile)


def _swell(dev: devices.Device, factor: float):
    """Anatomy motion: the wall around the device widens radially by ``factor`` about its axis and
    the whole region stretches 20 % along it (soft tissue deforming), then moves 4 mm."""
    c = dev.axis.mean(0)
    t = (dev.axis[-1] - dev.axis[0]) / np.linalg.norm(dev.axis[-1] - dev.axis[0])

    def forward(x):
        d = np.asarray(x, float) - c
        along = d @ t
        radial = d - np.outer(along, t)
        return c + factor * radial + np.outer(1.2 * along, t) + np.array([0.0, 4.0, 0.0])

    return forward


def test_a_deforming_anatomy_moves_a_balloon_expandable_frame_without_deforming_it():
    dev = devices.valve_frame(ROOT, rng=3)
    moved = device_motion.moved_device(dev, _swell(dev, 1.1))
    # the shape is kept exactly: every distance between strut points, and the radius
    np.testing.assert_allclose(_pairwise(moved), _pairwise(dev), atol=1e-9)
    np.testing.assert_array_equal(moved.radius_profile, dev.radius_profile)
    # symmetric about the centre: the fit moves it by the 4 mm shift only
    np.testing.assert_allclose(moved.axis.mean(0) - dev.axis.mean(0), [0.0, 4.0, 0.0], atol=1e-6)
    assert moved.metadata["pose"]["anatomyResidualMm"] > 0.5  # the wall deformed around it


def test_a_self_expanding_frame_follows_the_annulus_within_a_bound():
    dev = devices.valve_frame(ROOT, style="self_expanding", rng=3)
    small = device_motion.moved_device(dev, _swell(dev, 1.02))
    big = device_motion.moved_device(dev, _swell(dev, 1.10))
    assert small.metadata["pose"]["radialScale"] == pytest.approx(1.02, abs=1e-6)
    assert big.metadata["pose"]["radialScale"] == pytest.approx(1.0 + device_motion.MAX_RADIAL_CHANGE)
    np.testing.assert_allclose(big.radius_profile, dev.radius_profile * 1.03)
    # lengths along the axis are kept (no 20 % stretch)
    length = np.linalg.norm(dev.axis[-1] - dev.axis[0])
    assert np.linalg.norm(big.axis[-1] - big.axis[0]) == pytest.approx(length, abs=1e-6)
