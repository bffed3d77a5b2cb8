"""Encrypted case store: SM4-GCM files with per-file keys wrapped by a master key, SM3 manifests,
atomic crash-safe writes, key file protected by PBKDF2-HMAC-SM3, backups. See docs/security.md."""

from . import atomic, crypto
from .crypto import self_test
from .errors import (
    CryptoSelfTestError,
    IntegrityError,
    KeyFileError,
    NotFoundError,
    StoreError,
    StoreWriteError,
)
from .guard import ACTIONS, Guard, UncheckedGuard
from .keys import KeyRing
from .store import CaseStore, Problem, default_store_root

__all__ = [
    "ACTIONS",
    "atomic",
    "crypto",
    "CaseStore",
    "CryptoSelfTestError",
    "Guard",
    "IntegrityError",
    "KeyFileError",
    "KeyRing",
    "NotFoundError",
    "Problem",
    "StoreError",
    "StoreWriteError",
    "UncheckedGuard",
    "default_store_root",
    "self_test",
]
