"""4D import and propagation on a small phantom case written as DICOM (one series per phase)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.metrics import surface_distances
from CardiacPlanningLib.motion.phase_io import open_phases, series_from_files
from CardiacPlanningLib.motion.propagate import propagate_labels
from CardiacPlanningLib.motion.register import RegistrationSettings

phantom = pytest.importorskip("CardiacPlanningLib.phantom.generate")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    params = phantom.PhantomParameters(seed=7, phases=4, spacing_mm=3.0, size=(48, 48, 40), noise_hu=10)
    return phantom.generate_case(params, out)["files"]["phases"]


def test_phantom_dicom_phases_in_shuffled_order(case, tmp_path):
    files = [f for p in case for f in sorted(Path(p["dicom"]).iterdir())]
    random.Random(3).shuffle(files)
    flat = tmp_path / "flat"
    flat.mkdir()
    for n, f in enumerate(files):
        shutil.copy(f, flat / f"x{random.Random(n).getrandbits(24):06x}_{n}")
    series = open_phases(flat)
    assert series.percents == [0, 25, 50, 75]
    for entry, p in zip(series, case):
        assert np.array_equal(entry.load().array, Volume.read(p["ct"]).array)
    shutil.rmtree(flat)
    flat.mkdir()
    for p in (case[0], case[1], case[3]):
        shutil.copytree(p["dicom"], flat / Path(p["dicom"]).name)
    with pytest.raises(CardiacInputError, match="50% missing"):
        open_phases(flat)


def test_phantom_propagation_moves_labels_towards_truth(case, tmp_path):
    series = series_from_files([p["ct"] for p in case], [p["percent"] for p in case])
    truth = [Volume.read(p["labels"]) for p in case]
    ref = truth[0].with_array(np.where(np.isin(truth[0].array, (1, 2, 4, 6)), truth[0].array, 0))
    result = propagate_labels(series, 0, ref, tmp_path, settings=RegistrationSettings(spacing_mm=3.0))
    for p in (1, 2):
        got = Volume.read(result.label_files[p]).array
        for v in (1, 4, 6):
            before = surface_distances(truth[0].array == v, truth[p].array == v, truth[0].spacing)
            after = surface_distances(got == v, truth[p].array == v, truth[0].spacing)
            assert after.mean_mm < 0.5 * 3.0, (p, v, after.as_dict())
            assert after.mean_mm <= before.mean_mm + 0.05, (p, v, before.as_dict(), after.as_dict())
