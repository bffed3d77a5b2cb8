"""The store's guard for a logged-in session: role check on every operation, audit of each outcome."""

from __future__ import annotations

import logging

from .audit import AuditLog
from .errors import PermissionDenied
from .roles import allowed
from .sessions import Session

logger = logging.getLogger(__name__)


class SessionGuard:
    """Implements :class:`CardiacPlanningLib.store.guard.Guard` for ``session``."""

    def __init__(self, session: Session, audit: AuditLog) -> None:
        self.session = session
        self.audit = audit

    def allows(self, action: str) -> bool:
        s = self.session
        return s.active and not s.must_change_password and allowed(s.roles, action)

    def authorize(self, action: str, target: str) -> None:
        s = self.session
        s.touch()  # raises SessionExpired (audited by the session's on_timeout) when idle too long
        if s.must_change_password:
            self.audit.append(s.username, s.role_names, action, target, "denied", "password change required")
            raise PermissionDenied(f"user {s.username} must change the password before {action}")
        if not allowed(s.roles, action):
            self.audit.append(s.username, s.role_names, action, target, "denied")
            raise PermissionDenied(f"user {s.username} ({s.role_names}) may not {action} ({target})")

    def record(self, action: str, target: str, outcome: str, detail: str = "") -> None:
        self.audit.append(self.session.username, self.session.role_names, action, target, outcome, detail)
