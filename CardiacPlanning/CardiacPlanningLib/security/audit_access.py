"""User-facing access to the audit log: reading, verifying, exporting and purging are permitted to the
audit administrator only, and each of them is itself written to the log."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime
from pathlib import Path

from ..store.atomic import atomic_write
from .audit import AuditLog, VerifyReport
from .guard import SessionGuard

logger = logging.getLogger(__name__)

EXPORT_COLUMNS = (
    "seq",
    "time",
    "operator",
    "role",
    "workstation",
    "action",
    "object",
    "outcome",
    "detail",
    "prev_mac",
    "mac",
)


def read_log(
    guard: SessionGuard, audit: AuditLog, since_seq: int = 0, limit: int | None = None
) -> list[dict]:
    """Records after ``since_seq`` (audit administrator only; the read is audited)."""
    guard.authorize("audit.read", "audit-log")
    recs = audit.records(since_seq, limit)
    guard.record("audit.read", "audit-log", "success", f"{len(recs)} records after {since_seq}")
    return recs


def query_log(guard: SessionGuard, audit: AuditLog, **filters) -> list[dict]:
    """Records matching ``filters`` (see :meth:`AuditLog.query`), for the audit viewer. Audit
    administrator only; the read, with its filters and the number of records, is itself audited."""
    guard.authorize("audit.read", "audit-log")
    recs = audit.query(**filters)
    shown = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items() if v}
    detail = f"{len(recs)} records; filters {json.dumps(shown, sort_keys=True, ensure_ascii=False)}"
    guard.record("audit.read", "audit-log", "success", detail[:2000])
    return recs


def verify_log(guard: SessionGuard, audit: AuditLog) -> VerifyReport:
    """Verify the chain, checkpoints and signatures (audited with the outcome)."""
    guard.authorize("audit.verify", "audit-log")
    rep = audit.verify()
    detail = "ok" if rep.ok else "; ".join(rep.problems)[:2000]
    guard.record("audit.verify", "audit-log", "success" if rep.ok else "failure", detail)
    return rep


def export_log(guard: SessionGuard, audit: AuditLog, path: Path, fmt: str = "csv") -> int:
    """Write every record (with its MACs, so the copy stays verifiable) as CSV or JSON to ``path``,
    atomically. Audit administrator only; the export is audited. Returns the number of records."""
    fmt = fmt.lower()
    if fmt not in ("csv", "json"):
        raise ValueError(f"export format must be csv or json, got {fmt!r}")
    guard.authorize("audit.export", str(path))
    recs = audit.records()
    if fmt == "json":
        data = json.dumps(recs, ensure_ascii=False, indent=1).encode("utf-8")
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(recs)
        data = buf.getvalue().encode("utf-8")
    try:
        atomic_write(Path(path), data)
    except Exception as exc:
        guard.record("audit.export", str(path), "failure", str(exc))
        raise
    guard.record("audit.export", str(path), "success", f"{len(recs)} records as {fmt}")
    return len(recs)


def purge_log(guard: SessionGuard, audit: AuditLog, before: datetime) -> int:
    """Purge records older than ``before`` (>= 180 days old; see :meth:`AuditLog.purge`)."""
    guard.authorize("audit.purge", "audit-log")
    return audit.purge(before, guard.session.username, guard.session.role_names)
