"""Soak loop over the secured store: save/load a volume and a report as a clinician, verify, back up
and verify the backup as the system administrator, every cycle audited; records resident memory,
open file descriptors and the size of the case folder after each cycle and reports growth.

CI runs a short loop (``Testing/test_store_soak.py``); the hospital's long trial run can call
:func:`run_soak` with many cycles and a log callback. (The full clinical workflow — import, segment,
propagate, stent, report — is not included here yet.)
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..imaging.volume import Volume
from ..store.backup import create_backup, verify_backup
from ..store.keys import KeyRing
from .workstation import Workstation

logger = logging.getLogger(__name__)

PW = "Soak-Passw0rd-01"


def rss_bytes() -> int:
    """Current resident memory of this process (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def open_fds() -> int:
    """Number of open file descriptors of this process (Linux/macOS), -1 when unknown."""
    for d in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(d):
            return len(os.listdir(d))
    return -1


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


@dataclass
class SoakReport:
    cycles: int = 0
    rss_mb: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    case_bytes: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def growth(self) -> dict[str, float]:
        """Median of the last third minus median of the middle third (after a warm-up third)."""
        n = len(self.rss_mb)
        a, b = n // 3, 2 * n // 3
        mid = slice(a, b)
        last = slice(b, n)
        return {
            "rss_mb": statistics.median(self.rss_mb[last]) - statistics.median(self.rss_mb[mid]),
            "fds": statistics.median(self.fds[last]) - statistics.median(self.fds[mid]),
            "case_bytes": statistics.median(self.case_bytes[last]) - statistics.median(self.case_bytes[mid]),
        }


def run_soak(
    root: Path,
    cycles: int,
    voxels: tuple[int, int, int] = (32, 128, 128),
    max_rss_growth_mb: float = 20.0,
    log: Callable[[int, SoakReport], None] | None = None,
    stop_after_s: float | None = None,
) -> SoakReport:
    """Run ``cycles`` cycles (at least 6; or until ``stop_after_s`` seconds have passed) and return
    the measurements and any problem found."""
    root = Path(root)
    ring = KeyRing.create(root / "store" / "keyfile.json", "soak passphrase, not secret", iterations=1000)
    ws = Workstation(root / "store", ring, hash_iterations=1000)
    ws.users.add_user(None, "soak_sys", "system_admin", PW)
    sys_s = ws.login("soak_sys", PW)
    ws.users.add_user(sys_s, "soak_doc", "clinician", PW)
    doc = ws.login("soak_doc", PW)
    ws.users.change_password(doc, PW, "Soak-Clinic-Pw02")
    store, sys_store = ws.store(doc), ws.store(sys_s)
    rng = np.random.default_rng(0)
    rep = SoakReport()
    backups: list[Path] = []
    t_end = time.monotonic() + stop_after_s if stop_after_s else None
    for c in range(cycles):
        if t_end is not None and time.monotonic() > t_end:
            break
        vol = Volume(rng.integers(-1000, 1500, size=voxels).astype(np.int16), spacing=(0.7, 0.7, 1.0))
        store.put_volume("SOAK-1", "ct", vol)
        if not np.array_equal(store.get_volume("SOAK-1", "ct").array, vol.array):
            rep.problems.append(f"cycle {c}: volume read back differs")
        store.put_bytes("SOAK-1", "report.pdf", b"%PDF soak report " * 1000, "application/pdf")
        res = create_backup(ws.root, ring, root / "backups", ws.guard(sys_s))
        if verify_backup(res.path, ring, ws.guard(sys_s)):
            rep.problems.append(f"cycle {c}: backup does not verify")
        backups.append(res.path)
        while len(backups) > 2:
            shutil.rmtree(backups.pop(0))
        rep.problems += [f"cycle {c}: {p}" for p in sys_store.verify()]
        rep.cycles += 1
        rep.rss_mb.append(rss_bytes() / 2**20)
        rep.fds.append(open_fds())
        rep.case_bytes.append(folder_bytes(ws.root / "cases"))
        if log:
            log(c, rep)
    ws.close()
    if rep.cycles >= 6:
        g = rep.growth()
        if g["rss_mb"] > max_rss_growth_mb:
            rep.problems.append(f"resident memory grew by {g['rss_mb']:.1f} MB over the last third")
        if g["fds"] > 0:
            rep.problems.append(f"open files grew by {g['fds']:.0f}")
        if g["case_bytes"] > 0.01 * statistics.median(rep.case_bytes):
            rep.problems.append(f"case folder grew by {g['case_bytes']:.0f} bytes (leftover versions?)")
    return rep
