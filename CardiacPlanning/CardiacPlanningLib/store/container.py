"""The encrypted file format of the case store.

Layout::

    b"CPSTORE1" | u32 len | header JSON | u32 len | key section JSON | SM4-GCM(file key, payload)

* header ``{"v": 1, "case": case folder id, "object": object id, "created": iso}`` is the GCM
  associated data (together with the magic), so a file moved to another case or object fails;
* key section ``{"master": id, "key": hex}`` holds the random per-file SM4 key wrapped by a master
  key (its own GCM tag, associated data = case + object), so key rotation rewrites only this part;
* payload = u32 len | metadata JSON | data: names, content type and DICOM-derived metadata are inside
  the encryption, never in clear.

Version 2 (``b"CPSTORE2"``, written since 2026-11-28; version 1 files stay readable) encrypts the
payload in segments so that two cores can encrypt one object at once (``cryptography`` releases the
GIL)::

    b"CPSTORE2" | u32 len | header JSON (+ "seg": segment bytes) | u32 len | key section JSON
    | nonce prefix (8 random bytes) | segment 0 | segment 1 | ... | segment n-1

Segment i = SM4-GCM(file key, nonce = prefix || u32 i, aad = magic + header + u32 i + final flag,
payload[i*seg : (i+1)*seg]) ciphertext || 16-byte tag; only the last segment carries final flag 1.
This is the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizar ("Online
authenticated-encryption and its nonce-reuse misuse-resistance", CRYPTO 2015): reordering,
dropping, duplicating or truncating segments fails authentication. The file key is random per file
version, so a (key, nonce) pair is never reused.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .crypto import KEY_BYTES, TAG_BYTES, random_bytes, sm4_gcm_decrypt
from .errors import IntegrityError
from .keys import KeyRing

MAGIC = b"CPSTORE1"
_U32 = struct.Struct(">I")


def _key_aad(case: str, obj: str) -> bytes:
    return f"filekey|{case}|{obj}".encode()


MAGIC2 = b"CPSTORE2"
SEGMENT = 4 << 20  # version 2 segment size (plaintext bytes); each is one SM4-GCM message
PREFIX_BYTES = 8
ENCRYPT_THREADS = 2  # segments encrypted at once (OpenSSL releases the GIL)
AHEAD = 2  # further segments queued, so a thread that gets a core late does not stall the others


def _segment_aad(aad: bytes, index: int, final: bool) -> bytes:
    return aad + _U32.pack(index) + (b"\x01" if final else b"\x00")


def _segment_nonce(prefix: bytes, index: int) -> bytes:
    return prefix + _U32.pack(index)


def _encrypt_segment(
    key: bytes, prefix: bytes, aad: bytes, index: int, final: bool, plain
) -> tuple[bytes, bytes]:
    """(ciphertext, tag) of one segment. ``update`` (not ``update_into``, which holds the GIL in
    ``cryptography``) so that two segments really are encrypted at once."""
    enc = Cipher(algorithms.SM4(key), modes.GCM(_segment_nonce(prefix, index))).encryptor()
    enc.authenticate_additional_data(_segment_aad(aad, index, final))
    body = enc.update(plain)
    return body, enc.finalize() + enc.tag  # GCM encryption finalize() returns no more bytes


def _segments(prefix_plain: bytes, data) -> Iterator[memoryview | bytes]:
    """The payload (``prefix_plain`` + ``data``) cut into SEGMENT-byte pieces; only pieces that
    overlap ``prefix_plain`` are copied, the rest are views of ``data``."""
    view, n = memoryview(data).cast("B"), len(prefix_plain)
    total = n + len(view)
    for start in range(0, total, SEGMENT):
        end = min(start + SEGMENT, total)
        if start >= n:
            yield view[start - n : end - n]
        else:
            yield prefix_plain[start : min(end, n)] + bytes(view[: max(0, end - n)])


def seal_iter(ring: KeyRing, case: str, obj: str, data: bytes, meta: dict) -> Iterator[bytes]:
    """Encrypt ``data`` + ``meta`` for object ``obj`` of case folder ``case`` (format version 2),
    yielding the file in pieces (header + key section + nonce prefix, then one piece per segment,
    in order) so the caller can hash and write them as they come. ``ENCRYPT_THREADS`` segments
    are encrypted at once; at most ``ENCRYPT_THREADS + AHEAD`` wait in memory."""
    header = json.dumps(
        {
            "v": 2,
            "case": case,
            "object": obj,
            "seg": SEGMENT,
            "created": datetime.now(timezone.utc).isoformat(),
        },
        sort_keys=True,
    ).encode()
    file_key = random_bytes(KEY_BYTES)
    master, wrapped = ring.wrap(file_key, _key_aad(case, obj))
    keysec = json.dumps({"master": master, "key": wrapped.hex()}, sort_keys=True).encode()
    meta_b = json.dumps(meta, sort_keys=True, default=str).encode()
    aad = MAGIC2 + _U32.pack(len(header)) + header
    prefix = random_bytes(PREFIX_BYTES)
    yield aad + _U32.pack(len(keysec)) + keysec + prefix
    payload_len = 4 + len(meta_b) + len(data)
    count = max(1, -(-payload_len // SEGMENT))
    pieces = _segments(_U32.pack(len(meta_b)) + meta_b, data)
    with ThreadPoolExecutor(max_workers=ENCRYPT_THREADS, thread_name_prefix="store-sm4") as pool:
        pending: deque = deque()
        for index, plain in enumerate(pieces):
            pending.append(
                pool.submit(_encrypt_segment, file_key, prefix, aad, index, index == count - 1, plain)
            )
            if len(pending) >= ENCRYPT_THREADS + AHEAD:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _open_v2(file_key: bytes, aad: bytes, header: dict, body: bytes, what: str) -> bytes:
    seg = int(header.get("seg", 0))
    if seg <= 0 or len(body) < PREFIX_BYTES + TAG_BYTES:
        raise IntegrityError(f"{what}: segmented file is truncated or its header is corrupt")
    prefix, view = body[:PREFIX_BYTES], memoryview(body)[PREFIX_BYTES:]
    full = seg + TAG_BYTES
    count = max(1, -(-len(view) // full))
    total = len(view) - count * TAG_BYTES
    if total < 0 or len(view) - (count - 1) * full < TAG_BYTES:
        raise IntegrityError(f"{what}: last segment is truncated")

    def decrypt(index: int) -> bytes:
        part = view[index * full : (index + 1) * full]
        nonce, tag = _segment_nonce(prefix, index), bytes(part[-TAG_BYTES:])
        dec = Cipher(algorithms.SM4(file_key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(_segment_aad(aad, index, index == count - 1))
        try:
            return dec.update(part[:-TAG_BYTES]) + dec.finalize()
        except InvalidTag as exc:
            raise IntegrityError(
                f"{what}: segment {index} failed authentication (tampered, truncated, reordered or wrong key)"
            ) from exc

    with ThreadPoolExecutor(max_workers=ENCRYPT_THREADS, thread_name_prefix="store-sm4") as pool:
        return b"".join(f.result() for f in [pool.submit(decrypt, i) for i in range(count)])


def seal(ring: KeyRing, case: str, obj: str, data: bytes, meta: dict) -> bytes:
    """The whole sealed file as one bytes object (see :func:`seal_iter`)."""
    return b"".join(seal_iter(ring, case, obj, data, meta))


def _split(blob: bytes, what: str) -> tuple[bytes, dict, dict, bytes]:
    if not (blob.startswith(MAGIC) or blob.startswith(MAGIC2)):
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
    if blob.startswith(MAGIC2):
        plain = _open_v2(file_key, aad, header, body, what)
    else:
        plain = sm4_gcm_decrypt(file_key, body, aad, what)
    if len(plain) < 4:
        raise IntegrityError(f"{what}: payload is truncated")
    (mlen,) = _U32.unpack_from(plain, 0)
    return bytes(memoryview(plain)[4 + mlen :]), json.loads(bytes(plain[4 : 4 + mlen]))


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
