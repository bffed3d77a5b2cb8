"""The circumflex is the vessel that goes on round the AV groove, not the wider marginal (naming)."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib.coronary.centerline import TracedBranch
from CardiacPlanningLib.coronary.naming import name_left

RING_R, RING_Z = 20.0, -8.0  # the AV groove: a ring round the long axis (the z axis, apex at -z)


def _line(start, direction, length, r0, r1, step=0.5):
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    s = np.arange(0.0, length + 1e-9, step)
    return np.asarray(start, float) + s[:, None] * d, r0 + (r1 - r0) * s / length


def _ring(phi0, length, r0, r1, step=0.5):
    """The ring from angle ``phi0`` (rad) on, round towards +y, ``length`` mm."""
    s = np.arange(0.0, length + 1e-9, step)
    phi = phi0 + s / RING_R
    pts = np.stack([RING_R * np.cos(phi), RING_R * np.sin(phi), np.full_like(phi, RING_Z)], axis=1)
    return pts, r0 + (r1 - r0) * s / length


def _marginal(phi, length, r0, r1, shallow=False):
    """A marginal leaving the ring at angle ``phi`` over the wall towards the apex (``shallow``: at
    30 degrees from the ring's tangent, mostly along it)."""
    start = np.array([RING_R * np.cos(phi), RING_R * np.sin(phi), RING_Z])
    radial = np.array([np.cos(phi), np.sin(phi), 0.0])
    tangent = np.array([-np.sin(phi), np.cos(phi), 0.0])
    if shallow:
        return _line(start, 0.5 * np.array([0, 0, -1.0]) + 0.87 * tangent, length, r0, r1)
    return _line(start, 0.8 * np.array([0, 0, -1.0]) + 0.5 * radial + 0.2 * tangent, length, r0, r1)


def _left_tree(traced_into_marginal: bool, marginal_r=(0.95, 0.75), distal_r=(0.7, 0.6), shallow=False):
    """LM from the ostium (on the axis) to the ring, LAD to the apex; the LCX 30 mm round the ring,
    OM1 at 12 mm, then OM2 (40 mm, ``marginal_r``) and the distal LCX (15 mm on round, ``distal_r``).
    The traced LCX path runs into OM2 (the farthest lumen) or on round the ring."""
    lm, lm_r = _line([0, 0, 0], [RING_R, 0, RING_Z], float(np.hypot(RING_R, RING_Z)), 2.2, 2.1)
    apex = np.array([0, 0, -100.0])
    lad, lad_r = _line(lm[-1], apex - lm[-1], float(np.linalg.norm(apex - lm[-1])), 1.8, 0.7)
    main = TracedBranch(np.vstack([lm, lad[1:]]), np.concatenate([lm_r, lad_r[1:]]), None, None)
    lcx, lcx_r = _ring(0.0, 30.0, 1.6, 1.0)
    phi_j = 30.0 / RING_R
    om2, om2_r = _marginal(phi_j, 40.0, *marginal_r, shallow=shallow)
    dist, dist_r = _ring(phi_j, 15.0, *distal_r)
    on, off = (om2, om2_r), (dist, dist_r)
    if not traced_into_marginal:
        on, off = off, on
    traced = TracedBranch(np.vstack([lcx, on[0][1:]]), np.concatenate([lcx_r, on[1][1:]]), 0, len(lm) - 1)
    k_om1 = 24
    om1, om1_r = _marginal(k_om1 * 0.5 / RING_R, 40.0, 0.9, 0.6)
    branches = [
        main,
        traced,
        TracedBranch(om1, om1_r, 1, k_om1),
        TracedBranch(off[0], off[1], 1, len(lcx) - 1),
    ]
    return branches, dist[-1], om2[-1], om1[-1]


def test_a_marginal_wider_than_the_distal_lcx_is_named_om_when_the_tracer_ran_into_it():
    branches, lcx_end, om2_end, om1_end = _left_tree(traced_into_marginal=True)
    named = {b.name: b for b in name_left(branches)}
    assert np.allclose(named["LCX"].points[-1], lcx_end)  # the calibre rule kept the marginal
    assert np.allclose(named["OM2"].points[-1], om2_end)
    assert named["OM2"].parent == "LCX"
    assert np.allclose(named["OM1"].points[-1], om1_end)
    assert np.linalg.norm(named["LAD"].points[-1] - [0, 0, -100.0]) < 0.5


def test_the_lcx_traced_round_the_groove_keeps_its_name_past_a_wider_marginal():
    branches, lcx_end, om2_end, _ = _left_tree(traced_into_marginal=False)
    named = {b.name: b for b in name_left(branches)}
    assert np.allclose(named["LCX"].points[-1], lcx_end)  # the calibre rule swapped it into OM2
    assert np.allclose(named["OM2"].points[-1], om2_end)


def test_without_a_groove_vessel_the_wider_daughter_still_continues():
    # both daughters leave the ring towards the apex (the LCX ending as two marginals): calibre decides
    branches, _, om2_end, _ = _left_tree(traced_into_marginal=True, marginal_r=(0.7, 0.6))
    k = branches[3].parent_index
    j = branches[1].points[k]
    phi = np.arctan2(j[1], j[0]) + 0.35
    other, other_r = _marginal(phi, 15.0, 0.95, 0.85)
    branches[3] = TracedBranch(np.vstack([j, other[1:]]), np.concatenate([[0.95], other_r[1:]]), 1, k)
    named = {b.name: b for b in name_left(branches)}
    assert np.allclose(named["LCX"].points[-1], other[-1])  # the wider one
    assert np.allclose(named["OM2"].points[-1], om2_end)


def test_a_thread_along_the_groove_does_not_take_the_name():
    # under half the marginal's calibre past the parting: a small (atrial / posterolateral) twig
    branches, _, om2_end, _ = _left_tree(traced_into_marginal=True, distal_r=(0.35, 0.3))
    named = {b.name: b for b in name_left(branches)}
    assert np.allclose(named["LCX"].points[-1], om2_end)


def test_a_lesion_just_before_the_junction_does_not_stop_the_swap():
    # seed 93 (regenerated): a 55 % LCX lesion ending at the junction lowered the parent's mean radius
    # 2-8 mm before it, so the true LCX past it read "wider than its parent" and never took over
    branches, lcx_end, om2_end, _ = _left_tree(
        traced_into_marginal=True, marginal_r=(0.75, 0.6), distal_r=(1.0, 0.9)
    )
    lcx = branches[1]
    k = branches[3].parent_index
    s = np.arange(len(lcx.points)) * 0.5 - k * 0.5  # mm from the junction
    narrowed = lcx.radii * np.where((s > -9.0) & (s < -1.0), 0.55, 1.0)
    branches[1] = TracedBranch(lcx.points, narrowed, lcx.parent, lcx.parent_index)
    named = {b.name: b for b in name_left(branches)}
    assert np.allclose(named["LCX"].points[-1], lcx_end)
    assert np.allclose(named["OM2"].points[-1], om2_end)


def test_a_marginal_leaving_at_a_shallow_angle_still_heads_for_the_apex():
    # seed 115: the marginal ran nearly as much along the groove's direction as the LCX; what told
    # them apart was the marginal heading for the apex (a ring tangent round the ostium-apex line,
    # the first version of the rule, read the marginal as the one going round)
    branches, lcx_end, om2_end, _ = _left_tree(traced_into_marginal=True, shallow=True)
    named = {b.name: b for b in name_left(branches)}
    assert np.allclose(named["LCX"].points[-1], lcx_end)
    assert np.allclose(named["OM2"].points[-1], om2_end)
