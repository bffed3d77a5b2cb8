"""Kill -9 test of the store and the audit log: writer processes save case objects and append audit
records, report each acknowledged write on stdout, and are killed with SIGKILL at random moments.
Afterwards every acknowledged write must be readable with the right content, the audit chain must
verify, and no torn file may remain (only ``.tmp-`` files, which :meth:`CaseStore.recover` removes).

Used by ``Testing/test_store_kill.py`` (CI size) and ``benchmarks/security_bench.py`` (>= 100 kills).
POSIX only (SIGKILL).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..progress import Progress, as_progress
from .container import open_sealed
from .crypto import sm3_hex
from .errors import NotFoundError, StoreError
from .keys import KeyRing

logger = logging.getLogger(__name__)

PASSPHRASE = "crash-test passphrase, not secret"
CASES, OBJECTS = 4, 5


def payload(i: int) -> bytes:
    """Deterministic content of write number ``i`` (1 KB .. 256 KB)."""
    rng = np.random.default_rng(i)
    return rng.bytes(int(rng.integers(1024, 256 * 1024)))


def slot(i: int, prefix: str = "") -> tuple[str, str]:
    return f"KILL-{i % CASES}", f"{prefix}object-{(i // CASES) % OBJECTS}"


def writer_main(root: str, start: int, prefix: str = "") -> None:
    """Body of a writer process: write, acknowledge, repeat until killed."""
    from ..security.audit import AuditLog
    from .store import CaseStore

    ring = KeyRing.open(Path(root) / "keyfile.json", PASSPHRASE)
    store = CaseStore(root, ring)
    audit = AuditLog(Path(root) / "audit" / "audit.db", ring, checkpoint_every=25)
    print("READY", flush=True)
    i = start
    while True:
        case, name = slot(i, prefix)
        store.put_bytes(case, name, payload(i), meta={"i": i})
        print(f"S {i}", flush=True)
        seq = audit.append("crashtest", "system", "case.write", f"{case}/{name}", "success", str(i))
        print(f"A {seq} {i}", flush=True)
        i += 1


@dataclass
class KillReport:
    kills: int = 0
    acked_writes: int = 0
    acked_appends: int = 0
    temp_files_found: int = 0
    orphans_found: int = 0
    problems: list[str] = field(default_factory=list)


def run_kill_test(
    root: Path, kills: int, seed: int = 0, max_delay_s: float = 0.4, progress: Progress | None = None
) -> KillReport:
    """Run ``kills`` writer processes one after another, SIGKILL each at a random moment, then check."""
    from ..security.audit import AuditLog
    from .store import CaseStore

    progress = as_progress(progress)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "keyfile.json").exists():
        KeyRing.create(root / "keyfile.json", PASSPHRASE, iterations=1000)
    rng = random.Random(seed)
    rep = KillReport()
    acked: dict[tuple[str, str], int] = {}
    acked_seq: dict[int, str] = {}
    nxt = 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for k in range(kills):
        progress(k / kills, f"kill {k + 1}/{kills}")
        code = (
            f"from CardiacPlanningLib.store.crashtest import writer_main; writer_main({str(root)!r}, {nxt})"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
        first = proc.stdout.readline()
        if first.strip() != "READY":
            proc.kill()
            raise RuntimeError(f"crash-test writer did not start: {first!r}")
        time.sleep(rng.uniform(0.0, max_delay_s))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rep.kills += 1
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "S":
                i = int(parts[1])
                acked[slot(i)] = max(acked.get(slot(i), -1), i)
                rep.acked_writes += 1
                nxt = max(nxt, i + 1)
            elif len(parts) == 3 and parts[0] == "A":
                acked_seq[int(parts[1])] = parts[2]
                rep.acked_appends += 1
        nxt += 1  # the write in flight may have completed unacknowledged: never reuse its number
    progress(1.0, "checking")
    ring = KeyRing.open(root / "keyfile.json", PASSPHRASE)
    store = CaseStore(root, ring)
    _check_files(store, rep)
    for (case, name), i in sorted(acked.items()):
        try:
            data, info = store.get_bytes(case, name)
        except StoreError as exc:  # report every failure, not only the first
            rep.problems.append(f"acknowledged write {i} ({case}/{name}) unreadable: {exc}")
            continue
        got = info["meta"]["i"]
        if got < i or data != payload(got):
            rep.problems.append(
                f"{case}/{name}: holds write {got}, acknowledged {i}, content ok={data == payload(got)}"
            )
    rep.orphans_found = len([p for p in store.recover() if not p.name.startswith(".tmp-")])
    rep.problems += [str(p) for p in store.verify()]
    audit = AuditLog(root / "audit" / "audit.db", ring)
    recs = {r["seq"]: r for r in audit.records()}
    for seq, i in acked_seq.items():
        if seq not in recs or recs[seq]["detail"] != i:
            rep.problems.append(f"acknowledged audit record {seq} (write {i}) lost")
    rep.problems += audit.verify().problems
    audit.close()
    return rep


def _check_files(store, rep: KillReport) -> None:
    """Every non-temporary file must be complete: manifests and objects decrypt and authenticate."""
    for folder in store.cases_dir.iterdir():
        rep.temp_files_found += len(list(folder.glob(".tmp-*")))
        try:
            manifest = store._read_manifest_at(folder)
        except NotFoundError:  # the case's first save was killed before its manifest: nothing acked
            manifest = {"objects": {}}
        for p in folder.glob("*.obj"):
            blob = p.read_bytes()
            try:
                open_sealed(store.ring, blob, folder.name, p.name.split("-")[0], str(p))
            except (StoreError, ValueError) as exc:  # a torn file is what this test must report
                rep.problems.append(f"torn file {p}: {exc}")
        for name, e in manifest["objects"].items():
            if sm3_hex((folder / e["file"]).read_bytes()) != e["sm3"]:
                rep.problems.append(f"{name}: manifest SM3 mismatch")
    json.dumps(rep.__dict__)  # report must stay serialisable for the benchmark


def run_concurrent_test(root: Path, writers: int = 3, seconds: float = 2.0) -> KillReport:
    """``writers`` processes save objects into the same cases (different object names, so they contend
    for each case's lock and manifest) and append to one audit log at the same time; all are killed
    after ``seconds``. Checks as :func:`run_kill_test`: every acknowledged write and record survives."""
    from ..security.audit import AuditLog
    from .store import CaseStore

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    KeyRing.create(root / "keyfile.json", PASSPHRASE, iterations=1000)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    procs = []
    for w in range(writers):
        code = (
            "from CardiacPlanningLib.store.crashtest import writer_main; "
            f"writer_main({str(root)!r}, {w * 1_000_000}, 'w{w}-')"
        )
        procs.append(
            subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
        )
    for p in procs:
        if p.stdout.readline().strip() != "READY":
            raise RuntimeError("concurrent writer did not start")
    time.sleep(seconds)
    rep = KillReport()
    acked: dict[tuple[str, str], int] = {}
    acked_seq: dict[int, str] = {}
    for w, p in enumerate(procs):
        os.kill(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        rep.kills += 1
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "S":
                i = int(parts[1])
                key = slot(i, f"w{w}-")
                acked[key] = max(acked.get(key, -1), i)
                rep.acked_writes += 1
            elif len(parts) == 3 and parts[0] == "A":
                if int(parts[1]) in acked_seq:
                    rep.problems.append(f"audit seq {parts[1]} acknowledged to two writers")
                acked_seq[int(parts[1])] = parts[2]
                rep.acked_appends += 1
    ring = KeyRing.open(root / "keyfile.json", PASSPHRASE)
    store = CaseStore(root, ring)
    _check_files(store, rep)
    for (case, name), i in sorted(acked.items()):
        data, info = store.get_bytes(case, name)
        if info["meta"]["i"] < i or data != payload(info["meta"]["i"]):
            rep.problems.append(f"{case}/{name}: acknowledged write {i} lost")
    store.recover()
    rep.problems += [str(p) for p in store.verify()]
    audit = AuditLog(root / "audit" / "audit.db", ring)
    recs = {r["seq"]: r for r in audit.records()}
    rep.problems += [
        f"audit record {s} lost" for s, i in acked_seq.items() if recs.get(s, {}).get("detail") != i
    ]
    rep.problems += audit.verify().problems
    audit.close()
    return rep
