"""A focal lesion just past a marginal does not hand the circumflex's name to the marginal."""

from __future__ import annotations

import numpy as np
from test_coronary_naming_lcx import _left_tree

from CardiacPlanningLib.coronary.naming import _arc, name_left


def _narrowed(branch_radii, s, centre_mm, percent, length_mm=10.0):
    """The phantom's raised-cosine lesion: ``percent`` diameter reduction over ``length_mm``."""
    u = np.clip((s - centre_mm) / length_mm, -0.5, 0.5)
    return branch_radii * (1.0 - percent / 100.0 * 0.5 * (1.0 + np.cos(2.0 * np.pi * u)))


def test_a_60_percent_lesion_past_the_parting_keeps_the_wider_vessel_the_lcx():
    # the short vessel (radius 0.95 -> 0.85 mm) is the LCX; the lumens part 5.2 mm past the junction.
    # A 60 % lesion centred 7-12 mm past the junction (in the first 10 mm past the parting) makes its
    # mean radius there read below the marginal's (0.75 -> 0.6 mm)
    for centre in (7.0, 9.0, 12.0):
        branches, lcx_end, om2_end, om1_end = _left_tree()
        short = branches[3]
        short.radii = _narrowed(short.radii, _arc(short.points), centre, 60.0)
        names = {b.name: b for b in name_left(branches)}
        assert np.allclose(names["LCX"].points[-1], lcx_end), centre
        assert np.allclose(names["OM2"].points[-1], om2_end), centre
        assert np.allclose(names["OM1"].points[-1], om1_end)
    # a marginal wider than a narrowed short vessel stays the LCX
    branches, lcx_end, om2_end, _ = _left_tree(cont_r=(1.0, 0.85), side_r=(0.75, 0.6))
    short = branches[3]
    short.radii = _narrowed(short.radii, _arc(short.points), 9.0, 60.0)
    names = {b.name: b for b in name_left(branches)}
    assert np.allclose(names["LCX"].points[-1], om2_end)
    # a lesion on the traced continuation when it is the wider vessel (1.0 -> 0.85 mm) does not make
    # the narrower short vessel (0.75 -> 0.6 mm) the LCX either
    branches, lcx_end, om2_end, _ = _left_tree(cont_r=(1.0, 0.85), side_r=(0.75, 0.6))
    cont = branches[1]
    k = branches[3].parent_index
    s = _arc(cont.points)
    cont.radii = np.where(s >= s[k], _narrowed(cont.radii, s - s[k], 9.0, 60.0), cont.radii)
    names = {b.name: b for b in name_left(branches)}
    assert np.allclose(names["LCX"].points[-1], om2_end)
    assert np.allclose(names["OM2"].points[-1], lcx_end)
