"""SM2 signatures (GB/T 32918) for audit checkpoints, with the pure-Python ``gmssl`` package (the
only SM2 available here; ~15 ms per signature, so only checkpoints are signed, not every record)."""

from __future__ import annotations

import logging
import os
import secrets

from gmssl import sm2

logger = logging.getLogger(__name__)

_N = int(sm2.default_ecc_table["n"], 16)


def _crypt(private: str, public: str) -> sm2.CryptSM2:
    """A gmssl SM2 object holding exactly ``public`` (128 hex digits, no 04 prefix).

    gmssl's constructor strips a "04" prefix with ``str.lstrip("04")``, which also eats any further
    leading '0'/'4' digits of the x coordinate: about 1 key in 256 (x starting with hex 04) was mangled,
    its signatures never verified. Setting the attribute after construction keeps the key intact."""
    obj = sm2.CryptSM2(private_key=private, public_key="")
    obj.public_key = public
    return obj


def _nonce() -> str:
    """The per-signature secret k in [1, n-1] from the OS CSPRNG (gmssl's ``func.random_hex`` uses
    Python's ``random``, which is not cryptographically secure; a predictable k reveals the key)."""
    return f"{secrets.randbelow(_N - 1) + 1:064x}"


def generate_keypair() -> tuple[bytes, str]:
    """A new SM2 key pair: (private key as 64 hex digits in ASCII bytes, public key as 128 hex digits)."""
    d = int.from_bytes(os.urandom(40), "big") % (_N - 2) + 1  # uniform enough: 320 random bits mod n
    private_hex = f"{d:064x}"
    public = sm2.CryptSM2(private_key=private_hex, public_key="")._kg(d, sm2.default_ecc_table["g"])
    return private_hex.encode(), public


def public_from_private(private: bytes) -> str:
    """The public key (128 hex digits) of a private key given as hex bytes."""
    d = int(private.decode(), 16)
    return sm2.CryptSM2(private_key=private.decode(), public_key="")._kg(d, sm2.default_ecc_table["g"])


def sign(private: bytes, public: str, message: bytes) -> str:
    """SM2 signature (with the SM3 Z-value, as GB/T 32918 specifies) of ``message``; hex r||s."""
    return _crypt(private.decode(), public).sign_with_sm3(message, _nonce())


def verify(public: str, message: bytes, signature: str) -> bool:
    """True when ``signature`` is a valid SM2 signature of ``message`` under ``public``."""
    try:
        return bool(_crypt("", public).verify_with_sm3(signature, message))
    except (ValueError, IndexError, TypeError):
        return False
