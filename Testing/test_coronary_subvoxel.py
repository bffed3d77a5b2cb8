"""Sub-voxel coronary measurements with known answers: lumen radius of blurred tubes (partial volume,
a lumen blurred below the half-contrast level), the bifurcation point of a traced side branch that
runs alongside its parent, and the interpolated reference of a lesion where the vessel steps down."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from CardiacPlanningLib.coronary.centerline import TracedBranch, place_junction
from CardiacPlanningLib.coronary.radius import cross_sections
from CardiacPlanningLib.coronary.stenosis import find_lesions
from CardiacPlanningLib.imaging.volume import Volume

SP = 0.6
BLOOD, FAT = 450.0, -95.0


def _tube(
    radius_mm: float, myocardium: bool, noise_hu: float = 20.0, n: int = 40, length: int = 40
) -> Volume:
    """A straight lumen along x (centre y = z = 0) in fat, optionally with myocardium (105 HU)
    beyond a 0.6 mm fat gap on one side; 3x3 supersampled partial volume, Gaussian point-spread
    function of 1 mm FWHM, correlated noise; 0.6 mm voxels."""
    ss = 3
    c = (np.arange(n * ss) + 0.5) / ss * SP - n * SP / 2
    zz, yy = np.meshgrid(c, c, indexing="ij")
    sl = np.where(np.hypot(zz, yy) <= radius_mm, BLOOD, FAT)
    if myocardium:
        sl[yy > radius_mm + 0.6] = 105.0
    sl = sl.reshape(n, ss, n, ss).mean(axis=(1, 3))
    arr = np.repeat(sl[:, :, None], length, axis=2).astype(np.float32)
    arr = ndi.gaussian_filter(arr, 1.0 / 2.3548 / SP, mode="nearest")
    rng = np.random.default_rng(7)
    w = ndi.gaussian_filter(rng.standard_normal(arr.shape).astype(np.float32), 0.6)
    arr += w * noise_hu / w.std()
    return Volume(arr, (SP, SP, SP), (0.0, -n * SP / 2 + SP / 2, -n * SP / 2 + SP / 2), np.eye(3))


@pytest.mark.parametrize("myocardium", [False, True])
@pytest.mark.parametrize("radius", [0.45, 0.7, 1.0, 1.6])
def test_partial_volume_radius_of_blurred_tubes(radius, myocardium):
    vol = _tube(radius, myocardium)
    x = np.arange(8.0, 16.0, 0.5)
    pts = np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1)
    r, _, _ = cross_sections(vol, pts, np.full(len(x), 1.0), BLOOD, partial_volume=True)
    half, _, _ = cross_sections(vol, pts, np.full(len(x), 1.0), BLOOD)
    # the half-contrast area shrinks small lumens (or misses them); the partial-volume radius does not
    assert np.median(r) == pytest.approx(radius, rel=0.15)
    if radius <= 0.7:
        assert abs(np.median(half) - radius) > 0.15 * radius


def _line(a, b, step=0.4):
    n = int(np.ceil(np.linalg.norm(b - a) / step))
    return a + np.linspace(0.0, 1.0, n + 1)[:, None] * (b - a)


def test_side_branch_starts_where_the_vessel_axes_meet():
    # parent along x; the side branch leaves at x = 20 at 35 degrees, but was traced alongside the
    # parent and attached 4 mm later (x = 24), as a minimal path does in a wide lumen
    parent = _line(np.array([0.0, 0.0, 0.0]), np.array([40.0, 0.0, 0.0]))
    d = np.array([np.cos(np.deg2rad(35)), np.sin(np.deg2rad(35)), 0.0])
    true_side = _line(np.array([20.0, 0.0, 0.0]), np.array([20.0, 0.0, 0.0]) + 25.0 * d)
    k24 = int(np.argmin(np.abs(parent[:, 0] - 24.0)))
    beyond = true_side[np.linalg.norm(true_side - parent[k24], axis=1) > 2.5]
    child_pts = np.vstack([parent[k24], beyond[beyond[:, 0] > 24.0]])
    p = TracedBranch(parent, np.full(len(parent), 2.0), None, None)
    c = TracedBranch(child_pts, np.full(len(child_pts), 1.5), 0, k24)
    place_junction(c, p)
    assert parent[c.parent_index][0] == pytest.approx(20.0, abs=0.5)
    assert np.allclose(c.points[0], parent[c.parent_index])


def test_lesion_reference_is_interpolated_between_proximal_and_distal_segments():
    # r 2.0 mm proximal, 1.4 mm distal (a large side branch at s = 30 mm) and a 50 % lesion of the
    # local (interpolated, 1.7 mm) reference at s = 30: minimal radius 0.85 mm
    s = np.linspace(0.0, 60.0, 301)
    pts = np.stack([s, np.zeros_like(s), np.zeros_like(s)], axis=1)
    healthy = np.interp(s, [0.0, 24.0, 36.0, 60.0], [2.0, 2.0, 1.4, 1.4])
    u = np.clip((s - 30.0) / 10.0, -0.5, 0.5)
    r = healthy * (1.0 - 0.5 * 0.5 * (1.0 + np.cos(2.0 * np.pi * u)))
    (les,) = [le for le in find_lesions("LAD", pts, r) if abs(le.center[0] - 30.0) < 3.0]
    assert les.percent == pytest.approx(50.0, abs=3.0)
    assert les.reference_radius_mm == pytest.approx(1.7, abs=0.1)
    assert les.minimal_radius_mm == pytest.approx(0.85, abs=0.03)
