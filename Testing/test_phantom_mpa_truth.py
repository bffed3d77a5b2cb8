"""The phantom's main pulmonary artery length truth (valve plane to the crotch of the bifurcation) on
analytic bifurcating tubes with a known answer."""

import numpy as np
import pytest

from CardiacPlanningLib.measure.bifurcation import crotch_level
from CardiacPlanningLib.phantom.anatomy import mpa_length_truth


def _y_tubes(trunk_r: float, branch_r: float, angle_deg: float, length: float = 30.0) -> dict:
    """Trunk along +z from the valve at the origin to the branch point (0, 0, ``length``); two straight
    branches from the branch point at ``angle_deg`` from the axis, towards -x and +x."""
    z = np.linspace(0.0, length, 21)
    s = np.linspace(0.0, 45.0, 31)
    a = np.radians(angle_deg)
    tubes = {"pulmonary_trunk": (np.stack([0 * z, 0 * z, z], 1), np.full(21, trunk_r))}
    for name, sign in (("left_pulmonary_artery", 1.0), ("right_pulmonary_artery", -1.0)):
        pts = np.stack([sign * s * np.sin(a), 0 * s, length + s * np.cos(a)], 1)
        tubes[name] = (pts, np.full(31, branch_r))
    return tubes


@pytest.mark.parametrize("angle", [50.0, 70.0])
def test_crotch_of_equal_tubes(angle):
    # equal radii: the trunk's rounded end lies inside both branches, so the lumen above a section
    # parts where the two branch cylinders (radius 6 mm) stop overlapping: 6 / sin(angle) above the
    # branch point (the lowest point of the carina)
    truth = mpa_length_truth(_y_tubes(6.0, 6.0, angle), spacing_mm=0.25)
    assert truth["branch_point_distance_mm"] == pytest.approx(30.0)
    assert truth["axis"] == pytest.approx([0.0, 0.0, 1.0])
    assert truth["mpa_length_mm"] == pytest.approx(30.0 + 6.0 / np.sin(np.radians(angle)), abs=0.15)


def test_crotch_with_a_dome_between_the_branches():
    # a trunk wider than its branches (12 vs 6 mm, 70 deg): its rounded end (a sphere of 12 mm) joins
    # both branches; they part at the highest point where the dome still meets a branch. In the xz
    # plane that is the dome circle's crossing with the branch cylinder's inner edge: the line
    # below (from the two circles, not from the code)
    a = np.radians(70.0)
    truth = mpa_length_truth(_y_tubes(12.0, 6.0, 70.0), spacing_mm=0.25)
    # inner edge of the +x branch: points p with (p . n) = -6 where n = (cos a, 0, -sin a) is its
    # normal towards the axis side; on the dome circle |p| = 12 (p relative to the branch point):
    # p = 12 (sin phi, 0, cos phi) -> 12 (sin phi cos a - cos phi sin a) = -6 -> sin(phi - a) = -0.5
    phi = a - np.arcsin(0.5)
    assert truth["mpa_length_mm"] == pytest.approx(30.0 + 12.0 * np.cos(phi), abs=0.15)


def test_crotch_level_counts_only_pieces_that_lead_away():
    # a lumen that never divides has no crotch, even with a separate ball beside it (a piece that
    # leads nowhere, like a trunk's dome); a second tube leaving through the side makes a split
    def tube_and_ball(p):
        trunk = (np.hypot(p[:, 0], p[:, 1]) <= 5.0) & (p[:, 2] <= 60.0)
        return trunk | (np.linalg.norm(p - [0.0, 8.0, 30.0], axis=1) <= 2.0)

    def tube_and_side_branch(p):
        d = np.array([1.0, 0.0, 1.0]) / np.sqrt(2.0)  # from (0, 0, 30), 45 deg up towards +x
        q = p - [0.0, 0.0, 30.0]
        along = q @ d
        branch = (np.linalg.norm(q - along[:, None] * d, axis=1) <= 2.0) & (along >= 0.0)
        return (np.hypot(p[:, 0], p[:, 1]) <= 5.0) & (p[:, 2] <= 60.0) | branch

    axis = np.array([0.0, 0.0, 1.0])
    assert crotch_level(tube_and_ball, np.zeros(3), axis, 14.0, (5.0, 50.0)) is None  # ball: 6-10 mm out
    # the branch (radius 2 mm) leaves the trunk (radius 5 mm) at x = 5, where its upper edge is at
    # z = 30 + 5 + 2 / cos(45 deg): above that the two lead away apart
    level = crotch_level(tube_and_side_branch, np.zeros(3), axis, 10.0, (5.0, 50.0), spacing_mm=0.125)
    assert level == pytest.approx(35.0 + 2.0 * np.sqrt(2.0), abs=0.2)
