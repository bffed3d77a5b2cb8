"""Automatic aortic annulus plane on a grid-aligned staircase: a root whose annulus lies near a lattice
diagonal (normal ~45 deg between x and z, as in phantom seed 7), labels painted by voxel centre at
1.25 mm. The LV-aorta interface alone is tilted by the staircase; the root-axis plane is not."""

import numpy as np
import pytest

from CardiacPlanningLib import labels
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure.plane import plane_from_points
from CardiacPlanningLib.measure.valves import (
    AORTIC_SIDE,
    LV_SIDE,
    automatic_hinge_points,
    interface_plane,
    root_axis_plane,
)

NORMAL = np.array([-0.702, -0.015, 0.712]) / np.linalg.norm([-0.702, -0.015, 0.712])
CENTER = np.array([0.3, 0.2, 0.4])  # the voxel phase where the staircase tilts most
R_ANNULUS = 12.2


def _root():
    """LVOT cylinder (LV blood pool, 10 mm) under the annulus, a three-lobed sinus (aorta, 22 mm high,
    lobes at 90/210/330 deg from the in-plane x axis) above it, and a descending-aorta block far
    below (so the aorta label's centroid lies on the LV side of the annulus)."""
    shape = (72, 72, 72)
    vol = Volume(np.zeros(shape, np.uint8), (1.25,) * 3, (-45.0, -45.0, -45.0))
    kk, jj, ii = np.indices(shape, dtype=np.float32)
    p = vol.index_to_lps(np.stack([ii, jj, kk], -1)) - CENTER
    e1 = np.cross(NORMAL, [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(NORMAL, e1)
    h = p @ NORMAL
    u, v = p @ e1, p @ e2
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    lobe = np.abs(np.cos(1.5 * (theta - np.pi / 2))) ** 0.8
    radius = R_ANNULUS + 4.0 * np.sin(np.pi * np.clip(h / 22.0, 0, 1)) ** 2 * lobe
    vol.array[(h < 0) & (h >= -10) & (rho <= R_ANNULUS)] = labels.LV_BLOOD_POOL
    vol.array[(h >= 0) & (h < 22) & (rho <= radius)] = labels.AORTA
    vol.array[(p[..., 2] < -30) & (np.abs(p[..., 0] - 25) < 6) & (np.abs(p[..., 1]) < 6)] = labels.AORTA
    return vol, e1, e2


def _tilt(normal) -> float:
    return float(np.degrees(np.arccos(min(1.0, abs(float(np.asarray(normal) @ NORMAL))))))


def test_root_axis_plane_undoes_the_staircase_tilt():
    vol, _, _ = _root()
    start = interface_plane(vol, LV_SIDE, AORTIC_SIDE)
    assert _tilt(start.normal) > 1.5  # the staircase tilts the interface fit (what the axis fixes)
    plane = root_axis_plane(
        vol, start if start.normal @ NORMAL > 0 else type(start)(start.origin, -start.normal)
    )
    assert _tilt(plane.normal) < 0.75
    assert abs(float((plane.origin - CENTER) @ NORMAL)) < 0.3


def test_automatic_hinges_on_the_annulus_at_the_sinus_lobes():
    vol, e1, e2 = _root()
    hinges = automatic_hinge_points(vol)
    plane = plane_from_points(*hinges, toward=CENTER + 10 * NORMAL)
    assert _tilt(plane.normal) < 0.75
    rel = hinges - CENTER
    assert np.abs(rel @ NORMAL).max() < 0.4
    assert np.linalg.norm(rel - np.outer(rel @ NORMAL, NORMAL), axis=1) == pytest.approx(
        [R_ANNULUS] * 3, abs=0.6
    )
    angles = np.sort(np.degrees(np.arctan2(rel @ e2, rel @ e1)) % 360)
    assert angles == pytest.approx([90.0, 210.0, 330.0], abs=4.0)  # the lobe centres
