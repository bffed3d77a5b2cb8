"""Fine-tuning operations on a sphere: each changes exactly the voxels it should; undo/redo restore."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart.editing import (
    EditSession,
    cut_with_plane,
    fill_holes,
    grow_in_sphere,
    remove_islands,
    shrink_in_sphere,
    smooth,
)
from CardiacPlanningLib.imaging.volume import Volume

N = 41
SPACING = (1.0, 1.0, 1.0)
ORIGIN = (-20.0, -20.0, -20.0)  # voxel (20, 20, 20) sits at LPS (0, 0, 0)


def centres(shape=(N, N, N), spacing=SPACING, origin=ORIGIN) -> np.ndarray:
    zz, yy, xx = np.indices(shape)
    return np.stack([xx, yy, zz], -1) * np.array(spacing) + np.array(origin)


def ball(radius: float, centre=(0.0, 0.0, 0.0), spacing=SPACING, shape=(N, N, N)) -> np.ndarray:
    return np.linalg.norm(centres(shape, spacing) - np.array(centre), axis=-1) <= radius


def sphere_volume(label: int = 1, radius: float = 10.0) -> Volume:
    arr = np.zeros((N, N, N), np.uint8)
    arr[ball(radius)] = label
    return Volume(arr, SPACING, ORIGIN)


def brute_distance(points: np.ndarray, mask_points: np.ndarray) -> np.ndarray:
    return cKDTree(mask_points).query(points)[0]


def test_grow_changes_only_background_inside_the_edit_sphere():
    seg = sphere_volume()
    seg.array[ball(3.0, (0, 0, 14))] = 2  # another segment in the way
    new = grow_in_sphere(seg, 1, (12.0, 0.0, 0.0), 6.0, 3.0)
    changed = new != seg.array
    pts = centres()
    dist = brute_distance(pts.reshape(-1, 3), pts[seg.array == 1]).reshape(seg.shape)
    expected = (dist <= 3.0) & (seg.array == 0) & ball(6.0, (12, 0, 0))
    np.testing.assert_array_equal(changed, expected)
    assert (new[changed] == 1).all() and expected.sum() > 100
    assert (new == 2).sum() == (seg.array == 2).sum()


def test_shrink_peels_exactly_the_rim_inside_the_sphere():
    seg = sphere_volume()
    new = shrink_in_sphere(seg, 1, (0.0, -10.0, 0.0), 5.0, 2.0)
    changed = new != seg.array
    pts = centres()
    depth = brute_distance(pts.reshape(-1, 3), pts[seg.array == 0]).reshape(seg.shape)
    expected = (seg.array == 1) & (depth <= 2.0) & ball(5.0, (0, -10, 0))
    np.testing.assert_array_equal(changed, expected)
    assert (new[changed] == 0).all() and expected.sum() > 50


def test_fill_holes_fills_the_cavity_but_not_an_open_notch():
    seg = sphere_volume()
    cavity = ball(4.0)
    seg.array[cavity] = 0
    notch = ball(3.0, (0, 0, 10))  # reaches the outside at the surface
    seg.array[notch & (seg.array == 1)] = 0
    new = fill_holes(seg, 1)
    np.testing.assert_array_equal(new != seg.array, cavity)


def test_remove_islands_keeps_the_largest_piece_or_the_big_enough_ones():
    seg = sphere_volume()
    big_island = ball(3.0, (15, 15, 15))
    small_island = np.zeros(seg.shape, bool)
    small_island[1, 1, 1:3] = True  # 2 voxels = 0.002 ml
    seg.array[big_island | small_island] = 1
    np.testing.assert_array_equal(remove_islands(seg, 1) != seg.array, big_island | small_island)
    np.testing.assert_array_equal(remove_islands(seg, 1, min_ml=0.05) != seg.array, small_island)


def test_cut_with_plane_removes_one_side_of_one_label():
    seg = sphere_volume()
    seg.array[ball(3.0, (0, 0, 15))] = 2
    new = cut_with_plane(seg, 1, (0.0, 0.0, 4.0), (0.0, 0.0, 1.0))
    pts = centres()
    expected = (seg.array == 1) & (pts[..., 2] > 4.0)
    np.testing.assert_array_equal(new != seg.array, expected)
    assert (new == 2).sum() == (seg.array == 2).sum()
    with pytest.raises(CardiacInputError, match="normal"):
        cut_with_plane(seg, 1, (0, 0, 0), (0, 0, 0))


def test_smooth_removes_a_spike_and_keeps_the_ball():
    seg = sphere_volume()
    spike = np.zeros(seg.shape, bool)
    spike[20, 20, 31:36] = True  # a one-voxel wire sticking out of the ball along +x
    seg.array[spike] = 1
    new = smooth(seg, 1, sigma_mm=1.0)
    assert not (new[spike] == 1).any()
    np.testing.assert_array_equal(new[ball(8.0)], 1)  # interior untouched
    changed = new != seg.array
    pts = centres()
    # changes stay within 3 voxels of the original surface
    assert (np.abs(np.linalg.norm(pts[changed & ~spike], axis=-1) - 10.0) <= 3.0).all()


def test_grow_with_anisotropic_spacing_uses_millimetres():
    spacing = (0.8, 0.8, 2.0)
    arr = np.zeros((21, 41, 41), np.uint8)
    pts = centres((21, 41, 41), spacing, (-16.0, -16.0, -20.0))
    arr[np.linalg.norm(pts, axis=-1) <= 8.0] = 1
    seg = Volume(arr, spacing, (-16.0, -16.0, -20.0))
    new = grow_in_sphere(seg, 1, (0.0, 0.0, 9.0), 5.0, 2.5)
    dist = brute_distance(pts.reshape(-1, 3), pts[arr == 1]).reshape(arr.shape)
    expected = (dist <= 2.5) & (arr == 0) & (np.linalg.norm(pts - [0, 0, 9.0], axis=-1) <= 5.0)
    np.testing.assert_array_equal(new != arr, expected)


def test_session_undo_and_redo_restore_exact_states():
    seg = sphere_volume()
    session = EditSession(seg)
    states = [session.array.copy()]
    assert session.grow(1, (12.0, 0.0, 0.0), 6.0, 3.0) > 0
    states.append(session.array.copy())
    assert session.cut(1, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0)) > 0
    states.append(session.array.copy())
    assert session.history == ["grow 1", "cut 1"]
    assert session.undo() == "cut 1"
    np.testing.assert_array_equal(session.array, states[1])
    session.undo()
    np.testing.assert_array_equal(session.array, states[0])
    with pytest.raises(CardiacInputError, match="nothing to undo"):
        session.undo()
    session.redo()
    np.testing.assert_array_equal(session.array, states[1])
    session.fill_holes(1)  # no change: nothing recorded, redo stack kept
    session.smooth(1, 1.0)  # a change clears the redo stack
    with pytest.raises(CardiacInputError, match="nothing to redo"):
        session.redo()
    np.testing.assert_array_equal(seg.array, states[0])  # the input was never modified


def test_edit_errors_name_the_problem():
    seg = sphere_volume()
    with pytest.raises(CardiacInputError, match="outside"):
        grow_in_sphere(seg, 1, (500.0, 0.0, 0.0), 5.0, 1.0)
    with pytest.raises(CardiacInputError, match="radius"):
        shrink_in_sphere(seg, 1, (0.0, 0.0, 0.0), 0.0, 1.0)
    with pytest.raises(CardiacInputError, match="label"):
        smooth(seg, 0)
