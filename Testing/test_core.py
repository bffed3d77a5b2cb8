"""Tests of the label table, the progress callback and the Volume geometry."""

from __future__ import annotations

import numpy as np
import pytest

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError, OperationCancelled
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.progress import Progress


def test_label_table_fixed_values():
    expected = {
        1: "lv_blood_pool", 2: "lv_myocardium", 3: "rv", 4: "la", 5: "ra",
        6: "aorta", 7: "pulmonary_artery", 8: "left_coronary", 9: "right_coronary",
    }  # fmt: skip
    for value, key in expected.items():
        assert labels.by_value(value).key == key
        assert labels.value_of(key) == value
    extra = [lab for lab in labels.label_table() if lab.value >= 10]
    assert {"la_appendage", "calcium", "coronary_stent", "valve_frame"} <= {lab.key for lab in extra}
    for lab in labels.label_table():
        assert lab.sct.isdigit() and all(0 <= c <= 255 for c in lab.color)
    with pytest.raises(KeyError, match="99"):
        labels.by_value(99)


def test_progress_subranges_and_cancel():
    seen = []
    p = Progress(lambda f, m: seen.append((round(f, 3), m)))
    p.sub(0.5, 1.0)(0.5, "half of second half")
    assert seen == [(0.75, "half of second half")]
    stop = Progress(cancelled=lambda: True)
    with pytest.raises(OperationCancelled):
        stop(0.1, "x")


def _oblique_volume() -> Volume:
    rng = np.random.default_rng(0)
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    return Volume(rng.normal(size=(4, 5, 6)).astype(np.float32), (0.7, 0.8, 1.25), (-10, 20, 30), direction)


def test_index_lps_round_trip_and_contains():
    vol = _oblique_volume()
    ijk = np.array([[0, 0, 0], [5, 4, 3], [2.5, 1, 0.5]])
    lps = vol.index_to_lps(ijk)
    np.testing.assert_allclose(lps[0], vol.origin)
    np.testing.assert_allclose(vol.lps_to_index(lps), ijk, atol=1e-9)
    assert vol.contains(lps).all()
    far = lps[1] + 100
    assert not vol.contains(far)
    with pytest.raises(CardiacInputError, match="outside the image"):
        vol.require_inside(far, "LCA ostium")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_volume_file_round_trip(tmp_path, suffix):
    vol = _oblique_volume()
    path = vol.write(tmp_path / f"v{suffix}")
    back = Volume.read(path)
    np.testing.assert_array_equal(back.array, vol.array)
    assert back.same_geometry(vol, tol=1e-5)


def test_volume_read_errors_name_the_file(tmp_path):
    with pytest.raises(CardiacInputError, match="no such file"):
        Volume.read(tmp_path / "missing.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not an image")
    with pytest.raises(CardiacInputError, match="bad.nii.gz"):
        Volume.read(bad)
