"""A decrypted working folder in RAM, so that the file-based tools (segmentation, propagation, stent
reconstruction, measurements, reports) can run on a case kept in the encrypted store.

:class:`Stage` decrypts the named objects of one case into a private folder (mode 0700) on a RAM
file system (``/dev/shm`` on Linux, or ``$CARDIAC_PLANNING_STAGE_DIR``), lets the tool read and write
files there, saves every file the tool created or changed back into the case (volumes as volume
objects, anything else as bytes), and then overwrites and deletes the folder, also after an error.
Nothing decrypted reaches a disk: where no RAM folder exists, :func:`ram_root` refuses with a clear
error instead of falling back to the disk temp folder. Every read and write goes through the
:class:`~CardiacPlanningLib.store.CaseStore` given, so it is permission-checked and audited.

Residual risk (docs/security.md): RAM pages of a tmpfs can be swapped out; hospital workstations
must use no swap or encrypted swap.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import NotFoundError, StoreError
from .store import CaseStore

logger = logging.getLogger(__name__)

ENV_STAGE_DIR = "CARDIAC_PLANNING_STAGE_DIR"
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def _is_tmpfs(path: str) -> bool:
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            return any(line.split()[1:3] == [path, "tmpfs"] for line in mounts if len(line.split()) > 2)
    except OSError:
        return False


def ram_root() -> Path:
    """The RAM folder for decrypted working files: ``$CARDIAC_PLANNING_STAGE_DIR`` (the site vouches
    that it is a RAM disk), else ``/dev/shm`` when it is a tmpfs; otherwise a :class:`StoreError`."""
    env = os.environ.get(ENV_STAGE_DIR)
    if env:
        return Path(env)
    if sys.platform.startswith("linux") and _is_tmpfs("/dev/shm"):
        return Path("/dev/shm")
    raise StoreError(
        "no RAM folder for decrypted working files: set $" + ENV_STAGE_DIR + " to a RAM disk "
        "(tmpfs); decrypted case data are never written to the disk"
    )


def _scalar_volume(path: Path):
    """The scalar image at ``path`` as a Volume, or None for a multi-component image."""
    from ..errors import CardiacInputError
    from ..imaging.volume import Volume

    try:
        return Volume.read(path)
    except CardiacInputError as exc:
        if "multi-component" not in str(exc):
            raise
        return None


def _is_volume(name: str) -> bool:
    return name.lower().endswith(VOLUME_SUFFIXES)


class Stage:
    """Decrypted working copy of some objects of ``case_id`` in RAM (use as a context manager)."""

    def __init__(self, store: CaseStore, case_id: str) -> None:
        self.store, self.case_id = store, case_id
        self.root = Path(tempfile.mkdtemp(prefix="cardiac-stage-", dir=ram_root()))
        self._staged: dict[str, tuple[int, int]] = {}  # relative path -> (size, mtime_ns) as staged
        self.saved: list[str] = []

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wipe()

    # -- in ---------------------------------------------------------------------------------------
    def fetch(self, name: str) -> Path:
        """Decrypt object ``name`` of the case, or every object under the folder ``name/`` (``.``:
        the whole case), into the stage. Returns the staged path to give the tool."""
        name = name.strip().strip("/") or "."
        objects = self.store.list_objects(self.case_id)
        if name == ".":
            chosen = objects
        else:
            chosen = [o for o in objects if o == name or o.startswith(name + "/")]
        if not chosen:
            raise NotFoundError(f"case {self.case_id!r} has no object or folder {name!r}")
        for obj in chosen:
            self._write_object(obj)
        if name in objects and not _is_volume(name) and self._is_volume_object(name):
            return self.root / f"{name}.nii.gz"
        return self.root / name if name != "." else self.root

    def _is_volume_object(self, name: str) -> bool:
        return (self.root / f"{name}.nii.gz").exists()

    def _target(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise StoreError(f"object name {name!r} leaves the working folder")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def _write_object(self, name: str) -> None:
        from .volume_io import CONTENT_TYPE, volume_from_bytes

        data, info = self.store.get_bytes(self.case_id, name)
        if info["content_type"] == CONTENT_TYPE:
            path = self._target(name if _is_volume(name) else f"{name}.nii.gz")
            volume_from_bytes(data, info["meta"], f"case {self.case_id!r} object {name!r}").write(path)
        else:
            path = self._target(name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        st = path.stat()
        self._staged[path.relative_to(self.root).as_posix()] = (st.st_size, st.st_mtime_ns)

    # -- out --------------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        """Where the tool writes output ``name`` (a file or a folder) of the case."""
        return self._target(name.strip().strip("/"))

    def collect(self) -> list[str]:
        """Save every file the tool created or changed into the case; returns the object names.
        Scalar images become volume objects (``put_volume``), the rest bytes with a guessed type."""
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            rel = path.relative_to(self.root).as_posix()
            st = path.stat()
            if self._staged.get(rel) == (st.st_size, st.st_mtime_ns):
                continue  # an input, unchanged
            volume = _scalar_volume(path) if _is_volume(rel) else None
            if volume is not None:
                self.store.put_volume(self.case_id, rel, volume)
            else:  # not an image, or one Volume does not hold (e.g. a displacement field): bytes
                kind = mimetypes.guess_type(rel)[0] or "application/octet-stream"
                self.store.put_bytes(self.case_id, rel, path.read_bytes(), kind)
            self.saved.append(rel)
        return list(self.saved)

    # -- cleanup ----------------------------------------------------------------------------------
    def wipe(self) -> None:
        """Overwrite every file with zeros, then delete the folder (best effort on errors)."""
        wipe_folder(self.root)


def wipe_folder(root: Path) -> None:
    """Overwrite every file under ``root`` with zeros, then delete the folder (best effort)."""
    root = Path(root)
    if not root.exists():
        return
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError), open(path, "r+b") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(0)
                for start in range(0, size, 1 << 20):
                    f.write(bytes(min(1 << 20, size - start)))
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def ram_folder(prefix: str = "cardiac-work-"):
    """A private (0700) folder in RAM (:func:`ram_root`) for files that hold case data only on their
    way into the store or a viewer; overwritten and deleted when the block ends, also after an error.
    No RAM folder: a :class:`StoreError`, never the disk temp folder."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=ram_root()))
    try:
        yield root
    finally:
        wipe_folder(root)
