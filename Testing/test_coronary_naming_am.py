"""The acute marginal is named by where it leaves the RCA, where it runs and its size (coronary naming)."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib.coronary.centerline import TracedBranch
from CardiacPlanningLib.coronary.naming import name_right

APEX = np.array([0.0, 0.0, -1.0])  # base-to-apex axis of the stand-in heart


def _line(start, direction, length, r0, r1, step=0.5):
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    s = np.arange(0.0, length + 1e-9, step)
    return np.asarray(start, float) + s[:, None] * d, r0 + (r1 - r0) * s / length


def _rca():
    """RCA: half a turn (radius 40 mm, 126 mm) round the AV groove in the base plane z = 0 to the
    crux, then the PDA 50 mm down towards the apex; radii 1.8 -> 1.3 -> 0.8 mm."""
    t = np.linspace(0.0, np.pi, 252)
    groove = np.stack([40.0 * np.cos(t), 40.0 * np.sin(t), np.zeros_like(t)], axis=1)
    pda, _ = _line(groove[-1], APEX, 50.0, 1.0, 0.8)
    points = np.vstack([groove, pda[1:]])
    radii = np.concatenate([np.linspace(1.8, 1.3, len(groove)), np.linspace(1.2, 0.8, len(pda) - 1)])
    return TracedBranch(points, radii, None, None), t


def _side(rca, t, frac, direction, length, r0, r1):
    k = int(round(frac * (len(t) - 1)))
    p, r = _line(rca.points[k], direction, length, r0, r1)
    return TracedBranch(p, r, 0, k), k


def _outward(rca, k):
    return rca.points[k] / np.linalg.norm(rca.points[k])


def _tree(am_frac=0.55, am_len=9.0, with_am=True):
    """The RCA with: a wide proximal spur running 20 mm beside it (its own lumen the RCA's, as the
    tracer leaves at a bulge), a 14 mm branch near the crux running back up over the atrium, and,
    if ``with_am``, the acute marginal leaving at ``am_frac`` of the way to the crux towards the
    apex over the RV free wall (``am_len`` mm, radius 0.9 -> 0.8 mm)."""
    rca, t = _rca()
    k = int(round(0.15 * (len(t) - 1)))
    tangent = rca.points[k + 1] - rca.points[k]
    spur, _ = _line(rca.points[k] + 1.5 * _outward(rca, k), tangent, 20.0, 1.6, 1.5)
    branches = [
        rca,
        TracedBranch(np.vstack([rca.points[k], spur]), np.r_[1.7, np.linspace(1.6, 1.5, len(spur))], 0, k),
    ]
    kc = int(round(0.93 * (len(t) - 1)))
    back = -(rca.points[kc + 1] - rca.points[kc]) + 0.5 * _outward(rca, kc) + 0.4 * np.array([0, 0, 1.0])
    branches.append(_side(rca, t, 0.93, back, 14.0, 0.9, 0.8)[0])
    am_end = None
    if with_am:
        ka = int(round(am_frac * (len(t) - 1)))
        am, _ = _side(rca, t, am_frac, 0.5 * _outward(rca, ka) + APEX, am_len, 0.9, 0.8)
        branches.append(am)
        am_end = am.points[-1]
    return branches, am_end


def _named(branches):
    return {b.name: b for b in name_right(branches, APEX)}


def test_the_acute_marginal_is_the_apex_ward_mid_rca_branch_not_the_longest():
    branches, am_end = _tree()
    named = _named(branches)
    assert {"RCA", "PDA", "AM"} <= set(named)
    assert np.allclose(named["AM"].points[-1], am_end)  # 9 mm: shorter than both spurs
    assert named["AM"].parent == "RCA"
    # a longer acute marginal too
    branches, am_end = _tree(am_len=30.0)
    assert np.allclose(_named(branches)["AM"].points[-1], am_end)


def test_no_spur_is_named_acute_marginal():
    branches, _ = _tree(with_am=False)
    named = _named(branches)
    assert "AM" not in named
    assert {"RCA", "PDA"} <= set(named)
    # too short or too thin an apex-ward branch is no acute marginal either
    for length, r in ((4.0, 0.9), (12.0, 0.35)):
        branches, _ = _tree(with_am=False)
        ka = int(round(0.55 * 251))
        rca = branches[0]
        p, rr = _line(rca.points[ka], 0.5 * _outward(rca, ka) + APEX, length, r, r)
        branches.append(TracedBranch(p, rr, 0, ka))
        assert "AM" not in _named(branches)


def test_an_acute_marginal_outside_the_mid_segment_is_taken_when_there_is_no_other():
    branches, am_end = _tree(am_frac=0.2, am_len=15.0)
    assert np.allclose(_named(branches)["AM"].points[-1], am_end)
