"""The encrypted file format of the case store.

Layout::

    b"CPSTORE1" | u32 len | header JSON | u32 len | key section JSON | SM4-GCM(file key, payload)

* header ``{"v": 1, "case": case folder id, "object": object id, "created": iso}`` is the GCM
  associated data (together with the magic), so a file moved to another case or object fails;
* key section ``{"master": id, "key": hex}`` holds the random per-file SM4 key wrapped by a master
  key (its own GCM tag, associated data = case + object), so key rotation rewrites only this part;
* payload = u32 len | metadata JSON | data: names, content type and DICOM-derived metadata are inside
  the encryption, never in clear.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from datetime import datetime, timezone

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .crypto import KEY_BYTES, NONCE_BYTES, random_bytes, sm4_gcm_decrypt
from .errors import IntegrityError
from .keys import KeyRing

MAGIC = b"CPSTORE1"
_U32 = struct.Struct(">I")


def _key_aad(case: str, obj: str) -> bytes:
    return f"filekey|{case}|{obj}".encode()


CHUNK = 4 << 20  # encrypt in 4 MiB pieces: cache-friendly, and no copy of the whole object


def seal_iter(ring: KeyRing, case: str, obj: str, data: bytes, meta: dict) -> Iterator[bytes]:
    """Encrypt ``data`` + ``meta`` for object ``obj`` of case folder ``case``, yielding the file in
    pieces (header, key section, nonce, ciphertext chunks, tag) so the caller can hash and write
    them as they come."""
    header = json.dumps(
        {"v": 1, "case": case, "object": obj, "created": datetime.now(timezone.utc).isoformat()},
        sort_keys=True,
    ).encode()
    file_key = random_bytes(KEY_BYTES)
    master, wrapped = ring.wrap(file_key, _key_aad(case, obj))
    keysec = json.dumps({"master": master, "key": wrapped.hex()}, sort_keys=True).encode()
    meta_b = json.dumps(meta, sort_keys=True, default=str).encode()
    aad = MAGIC + _U32.pack(len(header)) + header
    nonce = random_bytes(NONCE_BYTES)
    enc = Cipher(algorithms.SM4(file_key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    yield aad + _U32.pack(len(keysec)) + keysec + nonce + enc.update(_U32.pack(len(meta_b)) + meta_b)
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield enc.update(view[start : start + CHUNK])
    yield enc.finalize() + enc.tag


def seal(ring: KeyRing, case: str, obj: str, data: bytes, meta: dict) -> bytes:
    """The whole sealed file as one bytes object (see :func:`seal_iter`)."""
    return b"".join(seal_iter(ring, case, obj, data, meta))


def _split(blob: bytes, what: str) -> tuple[bytes, dict, dict, bytes]:
    if not blob.startswith(MAGIC):
        raise IntegrityError(f"{what}: not a case-store file (bad magic)")
    try:
        pos = len(MAGIC)
        (hlen,) = _U32.unpack_from(blob, pos)
        header_b = blob[pos + 4 : pos + 4 + hlen]
        pos += 4 + hlen
        (klen,) = _U32.unpack_from(blob, pos)
        keysec = json.loads(blob[pos + 4 : pos + 4 + klen])
        header = json.loads(header_b)
        body = blob[pos + 4 + klen :]
    except (struct.error, ValueError) as exc:
        raise IntegrityError(f"{what}: header is corrupt ({exc})") from exc
    aad = blob[: len(MAGIC) + 4 + hlen]
    return aad, header, keysec, body


def open_sealed(ring: KeyRing, blob: bytes, case: str, obj: str, what: str) -> tuple[bytes, dict]:
    """Decrypt and authenticate a sealed file; checks it belongs to ``case``/``obj``. Returns (data, meta)."""
    aad, header, keysec, body = _split(blob, what)
    if header.get("case") != case or header.get("object") != obj:
        raise IntegrityError(f"{what}: file belongs to another case/object (moved or swapped)")
    try:
        file_key = ring.unwrap(keysec["master"], bytes.fromhex(keysec["key"]), _key_aad(case, obj), what)
    except (KeyError, ValueError) as exc:
        raise IntegrityError(f"{what}: key section is corrupt") from exc
    plain = sm4_gcm_decrypt(file_key, body, aad, what)
    (mlen,) = _U32.unpack_from(plain, 0)
    return plain[4 + mlen :], json.loads(plain[4 : 4 + mlen])


def master_of(blob: bytes, what: str) -> str:
    """The id of the master key that wraps this file's key."""
    return _split(blob, what)[2]["master"]


def rewrap(ring: KeyRing, blob: bytes, case: str, obj: str, what: str) -> bytes:
    """The same file with its per-file key re-wrapped under the current master key (data untouched)."""
    aad, _header, keysec, body = _split(blob, what)
    file_key = ring.unwrap(keysec["master"], bytes.fromhex(keysec["key"]), _key_aad(case, obj), what)
    master, wrapped = ring.wrap(file_key, _key_aad(case, obj))
    new_keysec = json.dumps({"master": master, "key": wrapped.hex()}, sort_keys=True).encode()
    return aad + _U32.pack(len(new_keysec)) + new_keysec + body
