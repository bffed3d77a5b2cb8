"""A watershed piece holding both circulations' blood (the right pulmonary artery fused by partial
volume to the LA roof) is cut by enhancement before naming; chambers of streaming blood (the RA),
unnamed pieces and images without a left/right enhancement gap are left alone."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.heart.bloods import split_two_bloods
from CardiacPlanningLib.heart.regions import describe_pieces

SP = 1.5  # mm, the engine's working grid
LEFT_HU, RIGHT_HU = 440.0, 315.0


def _ball(shape, centre, radius_mm):
    zz, yy, xx = np.indices(shape)
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= (radius_mm / SP) ** 2


def _scene(piece_label: int, right_hu: float = RIGHT_HU):
    """LV (left blood), RV (right blood) and a third piece of two fused balls, one of each blood."""
    shape = (40, 40, 90)
    lv, rv = _ball(shape, (20, 20, 10), 12.0), _ball(shape, (20, 20, 30), 12.0)
    a, b = _ball(shape, (20, 20, 52), 10.0), _ball(shape, (20, 20, 64), 10.0)
    ids = np.zeros(shape, np.int32)
    ids[lv], ids[rv], ids[a | b] = 1, 2, 3
    image = np.full(shape, -50.0, np.float32)
    image[lv], image[a] = LEFT_HU, LEFT_HU
    image[rv], image[b & ~a] = right_hu, right_hu
    pool = ids > 0
    dist = ndi.distance_transform_edt(pool) * SP
    regions = describe_pieces(ids, pool, image, dist, SP, lambda ijk: ijk * SP)
    named = {1: lbl.LV_BLOOD_POOL, 2: lbl.RV}
    if piece_label:
        named[3] = piece_label
    return ids, regions, named, pool, image, a, b


def test_a_piece_of_two_bloods_is_cut_by_enhancement():
    ids, regions, named, pool, image, a, b = _scene(lbl.LA)
    out = split_two_bloods(ids, regions, named, pool, image, SP, lambda ijk: ijk * SP)
    assert out is not None
    new_ids, new_regions = out
    assert len(new_regions) == 4 and new_ids.max() == 4
    # the LV and RV pieces unchanged; each ball of the fused piece is one piece (the border between
    # them within a voxel of the balls' contact plane)
    assert np.array_equal(new_ids == 1, ids == 1) and np.array_equal(new_ids == 2, ids == 2)
    left_part, right_part = np.unique(new_ids[a & ~b]), np.unique(new_ids[b & ~a])
    assert len(left_part) == 1 and len(right_part) == 1 and left_part[0] != right_part[0]
    hu = {r.rid: r.core_hu for r in new_regions}
    assert abs(hu[int(left_part[0])] - LEFT_HU) < 5 and abs(hu[int(right_part[0])] - RIGHT_HU) < 5


def test_ra_unnamed_and_no_gap_are_left_alone():
    for label, right in ((lbl.RA, RIGHT_HU), (0, RIGHT_HU), (lbl.LA, 400.0)):  # 400 vs 440: gap < 20 %
        ids, regions, named, pool, image, _, _ = _scene(label, right)
        assert split_two_bloods(ids, regions, named, pool, image, SP, lambda ijk: ijk * SP) is None
