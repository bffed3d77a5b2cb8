"""Metric helpers on shapes with known answers (spheres, straight and truncated centerlines)."""

from __future__ import annotations

import numpy as np
import pytest
import vtk

from CardiacPlanningLib import metrics
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume


def _sphere(shape, spacing, center_mm, radius_mm):
    """Boolean sphere on a grid [z, y, x] with origin 0 and spacing (sx, sy, sz) mm."""
    z, y, x = np.indices(shape, dtype=float)
    sx, sy, sz = spacing
    cx, cy, cz = center_mm
    return (x * sx - cx) ** 2 + (y * sy - cy) ** 2 + (z * sz - cz) ** 2 <= radius_mm**2


def test_dice_of_offset_spheres_matches_the_analytic_lens_volume():
    r, d, sp = 10.0, 4.0, (0.5, 0.5, 0.5)
    a = _sphere((60, 60, 70), sp, (15, 15, 15), r)
    b = _sphere((60, 60, 70), sp, (15 + d, 15, 15), r)
    lens = np.pi * (4 * r + d) * (2 * r - d) ** 2 / 12.0  # intersection of two equal spheres
    expected = 2 * lens / (2 * 4 / 3 * np.pi * r**3)
    assert metrics.dice(a, b) == pytest.approx(expected, abs=0.01)
    assert metrics.dice(a, a) == 1.0
    assert metrics.dice(np.zeros((3, 3, 3)), np.zeros((3, 3, 3))) == 1.0
    per = metrics.dice_per_label(a.astype(np.uint8) * 2, b.astype(np.uint8) * 2)
    assert list(per) == [2] and per[2] == pytest.approx(expected, abs=0.01)


def test_surface_distances_of_offset_spheres():
    r, d, sp = 10.0, 4.0, (0.5, 0.5, 0.5)
    a = _sphere((60, 60, 70), sp, (15, 15, 15), r)
    b = _sphere((60, 60, 70), sp, (15 + d, 15, 15), r)
    res = metrics.surface_distances(a, b, sp)
    # A point of sphere A at angle theta from the offset axis lies |sqrt(r^2+d^2-2rd cos) - r| from B.
    t = np.linspace(-1, 1, 200001)
    mean_exact = np.mean(np.abs(np.sqrt(r * r + d * d - 2 * r * d * t) - r))
    assert res.max_mm == pytest.approx(d, abs=0.5)
    assert res.mean_mm == pytest.approx(mean_exact, abs=0.25)
    assert mean_exact < res.hd95_mm <= res.max_mm


def test_identical_masks_have_zero_distance_and_empty_handling():
    a = _sphere((20, 20, 20), (1, 1, 1), (10, 10, 10), 5)
    res = metrics.surface_distances(a, a, (1, 1, 1))
    assert (res.mean_mm, res.hd95_mm, res.max_mm) == (0.0, 0.0, 0.0)
    empty = np.zeros_like(a)
    assert metrics.surface_distances(empty, empty).max_mm == 0.0
    assert metrics.surface_distances(a, empty).mean_mm == float("inf")
    with pytest.raises(CardiacInputError, match="shape"):
        metrics.surface_distances(a, a[:-1])
    with pytest.raises(CardiacInputError, match="spacing"):
        metrics.surface_distances(a, a, (1, 0, 1))


def test_concentric_spheres_with_anisotropic_spacing():
    sp = (0.6, 0.6, 1.5)
    shape = (24, 60, 60)
    c = (18, 18, 18)
    inner = _sphere(shape, sp, c, 9.0)
    outer = _sphere(shape, sp, c, 13.0)
    res = metrics.surface_distances(Volume(inner, sp), Volume(outer, sp))  # spacing from the Volume
    assert res.mean_mm == pytest.approx(4.0, abs=0.45)
    assert res.max_mm == pytest.approx(4.0, abs=0.9)
    with pytest.raises(CardiacInputError, match="different grids"):
        metrics.dice(Volume(inner, sp), Volume(outer, sp, origin=(1.0, 0.0, 0.0)))
    # Ignoring the spacing would give a clearly different (wrong) answer.
    assert abs(metrics.surface_distances(inner, outer, (1, 1, 1)).max_mm - 4.0) > 2.0


