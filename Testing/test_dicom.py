"""Reading CT DICOM series: round trip with the writer, and a one-line error for each kind of bad input."""

from __future__ import annotations

import random

import numpy as np
import pydicom
import pytest
from click.testing import CliRunner

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.errors import DicomInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.imaging.dicom import read_dicom_series
from CardiacPlanningLib.imaging.dicom_write import write_dicom_series


def _rotation(axis, angle_rad: float) -> np.ndarray:
    a = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * k @ k


def _volume(nz: int = 6, direction=None) -> Volume:
    rng = np.random.default_rng(7)
    array = rng.integers(-1000, 1500, size=(nz, 8, 10)).astype(np.int16)
    return Volume(array, (0.7, 0.9, 1.5), (-20.0, 15.5, 80.0), np.eye(3) if direction is None else direction)


def _series(folder, vol: Volume | None = None, **kw):
    return write_dicom_series(vol if vol is not None else _volume(), folder, **kw)


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_round_trip_oblique_with_metadata(tmp_path):
    vol = _volume(direction=_rotation([0.3, -1, 2], 0.5))
    paths = _series(
        tmp_path, vol, series_description="CTA 75%", nominal_cardiac_phase_percent=75, series_number=4
    )
    back = Volume.read(tmp_path)
    np.testing.assert_array_equal(back.array, vol.array)
    assert back.array.dtype == np.int16
    assert back.same_geometry(vol, tol=0.01)
    md = back.metadata
    assert md["series_description"] == "CTA 75%" and md["series_number"] == 4
    assert md["phase_percent"] == 75.0 and md["trigger_time_ms"] is None
    assert md["patient_id"] == "PHANTOM" and md["modality"] == "CT" and md["num_files"] == 6
    assert md["series_uid"] == pydicom.dcmread(paths[0]).SeriesInstanceUID
    # A shuffled explicit list of files gives the same volume.
    shuffled = list(paths)
    random.Random(3).shuffle(shuffled)
    again = read_dicom_series(shuffled)
    np.testing.assert_array_equal(again.array, vol.array)


def test_rescale_to_float_hu(tmp_path):
    arr = np.linspace(-1000.0, 1000.0, 3 * 4 * 5).reshape(3, 4, 5)
    _series(tmp_path, Volume(arr), rescale_slope=0.25, rescale_intercept=-1000)
    back = read_dicom_series(tmp_path)
    assert back.array.dtype == np.float32
    np.testing.assert_allclose(back.array, arr, atol=0.125 + 1e-4)


def test_non_dicom_files_next_to_the_series_are_ignored(tmp_path):
    _series(tmp_path)
    (tmp_path / "README.txt").write_text("notes")
    (tmp_path / ".DS_Store").write_bytes(b"\0\1")
    assert read_dicom_series(tmp_path).shape == (6, 8, 10)


def test_corrupt_file_is_named(tmp_path):
    paths = _series(tmp_path)
    paths[2].write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(DicomInputError, match=r"CT_0003\.dcm: not a valid DICOM file") as e:
        read_dicom_series(tmp_path)
    _one_line(e)


@pytest.mark.filterwarnings("ignore:The value length")  # pydicom warns about the garbage UID
def test_corrupt_header_after_dicm_preamble(tmp_path):
    paths = _series(tmp_path)
    paths[1].write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff" + b"garbage" * 10)
    with pytest.raises(DicomInputError, match=r"CT_0002\.dcm: (corrupt|not a valid|invalid)") as e:
        read_dicom_series(tmp_path)
    _one_line(e)


def test_truncated_file_is_named(tmp_path):
    paths = _series(tmp_path)
    data = paths[4].read_bytes()
    paths[4].write_bytes(data[: len(data) - 60])
    with pytest.raises(DicomInputError, match=r"CT_0005\.dcm: .*truncated") as e:
        read_dicom_series(tmp_path)
    _one_line(e)


def test_no_dicom_files(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DicomInputError, match="no DICOM image files found"):
        read_dicom_series(tmp_path)
    with pytest.raises(DicomInputError, match="no such file or folder"):
        read_dicom_series(tmp_path / "absent")


def test_two_series_in_one_folder(tmp_path):
    _series(tmp_path, series_description="arterial", file_prefix="A")
    paths_b = _series(tmp_path, series_description="venous", series_number=2, file_prefix="B")
    uid_b = pydicom.dcmread(paths_b[0]).SeriesInstanceUID
    with pytest.raises(DicomInputError, match="mixed series, the folder holds 2 series") as e:
        read_dicom_series(tmp_path)
    text = _one_line(e)
    assert "'arterial'" in text and "'venous'" in text and uid_b in text and "series_uid" in text
    chosen = read_dicom_series(tmp_path, series_uid=uid_b)
    assert chosen.metadata["series_description"] == "venous" and chosen.shape == (6, 8, 10)
    with pytest.raises(DicomInputError, match="no series with SeriesInstanceUID 1.2.3"):
        read_dicom_series(tmp_path, series_uid="1.2.3")


def test_missing_slice(tmp_path):
    paths = _series(tmp_path, _volume(nz=8))
    paths[4].unlink()
    with pytest.raises(DicomInputError, match="missing slice") as e:
        read_dicom_series(tmp_path)
    text = _one_line(e)
    assert "about 1 slice(s) missing" in text and "3.00 mm gap" in text
    assert "CT_0004.dcm" in text and "CT_0006.dcm" in text


