"""Grouping a DICOM folder into cardiac phases: ordering, shuffled files, and clear errors."""

from __future__ import annotations

import random
import shutil

import numpy as np
import pydicom
import pytest

from CardiacPlanningLib.errors import DicomInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.imaging.dicom_write import write_dicom_series
from CardiacPlanningLib.imaging.phases import group_phases, read_phases

STUDY = pydicom.uid.generate_uid()
FRAME = pydicom.uid.generate_uid()


def _phase_volume(value: int, spacing=(0.8, 0.8, 2.0)) -> Volume:
    """A 5-slice volume whose voxels all equal ``value`` except a marker giving the slice index."""
    arr = np.full((5, 6, 7), value, dtype=np.int16)
    arr[:, 0, 0] = np.arange(5)
    return Volume(arr, spacing, (-30.0, -40.0, 100.0))


def _write(folder, value, number, **kw):
    return write_dicom_series(
        _phase_volume(value, kw.pop("spacing", (0.8, 0.8, 2.0))),
        folder,
        study_uid=STUDY,
        frame_of_reference_uid=FRAME,
        series_number=number,
        file_prefix=f"S{number}",
        **kw,
    )


def _scramble(src, dst, seed=0):
    """Copy every file of ``src`` (recursively) into ``dst`` under random names in random order."""
    files = sorted(p for p in src.rglob("*") if p.is_file())
    rng = random.Random(seed)
    rng.shuffle(files)
    dst.mkdir()
    for n, f in enumerate(files):
        shutil.copy(f, dst / f"{rng.getrandbits(40):010x}_{n}")
    return dst


def test_phases_by_nominal_percent_in_cycle_order_any_file_order(tmp_path):
    percents = [75, 0, 50, 25]  # written out of order, series numbers unrelated to the cycle
    for n, pct in enumerate(percents):
        _write(
            tmp_path / "src" / f"dir{n}", value=100 + pct, number=10 - n, nominal_cardiac_phase_percent=pct
        )
    flat = _scramble(tmp_path / "src", tmp_path / "flat")
    phases = group_phases(flat)
    assert [p.percent for p in phases] == [0, 25, 50, 75]
    assert [p.index for p in phases] == [0, 1, 2, 3]
    assert [p.label for p in phases] == ["0%", "25%", "50%", "75%"]
    assert all(len(p.files) == 5 for p in phases)
    # A shuffled explicit file list and the nested source folder give the same grouping.
    files = [f for f in flat.iterdir()]
    random.Random(9).shuffle(files)
    for other in (group_phases(files), group_phases(tmp_path / "src")):
        assert [(p.percent, p.series_uid) for p in other] == [(p.percent, p.series_uid) for p in phases]

    seen = []
    loaded = read_phases(flat, progress=lambda f, m: seen.append(f))
    assert [vol.array[0, 3, 3] for _, vol in loaded] == [100, 125, 150, 175]
    for _, vol in loaded:
        np.testing.assert_array_equal(vol.array[:, 0, 0], np.arange(5))  # slices sorted in space
    assert loaded[2][1].metadata["phase_percent"] == 50 and loaded[2][1].metadata["phase_index"] == 2
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_phases_by_trigger_time(tmp_path):
    for n, t in enumerate([600.0, 100.0, 350.0]):
        _write(tmp_path / f"p{n}", value=n, number=n + 1, trigger_time_ms=t)
    phases = group_phases(tmp_path)
    assert [p.trigger_time_ms for p in phases] == [100.0, 350.0, 600.0]
    assert [p.percent for p in phases] == [None, None, None]
    assert phases[0].label == "100 ms"


def test_phases_by_description_then_series_number(tmp_path):
    for n, desc in enumerate(["Cardiac 70% recon", "Cardiac 30% recon", "Cardiac 10 % recon"]):
        _write(tmp_path / "a" / f"p{n}", value=n, number=n + 1, series_description=desc)
    assert [p.percent for p in group_phases(tmp_path / "a")] == [10, 30, 70]
    for n, number in enumerate([7, 3, 5]):
        _write(tmp_path / "b" / f"p{n}", value=n, number=number, series_description="CTA")
    phases = group_phases(tmp_path / "b")
    assert [p.series_number for p in phases] == [3, 5, 7]
    assert phases[0].label == "series 3 CTA"


def test_all_phases_in_one_series_are_split(tmp_path):
    uid = pydicom.uid.generate_uid()
    for n, pct in enumerate([60, 20, 40]):
        _write(tmp_path, value=pct, number=n + 1, series_uid=uid, nominal_cardiac_phase_percent=pct)
    phases = group_phases(tmp_path)
    assert [p.percent for p in phases] == [20, 40, 60]
    assert {p.series_uid for p in phases} == {uid}
    vols = read_phases(tmp_path)
    assert [v.array[1, 2, 2] for _, v in vols] == [20, 40, 60]


def test_duplicate_phase_is_reported(tmp_path):
    _write(tmp_path / "a", value=1, number=3, nominal_cardiac_phase_percent=75, series_description="soft")
    _write(tmp_path / "b", value=2, number=5, nominal_cardiac_phase_percent=75, series_description="sharp")
    _write(tmp_path / "c", value=3, number=6, nominal_cardiac_phase_percent=35)
    with pytest.raises(DicomInputError, match="duplicate phase 75%") as e:
        group_phases(tmp_path)
    text = str(e.value)
    assert "'soft'" in text and "'sharp'" in text and "\n" not in text
    keep = [group_phases(tmp_path / d)[0].series_uid for d in ("a", "c")]
    assert [p.percent for p in group_phases(tmp_path, series_uids=keep)] == [35, 75]


def test_phases_of_different_geometry(tmp_path):
    _write(tmp_path / "a", value=1, number=1, nominal_cardiac_phase_percent=10)
    _write(tmp_path / "b", value=2, number=2, nominal_cardiac_phase_percent=40, spacing=(0.5, 0.5, 2.0))
    with pytest.raises(DicomInputError, match=r"phases of different geometry: pixel spacing .* 10% .* 40%"):
        group_phases(tmp_path)
    assert len(group_phases(tmp_path, require_same_geometry=False)) == 2


def test_single_phase(tmp_path):
    _write(tmp_path, value=1, number=1, nominal_cardiac_phase_percent=70)
    assert [p.percent for p in group_phases(tmp_path)] == [70]
    with pytest.raises(
        DicomInputError, match=r"only 1 cardiac phase\(s\) found \(70% .*\); at least 2 needed"
    ):
        group_phases(tmp_path, min_phases=2)


def test_localizer_and_non_ct_are_left_out(tmp_path):
    _write(tmp_path / "a", value=1, number=1, nominal_cardiac_phase_percent=40)
    _write(tmp_path / "b", value=2, number=2, nominal_cardiac_phase_percent=80)
    _write(tmp_path / "loc", value=0, number=9, extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    _write(tmp_path / "mr", value=0, number=8, extra={"Modality": "MR"})
    assert [p.percent for p in group_phases(tmp_path)] == [40, 80]
    with pytest.raises(DicomInputError, match="no CT images"):
        group_phases(tmp_path / "mr")
