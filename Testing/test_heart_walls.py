"""Heart classical engine parts on shapes with known answers: the image-driven LV wall (bounded by fat,
cut at the heart's own thickness where it runs into the liver) and the pulmonary valve plane."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.heart.myocardium import MAX_WALL_MM, lv_myocardium, outer_level
from CardiacPlanningLib.heart.valves import move_valve_plane

BLOOD, MUSCLE, FAT, LIVER = 450.0, 105.0, -100.0, 80.0


def _ventricle(liver: bool):
    """1 mm grid: LV blood ball r <= 15 mm, wall 15 < r <= 25 mm in fat; optionally liver (80 HU)
    filling everything below z = centre - 18 mm outside the blood."""
    n = 72
    zz, yy, xx = np.indices((n, n, n))
    c = n // 2
    r = np.sqrt((zz - c) ** 2 + (yy - c) ** 2 + (xx - c) ** 2)
    image = np.full((n, n, n), FAT, np.float32)
    image[r <= 25] = MUSCLE
    below = zz < c - 18
    if liver:
        image[below & (r > 15)] = LIVER
    image[r <= 15] = BLOOD
    seg = np.zeros((n, n, n), np.uint8)
    seg[r <= 15] = lbl.LV_BLOOD_POOL
    return image, seg, r, below


def test_lv_wall_follows_the_muscle_band_to_the_fat():
    image, seg, r, _ = _ventricle(liver=False)
    wall = lv_myocardium(seg, image, 250.0, 1.0, MUSCLE)
    true_wall = (r > 15) & (r <= 25)
    assert wall[true_wall].mean() > 0.99
    assert not wall[r > 25.01].any()
    assert not wall[seg > 0].any()


def test_lv_wall_stops_at_its_own_thickness_where_it_meets_the_liver():
    image, seg, r, below = _ventricle(liver=True)
    wall = lv_myocardium(seg, image, 250.0, 1.0, MUSCLE)
    # above the liver: the whole 10 mm wall, nothing in the fat
    assert wall[(r > 15) & (r <= 25) & ~below].mean() > 0.99
    assert not wall[(r > 25.01) & ~below].any()
    # into the liver the band does not end: the wall is cut near the fat-bounded 10 mm, not at
    # the 15 mm maximum
    liver_side = below & (r > 15)
    assert wall[liver_side & (r <= 24)].mean() > 0.95
    assert not wall[liver_side & (r > 15 + 10 + 1.5)].any()
    assert (liver_side & (r > 15 + 10 + 1.5) & (r <= 15 + MAX_WALL_MM)).any()


def test_lv_wall_stops_at_its_own_thickness_where_the_scan_ends():
    # the apex rests on the diaphragm at the lowest slices: the scan starts 14 mm below the blood,
    # inside the liver, so the band there reaches the edge before it could run past the maximum
    image, seg, r, below = _ventricle(liver=True)
    start = 72 // 2 - 15 - 14
    image, seg, r, below = image[start:], seg[start:], r[start:], below[start:]
    wall = lv_myocardium(seg, image, 250.0, 1.0, MUSCLE)
    assert wall[(r > 15) & (r <= 25) & ~below].mean() > 0.99
    liver_side = below & (r > 15)
    assert wall[liver_side & (r <= 24)].mean() > 0.95
    # cut near the fat-bounded 10 mm, not carried to the edge of the scan
    assert (liver_side & (r > 15 + 10 + 1.5)).any()
    assert not wall[liver_side & (r > 15 + 10 + 1.5)].any()


def test_outer_level_is_half_way_between_muscle_and_fat():
    assert outer_level(100.0) == 0.0
    assert outer_level(300.0) == 20.0  # clamped
    assert outer_level(None) == -30.0


def _outflow(sleeve_mm: float):
    """1 mm grid: an RV block (z < 20) and a pulmonary tube of radius 8 mm from z = 20 to 69; the
    tube's first ``sleeve_mm`` are wrapped in 4 mm of muscle (the infundibulum), the rest in fat."""
    shape = (80, 50, 50)
    zz, yy, xx = np.indices(shape)
    radial = np.sqrt((yy - 25) ** 2 + (xx - 25) ** 2)
    seg = np.zeros(shape, np.uint8)
    seg[(zz >= 4) & (zz < 20) & (radial <= 18)] = lbl.RV
    seg[(zz >= 20) & (zz < 70) & (radial <= 8)] = lbl.PULMONARY_ARTERY
    band = (zz >= 20) & (zz < 20 + sleeve_mm) & (radial > 8) & (radial <= 12)
    band |= (zz >= 20) & (zz < 24) & (radial > 8) & (radial <= 22)  # RV free wall at the top
    return seg, band, zz, radial


