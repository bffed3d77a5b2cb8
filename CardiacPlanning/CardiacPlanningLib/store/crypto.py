"""Commercial-cryptography primitives (SM4-GCM, SM3, HMAC-SM3, PBKDF2-HMAC-SM3) on ``cryptography``
(OpenSSL), with a start-up self-test against the published test vectors.

Standards: SM4 block cipher GB/T 32907-2016 (= GM/T 0002-2012), SM3 hash GB/T 32905-2016
(= GM/T 0004-2012), SM4-GCM as specified for TLS in RFC 8998. SM2 signatures are in
:mod:`CardiacPlanningLib.security.sm2sign` (``gmssl``), since ``cryptography`` has no SM2.
"""

from __future__ import annotations

import hmac as _pyhmac
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from .errors import CryptoSelfTestError, IntegrityError

logger = logging.getLogger(__name__)

KEY_BYTES = 16  # SM4 keys are 128 bit
NONCE_BYTES = 12  # GCM nonce (96 bit, random per encryption)
TAG_BYTES = 16  # full 128-bit GCM tag


def random_bytes(n: int) -> bytes:
    """Cryptographically secure random bytes (the OS generator)."""
    return os.urandom(n)


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes) of ``data``."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def sm3_hex(data: bytes) -> str:
    """SM3 digest of ``data`` as 64 lowercase hex digits."""
    return sm3(data).hex()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 (RFC 2104 construction over SM3) of ``data``, 32 bytes."""
    h = hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two MACs/digests without leaking timing."""
    return _pyhmac.compare_digest(a, b)


def pbkdf2_sm3(secret: bytes, salt: bytes, iterations: int, length: int = KEY_BYTES) -> bytes:
    """PBKDF2 (RFC 8018) with HMAC-SM3 as the PRF."""
    if iterations < 1:
        raise ValueError(f"PBKDF2 iterations must be >= 1, got {iterations}")
    return PBKDF2HMAC(hashes.SM3(), length, salt, iterations).derive(secret)


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes = b"", nonce: bytes | None = None) -> bytes:
    """SM4-GCM encryption. Returns ``nonce (12) || ciphertext || tag (16)``; a fresh random nonce is
    drawn unless one is given (only the self-test gives one)."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"SM4 key must be {KEY_BYTES} bytes, got {len(key)}")
    nonce = random_bytes(NONCE_BYTES) if nonce is None else nonce
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return nonce + body + enc.tag


def sm4_gcm_decrypt(key: bytes, blob: bytes, aad: bytes = b"", what: str = "data") -> bytes:
    """Inverse of :func:`sm4_gcm_encrypt`; raises :class:`IntegrityError` naming ``what`` if the tag,
    the associated data or the key does not match."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise IntegrityError(f"{what}: encrypted block is truncated ({len(blob)} bytes)")
    nonce, body, tag = blob[:NONCE_BYTES], blob[NONCE_BYTES:-TAG_BYTES], blob[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    if aad:
        dec.authenticate_additional_data(aad)
    try:
        return dec.update(body) + dec.finalize()
    except InvalidTag as exc:
        raise IntegrityError(f"{what}: authentication failed (tampered, corrupt, or wrong key)") from exc


# --- published test vectors -----------------------------------------------------------------------
# GB/T 32907-2016 (GM/T 0002-2012) appendix A, example 1: key = plaintext.
_SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
_SM4_CT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
# GB/T 32905-2016 (GM/T 0004-2012) appendix A, examples 1 ("abc") and 2 ("abcd" x 16).
_SM3_VECTORS = (
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
)
# RFC 8998 appendix A.1 (SM4-GCM).
_GCM_IV = bytes.fromhex("00001234567800000000abcd")
_GCM_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
_GCM_PT = bytes.fromhex(
    "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
    "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa"
)
_GCM_CT = bytes.fromhex(
    "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
    "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
)
_GCM_TAG = bytes.fromhex("83de3541e4c2b58177e065a9bf7b62ec")

_self_test_passed = False


def self_test(force: bool = False) -> None:
    """Check SM4, SM3 and SM4-GCM against the published vectors above (once per process).
    Raises :class:`CryptoSelfTestError` naming the failing primitive; the store refuses to open then."""
    global _self_test_passed
    if _self_test_passed and not force:
        return
    enc = Cipher(algorithms.SM4(_SM4_KEY), modes.ECB()).encryptor()
    got = enc.update(_SM4_KEY) + enc.finalize()
    if got != _SM4_CT:
        raise CryptoSelfTestError(f"SM4 (GB/T 32907 example 1) gave {got.hex()}, expected {_SM4_CT.hex()}")
    dec = Cipher(algorithms.SM4(_SM4_KEY), modes.ECB()).decryptor()
    if dec.update(_SM4_CT) + dec.finalize() != _SM4_KEY:
        raise CryptoSelfTestError("SM4 decryption (GB/T 32907 example 1) failed")
    for message, expected in _SM3_VECTORS:
        if sm3_hex(message) != expected:
            raise CryptoSelfTestError(f"SM3 (GB/T 32905) of {message[:8]!r}... gave {sm3_hex(message)}")
    blob = sm4_gcm_encrypt(_SM4_KEY, _GCM_PT, _GCM_AAD, nonce=_GCM_IV)
    if blob[NONCE_BYTES:] != _GCM_CT + _GCM_TAG:
        raise CryptoSelfTestError("SM4-GCM (RFC 8998 A.1) ciphertext/tag mismatch")
    if sm4_gcm_decrypt(_SM4_KEY, blob, _GCM_AAD) != _GCM_PT:
        raise CryptoSelfTestError("SM4-GCM (RFC 8998 A.1) decryption mismatch")
    _self_test_passed = True
    logger.info("crypto self-test passed (SM4, SM3, SM4-GCM)")
