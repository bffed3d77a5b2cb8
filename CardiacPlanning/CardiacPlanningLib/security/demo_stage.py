"""Demo stage ``security``: the phantom case through the encrypted store, as the clinical workflow
would do it: accounts with separated roles, DICOM + volume stored encrypted, a de-identified copy for
research, a verified backup, a verified and exported audit log, and a scan proving that the patient
name of the DICOM files appears nowhere in plain text in the store.

The demo store uses the fixed, published credentials below (synthetic data only: never use them for
a real store). Register with ``("security", "security.demo_stage", "run")`` in ``cli/demo.py``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..imaging.volume import Volume
from ..progress import Progress
from ..store.backup import create_backup, verify_backup
from .audit_access import export_log, verify_log
from .deid import DICOM_TYPE, deidentify_case
from .workstation import Workstation

logger = logging.getLogger(__name__)

DEMO_PASSPHRASE = "demo store passphrase (synthetic data only)"
DEMO_PASSWORDS = {
    "demo_sys": "Demo-Sys-Passw0rd",
    "demo_doc": "Demo-Doc-Passw0rd",
    "demo_aud": "Demo-Aud-Passw0rd",
}


def _plaintext_hits(folder: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            content = (Path(dirpath) / f).read_bytes()
            hits += [f"{needle!r} in {Path(dirpath) / f}" for needle in needles if needle in content]
    return hits


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Run the secured workflow on ``context["phantom"]`` (or a small synthetic volume)."""
    out_dir = Path(out_dir)
    ws = Workstation.init(out_dir / "store", DEMO_PASSPHRASE, hash_iterations=20_000)
    users = ws.users
    users.add_user(None, "demo_sys", "system_admin", DEMO_PASSWORDS["demo_sys"])
    sys_s = ws.login("demo_sys", DEMO_PASSWORDS["demo_sys"])
    for name, role in (("demo_doc", "clinician"), ("demo_aud", "audit_admin")):
        users.add_user(sys_s, name, role, "Temporary-Passw0rd")
        s = ws.login(name, "Temporary-Passw0rd")
        users.change_password(s, "Temporary-Passw0rd", DEMO_PASSWORDS[name])
    doc = ws.login("demo_doc", DEMO_PASSWORDS["demo_doc"])
    aud = ws.login("demo_aud", DEMO_PASSWORDS["demo_aud"])
    store = ws.store(doc)
    progress(0.2, "storing the case encrypted")
    phantom = context.get("phantom") or {}
    dicom_dir = Path(phantom["dicom"][0]) if phantom.get("dicom") and phantom["dicom"][0] else None
    dicom_files = sorted(dicom_dir.glob("*.dcm")) if dicom_dir and dicom_dir.is_dir() else []
    for f in dicom_files:
        store.put_bytes("DEMO-0001", f"dicom/{f.name}", f.read_bytes(), DICOM_TYPE)
    if phantom.get("ct"):
        vol = Volume.read(phantom["ct"][0])
    else:
        vol = Volume(np.zeros((8, 32, 32), np.int16), spacing=(1.0, 1.0, 1.0))
    vol.metadata = {"PatientName": "PHANTOM^CARDIAC", "PatientID": "PHANTOM", "Modality": "CT"}
    store.put_volume("DEMO-0001", "ct_phase0", vol)
    progress(0.4, "de-identified copy for research")
    copied = deidentify_case(store, "DEMO-0001", "RESEARCH-0001")
    progress(0.6, "backup")
    backup = create_backup(ws.root, ws.ring, out_dir / "backups", ws.guard(sys_s))
    backup_problems = verify_backup(backup.path, ws.ring, ws.guard(sys_s))
    progress(0.8, "audit")
    store_problems = ws.store(sys_s).verify()
    report = verify_log(ws.guard(aud), ws.audit)
    n_records = export_log(ws.guard(aud), ws.audit, out_dir / "audit.csv")
    ws.close()
    hits = _plaintext_hits(out_dir / "store", [b"PHANTOM^CARDIAC", b"PHANTOM", b"DICM"])
    progress(1.0, "done")
    return {
        "store": str(out_dir / "store"),
        "dicom_files_stored": len(dicom_files),
        "deidentified_objects": copied,
        "backup": str(backup.path),
        "backup_problems": len(backup_problems),
        "store_problems": len(store_problems),
        "audit_records": n_records,
        "audit_ok": report.ok,
        "plaintext_identity_hits": hits,
    }