def test_pulmonary_valve_moves_to_the_top_of_the_muscular_sleeve():
    seg, band, zz, radial = _outflow(12.0)
    tube = (radial <= 8) & (zz >= 20) & (zz < 70)
    moved = move_valve_plane(seg, band, lbl.RV, lbl.PULMONARY_ARTERY, 1.0)
    assert moved == int((tube & (zz < 32)).sum())
    assert (seg[tube & (zz < 32)] == lbl.RV).all()
    assert (seg[tube & (zz >= 32)] == lbl.PULMONARY_ARTERY).all()


def test_no_sleeve_leaves_the_valve_where_it_is():
    seg, band, zz, radial = _outflow(0.0)
    before = seg.copy()
    assert move_valve_plane(seg, band & (zz >= 24), lbl.RV, lbl.PULMONARY_ARTERY, 1.0) == 0
    np.testing.assert_array_equal(seg, before)


def _atrium(jet: bool):
    """1 mm grid: an RA ball (r 20 mm, 300 HU) with a 6 mm-radius tube of 420 HU (undiluted caval
    inflow) running up from its roof; optionally a bright jet (420 HU, r 5 mm) at the RA centre."""
    shape = (90, 60, 60)
    zz, yy, xx = np.indices(shape)
    ball = (zz - 35) ** 2 + (yy - 30) ** 2 + (xx - 30) ** 2 <= 20**2
    tube = ((yy - 30) ** 2 + (xx - 30) ** 2 <= 6**2) & (zz >= 35) & (zz < 85)
    image = np.full(shape, FAT, np.float32)
    image[ball] = 300.0
    image[tube & ~ball] = 420.0
    if jet:
        image[(zz - 35) ** 2 + (yy - 30) ** 2 + (xx - 30) ** 2 <= 5**2] = 420.0
    seg = np.zeros(shape, np.uint8)
    seg[ball | tube] = lbl.RA
    return image, seg, zz, tube, ball


def _to_lps(ijk: np.ndarray) -> np.ndarray:
    return np.asarray(ijk, float)  # 1 mm, identity axes: z index = superior mm


def test_bright_caval_inflow_at_the_roof_becomes_svc_and_a_central_jet_does_not():
    from CardiacPlanningLib.heart.circulation import split_caval_inflow

    image, seg, zz, tube, ball = _atrium(jet=True)
    moved = split_caval_inflow(seg, image, 1.0, _to_lps)
    svc = seg == lbl.value_of("superior_vena_cava")
    assert moved == int(svc.sum()) > 0
    # the bright tube above the ball's roof is SVC, the atrium below its centre and the jet stay RA
    assert svc[tube & (zz >= 58)].mean() > 0.95
    assert not svc[zz <= 45].any()
    assert (seg[ball & (zz <= 45)] == lbl.RA).all()


def _side_by_side(parts):
    """Boxes of (x range, label, HU) in a row inside fat, 1 mm voxels: (seg, image, cube, xx)."""
    shape = (40, 40, 100)
    zz, yy, xx = np.indices(shape)
    image = np.full(shape, FAT, np.float32)
    seg = np.zeros(shape, np.uint8)
    cube = (zz >= 8) & (zz < 32) & (yy >= 8) & (yy < 32)
    for (x0, x1), label, hu in parts:
        box = cube & (xx >= x0) & (xx < x1)
        seg[box], image[box] = label, hu
    return seg, image, cube, xx