def test_point_to_surface_against_polydata_and_mask():
    src = vtk.vtkSphereSource()
    src.SetCenter(0, 0, 0)
    src.SetRadius(10.0)
    src.SetThetaResolution(128)
    src.SetPhiResolution(128)
    src.Update()
    pts = np.array([[15.0, 0, 0], [0, 0, 20.0], [0, 4.0, 0]])
    d = metrics.point_to_surface_distances(pts, src.GetOutput())
    np.testing.assert_allclose(d, [5.0, 10.0, 6.0], atol=0.02)
    signed = metrics.point_to_surface_distances(pts, src.GetOutput(), signed=True)
    assert signed[0] > 0 and signed[2] == pytest.approx(-6.0, abs=0.05)

    sp = (0.5, 0.5, 0.5)
    mask = _sphere((50, 50, 50), sp, (0, 0, 0), 10.0)
    vol = Volume(mask.astype(np.uint8), sp, origin=(-12.5, -12.5, -12.5))
    vol.array = _sphere((50, 50, 50), sp, (12.5, 12.5, 12.5), 10.0).astype(np.uint8)
    dm = metrics.point_to_surface_distances(pts, vol)
    np.testing.assert_allclose(dm, [5.0, 10.0, 6.0], atol=0.3)
    with pytest.raises(CardiacInputError, match="empty"):
        metrics.point_to_surface_distances(pts, vol.with_array(np.zeros_like(vol.array)))


def _line(length, step=0.5, offset=(0.0, 0.0)):
    z = np.arange(0.0, length + 1e-9, step)
    return np.stack([np.full_like(z, offset[0]), np.full_like(z, offset[1]), z], axis=1)


def test_centerline_shifted_by_half_a_radius_is_fully_overlapping():
    ref = _line(80.0)
    radii = np.full(len(ref), 2.0)
    ev = _line(80.0, step=0.7, offset=(1.0, 0.0))  # half the radius sideways, other sampling
    s = metrics.centerline_scores(ref, radii, ev)
    assert s.ov == 1.0 and s.of == 1.0 and s.ot == 1.0
    assert s.ai_mm == pytest.approx(1.0, abs=0.01)
    far = metrics.centerline_scores(ref, radii, _line(80.0, offset=(3.0, 0.0)))
    assert far.ov == 0.0 and np.isnan(far.ai_mm)


def test_truncated_centerline_overlap_equals_the_fraction():
    length, r, f = 100.0, 1.0, 0.6
    ref = _line(length)
    ev = _line(f * length)
    s = metrics.centerline_scores(ref, np.full(len(ref), r), ev)
    # Reference points within one radius beyond the end of the evaluated line still count as hits.
    assert s.of == pytest.approx((f * length + r) / length, abs=0.01)
    assert s.ov == pytest.approx(2 * f / (1 + f), abs=0.015)
    assert s.n_fp == 0 and s.ai_mm < 0.5


def test_overlap_with_clinically_relevant_part_only():
    ref = _line(100.0)
    radii = np.linspace(2.0, 0.5, len(ref))  # diameter >= 1.5 mm up to z = 83.3 mm
    s = metrics.centerline_scores(ref, radii, _line(84.0))
    assert s.ot == pytest.approx(1.0, abs=0.005)
    assert s.ov < 0.95


def test_centerline_bad_input_names_it():
    with pytest.raises(CardiacInputError, match="ref_radii"):
        metrics.centerline_scores(_line(10), np.ones(3), _line(10))
    with pytest.raises(CardiacInputError, match="centerline"):
        metrics.centerline_scores(_line(10)[:1], np.ones(1), _line(10))


def test_best_centerline_is_picked_among_candidates():
    ref = _line(50.0)
    radii = np.full(len(ref), 1.5)
    cands = [_line(50.0, offset=(5.0, 0.0)), _line(20.0, offset=(0.3, 0.0)), _line(50.0, offset=(0.5, 0.0))]
    idx, s = metrics.best_centerline_scores(ref, radii, cands)
    assert idx == 2 and s.ov == 1.0 and s.ai_mm == pytest.approx(0.5, abs=0.01)
    with pytest.raises(CardiacInputError, match="no evaluated"):
        metrics.best_centerline_scores(ref, radii, [])
