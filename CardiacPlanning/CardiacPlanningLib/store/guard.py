"""The access guard the store calls before and after every operation.

:class:`CardiacPlanningLib.security.guard.SessionGuard` is the real one: it checks the logged-in
user's role against the permission matrix and writes each outcome to the audit log.
:class:`UncheckedGuard` allows everything and records nothing: for unit tests and benchmarks only.
"""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger(__name__)


# Every action the permission matrix knows (security.roles maps roles to these).
ACTIONS: tuple[str, ...] = (
    "case.list",  # list cases (researchers see de-identified cases only)
    "case.read",  # read an identified case
    "case.read_deid",  # read a de-identified case
    "case.write",
    "case.delete",
    "export.identified",  # reports / DICOM / STL of an identified case
    "export.deidentified",  # PS3.15 Annex E de-identified export
    "print.report",
    "store.verify",
    "store.rekey",
    "key.rotate",
    "backup.create",
    "backup.verify",
    "backup.restore",
    "user.manage",  # add / disable / unlock accounts, reset passwords
    "role.assign",
    "security.policy",  # password / lockout / idle-timeout settings
    "audit.read",
    "audit.verify",
    "audit.export",
    "audit.purge",
)


class Guard(Protocol):
    def allows(self, action: str) -> bool:
        """Whether the current user's role permits ``action`` (no audit record)."""

    def authorize(self, action: str, target: str) -> None:
        """Raise ``PermissionDenied`` (and audit the refusal) when the action is not allowed."""

    def record(self, action: str, target: str, outcome: str, detail: str = "") -> None:
        """Write the outcome (``success`` / ``failure``) of an allowed action to the audit log."""


class UncheckedGuard:
    """Allows everything, records nothing (tests and benchmarks only; never in the clinical path)."""

    def allows(self, action: str) -> bool:
        return True

    def authorize(self, action: str, target: str) -> None:
        return None

    def record(self, action: str, target: str, outcome: str, detail: str = "") -> None:
        return None
