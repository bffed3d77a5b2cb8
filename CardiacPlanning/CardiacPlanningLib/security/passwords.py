"""Password rules and password hashing.

Hash: PBKDF2-HMAC-SM3 (RFC 8018 with the SM3 HMAC as PRF), 16-byte random salt, 32-byte output,
stored as ``pbkdf2-sm3$<iterations>$<salt hex>$<hash hex>``. PBKDF2-HMAC-SM3 is chosen over scrypt
because it is built on a commercial-cryptography (GM/T) primitive, as GB/T 39786-2021 expects for
identity authentication; 200,000 iterations cost ~0.2 s per login on this machine class.
"""

from __future__ import annotations

import logging
import string
import unicodedata
from dataclasses import dataclass

from ..store.crypto import constant_time_equal, pbkdf2_sm3, random_bytes
from .errors import PasswordPolicyError

logger = logging.getLogger(__name__)

DEFAULT_HASH_ITERATIONS = 200_000


@dataclass(frozen=True)
class PasswordPolicy:
    """Password and account rules (defaults follow common MLPS level-3 practice)."""

    min_length: int = 12
    min_classes: int = 3  # of: lower case, upper case, digit, other
    max_age_days: int = 90  # then the user must change it at the next login
    history: int = 5  # a new password may not repeat any of the last N
    max_failures: int = 5  # consecutive failed logins before lockout
    lockout_minutes: int = 30
    idle_timeout_minutes: int = 15

    def check(self, password: str, username: str) -> None:
        """Raise :class:`PasswordPolicyError` listing every rule ``password`` breaks."""
        broken = []
        if len(password) < self.min_length:
            broken.append(f"needs at least {self.min_length} characters")
        classes = sum(
            any(test(c) for c in password)
            for test in (str.islower, str.isupper, str.isdigit, lambda c: c in string.punctuation or c == " ")
        )
        if classes < self.min_classes:
            broken.append(f"needs at least {self.min_classes} of: lower case, upper case, digit, symbol")
        if username and username.lower() in password.lower():
            broken.append("must not contain the user name")
        if broken:
            raise PasswordPolicyError("password rejected: " + "; ".join(broken))


def hash_password(password: str, iterations: int = DEFAULT_HASH_ITERATIONS) -> str:
    """Salted PBKDF2-HMAC-SM3 hash string (see module docstring)."""
    salt = random_bytes(16)
    digest = pbkdf2_sm3(_norm(password), salt, iterations, 32)
    return f"pbkdf2-sm3${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash string (constant-time comparison)."""
    try:
        scheme, iters, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2-sm3":
        return False
    got = pbkdf2_sm3(_norm(password), bytes.fromhex(salt), int(iters), 32)
    return constant_time_equal(got, bytes.fromhex(digest))


def _norm(password: str) -> bytes:
    return unicodedata.normalize("NFC", password).encode("utf-8")