def test_non_uniform_spacing(tmp_path):
    paths = _series(tmp_path)
    ds = pydicom.dcmread(paths[-1])
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 0.4
    ds.save_as(paths[-1])
    with pytest.raises(
        DicomInputError, match=r"non-uniform slice spacing: steps from 1\.500 to 1\.900 mm"
    ) as e:
        read_dicom_series(tmp_path)
    _one_line(e)


def test_duplicate_positions(tmp_path):
    paths = _series(tmp_path)
    ds = pydicom.dcmread(paths[1])
    ds.ImagePositionPatient = pydicom.dcmread(paths[0]).ImagePositionPatient
    ds.save_as(paths[1])
    with pytest.raises(DicomInputError, match="duplicate slice position"):
        read_dicom_series(tmp_path)


def _tilted(angle_deg: float) -> Volume:
    t = np.radians(angle_deg)
    direction = np.array([[1, 0, 0], [0, 1, 0], [0, np.sin(t), np.cos(t)]]).T  # k sheared along y
    vol = _volume(nz=6, direction=direction)
    vol.array[:] = -1000
    vol.array[3, 4, 5] = 2000  # one bright voxel at a known LPS point
    return vol


def test_gantry_tilt_rejected(tmp_path):
    _series(tmp_path, _tilted(15.0))
    with pytest.raises(DicomInputError, match=r"gantry tilt of 15\.00 deg") as e:
        read_dicom_series(tmp_path)
    assert "tilt='resample'" in _one_line(e)


def test_gantry_tilt_resampled(tmp_path):
    vol = _tilted(15.0)
    _series(tmp_path, vol)
    back = read_dicom_series(tmp_path, tilt="resample")
    assert back.metadata["resampled_gantry_tilt_deg"] == pytest.approx(15.0, abs=0.01)
    np.testing.assert_allclose(back.direction, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(back.spacing, (0.7, 0.9, 1.5 * np.cos(np.radians(15))), atol=1e-4)
    bright = np.array(np.unravel_index(np.argmax(back.array), back.shape))[::-1]
    expected = vol.index_to_lps([5, 4, 3])
    assert np.linalg.norm(back.index_to_lps(bright) - expected) < 0.5  # within half a voxel
    assert back.array.max() > 1000 and back.array.min() == pytest.approx(-1024, abs=1)


def test_non_ct_modality(tmp_path):
    _series(tmp_path, extra={"Modality": "MR"})
    with pytest.raises(DicomInputError, match=r"CT_0001\.dcm: modality MR is not CT") as e:
        read_dicom_series(tmp_path)
    _one_line(e)


def test_inconsistent_image_sizes(tmp_path):
    paths = _series(tmp_path, _volume(nz=3))
    uid = pydicom.dcmread(paths[0]).SeriesInstanceUID
    small = Volume(np.zeros((1, 4, 10), np.int16), (0.7, 0.9, 1.5), (-20.0, 15.5, 84.5))
    _series(tmp_path, small, series_uid=uid, file_prefix="Z")
    with pytest.raises(DicomInputError, match=r"inconsistent image sizes: .* is 8x10, Z_0001\.dcm is 4x10"):
        read_dicom_series(tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("corrupt", "not a valid DICOM file"),
        ("two_series", "mixed series"),
        ("missing", "missing slice"),
    ],
)
def test_cli_info_one_line_errors(tmp_path, damage, message):
    paths = _series(tmp_path, _volume(nz=8))
    if damage == "corrupt":
        paths[3].write_bytes(b"this is not DICOM at all" * 40)
    elif damage == "two_series":
        _series(tmp_path, _volume(nz=8), file_prefix="B")
    else:
        paths[5].unlink()
    result = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_cli_info_prints_geometry(tmp_path):
    _series(tmp_path)
    result = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert '"shape_zyx": [\n    6,\n    8,\n    10\n  ]' in result.output


def test_compressed_series_and_gdcm_fallback(tmp_path, monkeypatch):
    vol = _volume(nz=3)
    for path in _series(tmp_path, vol):
        ds = pydicom.dcmread(path)
        ds.compress(pydicom.uid.RLELossless)
        ds.save_as(path)
    np.testing.assert_array_equal(read_dicom_series(tmp_path).array, vol.array)  # pydicom's RLE decoder

    def no_decoder(self):
        raise NotImplementedError("no decoder")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(no_decoder))
    np.testing.assert_array_equal(read_dicom_series(tmp_path).array, vol.array)  # through SimpleITK/GDCM


def test_every_truncation_point_is_reported_with_the_file_name(tmp_path):
    paths = _series(tmp_path, _volume(nz=4))
    data = paths[2].read_bytes()
    for cut in range(0, len(data) - 1, 37):  # header, file meta, dataset and pixel data cuts
        paths[2].write_bytes(data[:cut])
        with pytest.raises(DicomInputError, match=r"CT_0003\.dcm: ") as e:
            read_dicom_series(tmp_path)
        _one_line(e)


def test_localizer_series_next_to_one_series_is_left_out(tmp_path):
    _series(tmp_path)
    scout = Volume(np.zeros((1, 8, 10), np.int16), (0.7, 0.9, 1.5), (0, 0, 0), np.eye(3)[:, [0, 2, 1]])
    _series(tmp_path, scout, file_prefix="SCOUT", extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    assert read_dicom_series(tmp_path).shape == (6, 8, 10)
    _series(tmp_path, file_prefix="B")  # a second real series: mixed again
    with pytest.raises(DicomInputError, match="mixed series, the folder holds 3 series"):
        read_dicom_series(tmp_path)
