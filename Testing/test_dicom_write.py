"""The CT DICOM writer: files read back (SimpleITK/GDCM and pydicom) with the same geometry and HU."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.imaging.dicom_write import write_dicom_series


def _rotation(axis, angle_rad: float) -> np.ndarray:
    """Right-handed rotation matrix about ``axis`` (Rodrigues)."""
    a = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * k @ k


def oblique_volume() -> Volume:
    rng = np.random.default_rng(1)
    array = rng.integers(-1024, 2000, size=(5, 7, 9)).astype(np.int16)
    return Volume(array, (0.6, 0.75, 1.25), (-12.5, 33.25, 101.0), _rotation([1, 2, 3], 0.4))


def test_written_series_reads_back_with_sitk_and_pydicom(tmp_path):
    vol = oblique_volume()
    paths = write_dicom_series(
        vol, tmp_path, series_description="oblique", nominal_cardiac_phase_percent=40, trigger_time_ms=320
    )
    assert len(paths) == 5

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    back = Volume.from_sitk(reader.Execute())
    np.testing.assert_allclose(back.spacing, vol.spacing, atol=0.01)
    np.testing.assert_allclose(back.origin, vol.origin, atol=0.01)
    np.testing.assert_allclose(back.direction, vol.direction, atol=1e-5)
    np.testing.assert_array_equal(back.array, vol.array)

    ds = pydicom.dcmread(paths[2])
    assert ds.Modality == "CT" and ds.SOPClassUID == pydicom.uid.CTImageStorage
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    # PixelSpacing is (between rows, between columns) = (sy, sx).
    assert [float(v) for v in ds.PixelSpacing] == [0.75, 0.6]
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    np.testing.assert_allclose(iop[:3], vol.direction[:, 0], atol=1e-6)
    np.testing.assert_allclose(iop[3:], vol.direction[:, 1], atol=1e-6)
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(ipp, vol.index_to_lps([0, 0, 2]), atol=0.01)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(hu, vol.array[2])
    assert float(ds.NominalPercentageOfCardiacPhase) == 40.0
    assert float(ds.TriggerTime) == 320.0
    assert ds.CardiacSynchronizationTechnique == "RETROSPECTIVE"
    assert ds.SeriesInstanceUID == pydicom.dcmread(paths[0]).SeriesInstanceUID
    assert ds.SOPInstanceUID != pydicom.dcmread(paths[0]).SOPInstanceUID


def test_rescale_slope_quantizes_float_values(tmp_path):
    arr = np.linspace(-1000.0, 1500.0, 2 * 3 * 4).reshape(2, 3, 4)
    paths = write_dicom_series(Volume(arr), tmp_path, rescale_slope=0.5, rescale_intercept=-1024)
    ds = pydicom.dcmread(paths[1])
    hu = ds.pixel_array * 0.5 - 1024
    np.testing.assert_allclose(hu, arr[1], atol=0.25)


def test_values_out_of_16_bit_range_are_rejected(tmp_path):
    with pytest.raises(CardiacInputError, match="16-bit"):
        write_dicom_series(Volume(np.full((1, 2, 2), 40000.0)), tmp_path)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools (dciodvfy) not installed")
def test_dciodvfy_reports_no_errors(tmp_path):
    paths = write_dicom_series(oblique_volume(), tmp_path, nominal_cardiac_phase_percent=70)
    out = subprocess.run(["dciodvfy", str(paths[0])], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert "CTImage" in text
    assert "Error" not in text, text
