"""Disease presets on the synthetic heart: valve planes, sub-regions, calcium, coronary origins."""

from __future__ import annotations

import numpy as np
import pytest

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.heart import apply_scope, segment
from CardiacPlanningLib.heart.assign import PRIOR
from CardiacPlanningLib.heart.contrast import estimate_contrast
from CardiacPlanningLib.heart.presets import PRESET_LABELS, apply_preset
from CardiacPlanningLib.heart.synthetic import toy_heart

CALCIUM = lbl.value_of("calcium")


def centres(vol):
    zz, yy, xx = np.indices(vol.shape)
    return vol.index_to_lps(np.stack([xx, yy, zz], -1).reshape(-1, 3).astype(float)).reshape(vol.shape + (3,))


@pytest.fixture(scope="module")
def case():
    image, truth = toy_heart(spacing_mm=2.0, seed=7)
    pts = centres(image)
    lv, ao = PRIOR[lbl.LV_BLOOD_POOL], PRIOR[lbl.AORTA]
    axis_a = lv + 0.3 * (ao - lv)
    axis = (ao + [0, 0, 45]) - axis_a
    axis /= np.linalg.norm(axis)
    # a calcium nodule on the aortic wall 10 mm above the LV-aorta junction, a coronary calcium
    # nodule on the epicardium, and a large bone-like block that must not count as calcium
    lv_r = 0.78 * (3 * 120000 / (4 * np.pi)) ** (1 / 3)  # the toy LV: an ellipsoid (r, r, 1.15 r)
    exit_t = next(
        t
        for t in np.arange(0, 80, 0.25)
        if np.linalg.norm((axis_a + t * axis - lv) / [lv_r, lv_r, 1.15 * lv_r]) > 1
    )
    junction = axis_a + exit_t * axis
    side = np.cross(axis, [0, 0, 1.0])
    side /= np.linalg.norm(side)
    nodule = junction + 10 * axis + 10.5 * side
    epicardial = lv + np.array([0.0, 0.0, -41.0])
    arr = image.array.copy()
    for centre, radius in ((nodule, 2.5), (epicardial, 2.5)):
        arr[np.linalg.norm(pts - centre, axis=-1) <= radius] = 900
    bone = np.abs(pts - (lv + [0, -50, 0])).max(axis=-1) <= 9.0
    arr[bone] = 900
    image = image.with_array(arr)
    return image, truth, junction, axis, nodule, epicardial, bone


def test_valve_preset_carves_annulus_root_lvot_and_marks_leaflet_calcium(case):
    image, truth, junction, axis, nodule, _, bone = case
    # on the exact segmentation, so that only the preset's geometry is under test
    model = estimate_contrast(image.array.astype(np.float32), np.prod(image.spacing) / 1000)
    seg, marks, _ = apply_preset("valve", image, truth, {"contrast": model})
    assert np.linalg.norm(np.array(marks["aortic_annulus_centre"]) - junction) < 2.0
    assert np.dot(marks["aortic_valve_normal"], axis) > 0.85  # from the LV towards the aorta
    present = set(np.unique(seg.array))
    assert {19, 20, 21, 22, 23} <= present
    pts = centres(seg)
    h = (pts - np.array(marks["aortic_annulus_centre"])) @ np.array(marks["aortic_valve_normal"])
    assert (h[seg.array == 19] > 3.0).all() and (h[seg.array == 19] <= 22.0).all()
    assert (np.abs(h[seg.array == 20]) <= 3.0).all()
    assert (h[seg.array == 21] < -3.0).all() and (h[seg.array == 21] >= -15.0).all()
    near_nodule = np.linalg.norm(pts - nodule, axis=-1) <= 2.5
    assert (seg.array[near_nodule] == CALCIUM).mean() > 0.8
    assert not (seg.array[bone] == CALCIUM).any()
    # scopes: valve labels follow their side
    left = set(np.unique(segment(image, preset="valve", scope="left").array)) - {0}
    assert left == {1, 2, 4, 6, 19, 20, 21, 22, CALCIUM}


def test_coronary_preset_marks_epicardial_calcium_but_not_bone(case):
    image, truth, _, _, _, epicardial, bone = case
    seg = segment(image, preset="coronary")
    pts = centres(seg)
    near = np.linalg.norm(pts - epicardial, axis=-1) <= 2.5
    assert (seg.array[near] == CALCIUM).mean() > 0.8
    assert not (seg.array[bone] == CALCIUM).any()
    assert (seg.array == 19).sum() > 0 and (seg.array == lbl.LV_MYOCARDIUM).sum() > 0
    right = set(np.unique(apply_scope(seg.array, "right", PRESET_LABELS["right"]))) - {0}
    assert right == {3, 5, 7, 17, CALCIUM}