def test_left_heart_blood_in_a_pulmonary_piece_touching_the_aorta_goes_back_to_the_aorta():
    from CardiacPlanningLib.heart.circulation import reclaim_aorta

    seg, image, cube, xx = _side_by_side(
        [  # (x range, label, HU): LV, RV, aorta, a PA piece whose left half is aortic blood
            ((2, 22), lbl.LV_BLOOD_POOL, 450.0),
            ((24, 44), lbl.RV, 300.0),
            ((46, 60), lbl.AORTA, 450.0),
            ((60, 74), lbl.PULMONARY_ARTERY, 450.0),
            ((74, 96), lbl.PULMONARY_ARTERY, 300.0),
        ]
    )
    before = seg.copy()
    moved = reclaim_aorta(seg, image, 1.0)
    aortic = cube & (xx >= 60) & (xx < 74)
    assert moved == int((seg != before).sum()) > 0
    assert (seg[aortic & (xx >= 62) & (xx < 72)] == lbl.AORTA).all()
    assert (seg[cube & (xx >= 76) & (xx < 96)] == lbl.PULMONARY_ARTERY).all()
    # the same piece without a gap between the circulations stays
    image[seg > 0] = 400.0
    seg2 = before.copy()
    assert reclaim_aorta(seg2, image, 1.0) == 0


def test_unnamed_right_heart_branch_next_to_the_pulmonary_artery_is_adopted():
    from CardiacPlanningLib.heart.circulation import adopt_pulmonary_branches

    seg, image, cube, xx = _side_by_side(
        [
            ((2, 22), lbl.LV_BLOOD_POOL, 450.0),
            ((24, 44), lbl.RV, 300.0),
            ((46, 66), lbl.PULMONARY_ARTERY, 300.0),
            ((66, 80), 0, 310.0),  # an unnamed branch enhanced like the right heart
            ((82, 96), 0, 450.0),  # a separate unnamed piece, not touching the artery
        ]
    )
    pool = image > 200
    named = adopt_pulmonary_branches(seg, pool, image, 1.0)
    branch = cube & (xx >= 66) & (xx < 80)
    assert named == int(branch.sum())
    assert (seg[branch] == lbl.PULMONARY_ARTERY).all()
    assert (seg[cube & (xx >= 82) & (xx < 96)] == 0).all()
    # a left-heart-enhanced piece touching the artery is not adopted
    seg[branch], image[branch] = 0, 450.0
    assert adopt_pulmonary_branches(seg, pool, image, 1.0) == 0


def test_left_heart_blood_fused_into_the_pulmonary_artery_next_to_the_la_is_a_pulmonary_vein():
    from CardiacPlanningLib.heart.circulation import release_pulmonary_veins

    seg, image, cube, xx = _side_by_side(
        [  # LV, RV, a PA piece holding a vein (x 70-80, left-heart blood) that opens onto the LA
            ((2, 22), lbl.LV_BLOOD_POOL, 450.0),
            ((24, 44), lbl.RV, 300.0),
            ((46, 70), lbl.PULMONARY_ARTERY, 300.0),
            ((70, 80), lbl.PULMONARY_ARTERY, 450.0),
            ((80, 96), lbl.LA, 450.0),
        ]
    )
    # the vein's partial-volume border with the artery: brighter than the artery, below the midpoint
    image[cube & (xx == 69)] = 350.0
    before = seg.copy()
    moved = release_pulmonary_veins(seg, image, 1.0)
    vein = cube & (xx >= 70) & (xx < 80)
    assert moved == int((seg != before).sum()) > 0
    assert (seg[vein] == lbl.value_of("pulmonary_veins")).all()
    assert (seg[cube & (xx >= 46) & (xx < 67)] == lbl.PULMONARY_ARTERY).all()
    assert (seg[cube & (xx >= 80) & (xx < 96)] == lbl.LA).all()
    # without the LA/vein next to it the bright part is left alone (e.g. the SVC's inflow)
    seg2 = before.copy()
    seg2[seg2 == lbl.LA] = 0
    assert release_pulmonary_veins(seg2, image, 1.0) == 0
    # when the right heart is the brighter one, nothing is moved
    image3 = np.where(seg == lbl.RV, 600.0, image).astype(np.float32)
    seg3 = before.copy()
    assert release_pulmonary_veins(seg3, image3, 1.0) == 0
