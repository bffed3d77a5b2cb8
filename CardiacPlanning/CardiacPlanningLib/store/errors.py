"""Errors of the encrypted case store, its keys and backups. Messages name the file or case."""

from __future__ import annotations

from ..errors import CardiacPlanningError


class StoreError(CardiacPlanningError):
    """Base class of the case store's errors."""


class CryptoSelfTestError(StoreError):
    """A cryptographic primitive did not reproduce its published test vector: refuse to run."""


class KeyFileError(StoreError):
    """The key file is missing, corrupt, or the passphrase is wrong."""


class IntegrityError(StoreError):
    """A stored file, manifest or backup failed its authentication or SM3 check (tampering or corruption)."""


class StoreWriteError(StoreError):
    """Writing failed (disk full, read-only folder, permission): nothing already saved was changed."""


class NotFoundError(StoreError, KeyError):
    """The requested case or object is not in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""
