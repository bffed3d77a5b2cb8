"""The phantom's circumflex runs in the left AV groove to its end; its marginals leave it towards the
apex (stand-in ellipsoid heart, Testing/phantom_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest
from phantom_fixtures import fixture_anatomy

from CardiacPlanningLib.phantom.coronary import build_coronary_tree
from CardiacPlanningLib.phantom.coronary_paths import HeartFrame


@pytest.fixture(scope="module")
def anatomy():
    return fixture_anatomy()


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_the_lcx_stays_in_the_av_groove_and_the_marginals_run_to_the_apex(anatomy, seed):
    # The distal LCX is the segment past the last obtuse marginal running along the posterolateral
    # AV groove (SCCT segment 13). The phantom's LCX once turned down the lateral wall past the obtuse
    # margin and ended 33-49 mm apex-ward of the groove on these seeds, beside OM2.
    frame = HeartFrame.from_anatomy(anatomy)
    tree = build_coronary_tree(anatomy, seed)
    lcx = tree.branch("LCX")
    h = frame.height_of(lcx.points) - frame.h_av
    assert np.all(np.abs(h) < 10.0), (h.min(), h.max())
    crux = frame.angle(tree.branch("RCA").points)[-1] + 2 * np.pi
    assert frame.angle(lcx.points)[-1] <= crux - np.deg2rad(14.9)  # it ends before the crux
    for name in ("OM1", "OM2"):
        om = tree.branch(name)
        assert om.parent == "LCX"
        assert frame.height_of(om.points[-1:])[0] - frame.h_av > h[-1] + 25.0


def test_the_lcx_divides_at_its_last_marginal_by_murrays_law_either_daughter_the_wider(anatomy):
    # r_parent^3 = r_om^3 + r_lcx^3 at OM2's take-off (the distal LCX's share reached 4 mm past it,
    # its own taper divided out); before, OM2 started at <= 0.85 x an LCX that ran on unchanged.
    wider = []
    for seed in range(1, 9):
        tree = build_coronary_tree(anatomy, seed)
        lcx, om2 = tree.branch("LCX"), tree.branch("OM2")
        k = om2.parent_index
        s = lcx.arc_length
        j = int(np.searchsorted(s, s[k] + 4.0))
        taper = np.log(lcx.radii[-1] / lcx.radii[j]) / (s[-1] - s[j])  # its own (exponential) taper
        r_p = lcx.radii[k]
        r_cont = lcx.radii[j] / np.exp(taper * (s[j] - s[k]))
        assert abs(om2.radii[0] ** 3 + r_cont**3 - r_p**3) < 0.03 * r_p**3, seed
        assert om2.radii[0] < r_p
        wider.append(om2.radii[0] > lcx.radii[j])
    assert any(wider) and not all(wider)
