"""The PDA is split from the traced RCA at the crux also where the tracer followed it only a short
way (coronary naming; version 9f)."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib.coronary.centerline import TracedBranch
from CardiacPlanningLib.coronary.naming import name_right

APEX = np.array([0.0, 0.0, -1.0])  # base-to-apex axis of the stand-in heart


def _leg(start, direction, length, step=0.5):
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    s = np.arange(step, length + 1e-9, step)
    return np.asarray(start, float) + s[:, None] * d


def _slope(horizontal, rise):
    """Unit direction running ``rise`` (cosine with the apex axis) apex-ward, the rest along
    ``horizontal``."""
    h = np.asarray(horizontal, float)
    h /= np.linalg.norm(h)
    return np.sqrt(1.0 - rise**2) * h + rise * APEX


def _traced_rca(tail):
    """A traced RCA: half a turn (radius 40 mm, 126 mm) round the AV groove; over its distal 40 % it
    climbs 3 mm towards the base to the crux (as on seed 101, where the distal RCA runs slightly
    basal-ward into the crux). ``tail``: legs (horizontal direction, apex cosine, mm) traced past the
    crux. Returns the branch and the crux index."""
    t = np.linspace(0.0, np.pi, 252)
    z = np.where(t > 0.6 * np.pi, -3.0 + 3.0 * (t - 0.6 * np.pi) / (0.4 * np.pi), -3.0)
    groove = np.stack([40.0 * np.cos(t), 40.0 * np.sin(t), z], axis=1)
    pts = [groove]
    for horizontal, rise, length in tail:
        pts.append(_leg(pts[-1][-1], _slope(horizontal, rise), length))
    points = np.vstack(pts)
    radii = np.concatenate(
        [np.linspace(1.8, 1.2, len(groove)), np.linspace(1.0, 0.85, len(points) - len(groove))]
    )
    return TracedBranch(points, radii, None, None), len(groove) - 1


def _named(rca):
    return {b.name: b for b in name_right([rca], APEX)}


def test_a_short_traced_pda_is_split_at_the_crux():
    # seed 101: the tracer stopped 20 mm into the PDA, whose first 8 mm curve out of the AV groove
    # (rising only 0.3 apex-ward) before running down the posterior groove
    out = np.array([-1.0, 0.0, 0.0])  # on past the crux, as the AV groove runs there
    rca, crux = _traced_rca([(out, 0.3, 8.0), (out, 0.8, 12.0)])
    named = _named(rca)
    assert {"RCA", "PDA"} <= set(named)
    assert np.linalg.norm(named["RCA"].points[-1] - rca.points[crux]) <= 1.5
    assert np.allclose(named["PDA"].points[-1], rca.points[-1])
    assert named["PDA"].parent == "RCA"


def test_no_pda_is_split_off_a_short_hook_or_a_level_continuation():
    out = np.array([-1.0, 0.0, 0.0])
    # a 6 mm apex-ward hook at the end (under the 10 mm a traced PDA needs)
    rca, _ = _traced_rca([(out, 0.3, 2.0), (out, 0.8, 6.0)])
    assert set(_named(rca)) == {"RCA"}
    # 20 mm on past the crux about level (a posterolateral continuation in the left AV groove)
    rca, _ = _traced_rca([(out, 0.1, 20.0)])
    assert set(_named(rca)) == {"RCA"}


def test_a_long_traced_pda_splits_as_before():
    out = np.array([-1.0, 0.0, 0.0])
    rca, crux = _traced_rca([(out, 0.3, 8.0), (out, 0.8, 50.0)])
    named = _named(rca)
    assert {"RCA", "PDA"} <= set(named)
    # at the crux or past it where the path starts running steeply apex-ward, never before the crux
    assert len(named["RCA"].points) - 1 >= crux - 2
    assert np.linalg.norm(named["RCA"].points[-1] - rca.points[crux]) <= 12.0
