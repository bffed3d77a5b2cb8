"""Segmented store files (format version 2, STREAM construction over SM4-GCM): round trip over
many segments, every way of moving segments fails at the named segment, version 1 files still read,
and the pipelined atomic write hashes exactly the bytes it writes."""

from __future__ import annotations

import json
import os
import struct

import pytest
from security_fixtures import make_ring

from CardiacPlanningLib.store import CaseStore, IntegrityError, atomic, container
from CardiacPlanningLib.store.crypto import sm3_hex, sm4_gcm_encrypt

SEG = 64  # tiny segments so that a few hundred bytes span many of them


@pytest.fixture
def small_segments(monkeypatch):
    monkeypatch.setattr(container, "SEGMENT", SEG)


def _layout(blob: bytes) -> tuple[int, int]:
    """(offset of segment 0, full segment size in the file)."""
    (hlen,) = struct.unpack_from(">I", blob, 8)
    (klen,) = struct.unpack_from(">I", blob, 12 + hlen)
    return 12 + hlen + 4 + klen + container.PREFIX_BYTES, SEG + 16


@pytest.mark.parametrize("size", [0, 1, SEG, 5 * SEG - 7, 5 * SEG])
def test_round_trip_over_many_segments(tmp_path, small_segments, size):
    ring = make_ring(tmp_path)
    data = os.urandom(size)
    meta = {"k": "v"}
    blob = container.seal(ring, "case", "obj", data, meta)
    assert blob.startswith(b"CPSTORE2")
    payload = 4 + len(json.dumps(meta, sort_keys=True)) + size
    start, full = _layout(blob)
    segments = -(-payload // SEG)
    assert len(blob) - start == payload + 16 * segments  # one tag per segment, nothing else
    back, back_meta = container.open_sealed(ring, blob, "case", "obj", "t")
    assert back == data and back_meta == meta


def test_moving_segments_is_detected(tmp_path, small_segments):
    ring = make_ring(tmp_path)
    blob = container.seal(ring, "case", "obj", os.urandom(4 * SEG), {})
    start, full = _layout(blob)
    segs = [blob[start + i * full : start + (i + 1) * full] for i in range(5)]
    assert len(segs[-1]) < full and all(len(s) == full for s in segs[:-1])
    head = blob[:start]
    cases = {
        "swap 1 and 2": (head + segs[0] + segs[2] + segs[1] + segs[3] + segs[4], "segment 1"),
        "drop the last": (head + b"".join(segs[:4]), "segment 3"),  # segment 3 is not marked final
        "drop segment 2": (head + b"".join(segs[:2] + segs[3:]), "segment 2"),
        "repeat segment 0": (head + segs[0] + b"".join(segs), "segment 1"),
        "flip a bit": (blob[:-10] + bytes([blob[-10] ^ 1]) + blob[-9:], "segment 4"),
    }
    for name, (bad, where) in cases.items():
        with pytest.raises(IntegrityError, match=where):
            container.open_sealed(ring, bad, "case", "obj", name)
    with pytest.raises(IntegrityError, match="another case"):
        container.open_sealed(ring, blob, "other", "obj", "moved")


def test_version_1_files_still_open(tmp_path):
    """A file in the first format (one SM4-GCM message) written by hand from its documented layout."""
    ring = make_ring(tmp_path)
    header = json.dumps({"v": 1, "case": "c", "object": "o", "created": "x"}, sort_keys=True).encode()
    master, wrapped = ring.wrap(b"k" * 16, b"filekey|c|o")
    keysec = json.dumps({"master": master, "key": wrapped.hex()}, sort_keys=True).encode()
    aad = b"CPSTORE1" + struct.pack(">I", len(header)) + header
    meta = json.dumps({"a": 1}).encode()
    body = sm4_gcm_encrypt(b"k" * 16, struct.pack(">I", len(meta)) + meta + b"old data", aad)
    blob = aad + struct.pack(">I", len(keysec)) + keysec + body
    assert container.open_sealed(ring, blob, "c", "o", "v1") == (b"old data", {"a": 1})
    with pytest.raises(IntegrityError, match="authentication failed"):
        container.open_sealed(ring, blob[:-1] + bytes([blob[-1] ^ 1]), "c", "o", "v1")


def test_store_manifest_hash_matches_the_written_file(tmp_path, small_segments):
    store = CaseStore(tmp_path / "store", make_ring(tmp_path))
    data = os.urandom(10 * SEG + 3)
    digest = store.put_bytes("CASE-1", "ct", data)
    files = list((tmp_path / "store" / "cases").glob("*/*.obj"))
    assert len(files) == 1 and sm3_hex(files[0].read_bytes()) == digest
    assert store.get_bytes("CASE-1", "ct")[0] == data
    assert store.verify() == []


def test_pipelined_write_error_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic.atomic_write(path, b"old")
    seen = []

    def failing(fd, piece):
        if len(seen) == 2:
            raise OSError(28, "No space left on device")
        os.write(fd, piece)

    monkeypatch.setattr(atomic, "_write_all", failing)
    with pytest.raises(atomic.StoreWriteError, match="disk is full"):
        atomic.atomic_write(path, iter([b"a", b"b", b"c", b"d"]), seen.append)
    assert path.read_bytes() == b"old" and not list(tmp_path.glob(".tmp-*"))


def test_failing_producer_leaves_no_temp_file(tmp_path):
    def pieces():
        yield b"x" * 100
        raise ValueError("encryption failed")

    with pytest.raises(ValueError, match="encryption failed"):
        atomic.atomic_write(tmp_path / "f.bin", pieces())
    assert list(tmp_path.iterdir()) == []
