"""Opening 4D cardiac CT studies: DICOM phases in shuffled file order, folders of phase volumes, a
Slicer .seq.nrrd, the import command, and the clear errors for missing/duplicate/mismatched phases."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.imaging.dicom_write import write_dicom_series
from CardiacPlanningLib.motion.phase_io import open_phases

SPACING = (0.8, 0.8, 2.0)
ORIGIN = (-30.0, -40.0, 100.0)


def _phase(value: int, shape=(4, 5, 6), spacing=SPACING) -> Volume:
    """A small volume whose voxels equal ``value`` except a marker [k, 0, 0] = k (slice order)."""
    arr = np.full(shape, value, dtype=np.int16)
    arr[:, 0, 0] = np.arange(shape[0])
    return Volume(arr, spacing, ORIGIN)


def _dicom_study(root, percents):
    study, frame = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    for n, pct in enumerate(percents):
        write_dicom_series(
            _phase(200 + pct),
            root / f"s{n}",
            study_uid=study,
            frame_of_reference_uid=frame,
            series_number=20 - n,  # unrelated to the cycle
            file_prefix=f"S{n}",
            nominal_cardiac_phase_percent=pct,
        )


def _shuffled_copy(src, dst, seed=1):
    files = sorted(p for p in src.rglob("*") if p.is_file())
    rng = random.Random(seed)
    rng.shuffle(files)
    dst.mkdir()
    for n, f in enumerate(files):
        shutil.copy(f, dst / f"{rng.getrandbits(32):08x}_{n}")
    return dst


def test_dicom_phases_in_shuffled_file_order_come_in_cycle_order(tmp_path):
    _dicom_study(tmp_path / "src", [60, 0, 80, 20, 40])
    series = open_phases(_shuffled_copy(tmp_path / "src", tmp_path / "flat"))
    assert series.percents == [0, 20, 40, 60, 80]
    assert series.labels == ["0%", "20%", "40%", "60%", "80%"]
    values = [int(vol.array[0, 2, 2]) for _, vol in series.volumes()]
    assert values == [200, 220, 240, 260, 280]
    vol = series[3].load()
    assert vol.array[:, 0, 0].tolist() == [0, 1, 2, 3]  # slices in order
    assert vol.metadata["phase_percent"] == 60
    assert series.index_of("40%") == 2 and series.index_of("4") == 4


def test_missing_dicom_phase_is_reported(tmp_path):
    _dicom_study(tmp_path / "src", [0, 10, 20, 40, 50, 60])
    with pytest.raises(CardiacInputError, match=r"phase\(s\) 30% missing between 20% and 40%"):
        open_phases(tmp_path / "src")


def test_single_phase_is_reported(tmp_path):
    _dicom_study(tmp_path / "src", [70])
    with pytest.raises(CardiacInputError, match="1 cardiac phase"):
        open_phases(tmp_path / "src")
    assert len(open_phases(tmp_path / "src", min_phases=1)) == 1


def test_folder_of_volumes_ordered_by_number_in_name(tmp_path):
    for pct in (90, 0, 30, 60):
        _phase(pct).write(tmp_path / f"cardiac_ct_{pct}.nii.gz")
    series = open_phases(tmp_path)
    assert series.percents == [0, 30, 60, 90]
    assert [int(vol.array[1, 1, 1]) for _, vol in series.volumes()] == [0, 30, 60, 90]


def test_folder_of_consecutive_indices_orders_without_percent(tmp_path):
    for i in (3, 1, 2):
        _phase(i).write(tmp_path / f"phase-{i}.nrrd")
    series = open_phases(tmp_path)
    assert series.percents == [None, None, None]
    assert series.labels == ["phase 1", "phase 2", "phase 3"]
    assert int(series[2].load().array[1, 1, 1]) == 3


def test_folder_errors_name_the_problem(tmp_path):
    a, b, c, d = (tmp_path / x for x in "abcd")
    for folder in (a, b, c, d):
        folder.mkdir()
    _phase(0).write(a / "ct_10%.nii.gz")
    _phase(1).write(a / "ct-10.nii.gz")
    with pytest.raises(CardiacInputError, match="duplicate phase 10"):
        open_phases(a)
    _phase(0).write(b / "ct_0.nii.gz")
    _phase(1, spacing=(0.8, 0.8, 2.5)).write(b / "ct_50.nii.gz")
    with pytest.raises(
        CardiacInputError, match=r"different geometry: spacing of phase 0% is \(0.8, 0.8, 2.0\)"
    ):
        open_phases(b)
    for i in (1, 2, 4):
        _phase(i).write(c / f"phase_{i}.nii.gz")
    with pytest.raises(CardiacInputError, match="a phase is missing"):
        open_phases(c)
    _phase(0).write(d / "scan.nii.gz")
    with pytest.raises(CardiacInputError, match="scan.nii.gz"):
        open_phases(d)


def _write_seq_nrrd(path, arrays, index_values):
    stack = np.stack(arrays, axis=-1).astype("<i2")  # [z, y, x, list]
    nz, ny, nx, n = stack.shape
    header = (
        "NRRD0004\ntype: short\ndimension: 4\nspace: left-posterior-superior\n"
        f"sizes: {n} {nx} {ny} {nz}\nspace directions: none (0.8,0,0) (0,0.8,0) (0,0,2)\n"
        "kinds: list domain domain domain\nendian: little\nencoding: raw\nspace origin: (-30,-40,100)\n"
        f"axis 0 index type:=numeric\naxis 0 index values:={' '.join(str(v) for v in index_values)}\n"
        "DataNodeClassName:=vtkMRMLScalarVolumeNode\n\n"
    )
    path.write_bytes(header.encode("ascii") + stack.tobytes())


def test_slicer_sequence_nrrd(tmp_path):
    arrays = [_phase(v).array for v in (50, 0, 25, 75)]
    _write_seq_nrrd(tmp_path / "cine.seq.nrrd", arrays, [50, 0, 25, 75])
    series = open_phases(tmp_path / "cine.seq.nrrd")
    assert series.percents == [0, 25, 50, 75]
    vols = [vol for _, vol in series.volumes()]
    assert [int(v.array[1, 1, 1]) for v in vols] == [0, 25, 50, 75]
    assert vols[0].spacing == (0.8, 0.8, 2.0) and vols[0].origin == ORIGIN
    assert vols[2].array[:, 0, 0].tolist() == [0, 1, 2, 3]


def test_import_command_writes_ordered_phases(tmp_path):
    _dicom_study(tmp_path / "src", [75, 25, 50, 0])
    result = CliRunner().invoke(
        cli, ["import", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    listing = json.loads((tmp_path / "out" / "phases.json").read_text())
    assert [r["file"] for r in listing["phases"]] == [f"phase_{i:02d}.nii.gz" for i in range(4)]
    assert [r["percent"] for r in listing["phases"]] == [0, 25, 50, 75]
    assert int(Volume.read(tmp_path / "out" / "phase_02.nii.gz").array[1, 2, 2]) == 250
    again = open_phases(tmp_path / "out")  # the written folder opens through phases.json
    assert again.percents == [0, 25, 50, 75]
    bad = CliRunner().invoke(
        cli, ["import", str(tmp_path / "out" / "phases.json"), "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 1 and "Error:" in bad.output and "phases.json" in bad.output


def _enhanced_ct(path, percents, nz=3, seed=0):
    """An enhanced CT file: every slice of every phase as one frame, frames in random order.
    Stored value = HU + 1024 with HU = 10 * percent + slice index."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def item(**kw):
        ds = Dataset()
        for k, v in kw.items():
            setattr(ds, k, v)
        return Sequence([ds])

    order = [(p, k) for p in percents for k in range(nz)]
    random.Random(seed).shuffle(order)
    ny, nx = 4, 5
    pixels = np.stack([np.full((ny, nx), 10 * p + k + 1024, np.int16) for p, k in order])
    per_frame = []
    for p, k in order:
        fg = Dataset()
        fg.PlanePositionSequence = item(ImagePositionPatient=[-30.0, -40.0, 100.0 + 2.0 * k])
        fg.CardiacSynchronizationSequence = item(NominalPercentageOfCardiacPhase=p)
        per_frame.append(fg)
    shared = Dataset()
    shared.PlaneOrientationSequence = item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])
    shared.PixelMeasuresSequence = item(PixelSpacing=[0.8, 0.6], SliceThickness=2.0)
    shared.PixelValueTransformationSequence = item(RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.SeriesNumber = "CT", 5
    ds.Rows, ds.Columns, ds.NumberOfFrames = ny, nx, len(order)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def test_enhanced_multiframe_ct_split_into_phases(tmp_path):
    _enhanced_ct(tmp_path / "enh" / "IM0001", [50, 0, 25, 75])
    series = open_phases(tmp_path / "enh")
    assert series.percents == [0, 25, 50, 75]
    vol = series[2].load()
    assert vol.shape == (3, 4, 5) and vol.array[:, 0, 0].tolist() == [500, 501, 502]
    assert vol.spacing == (0.6, 0.8, 2.0) and vol.origin == (-30.0, -40.0, 100.0)
    _enhanced_ct(tmp_path / "gap" / "IM0001", [0, 20, 40, 80])
    with pytest.raises(CardiacInputError, match=r"60% missing"):
        open_phases(tmp_path / "gap")
