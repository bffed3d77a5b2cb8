"""Sub-voxel biases of the label-map measurements: the smoothing's pull on curved section outlines
(measure.section.unbias_outline) and the rounded-off carina apex of a bifurcation
(measure.bifurcation.crotch_from_wall)."""

import numpy as np
import pytest
from scipy import ndimage

from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure.bifurcation import crotch_from_wall, crotch_level
from CardiacPlanningLib.measure.plane import Plane
from CardiacPlanningLib.measure.section import MaskSampler, smooth_outline, unbias_outline


def test_unbias_outline_restores_a_smoothed_circle():
    theta = np.linspace(0, 2 * np.pi, 800, endpoint=False)
    circle = 7.0 * np.stack([np.cos(theta), np.sin(theta)], 1)
    w = 1.875
    shrunk = smooth_outline(circle, w)
    r_shrunk = np.linalg.norm(shrunk, axis=1).mean()
    assert r_shrunk == pytest.approx(7.0 - w**2 / (24 * 7.0), abs=0.003)  # the known shrink
    for xy in (shrunk, shrunk[::-1]):  # either orientation
        fixed = unbias_outline(xy, w**2 / 24.0, 3 * w)
        assert np.linalg.norm(fixed, axis=1) == pytest.approx(np.full(len(fixed), 7.0), abs=0.003)


@pytest.mark.parametrize("radius,tol", [(7.0, 0.008), (11.5, 0.004)])
def test_painted_cylinder_area_is_unbiased(radius, tol):
    """Cylinders painted at 1.25 mm (voxel centres), axes in eight directions: the mean section area
    was 2.0 % (r 7 mm) / 0.7 % (r 11.5 mm) low before the smoothing's pull was undone."""
    rng = np.random.default_rng(3)
    errs = []
    shape = (44, 44, 44)
    k, j, i = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    p = np.stack([i, j, k], -1) * 1.25
    for _ in range(8):
        n = rng.normal(size=3)
        n /= np.linalg.norm(n)
        c = np.full(3, 27.0) + rng.uniform(-0.6, 0.6, 3)
        q = p - c
        h = q @ n
        arr = (((q * q).sum(-1) - h * h <= radius**2) & (np.abs(h) < 18)).astype(np.int16)
        vol = Volume(arr, (1.25,) * 3, (0.0, 0.0, 0.0), np.eye(3))
        sec = MaskSampler(vol, 1, c, 26.0).section(Plane(c, n), radius_mm=22, step_mm=0.3)
        errs.append(sec.area_mm2 / (np.pi * radius**2) - 1)
    assert abs(np.mean(errs)) < tol


@pytest.mark.parametrize("angle,offset", [(45.0, 0.6), (55.0, 0.4)])
def test_crotch_from_the_carina_sides(angle, offset):
    """Two 9 mm branches leaving a 12 mm trunk at +-angle, painted at 1.25 mm: their inner walls meet
    9 / sin(angle) above the branch point. The split of the smoothed, sampled lumen was +1.15 mm
    high at 45 deg; the apex extrapolated from the wedge's sides is within 0.3 mm."""
    sp, r = 1.25, 9.0
    shape = (64, 64, 64)
    origin = np.array([-40.0, -40.0, -10.0]) + offset
    k, j, i = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    p = np.stack([i, j, k], -1) * sp + origin
    arr = np.zeros(shape, np.int16)
    arr[(np.hypot(p[..., 0], p[..., 1]) <= 12.0) & (p[..., 2] < 30)] = 1
    for sign in (-1, 1):
        d = np.array([sign * np.sin(np.radians(angle)), 0.0, np.cos(np.radians(angle))])
        rel = p - np.array([0.0, 0.0, 30.0])
        t = rel @ d
        arr[(t >= -6) & (t < 40) & (np.linalg.norm(rel - t[..., None] * d, axis=-1) <= r)] = 1
    vol = Volume(arr, (sp,) * 3, tuple(origin), np.eye(3))
    smp = MaskSampler(vol, 1, np.array([0.0, 0.0, 20.0]), 40.0)

    def inside(q):
        idx = vol.lps_to_index(q) - smp.lo
        return ndimage.map_coordinates(smp.smooth, [idx[:, 2], idx[:, 1], idx[:, 0]], order=1) > 0.5

    start, axis = np.zeros(3), np.array([0.0, 0.0, 1.0])
    split = crotch_level(inside, start, axis, 24.0, (10.0, 60.0))
    apex = crotch_from_wall(inside, start, axis, 24.0, split, 2 * sp)
    truth = 30.0 + r / np.sin(np.radians(angle))
    assert apex is not None and apex <= split
    assert apex == pytest.approx(truth, abs=0.3)
