"""Encrypted case store: crypto self-test, round trips, tampering, key rotation, disk errors."""

from __future__ import annotations

import errno
import json
import os
import tempfile

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from security_fixtures import PASSPHRASE, make_ring

from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.store import (
    CaseStore,
    CryptoSelfTestError,
    IntegrityError,
    KeyFileError,
    KeyRing,
    NotFoundError,
    StoreError,
    StoreWriteError,
    atomic,
    crypto,
)


@pytest.fixture
def store(tmp_path):
    return CaseStore(tmp_path / "store", make_ring(tmp_path / "store"))


def test_self_test_vectors_and_failure(monkeypatch):
    crypto.self_test(force=True)
    assert crypto.sm3_hex(b"abc").startswith("66c7f0f4")
    monkeypatch.setattr(crypto, "_SM4_CT", bytes(16))
    with pytest.raises(CryptoSelfTestError, match="GB/T 32907"):
        crypto.self_test(force=True)


def test_gcm_rejects_tampering_and_wrong_aad():
    key = bytes(range(16))
    blob = crypto.sm4_gcm_encrypt(key, b"secret data", b"hdr")
    assert crypto.sm4_gcm_decrypt(key, blob, b"hdr") == b"secret data"
    with pytest.raises(IntegrityError, match="thing"):
        crypto.sm4_gcm_decrypt(key, blob, b"hdX", what="thing")
    bad = bytearray(blob)
    bad[14] ^= 1
    with pytest.raises(IntegrityError):
        crypto.sm4_gcm_decrypt(key, bytes(bad), b"hdr")


def test_keyfile_passphrase_edit_and_default_iterations(tmp_path):
    ring = KeyRing.create(tmp_path / "k.json", PASSPHRASE)  # production iteration count once
    assert ring.iterations == 600_000
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        KeyRing.open(tmp_path / "k.json", "not the passphrase!!")
    doc = json.loads((tmp_path / "k.json").read_text())
    doc["current_master"] = "m9"
    (tmp_path / "k.json").write_text(json.dumps(doc))
    with pytest.raises(KeyFileError):
        KeyRing.open(tmp_path / "k.json", PASSPHRASE)
    with pytest.raises(KeyFileError, match="at least 12"):
        KeyRing.create(tmp_path / "short.json", "short")
    with pytest.raises(KeyFileError, match="already exists"):
        KeyRing.create(tmp_path / "k.json", PASSPHRASE)


def test_bytes_and_volume_round_trip(store):
    store.put_bytes("CASE-1", "report.pdf", b"%PDF-1.7 fake", "application/pdf", {"pages": 3})
    data, info = store.get_bytes("CASE-1", "report.pdf")
    assert data == b"%PDF-1.7 fake" and info["content_type"] == "application/pdf"
    assert info["meta"] == {"pages": 3}
    rng = np.random.default_rng(1)
    arr = rng.integers(-1024, 3000, size=(7, 9, 11)).astype(np.int16)
    d = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1.0]])
    vol = Volume(arr, spacing=(0.5, 0.6, 1.25), origin=(-10.0, 20.0, 5.5), direction=d)
    store.put_volume("CASE-1", "ct_phase_70", vol)
    back = store.get_volume("CASE-1", "ct_phase_70")
    assert back.array.dtype == np.int16 and np.array_equal(back.array, arr)
    assert back.spacing == (0.5, 0.6, 1.25) and back.origin == (-10.0, 20.0, 5.5)
    assert np.array_equal(back.direction, d)
    assert store.list_objects("CASE-1") == ["ct_phase_70", "report.pdf"]
    assert store.list_cases() == ["CASE-1"]
    # a second version replaces the first and leaves exactly one file per object + manifest
    store.put_bytes("CASE-1", "report.pdf", b"v2")
    assert store.get_bytes("CASE-1", "report.pdf")[0] == b"v2"
    folder = store._case_dir("CASE-1")
    assert sorted(p.suffix for p in folder.iterdir() if not p.name.startswith(".")) == [
        ".enc",
        ".obj",
        ".obj",
    ]
    with pytest.raises(NotFoundError, match="no object 'x'"):
        store.get_bytes("CASE-1", "x")
    with pytest.raises(NotFoundError, match="CASE-2"):
        store.get_bytes("CASE-2", "x")
    assert store.verify() == []


def _dicom_bytes(name: str) -> bytes:
    ds = pydicom.Dataset()
    ds.PatientName = name
    ds.PatientID = "PID-778899"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_no_plaintext_patient_data_on_disk(store, tmp_path, monkeypatch):
    # a private temp folder: anything the store might put in "the temp dir" lands here and is scanned
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    name = "ZHANG^SANFENG"
    raw = _dicom_bytes(name)
    assert name.encode() in raw and b"DICM" in raw
    vol = Volume(np.zeros((3, 4, 5), np.int16), metadata={"PatientName": name, "PatientID": "PID-778899"})
    store.put_volume("CASE-7", "ct", vol)
    store.put_bytes("CASE-7", "dicom/0001.dcm", raw, "application/dicom")
    assert store.get_volume("CASE-7", "ct").metadata["PatientName"] == name
    assert store.verify() == []
    needles = [name.encode(), b"ZHANG", b"PID-778899", b"DICM", b"CASE-7", "ZHANG".encode("utf-16-le")]
    scanned = 0
    for root in (store.root, private_tmp):
        for dirpath, _dirs, files in os.walk(root):
            for f in files:
                content = open(os.path.join(dirpath, f), "rb").read()
                scanned += 1
                for needle in needles:
                    assert needle not in content, f"{needle!r} in plaintext in {dirpath}/{f}"
    assert scanned >= 4  # key file, manifest, two objects


