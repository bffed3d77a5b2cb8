"""Speed of the DICOM writer, reader and phase grouping on a full-size CT series.

Usage: .venv/bin/python benchmarks/dicom_io.py [--slices 160] [--phases 10] [--out /tmp/dicom_bench]

Writes a 512 x 512 x N series, reads it with ``read_dicom_series`` and, for reference, with
SimpleITK's ImageSeriesReader (GDCM), checks both give the same array, then writes ``--phases``
smaller phases (512 x 512 x 32) and times ``group_phases`` on the shuffled flat folder.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.imaging.dicom import read_dicom_series
from CardiacPlanningLib.imaging.dicom_write import write_dicom_series
from CardiacPlanningLib.imaging.phases import group_phases


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=160)
    parser.add_argument("--phases", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("/tmp/dicom_bench"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    rng = np.random.default_rng(0)
    arr = rng.integers(-1024, 1500, size=(args.slices, 512, 512), dtype=np.int16)
    vol = Volume(arr, (0.39, 0.39, 0.5), (-100.0, -100.0, 50.0))
    folder = args.out / "series"
    _, t_write = _timed(lambda: write_dicom_series(vol, folder))
    back, t_read = _timed(lambda: read_dicom_series(folder))
    reader = sitk.ImageSeriesReader()
    img, t_sitk = _timed(
        lambda: (reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder))), reader.Execute())[1]
    )
    assert np.array_equal(back.array, arr) and np.array_equal(sitk.GetArrayFromImage(img), arr)
    mb = arr.nbytes / 2**20
    print(f"series 512x512x{args.slices} ({mb:.0f} MiB int16):")
    print(f"  write_dicom_series  {t_write:6.2f} s")
    print(f"  read_dicom_series   {t_read:6.2f} s  ({mb / t_read:.0f} MiB/s)")
    print(f"  SimpleITK/GDCM      {t_sitk:6.2f} s  (reference)")

    flat = args.out / "phases"
    small = Volume(arr[:32], vol.spacing, vol.origin)
    for p in range(args.phases):
        write_dicom_series(
            small, flat, nominal_cardiac_phase_percent=100 * p / args.phases, file_prefix=f"P{p}"
        )
    phases, t_group = _timed(lambda: group_phases(flat))
    assert len(phases) == args.phases
    print(f"group_phases: {args.phases} phases x 32 files in {t_group:.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
