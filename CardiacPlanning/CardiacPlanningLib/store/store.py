"""The encrypted case store.

Layout under ``root``::

    keyfile.json                      passphrase-protected keys (see keys.py; may live elsewhere)
    cases/<case folder>/manifest.enc  encrypted manifest: case id, flags, objects with SM3 + size
    cases/<case folder>/<object>-<version>.obj   one encrypted object (container.py)

Folder and object names are HMAC-SM3 pseudonyms (index key), so no patient identifier appears in a
path. A save writes the new object version, then the manifest (both atomically), then deletes the
old version: a crash at any point leaves the previous or the new state, never a torn file; orphans
and temp files are removed by :meth:`CaseStore.recover`. Every operation goes through the guard
(permission check + audit record).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes

from .atomic import atomic_write, file_lock, fsync_dir, make_dirs, remove_temp_files
from .container import master_of, open_sealed, rewrap, seal, seal_iter
from .crypto import hmac_sm3, self_test, sm3_hex
from .errors import IntegrityError, NotFoundError, StoreError
from .guard import Guard, UncheckedGuard
from .keys import KeyRing

if TYPE_CHECKING:  # imaging pulls in SimpleITK/scipy/pydicom: imported only when volumes are used
    from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

MANIFEST = "manifest.enc"
MANIFEST_OBJECT = "manifest"


@dataclass
class Problem:
    """One finding of :meth:`CaseStore.verify`: which case/object/file and what is wrong."""

    case_id: str
    name: str
    file: str
    message: str

    def __str__(self) -> str:
        return f"case {self.case_id!r} object {self.name!r} ({self.file}): {self.message}"


class CaseStore:
    """Encrypted, crash-safe store of cases. ``guard`` checks permissions and audits every operation."""

    def __init__(self, root: Path, ring: KeyRing, guard: Guard | None = None) -> None:
        self_test()
        self.root = Path(root)
        self.ring = ring
        self.guard: Guard = guard if guard is not None else UncheckedGuard()
        self.cases_dir = self.root / "cases"
        make_dirs(self.cases_dir)

    # -- names ------------------------------------------------------------------------------------
    def _case_folder_id(self, case_id: str) -> str:
        if not case_id or "\0" in case_id:
            raise StoreError(f"invalid case id {case_id!r}")
        return hmac_sm3(self.ring.secret("index"), b"case|" + case_id.encode()).hex()[:32]

    def _object_id(self, case_id: str, name: str) -> str:
        if not name or "\0" in name:
            raise StoreError(f"invalid object name {name!r} in case {case_id!r}")
        return hmac_sm3(self.ring.secret("index"), f"obj|{case_id}\0{name}".encode()).hex()[:32]

    def _case_dir(self, case_id: str) -> Path:
        return self.cases_dir / self._case_folder_id(case_id)

    # -- manifest ---------------------------------------------------------------------------------
    def _read_manifest_at(self, folder: Path) -> dict:
        path = folder / MANIFEST
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no case in {folder}") from None
        data, _meta = open_sealed(self.ring, blob, folder.name, MANIFEST_OBJECT, f"manifest {path}")
        return json.loads(data)

    def _read_manifest(self, case_id: str) -> dict:
        folder = self._case_dir(case_id)
        if not (folder / MANIFEST).exists():
            raise NotFoundError(f"case {case_id!r} is not in the store {self.root}")
        manifest = self._read_manifest_at(folder)
        if manifest.get("case_id") != case_id:
            raise IntegrityError(f"manifest of case {case_id!r} names another case")
        return manifest

    def _write_manifest(self, folder: Path, manifest: dict) -> None:
        blob = seal(
            self.ring, folder.name, MANIFEST_OBJECT, json.dumps(manifest, sort_keys=True).encode(), {}
        )
        atomic_write(folder / MANIFEST, blob)

    # -- public API -------------------------------------------------------------------------------
    def put_bytes(
        self,
        case_id: str,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        meta: dict | None = None,
        deidentified: bool | None = None,
    ) -> str:
        """Encrypt and save ``data`` as object ``name`` of ``case_id`` (replacing an older version).
        ``deidentified`` marks a new case as de-identified (researchers may read only those).
        Returns the SM3 of the stored file. Durable when this returns."""
        self.guard.authorize("case.write", case_id)
        try:
            digest = self._put(case_id, name, data, content_type, meta or {}, deidentified)
        except StoreError as exc:
            self.guard.record("case.write", f"{case_id}/{name}", "failure", str(exc))
            raise
        self.guard.record("case.write", f"{case_id}/{name}", "success", f"{len(data)} bytes")
        return digest

    def _put(
        self, case_id: str, name: str, data: bytes, content_type: str, meta: dict, deid: bool | None
    ) -> str:
        folder = self._case_dir(case_id)
        make_dirs(folder)
        with file_lock(folder / ".lock"):
            try:
                manifest = self._read_manifest(case_id)
            except NotFoundError:
                manifest = {"case_id": case_id, "seq": 0, "deidentified": bool(deid), "objects": {}}
            if deid is not None and bool(deid) != manifest["deidentified"]:
                raise StoreError(f"case {case_id!r}: cannot change its de-identified flag by saving")
            seq = manifest["seq"] + 1
            oid = self._object_id(case_id, name)
            fname = f"{oid}-{seq:08d}.obj"
            full_meta = {"name": name, "case_id": case_id, "content_type": content_type, "meta": meta}
            digest, size = hashes.Hash(hashes.SM3()), 0

            def observe(piece: bytes) -> None:
                # hashes the ciphertext on atomic_write's worker thread while the next piece is
                # encrypted (OpenSSL releases the GIL): hashing and writing overlap encryption
                nonlocal size
                digest.update(piece)
                size += len(piece)

            atomic_write(folder / fname, seal_iter(self.ring, folder.name, oid, data, full_meta), observe)
            old = manifest["objects"].get(name)
            manifest["seq"] = seq
            manifest["objects"][name] = {
                "oid": oid,
                "file": fname,
                "sm3": digest.finalize().hex(),
                "size": size,
                "content_type": content_type,
                "saved": datetime.now(timezone.utc).isoformat(),
            }
            self._write_manifest(folder, manifest)
            if old and old["file"] != fname:
                with contextlib.suppress(OSError):
                    (folder / old["file"]).unlink()
        return manifest["objects"][name]["sm3"]

    def _authorize_read(self, case_id: str, manifest: dict) -> str:
        action = "case.read_deid" if manifest.get("deidentified") else "case.read"
        if action == "case.read_deid" and self.guard.allows("case.read"):
            action = "case.read"  # clinicians read de-identified cases with their own permission
        self.guard.authorize(action, case_id)
        return action

    def get_bytes(self, case_id: str, name: str) -> tuple[bytes, dict]:
        """Decrypt object ``name`` of ``case_id`` into memory. Returns (data, info) where info has
        ``content_type`` and ``meta``. :class:`IntegrityError` if the file was altered."""
        manifest = self._read_manifest(case_id)
        action = self._authorize_read(case_id, manifest)
        try:
            data, info = self._get(case_id, name, manifest)
        except StoreError as exc:
            self.guard.record(action, f"{case_id}/{name}", "failure", str(exc))
            raise
        self.guard.record(action, f"{case_id}/{name}", "success")
        return data, info

    def _get(self, case_id: str, name: str, manifest: dict) -> tuple[bytes, dict]:
        entry = manifest["objects"].get(name)
        if entry is None:
            raise NotFoundError(f"case {case_id!r} has no object {name!r}")
        folder = self._case_dir(case_id)
        path = folder / entry["file"]
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(f"case {case_id!r} object {name!r}: file {path.name} is missing") from None
        if sm3_hex(blob) != entry["sm3"]:
            raise IntegrityError(
                f"case {case_id!r} object {name!r}: SM3 of {path.name} does not match the manifest"
            )
        what = f"case {case_id!r} object {name!r} ({path.name})"
        data, info = open_sealed(self.ring, blob, folder.name, entry["oid"], what)
        if info.get("name") != name or info.get("case_id") != case_id:
            raise IntegrityError(f"{what}: content belongs to another object")
        return data, info

    def put_volume(self, case_id: str, name: str, volume: Volume, deidentified: bool | None = None) -> str:
        """Save a :class:`Volume` (array + LPS geometry + metadata) encrypted; no plaintext on disk."""
        from .volume_io import CONTENT_TYPE, volume_to_bytes

        data, geometry = volume_to_bytes(volume)
        return self.put_bytes(case_id, name, data, CONTENT_TYPE, geometry, deidentified)

    def get_volume(self, case_id: str, name: str) -> Volume:
        """Load a volume saved by :meth:`put_volume`, decrypted in memory."""
        from .volume_io import CONTENT_TYPE, volume_from_bytes

        data, info = self.get_bytes(case_id, name)
        if info["content_type"] != CONTENT_TYPE:
            raise StoreError(f"case {case_id!r} object {name!r} is {info['content_type']}, not a volume")
        return volume_from_bytes(data, info["meta"], f"case {case_id!r} object {name!r}")

    def list_objects(self, case_id: str) -> list[str]:
        """Names of the objects of a case."""
        manifest = self._read_manifest(case_id)
        self._authorize_read(case_id, manifest)
        return sorted(manifest["objects"])

    def is_deidentified(self, case_id: str) -> bool:
        return bool(self._read_manifest(case_id).get("deidentified"))

    def list_cases(self) -> list[str]:
        """Case ids the current user may see (researchers: de-identified cases only)."""
        self.guard.authorize("case.list", "store")
        ids = []
        may_read_all = self.guard.allows("case.read")
        for folder in sorted(p for p in self.cases_dir.iterdir() if p.is_dir()):
            with contextlib.suppress(NotFoundError):
                manifest = self._read_manifest_at(folder)
                if may_read_all or manifest.get("deidentified"):
                    ids.append(manifest["case_id"])
        self.guard.record("case.list", "store", "success", f"{len(ids)} cases")
        return sorted(ids)

    def delete_case(self, case_id: str) -> None:
        """Remove a case (manifest first, so a crash leaves only orphans that recover() removes)."""
        self.guard.authorize("case.delete", case_id)
        folder = self._case_dir(case_id)
        with file_lock(folder / ".lock"):
            self._read_manifest(case_id)
            (folder / MANIFEST).unlink()
            fsync_dir(folder)
            for p in folder.iterdir():
                with contextlib.suppress(OSError):
                    p.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
        self.guard.record("case.delete", case_id, "success")

    # -- integrity, recovery, key rotation --------------------------------------------------------
    def verify(self, case_id: str | None = None) -> list[Problem]:
        """Check every object of one case (or all cases) against its manifest: SM3, presence,
        authentication tag. Returns the problems found, each naming the case, object and file."""
        self.guard.authorize("store.verify", case_id or "store")
        problems: list[Problem] = []
        folders = [self._case_dir(case_id)] if case_id else sorted(self.cases_dir.iterdir())
        for folder in folders:
            if not folder.is_dir():
                continue
            try:
                manifest = self._read_manifest_at(folder)
            except (IntegrityError, NotFoundError) as exc:
                problems.append(
                    Problem(case_id or "?", MANIFEST_OBJECT, folder.name + "/" + MANIFEST, str(exc))
                )
                continue
            cid = manifest["case_id"]
            for name, entry in sorted(manifest["objects"].items()):
                try:
                    self._get(cid, name, manifest)
                except StoreError as exc:
                    problems.append(Problem(cid, name, entry["file"], str(exc)))
        outcome = "success" if not problems else "failure"
        self.guard.record("store.verify", case_id or "store", outcome, f"{len(problems)} problems")
        return problems

    def recover(self) -> list[Path]:
        """After a crash: delete temp files and object versions no manifest references. Returns them."""
        removed: list[Path] = []
        for folder in sorted(p for p in self.cases_dir.iterdir() if p.is_dir()):
            with file_lock(folder / ".lock"):
                removed += remove_temp_files(folder)
                try:
                    referenced = {e["file"] for e in self._read_manifest_at(folder)["objects"].values()}
                except NotFoundError:
                    referenced = set()
                for p in folder.glob("*.obj"):
                    if p.name not in referenced:
                        p.unlink()
                        removed.append(p)
        if removed:
            logger.warning("recovery removed %d unreferenced or temporary files", len(removed))
        return removed

    def rekey(self) -> int:
        """Re-wrap every file key under the current master key (after ``KeyRing.rotate_master``), so
        older master keys can be retired. Data are not re-encrypted. Returns the files rewritten."""
        self.guard.authorize("store.rekey", "store")
        count = 0
        current = self.ring.current_master_id
        for folder in sorted(p for p in self.cases_dir.iterdir() if p.is_dir()):
            with file_lock(folder / ".lock"):
                manifest = self._read_manifest_at(folder)
                for entry in manifest["objects"].values():
                    path = folder / entry["file"]
                    blob = path.read_bytes()
                    if master_of(blob, str(path)) == current:
                        continue
                    new = rewrap(self.ring, blob, folder.name, entry["oid"], str(path))
                    atomic_write(path, new)
                    entry["sm3"], entry["size"] = sm3_hex(new), len(new)
                    count += 1
                self._write_manifest(folder, manifest)  # also re-wraps the manifest's own key
        self.guard.record("store.rekey", "store", "success", f"{count} files re-wrapped to {current}")
        return count


def default_store_root() -> Path:
    """Default store folder: ``$CARDIAC_PLANNING_STORE`` or the user's data folder."""
    env = os.environ.get("CARDIAC_PLANNING_STORE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or (Path.home() / ".local" / "share")
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA", str(Path.home()))
    return Path(base) / "CardiacPlanning" / "store"
