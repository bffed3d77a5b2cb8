"""Encrypted backup sets with an SM3 manifest; verify; restore (all checked and audited by the guard).

A backup set is a folder ``backup-<UTC time>/``:

* ``data/<n>.enc``: every file of the store (case files, manifests, a consistent SQLite snapshot of
  the audit log and user database), each sealed again with SM4-GCM under the current master key
  (associated data = its relative path), so even file names and sizes per path are hidden;
* ``keyfile.json``: a copy of the (passphrase-protected) key file, to restore after a lost disk or
  after the master key was rotated and retired;
* ``manifest.enc``: sealed JSON listing each relative path with the SM3 and size of its ``.enc``.

:func:`verify_backup` checks everything and names the bad file; :func:`restore_backup` verifies the
whole set first and writes nothing if any file fails (a corrupted backup is never restored silently).
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..progress import Progress, as_progress
from .atomic import atomic_write, file_lock, make_dirs
from .container import open_sealed, seal
from .crypto import sm3_hex
from .errors import IntegrityError, StoreError
from .guard import Guard, UncheckedGuard
from .keys import KeyRing

logger = logging.getLogger(__name__)

SQLITE_FILES = ("audit/audit.db", "users.db")
BACKUP_CASE = "backup"


@dataclass
class BackupResult:
    path: Path
    files: int
    bytes: int


def _sqlite_snapshot(src: Path) -> bytes:
    """A consistent copy of a live SQLite database (online backup API), serialised in memory."""
    src_db, dst_db = sqlite3.connect(src), sqlite3.connect(":memory:")
    try:
        src_db.backup(dst_db)
        return bytes(dst_db.serialize())
    finally:
        src_db.close()
        dst_db.close()


def _case_folders(root: Path) -> list[Path]:
    cases = root / "cases"
    return sorted(p for p in cases.iterdir() if p.is_dir()) if cases.is_dir() else []


def create_backup(
    root: Path,
    ring: KeyRing,
    dest: Path,
    guard: Guard | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    """Write a new backup set of the store at ``root`` under ``dest``. Returns its folder."""
    guard = guard or UncheckedGuard()
    progress = as_progress(progress)
    guard.authorize("backup.create", str(dest))
    root, dest = Path(root), Path(dest)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = dest / f"backup-{stamp}"
    try:
        make_dirs(folder / "data")
        files: dict[str, dict] = {}
        total = 0

        def add(rel: str, raw: bytes) -> None:
            nonlocal total
            blob = seal(ring, BACKUP_CASE, rel, raw, {})
            name = f"data/{len(files):06d}.enc"
            atomic_write(folder / name, blob)
            files[rel] = {"file": name, "sm3": sm3_hex(blob), "size": len(blob)}
            total += len(blob)

        case_folders = _case_folders(root)
        for i, case_folder in enumerate(case_folders):
            progress(i / max(len(case_folders), 1), f"backing up case {i + 1}/{len(case_folders)}")
            with file_lock(case_folder / ".lock"):  # a consistent case: no save in between
                for p in sorted(case_folder.iterdir()):
                    if p.is_file() and not p.name.startswith((".tmp-", ".lock")):
                        add(p.relative_to(root).as_posix(), p.read_bytes())
        for rel in SQLITE_FILES:
            if (root / rel).exists():
                add(rel, _sqlite_snapshot(root / rel))
        shutil.copyfile(ring.path, folder / "keyfile.json")
        manifest = {
            "created": stamp,
            "store": str(root),
            "files": files,
            "keyfile_sm3": sm3_hex(ring.path.read_bytes()),
        }
        atomic_write(
            folder / "manifest.enc", seal(ring, BACKUP_CASE, "manifest", json.dumps(manifest).encode(), {})
        )
    except (OSError, StoreError) as exc:
        guard.record("backup.create", str(folder), "failure", str(exc))
        raise
    progress(1.0, "backup written")
    guard.record("backup.create", str(folder), "success", f"{len(files)} files, {total} bytes")
    return BackupResult(folder, len(files), total)


def _read_manifest(folder: Path, ring: KeyRing) -> dict:
    path = folder / "manifest.enc"
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"backup {folder}: manifest.enc is missing") from None
    data, _ = open_sealed(ring, blob, BACKUP_CASE, "manifest", f"backup manifest {path}")
    return json.loads(data)


def verify_backup(folder: Path, ring: KeyRing, guard: Guard | None = None) -> list[str]:
    """Check a backup set: manifest authentic, every file present with the right SM3 and decryptable,
    no unexpected file. Returns the problems, each naming the file (empty list = good)."""
    guard = guard or UncheckedGuard()
    guard.authorize("backup.verify", str(folder))
    problems = _verify(Path(folder), ring)
    guard.record(
        "backup.verify", str(folder), "success" if not problems else "failure", "; ".join(problems)[:2000]
    )
    return problems


def _verify(folder: Path, ring: KeyRing) -> list[str]:
    try:
        manifest = _read_manifest(folder, ring)
    except StoreError as exc:  # IntegrityError, or KeyFileError when the master key was retired
        return [str(exc)]
    problems = []
    listed = set()
    for rel, entry in manifest["files"].items():
        path = folder / entry["file"]
        listed.add(entry["file"])
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            problems.append(f"{entry['file']} ({rel}): missing")
            continue
        if sm3_hex(blob) != entry["sm3"]:
            problems.append(f"{entry['file']} ({rel}): SM3 does not match the manifest (corrupted)")
            continue
        try:
            open_sealed(ring, blob, BACKUP_CASE, rel, f"{entry['file']} ({rel})")
        except StoreError as exc:
            problems.append(str(exc))
    for extra in sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*")):
        if extra not in listed:
            problems.append(f"{extra}: not in the manifest (added)")
    return problems


def restore_backup(
    folder: Path,
    ring: KeyRing,
    target: Path,
    guard: Guard | None = None,
    progress: Progress | None = None,
) -> int:
    """Restore a verified backup set into ``target`` (an empty or new folder). Nothing is written
    unless every file verifies. The key file copy is restored too. Returns the files restored."""
    guard = guard or UncheckedGuard()
    progress = as_progress(progress)
    folder, target = Path(folder), Path(target)
    guard.authorize("backup.restore", str(folder))
    if target.exists() and any(target.iterdir()):
        guard.record("backup.restore", str(folder), "failure", f"target {target} not empty")
        raise StoreError(
            f"restore target {target} is not empty: restore into a new folder, check it, then switch"
        )
    problems = _verify(folder, ring)
    if problems:
        guard.record("backup.restore", str(folder), "failure", "; ".join(problems)[:2000])
        raise IntegrityError(f"backup {folder} is corrupted, nothing restored: " + "; ".join(problems))
    files = _read_manifest(folder, ring)["files"]
    for i, (rel, entry) in enumerate(sorted(files.items())):
        progress(i / max(len(files), 1), f"restoring {i + 1}/{len(files)}")
        blob = (folder / entry["file"]).read_bytes()
        if sm3_hex(blob) != entry["sm3"]:  # changed between verification and restore
            raise IntegrityError(f"{entry['file']} ({rel}) changed during the restore; restore again")
        data, _ = open_sealed(ring, blob, BACKUP_CASE, rel, f"{entry['file']} ({rel})")
        make_dirs((target / rel).parent)
        atomic_write(target / rel, data)
    atomic_write(target / "keyfile.json", (folder / "keyfile.json").read_bytes())
    progress(1.0, "restored")
    guard.record("backup.restore", str(folder), "success", f"{len(files)} files into {target}")
    return len(files)
