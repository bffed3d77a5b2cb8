"""The ``security`` demo stage on a small phantom-like case: everything verified, no identity in clear."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib.imaging import Volume, write_dicom_series
from CardiacPlanningLib.progress import Progress
from CardiacPlanningLib.security.demo_stage import run


def test_security_demo_stage(tmp_path):
    vol = Volume(np.arange(4 * 16 * 16, dtype=np.int16).reshape(4, 16, 16), spacing=(0.8, 0.8, 1.5))
    files = write_dicom_series(vol, tmp_path / "phantom" / "dicom0")
    vol.write(tmp_path / "phantom" / "ct0.nii.gz")
    assert b"PHANTOM^CARDIAC" in files[0].read_bytes()  # the needle really is in the source files
    context = {
        "phantom": {
            "ct": [str(tmp_path / "phantom" / "ct0.nii.gz")],
            "dicom": [str(tmp_path / "phantom" / "dicom0")],
        }
    }
    res = run(tmp_path / "security", Progress(), context)
    assert res["dicom_files_stored"] == 4
    assert res["deidentified_objects"] == 5
    assert (res["backup_problems"], res["store_problems"], res["audit_ok"]) == (0, 0, True)
    assert res["plaintext_identity_hits"] == []
    assert res["audit_records"] > 20
    assert (tmp_path / "security" / "audit.csv").exists()
