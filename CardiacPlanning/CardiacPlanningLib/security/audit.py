"""Tamper-evident audit log in SQLite (WAL, ``synchronous=FULL``).

* Each record (seq, time, operator, role, workstation, action, object, outcome, detail) carries
  ``mac = HMAC-SM3(K_audit, canonical JSON of its fields + prev_mac)``, ``prev_mac`` being the mac of
  the record before (64 zeros for the first): editing, deleting, reordering or inserting a record
  breaks the chain at that record.
* Every ``checkpoint_every`` records (and on :meth:`AuditLog.checkpoint`) the pair (seq, mac) is
  signed with SM2 and stored in the ``checkpoints`` table and in a side file ``audit.checkpoint.json``
  (written atomically), so a truncated tail up to the last checkpoint is detected.
* Triggers refuse every UPDATE and any DELETE of a record younger than 180 days; :meth:`purge`
  refuses the same and chains a purge record that anchors the first remaining record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..store.atomic import atomic_write, open_durable_db
from ..store.crypto import constant_time_equal, hmac_sm3
from ..store.keys import KeyRing
from . import sm2sign
from .errors import AuditIntegrityError, PurgeRefused

logger = logging.getLogger(__name__)

RETENTION_DAYS = 180
GENESIS = "0" * 64
FIELDS = ("seq", "time", "operator", "role", "workstation", "action", "object", "outcome", "detail")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, operator TEXT NOT NULL, role TEXT NOT NULL,
    workstation TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, outcome TEXT NOT NULL,
    detail TEXT NOT NULL, prev_mac TEXT NOT NULL, mac TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, mac TEXT NOT NULL, time TEXT NOT NULL,
    signature TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_young_delete BEFORE DELETE ON records
    WHEN julianday(OLD.time) > julianday('now', '-{RETENTION_DAYS} days')
    BEGIN SELECT RAISE(ABORT, 'audit records younger than {RETENTION_DAYS} days cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
"""


