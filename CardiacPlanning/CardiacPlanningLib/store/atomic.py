"""Crash-safe file writes: temp file in the same folder, fsync, ``os.replace``, folder fsync.

After :func:`atomic_write` returns, the new content is durable and a reader sees either the old or
the new file, never a torn one. A failure (disk full, read-only folder, permission) raises
:class:`StoreWriteError` with the path and leaves the previous file untouched.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import StoreWriteError

logger = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
WRITE_AHEAD = 2  # pieces waiting for the writer thread (bounded memory)

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the folder is on a read-only file system",
    errno.EACCES: "permission denied (read-only folder?)",
    errno.EPERM: "operation not permitted (read-only folder?)",
}


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (tests replace this to inject ENOSPC)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view[: 1 << 24])
        view = view[n:]


def fsync_dir(folder: Path) -> None:
    """Make a rename/creation in ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_error(path: Path, exc: OSError) -> StoreWriteError:
    """A :class:`StoreWriteError` that says what went wrong writing ``path`` and that old data is kept."""
    reason = _REASONS.get(exc.errno or -1, exc.strerror or str(exc))
    return StoreWriteError(
        f"cannot save {path}: {reason}. Nothing already saved was changed; free space or fix the "
        f"folder's permissions and save again."
    )


def _writeback_starter() -> Callable[[int, int, int], None]:
    """Linux ``sync_file_range(fd, offset, n, SYNC_FILE_RANGE_WRITE)``: start writing a written range
    to the disk now, without waiting, so that the final fsync has little left to do (the disk works
    while the next pieces are encrypted). A no-op elsewhere, or where libc lacks it."""
    if not sys.platform.startswith("linux"):
        return lambda fd, offset, n: None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.sync_file_range
        func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    except (OSError, AttributeError):
        return lambda fd, offset, n: None
    return lambda fd, offset, n: func(fd, offset, n, 2)  # 2 = SYNC_FILE_RANGE_WRITE; errors ignored


_start_writeback = _writeback_starter()


def _pipelined_write(fd: int, pieces: Iterable[bytes], observe: Callable[[bytes], None] | None) -> None:
    """Write ``pieces`` to ``fd`` on a worker thread (calling ``observe`` on each first, e.g. a hash
    update), while the caller's generator produces the next pieces. OpenSSL (SM4-GCM, SM3) and
    ``os.write`` release the GIL, so producing piece i+1 overlaps hashing and writing piece i: a store
    write costs about max(encryption, hashing + write) instead of their sum. At most ``WRITE_AHEAD``
    pieces wait (bounded memory); one worker keeps the order. Errors surface here, in the caller."""

    offset = 0

    def consume(piece: bytes) -> None:
        nonlocal offset
        if observe is not None:
            observe(piece)
        _write_all(fd, piece)
        if len(piece) >= 1 << 20:
            _start_writeback(fd, offset, len(piece))
        offset += len(piece)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="atomic-write") as pool:
        pending: deque = deque()
        try:
            for piece in pieces:
                if len(pending) >= WRITE_AHEAD:
                    pending.popleft().result()
                pending.append(pool.submit(consume, piece))
        finally:
            while pending:
                pending.popleft().result()


def atomic_write(
    path: Path, data: bytes | Iterable[bytes], observe: Callable[[bytes], None] | None = None
) -> None:
    """Write ``data`` (bytes, or an iterable of byte pieces) to ``path`` atomically and durably.
    ``observe`` (optional) sees every piece before it is written, e.g. to hash the file on the way;
    iterables are written on a worker thread that overlaps the producer (see :func:`_pipelined_write`)."""
    path = Path(path)
    folder = path.parent
    tmp = folder / f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        try:
            if isinstance(data, (bytes, bytearray, memoryview)):
                if observe is not None:
                    observe(data)
                _write_all(fd, data)
            else:
                _pipelined_write(fd, data, observe)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(path, exc) from exc
    except BaseException:  # the producer failed (or was interrupted): leave no temp file behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def make_dirs(folder: Path) -> None:
    """Create ``folder`` (and parents) durably, translating OS errors."""
    folder = Path(folder)
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fsync_dir(folder.parent)
    except OSError as exc:
        raise write_error(folder, exc) from exc


def remove_temp_files(folder: Path) -> list[Path]:
    """Delete temp files left by a crash in ``folder`` (never a committed file). Returns what was removed."""
    removed = []
    for p in Path(folder).glob(f"{TEMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock on ``path`` (POSIX ``flock``; a process killed while holding it
    releases it). On platforms without ``fcntl`` this is a no-op: one writer per store is assumed."""
    try:
        import fcntl
    except ImportError:  # Windows: single-writer assumption, documented in docs/security.md
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise write_error(Path(path), exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def open_durable_db(path: Path, schema: str) -> sqlite3.Connection:
    """An SQLite database in autocommit mode, WAL journal and ``synchronous=FULL`` (every commit is
    fsynced before it is acknowledged), with ``schema`` (idempotent DDL) applied."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db
