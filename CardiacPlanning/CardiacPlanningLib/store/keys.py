"""The key file: master keys (which wrap the per-file keys), the index key (pseudonymous folder and
file names), the audit HMAC key and the SM2 checkpoint-signing key, all wrapped with SM4-GCM under a
key-encryption key derived from the passphrase with PBKDF2-HMAC-SM3.

Format (JSON, written atomically)::

    {"format": "cardiac-planning-keyfile", "version": 1,
     "kdf": {"name": "PBKDF2-HMAC-SM3", "iterations": 600000, "salt": hex16},
     "current_master": "m2", "masters": {"m1": hex, "m2": hex},   # SM4-GCM(KEK, key, aad=name)
     "secrets": {"index": hex, "audit_mac": hex, "sm2_private": hex},
     "sm2_public": hex128, "created": iso, "mac": hex}            # HMAC-SM3(K_mac, rest)

``K_mac = HMAC-SM3(KEK, "keyfile-mac")``, so a wrong passphrase or any edit of the file fails.
Rotation adds a new master key and makes it current; :meth:`CaseStore.rekey` then re-wraps every
file key and :meth:`KeyRing.retire_master` drops the old one.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

from .atomic import atomic_write, make_dirs
from .crypto import KEY_BYTES, hmac_sm3, pbkdf2_sm3, random_bytes, self_test, sm4_gcm_decrypt, sm4_gcm_encrypt
from .errors import IntegrityError, KeyFileError

logger = logging.getLogger(__name__)

FORMAT = "cardiac-planning-keyfile"
# PBKDF2 iteration count for the passphrase: 600,000 HMAC-SM3 iterations (~0.6 s on this machine
# class), following the order of magnitude OWASP recommends for PBKDF2-HMAC-SHA256 in 2023.
DEFAULT_ITERATIONS = 600_000
MIN_PASSPHRASE_CHARS = 12


def _passphrase_bytes(passphrase: str) -> bytes:
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _canonical(doc: dict) -> bytes:
    return json.dumps({k: v for k, v in doc.items() if k != "mac"}, sort_keys=True).encode()


class KeyRing:
    """The unlocked key file. Hold it only in memory; keys never touch the disk unwrapped."""

    def __init__(self, path: Path, doc: dict, kek: bytes) -> None:
        self.path = Path(path)
        self._doc = doc
        self._kek = kek
        self._masters = {
            mid: sm4_gcm_decrypt(kek, bytes.fromhex(blob), f"master:{mid}".encode(), f"{path} master {mid}")
            for mid, blob in doc["masters"].items()
        }
        self._secrets = {
            name: sm4_gcm_decrypt(kek, bytes.fromhex(blob), f"secret:{name}".encode(), f"{path} {name}")
            for name, blob in doc["secrets"].items()
        }

    # -- creation and opening ---------------------------------------------------------------------
    @classmethod
    def create(
        cls, path: Path, passphrase: str, iterations: int = DEFAULT_ITERATIONS, overwrite: bool = False
    ) -> KeyRing:
        """Create a new key file at ``path`` protected by ``passphrase`` (>= 12 characters)."""
        self_test()
        path = Path(path)
        if path.exists() and not overwrite:
            raise KeyFileError(f"key file {path} already exists; refusing to overwrite it")
        if len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise KeyFileError(f"key-file passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")
        from ..security.sm2sign import generate_keypair  # local import: security depends on store

        make_dirs(path.parent)
        salt = random_bytes(16)
        kek = pbkdf2_sm3(_passphrase_bytes(passphrase), salt, iterations)
        private, public = generate_keypair()
        secrets = {"index": random_bytes(32), "audit_mac": random_bytes(32), "sm2_private": private}
        doc = {
            "format": FORMAT,
            "version": 1,
            "kdf": {"name": "PBKDF2-HMAC-SM3", "iterations": iterations, "salt": salt.hex()},
            "current_master": "m1",
            "masters": {"m1": sm4_gcm_encrypt(kek, random_bytes(KEY_BYTES), b"master:m1").hex()},
            "secrets": {n: sm4_gcm_encrypt(kek, v, f"secret:{n}".encode()).hex() for n, v in secrets.items()},
            "sm2_public": public,
            "created": datetime.now(timezone.utc).isoformat(),
        }
        ring = cls(path, doc, kek)
        ring._save()
        logger.info("created key file %s", path)
        return ring

    @classmethod
    def open(cls, path: Path, passphrase: str) -> KeyRing:
        """Unlock the key file; :class:`KeyFileError` if missing, edited or the passphrase is wrong."""
        self_test()
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KeyFileError(f"key file {path} not found (run `cardiac-planning admin init`)") from exc
        except (OSError, ValueError) as exc:
            raise KeyFileError(f"key file {path} is unreadable or corrupt: {exc}") from exc
        if doc.get("format") != FORMAT or doc.get("kdf", {}).get("name") != "PBKDF2-HMAC-SM3":
            raise KeyFileError(f"{path} is not a cardiac-planning key file")
        kdf = doc["kdf"]
        kek = pbkdf2_sm3(_passphrase_bytes(passphrase), bytes.fromhex(kdf["salt"]), int(kdf["iterations"]))
        mac = hmac_sm3(hmac_sm3(kek, b"keyfile-mac"), _canonical(doc))
        if mac.hex() != doc.get("mac"):
            raise KeyFileError(f"wrong passphrase for key file {path} (or the file was edited)")
        try:
            return cls(path, doc, kek)
        except IntegrityError as exc:
            raise KeyFileError(str(exc)) from exc

    def _save(self) -> None:
        self._doc["mac"] = hmac_sm3(hmac_sm3(self._kek, b"keyfile-mac"), _canonical(self._doc)).hex()
        atomic_write(self.path, json.dumps(self._doc, indent=1, sort_keys=True).encode())

    # -- keys -------------------------------------------------------------------------------------
    @property
    def current_master_id(self) -> str:
        return self._doc["current_master"]

    @property
    def master_ids(self) -> list[str]:
        return sorted(self._masters)

    def master_key(self, master_id: str) -> bytes:
        try:
            return self._masters[master_id]
        except KeyError:
            raise KeyFileError(
                f"master key {master_id!r} is not in key file {self.path} (retired?)"
            ) from None

    def secret(self, name: str) -> bytes:
        """A named secret: ``index``, ``audit_mac`` or ``sm2_private`` (hex of the SM2 private key)."""
        return self._secrets[name]

    @property
    def sm2_public(self) -> str:
        return self._doc["sm2_public"]

    @property
    def iterations(self) -> int:
        return int(self._doc["kdf"]["iterations"])

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        """Wrap a per-file key with the current master key. Returns (master id, wrapped blob)."""
        mid = self.current_master_id
        return mid, sm4_gcm_encrypt(self._masters[mid], key, aad)

    def unwrap(self, master_id: str, blob: bytes, aad: bytes, what: str) -> bytes:
        return sm4_gcm_decrypt(self.master_key(master_id), blob, aad, what)

    # -- rotation ---------------------------------------------------------------------------------
    def rotate_master(self) -> str:
        """Add a fresh master key and make it current (new files use it). Returns its id."""
        n = max(int(m[1:]) for m in self._doc["masters"]) + 1
        mid = f"m{n}"
        key = random_bytes(KEY_BYTES)
        self._doc["masters"][mid] = sm4_gcm_encrypt(self._kek, key, f"master:{mid}".encode()).hex()
        self._doc["current_master"] = mid
        self._save()
        self._masters[mid] = key
        logger.info("rotated master key: %s is current", mid)
        return mid

    def retire_master(self, master_id: str) -> None:
        """Drop a non-current master key (after every file was re-wrapped by ``CaseStore.rekey``)."""
        if master_id == self.current_master_id:
            raise KeyFileError(f"cannot retire the current master key {master_id}")
        self._doc["masters"].pop(master_id, None)
        self._masters.pop(master_id, None)
        self._save()

    def change_passphrase(self, new_passphrase: str, iterations: int | None = None) -> None:
        """Re-wrap every key under a key derived from ``new_passphrase`` (keys themselves unchanged)."""
        if len(new_passphrase) < MIN_PASSPHRASE_CHARS:
            raise KeyFileError(f"key-file passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")
        iterations = iterations or self.iterations
        salt = random_bytes(16)
        kek = pbkdf2_sm3(_passphrase_bytes(new_passphrase), salt, iterations)
        self._doc["kdf"] = {"name": "PBKDF2-HMAC-SM3", "iterations": iterations, "salt": salt.hex()}
        self._doc["masters"] = {
            m: sm4_gcm_encrypt(kek, k, f"master:{m}".encode()).hex() for m, k in self._masters.items()
        }
        self._doc["secrets"] = {
            n: sm4_gcm_encrypt(kek, v, f"secret:{n}".encode()).hex() for n, v in self._secrets.items()
        }
        self._kek = kek
        self._save()
