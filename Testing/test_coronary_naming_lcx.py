"""The circumflex keeps its name past an obtuse marginal that outlasts it (coronary naming)."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib.coronary.centerline import TracedBranch
from CardiacPlanningLib.coronary.naming import follow_wider, name_left


def _line(start, direction, length, r0, r1, step=0.5):
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    s = np.arange(0.0, length + 1e-9, step)
    return np.asarray(start, float) + s[:, None] * d, r0 + (r1 - r0) * s / length


def _left_tree(cont_r=(0.75, 0.6), side_r=(0.95, 0.85), om1_r=(0.95, 0.7)):
    """A traced left tree as the tracer leaves it: path 0 = LM (10 mm, +x) + LAD (anterior, -y,
    120 mm); the LCX (posterior, +y) from the LM end with OM1 at 20 mm; at 45 mm the traced LCX runs
    on into a 40 mm marginal of radius ``cont_r`` while the 20 mm vessel of radius ``side_r``
    leaving the same point at 30 degrees is traced as its side branch. The two leave 15 degrees to
    either side of the LCX's course, alike towards the apex (the LAD's end): neither stays in the
    groove, so the calibres decide (before the groove rule of 2026-11-29 they parted up / down)."""
    lm, lm_r = _line([0, 0, 0], [1, 0, 0], 10.0, 2.2, 2.1)
    lad, lad_r = _line(lm[-1], [0.3, -1, -0.6], 120.0, 1.8, 0.7)
    main = TracedBranch(np.vstack([lm, lad[1:]]), np.concatenate([lm_r, lad_r[1:]]), None, None)
    k_lm = len(lm) - 1
    lcx, lcx_r = _line(lm[-1], [0.2, 1, 0], 45.0, 1.6, 1.1)
    turn = np.array([0.2, 1, 0]) / np.linalg.norm([0.2, 1, 0])
    axis = lad[-1] - lm[0]
    down = np.cross(turn, axis) / np.linalg.norm(np.cross(turn, axis))  # sideways, level with the apex
    a, b = np.deg2rad(15.0), np.deg2rad(-15.0)
    om2, om2_r = _line(lcx[-1], np.cos(a) * turn + np.sin(a) * down, 40.0, *cont_r)
    dist, dist_r = _line(lcx[-1], np.cos(b) * turn + np.sin(b) * down, 20.0, *side_r)
    traced_lcx = TracedBranch(np.vstack([lcx, om2[1:]]), np.concatenate([lcx_r, om2_r[1:]]), 0, k_lm)
    k_om2 = len(lcx) - 1
    k_om1 = int(round(20.0 / 0.5))
    om1, om1_r = _line(lcx[k_om1], [0.5, 0.3, -1], 40.0, *om1_r)
    branches = [
        main,
        traced_lcx,
        TracedBranch(om1, om1_r, 1, k_om1),
        TracedBranch(dist, dist_r, 1, k_om2),
    ]
    return branches, dist[-1], om2[-1], om1[-1]


def _named(branches):
    return {b.name: b for b in name_left(branches)}


def test_the_wider_vessel_past_a_marginal_is_named_lcx():
    branches, lcx_end, om2_end, om1_end = _left_tree()
    named = _named(branches)
    assert set(named) >= {"LM", "LAD", "LCX", "OM1", "OM2"}
    assert np.allclose(named["LCX"].points[-1], lcx_end)  # the traced path ended in the marginal
    assert np.allclose(named["OM2"].points[-1], om2_end)
    assert named["OM2"].parent == "LCX"
    lcx = named["LCX"]
    assert np.allclose(lcx.points[named["OM2"].parent_index], named["OM2"].points[0])
    assert np.allclose(named["OM1"].points[-1], om1_end)
    # the marginal wider than the short vessel: the traced path is right and stays
    branches, lcx_end, om2_end, _ = _left_tree(cont_r=(1.0, 0.85), side_r=(0.75, 0.6))
    named = _named(branches)
    assert np.allclose(named["LCX"].points[-1], om2_end)
    assert np.allclose(named["OM2"].points[-1], lcx_end)
    # a tie keeps the traced path too
    branches, lcx_end, om2_end, _ = _left_tree(cont_r=(0.9, 0.8), side_r=(0.9, 0.8))
    named = _named(branches)
    assert np.allclose(named["LCX"].points[-1], om2_end)
    # and so does a "side branch" wider than the vessel before the junction (1.1 mm there): no daughter
    branches, lcx_end, om2_end, _ = _left_tree(side_r=(1.45, 1.4))
    named = _named(branches)
    assert np.allclose(named["LCX"].points[-1], om2_end)


def test_follow_wider_moves_the_later_side_branches_with_their_vessel():
    branches, lcx_end, om2_end, _ = _left_tree()
    lcx, k = branches[1], branches[3].parent_index
    # a small branch on the traced marginal (12 mm past the junction) and one on the short vessel (8 mm)
    on_marginal, r1 = _line(lcx.points[k + 24], [1, 0, 0], 12.0, 0.6, 0.5)
    on_short, r2 = _line(branches[3].points[16], [-1, 0, 0], 12.0, 0.6, 0.5)
    branches += [TracedBranch(on_marginal, r1, 1, k + 24), TracedBranch(on_short, r2, 3, 16)]
    follow_wider(branches, 1)
    assert np.allclose(branches[1].points[-1], lcx_end) and np.allclose(branches[3].points[-1], om2_end)
    # the marginal, now the side branch, starts where the two lumens part (walls 1 mm apart: 5.2 mm
    # from the junction at 30 degrees, radii 0.95 + 0.75 mm), on the LCX's point nearest there
    side = branches[3]
    assert side.parent == 1 and side.parent_index > k
    assert np.allclose(side.points[0], branches[1].points[side.parent_index])
    assert 5.0 <= np.linalg.norm(side.points[1] - lcx.points[k]) <= 6.5
    assert (
        np.linalg.norm(branches[1].points[side.parent_index] - side.points[1]) < 3.5
    )  # radii + gap + a step
    assert branches[4].parent == 3 and np.allclose(
        branches[3].points[branches[4].parent_index], on_marginal[0]
    )
    assert branches[5].parent == 1 and np.allclose(branches[1].points[branches[5].parent_index], on_short[0])
    assert branches[2].parent == 1 and branches[2].parent_index == int(round(20.0 / 0.5))  # OM1 untouched