def _utc(clock: Callable[[], datetime]) -> str:
    return clock().astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _like_escape(text: str) -> str:
    """``text`` with SQL LIKE wildcards escaped (backslash is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class VerifyReport:
    """Result of :meth:`AuditLog.verify`: ``problems`` name the exact record (seq) of each finding."""

    records: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, seq: int, message: str) -> None:
        self.problems.append(f"record {seq}: {message}")
        if self.first_bad_seq is None:
            self.first_bad_seq = seq


class AuditLog:
    """Append-only audit log; see the module docstring. ``clock`` returns aware datetimes (tests inject)."""

    def __init__(
        self,
        path: Path,
        ring: KeyRing,
        clock: Callable[[], datetime] | None = None,
        workstation: str | None = None,
        checkpoint_every: int = 100,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = ring.secret("audit_mac")
        self._sm2_private = ring.secret("sm2_private")
        self._sm2_public = ring.sm2_public
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.workstation = workstation or platform.node() or "workstation"
        self.checkpoint_every = checkpoint_every
        self.sidecar = self.path.with_suffix(".checkpoint.json")
        self._in_batch = False
        self._pending_sidecar: dict | None = None
        self._db = open_durable_db(self.path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------
    def _mac(self, values: dict, prev_mac: str) -> str:
        payload = json.dumps([values[f] for f in FIELDS] + [prev_mac], ensure_ascii=False).encode()
        return hmac_sm3(self._key, payload).hex()

    def append(self, operator: str, role: str, action: str, obj: str, outcome: str, detail: str = "") -> int:
        """Append one record durably (committed with fsync before returning, or at the end of the
        enclosing :meth:`batch`). Returns its seq."""
        if self._in_batch:
            return self._append_row(operator, role, action, obj, outcome, detail)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            seq = self._append_row(operator, role, action, obj, outcome, detail)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._pending_sidecar = None
            raise
        self._flush_sidecar()
        return seq

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group the appends inside into one transaction (one fsync): for bulk operations such as
        exporting a series. The records are acknowledged (durable) when the block exits."""
        if self._in_batch:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._in_batch = True
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._pending_sidecar = None
            raise
        finally:
            self._in_batch = False
        self._flush_sidecar()

    def _append_row(self, operator: str, role: str, action: str, obj: str, outcome: str, detail: str) -> int:
        db = self._db
        row = db.execute("SELECT seq, mac FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        values = {
            "seq": seq,
            "time": _utc(self.clock),
            "operator": operator,
            "role": role,
            "workstation": self.workstation,
            "action": action,
            "object": obj,
            "outcome": outcome,
            "detail": detail,
        }
        mac = self._mac(values, prev)
        db.execute(
            "INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?)", [values[f] for f in FIELDS] + [prev, mac]
        )
        if self.checkpoint_every and seq % self.checkpoint_every == 0:
            self._pending_sidecar = self._insert_checkpoint(seq, mac)
        return seq

    def _flush_sidecar(self) -> None:
        if self._pending_sidecar:
            self._write_sidecar(self._pending_sidecar)
            self._pending_sidecar = None

    def _insert_checkpoint(self, seq: int, mac: str) -> dict:
        t = _utc(self.clock)
        sig = sm2sign.sign(self._sm2_private, self._sm2_public, f"{seq}|{mac}|{t}".encode())
        self._db.execute(
            "INSERT INTO checkpoints (seq, mac, time, signature) VALUES (?,?,?,?)", (seq, mac, t, sig)
        )
        return {"seq": seq, "mac": mac, "time": t, "signature": sig}

    def _write_sidecar(self, cp: dict) -> None:
        try:
            atomic_write(self.sidecar, json.dumps(cp).encode())
        except OSError as exc:  # the DB checkpoint is committed; the side file is a second copy
            logger.error("cannot write audit checkpoint file %s: %s", self.sidecar, exc)

    def checkpoint(self) -> int | None:
        """Sign the current last record now (call at logout/shutdown). Returns its seq."""
        if self._in_batch:
            raise RuntimeError("AuditLog.checkpoint() cannot run inside batch()")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT seq, mac FROM records ORDER BY seq DESC LIMIT 1").fetchone()
            last = db.execute("SELECT MAX(seq) FROM checkpoints").fetchone()[0]
            cp = self._insert_checkpoint(*row) if row and row[0] != last else None
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if cp:
            self._write_sidecar(cp)
        return row[0] if row else None

    # -- reading ----------------------------------------------------------------------------------
    def records(self, since_seq: int = 0, limit: int | None = None) -> list[dict]:
        """Records with seq > ``since_seq`` (no permission check: use :func:`read_log` for users)."""
        sql = "SELECT * FROM records WHERE seq > ? ORDER BY seq"
        rows = self._db.execute(sql + (f" LIMIT {int(limit)}" if limit else ""), (since_seq,))
        names = [d[0] for d in rows.description]
        return [dict(zip(names, r)) for r in rows.fetchall()]

    def query(
        self,
        operator: str = "",
        action: str = "",
        outcome: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        text: str = "",
        limit: int | None = 1000,
        newest_first: bool = True,
    ) -> list[dict]:
        """Records matching every given filter (no permission check: use
        :func:`~CardiacPlanningLib.security.audit_access.query_log` for users). ``operator`` and
        ``outcome`` match exactly; ``action`` exactly or, ending in ``*``, as a prefix (``case.*``);
        ``since``/``until`` bound the time (aware datetimes, ``until`` exclusive); ``text`` is a
        case-insensitive substring of the object or the detail."""
        where, args = [], []
        if operator:
            where.append("operator = ?")
            args.append(operator)
        if action:
            prefix = action.endswith("*")
            where.append("action LIKE ? ESCAPE '\\'" if prefix else "action = ?")
            args.append(_like_escape(action[:-1]) + "%" if prefix else action)
        if outcome:
            where.append("outcome = ?")
            args.append(outcome)
        for bound, op in ((since, ">="), (until, "<")):
            if bound is not None:
                where.append(f"time {op} ?")
                args.append(bound.astimezone(timezone.utc).isoformat(timespec="milliseconds"))
        if text:
            where.append("(object LIKE ? ESCAPE '\\' OR detail LIKE ? ESCAPE '\\')")
            args += ["%" + _like_escape(text) + "%"] * 2
        sql = "SELECT * FROM records" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY seq " + ("DESC" if newest_first else "ASC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self._db.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    # -- verification -----------------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Check the whole chain, the checkpoints and their SM2 signatures, and the side file.
        Each problem names the exact record."""
        rep = VerifyReport()
        db = self._db
        purge_anchors = {}
        for (detail,) in db.execute(
            "SELECT detail FROM records WHERE action = 'audit.purge' AND outcome = 'success'"
        ):
            d = json.loads(detail)
            purge_anchors[d["purged_through"]] = d["anchor"]
        cp_seqs = {row[0] for row in db.execute("SELECT seq FROM checkpoints")}
        prev_mac, expected = GENESIS, 1
        by_seq: dict[int, str] = {}  # macs of checkpointed records only (memory stays small)
        first_seq, last_seq = 1, 0
        cur = db.execute("SELECT * FROM records ORDER BY seq")  # streamed: the log may be large
        names = [d[0] for d in cur.description]
        for row in cur:
            r = dict(zip(names, row))
            seq = r["seq"]
            if rep.records == 0:
                first_seq = seq
                if seq != 1:
                    if purge_anchors.get(seq - 1) != r["prev_mac"]:
                        rep.add(
                            1, f"records 1..{seq - 1} are missing (deleted from the head without a purge)"
                        )
                    prev_mac, expected = r["prev_mac"], seq
            rep.records += 1
            if seq != expected:
                rep.add(expected, f"records {expected}..{seq - 1} are missing (deleted)")
            if not constant_time_equal(bytes.fromhex(self._mac(r, r["prev_mac"])), bytes.fromhex(r["mac"])):
                rep.add(seq, "content was edited (HMAC-SM3 mismatch)")
            elif r["prev_mac"] != prev_mac and seq == expected:
                rep.add(seq, "chain broken: the record before it was replaced, removed or reordered")
            prev_mac, expected, last_seq = r["mac"], seq + 1, seq
            if seq in cp_seqs:
                by_seq[seq] = r["mac"]
        cps = self._db.execute("SELECT seq, mac, time, signature FROM checkpoints ORDER BY id").fetchall()
        rep.checkpoints = len(cps)
        max_cp = 0
        for seq, mac, t, sig in cps:
            if not sm2sign.verify(self._sm2_public, f"{seq}|{mac}|{t}".encode(), sig):
                rep.add(seq, "checkpoint SM2 signature is invalid")
            max_cp = max(max_cp, seq)
            if seq < first_seq:
                continue
            if seq > last_seq:
                rep.add(
                    last_seq + 1, f"log truncated: records {last_seq + 1}..{seq} are missing (checkpoint)"
                )
            elif by_seq.get(seq) != mac:
                rep.add(seq, "does not match its signed checkpoint")
        if self.sidecar.exists():
            side = json.loads(self.sidecar.read_text())
            ok = sm2sign.verify(
                self._sm2_public, f"{side['seq']}|{side['mac']}|{side['time']}".encode(), side["signature"]
            )
            if not ok:
                rep.add(side["seq"], "checkpoint side file signature is invalid")
            elif side["seq"] > max_cp:
                rep.add(
                    max_cp + 1,
                    f"checkpoints after record {max_cp} were deleted (side file has {side['seq']})",
                )
                if side["seq"] > last_seq:
                    rep.add(last_seq + 1, f"log truncated: records {last_seq + 1}..{side['seq']} are missing")
        return rep

    def require_valid(self) -> VerifyReport:
        rep = self.verify()
        if not rep.ok:
            raise AuditIntegrityError(
                f"audit log {self.path} failed verification: " + "; ".join(rep.problems)
            )
        return rep

    # -- retention --------------------------------------------------------------------------------
    def purge(self, before: datetime, operator: str, role: str) -> int:
        """Delete records older than ``before`` (which must be >= 180 days ago), chaining a purge
        record that anchors the first remaining one. Permission is checked by :func:`purge_log`."""
        limit = self.clock() - timedelta(days=RETENTION_DAYS)
        if before > limit:
            self.append(operator, role, "audit.purge", "audit-log", "refused", f"before={before.isoformat()}")
            raise PurgeRefused(
                f"audit records younger than {RETENTION_DAYS} days cannot be purged "
                f"(asked for records before {before:%Y-%m-%d}, oldest allowed cut is {limit:%Y-%m-%d})"
            )
        cut = before.astimezone(timezone.utc).isoformat(timespec="milliseconds")
        row = self._db.execute("SELECT MAX(seq) FROM records WHERE time < ?", (cut,)).fetchone()
        through = row[0] or 0
        if not through:
            return 0
        anchor = self._db.execute("SELECT mac FROM records WHERE seq = ?", (through,)).fetchone()[0]
        detail = json.dumps({"purged_through": through, "anchor": anchor})
        self.append(operator, role, "audit.purge", "audit-log", "success", detail)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            n = self._db.execute("DELETE FROM records WHERE seq <= ?", (through,)).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return n
