"""Semi-automatic mode: labelled points or a seed label map are completed over the blood pool."""

from __future__ import annotations

import numpy as np
import pytest

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart import segment
from CardiacPlanningLib.heart.assign import PRIOR
from CardiacPlanningLib.heart.synthetic import toy_heart
from CardiacPlanningLib.markups import Markups, write_markups

KEYS = {lbl.LV_BLOOD_POOL: "lv_blood_pool", lbl.RV: "Right ventricle", lbl.LA: "la", lbl.RA: "5"}


@pytest.fixture(scope="module")
def toy():
    return toy_heart(spacing_mm=2.0, seed=5)


def dice(a, b) -> float:
    return 2.0 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)


def test_points_in_each_chamber_are_completed_to_the_chambers(toy, tmp_path):
    image, truth = toy
    names = list(KEYS.values()) + ["aorta", "pulmonary_artery-1"]
    points = [PRIOR[v] for v in KEYS] + [PRIOR[lbl.AORTA] + [0, 0, 25], np.array([30.0, -22.0, 50.0])]
    path = write_markups(
        Markups.from_points(np.array(points), names, "seeds"), tmp_path / "seeds.mrk.json", "RAS"
    )
    seg = segment(image, seeds=path)
    assert seg.metadata["engine"] == "seeded"
    for value in KEYS:
        assert dice(seg.array == value, truth.array == value) > 0.85, lbl.by_value(value).key
    for value in (lbl.AORTA, lbl.PULMONARY_ARTERY):
        assert dice(seg.array == value, truth.array == value) > 0.5, lbl.by_value(value).key
    # the right-heart scope keeps only right-heart structures of the completed seeds
    right = segment(image, seeds=path, scope="right")
    assert set(np.unique(right.array)) - {0} <= {lbl.RV, lbl.RA, lbl.PULMONARY_ARTERY, 17}


def test_a_seed_label_map_is_completed(toy):
    image, truth = toy
    seeds = np.zeros(truth.shape, np.uint8)
    for value in KEYS:
        idx = np.argwhere(truth.array == value)
        seeds[tuple(idx[len(idx) // 2])] = value  # one voxel per chamber
    seg = segment(image, seeds=truth.with_array(seeds))
    for value in KEYS:
        assert dice(seg.array == value, truth.array == value) > 0.8


def test_unknown_point_label_is_named(toy, tmp_path):
    image, _ = toy
    path = write_markups(
        Markups.from_points(np.zeros((1, 3)), ["ventricle?"], "seeds"), tmp_path / "s.mrk.json"
    )
    with pytest.raises(CardiacInputError, match="'ventricle\\?'"):
        segment(image, seeds=path)


def test_points_in_memory_give_the_same_seeds_as_the_file(toy, tmp_path):
    """The module's seed points reach the engine without a file (no temp file of case data)."""
    from CardiacPlanningLib.heart.seeded import load_seeds

    image, _ = toy
    markups = Markups.from_points(np.array([PRIOR[v] for v in KEYS]), list(KEYS.values()), "seeds")
    from_file = load_seeds(write_markups(markups, tmp_path / "seeds.mrk.json"), image)
    in_memory = load_seeds(markups, image)
    assert set(np.unique(in_memory.array)) == {0, *KEYS}
    assert np.array_equal(in_memory.array, from_file.array)
    outside = Markups.from_points(np.array([[900.0, 0.0, 0.0]]), ["lv"], "seeds")
    with pytest.raises(CardiacInputError, match="seed point 'lv' of seeds"):
        load_seeds(outside, image)
