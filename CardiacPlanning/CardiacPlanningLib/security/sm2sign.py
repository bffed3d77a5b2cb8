"""SM2 signatures (GB/T 32918) for audit checkpoints, with the pure-Python ``gmssl`` package (the
only SM2 available here; ~15 ms per signature, so only checkpoints are signed, not every record)."""

from __future__ import annotations

import logging
import os

from gmssl import func, sm2

logger = logging.getLogger(__name__)

_N = int(sm2.default_ecc_table["n"], 16)


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
    signer = sm2.CryptSM2(private_key=private.decode(), public_key=public)
    return signer.sign_with_sm3(message, func.random_hex(signer.para_len))


def verify(public: str, message: bytes, signature: str) -> bool:
    """True when ``signature`` is a valid SM2 signature of ``message`` under ``public``."""
    try:
        return bool(sm2.CryptSM2(private_key="", public_key=public).verify_with_sm3(signature, message))
    except (ValueError, IndexError, TypeError):
        return False