def test_tampering_is_detected_at_the_exact_object(store):
    for i in range(3):
        store.put_bytes("CASE-T", f"obj{i}", bytes([i]) * 1000)
    folder = store._case_dir("CASE-T")
    manifest = store._read_manifest("CASE-T")
    target = folder / manifest["objects"]["obj1"]["file"]
    raw = bytearray(target.read_bytes())
    raw[-100] ^= 0x40
    target.write_bytes(bytes(raw))
    problems = store.verify()
    assert [(p.case_id, p.name) for p in problems] == [("CASE-T", "obj1")]
    assert "SM3" in problems[0].message
    with pytest.raises(IntegrityError, match="obj1"):
        store.get_bytes("CASE-T", "obj1")
    assert store.get_bytes("CASE-T", "obj2")[0] == bytes([2]) * 1000
    # swapping two objects' files (same case) is detected too, even if the manifest hashes were forged
    f0 = folder / manifest["objects"]["obj0"]["file"]
    f2 = folder / manifest["objects"]["obj2"]["file"]
    b0, b2 = f0.read_bytes(), f2.read_bytes()
    f0.write_bytes(b2)
    f2.write_bytes(b0)
    names = sorted(p.name for p in store.verify())
    assert names == ["obj0", "obj1", "obj2"]
    (folder / manifest["objects"]["obj0"]["file"]).unlink()
    assert any("missing" in p.message and p.name == "obj0" for p in store.verify())


def test_key_rotation_and_passphrase_change(store):
    store.put_bytes("C", "a", b"alpha")
    store.put_bytes("D", "b", b"beta")
    old = store.ring.current_master_id
    new = store.ring.rotate_master()
    assert new != old
    store.put_bytes("C", "c", b"gamma")
    assert store.rekey() == 2  # a and b re-wrapped; c already used the new key
    store.ring.retire_master(old)
    assert store.ring.master_ids == [new]
    ring2 = KeyRing.open(store.ring.path, PASSPHRASE)
    ring2.change_passphrase("an entirely new passphrase")
    with pytest.raises(KeyFileError):
        KeyRing.open(store.ring.path, PASSPHRASE)
    reopened = CaseStore(store.root, KeyRing.open(store.ring.path, "an entirely new passphrase"))
    assert [reopened.get_bytes(c, n)[0] for c, n in [("C", "a"), ("D", "b"), ("C", "c")]] == [
        b"alpha",
        b"beta",
        b"gamma",
    ]
    assert reopened.verify() == []


def test_disk_full_keeps_saved_data(store, monkeypatch):
    store.put_bytes("CASE-F", "seg", b"version 1")

    def full(fd, data):
        os.write(fd, bytes(data)[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_write_all", full)
    with pytest.raises(StoreWriteError, match="disk is full.*Nothing already saved was changed"):
        store.put_bytes("CASE-F", "seg", b"version 2 " * 100)
    monkeypatch.undo()
    assert store.get_bytes("CASE-F", "seg")[0] == b"version 1"
    folder = store._case_dir("CASE-F")
    assert not list(folder.glob(".tmp-*"))
    assert store.verify() == []


def test_read_only_folder_keeps_saved_data(store, monkeypatch):
    store.put_bytes("CASE-R", "seg", b"version 1")
    real_open = os.open

    def ro_open(path, flags, *args):
        if flags & os.O_CREAT and ".tmp-" in str(path):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(atomic.os, "open", ro_open)
    with pytest.raises(StoreWriteError, match="read-only"):
        store.put_bytes("CASE-R", "seg", b"version 2")
    monkeypatch.undo()
    assert store.get_bytes("CASE-R", "seg")[0] == b"version 1"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_real_chmod(store):
    store.put_bytes("CASE-M", "seg", b"version 1")
    folder = store._case_dir("CASE-M")
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreWriteError):
            store.put_bytes("CASE-M", "seg", b"version 2")
    finally:
        folder.chmod(0o700)
    assert store.get_bytes("CASE-M", "seg")[0] == b"version 1"


def test_recover_removes_orphans_and_temp_files(store):
    store.put_bytes("CASE-O", "a", b"1")
    folder = store._case_dir("CASE-O")
    (folder / ".tmp-junk.123").write_bytes(b"partial")
    (folder / ("0" * 32 + "-00000099.obj")).write_bytes(b"orphan")
    removed = sorted(p.name for p in store.recover())
    assert removed == [".tmp-junk.123", "0" * 32 + "-00000099.obj"]
    assert store.get_bytes("CASE-O", "a")[0] == b"1"


def test_delete_case_and_deidentified_flag(store):
    store.put_bytes("CASE-D", "a", b"1")
    store.put_bytes("CASE-K", "a", b"2", deidentified=True)
    assert store.is_deidentified("CASE-K") and not store.is_deidentified("CASE-D")
    with pytest.raises(StoreError, match="de-identified flag"):
        store.put_bytes("CASE-K", "b", b"3", deidentified=False)
    folder = store._case_dir("CASE-D")
    store.delete_case("CASE-D")
    assert not folder.exists()
    assert store.list_cases() == ["CASE-K"]
    with pytest.raises(NotFoundError):
        store.get_bytes("CASE-D", "a")
    with pytest.raises(StoreError, match="invalid case id"):
        store.put_bytes("", "a", b"1")
