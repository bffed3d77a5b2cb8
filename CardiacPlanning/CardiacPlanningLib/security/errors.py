"""Errors of users, sessions, permissions and the audit log."""

from __future__ import annotations

from ..errors import CardiacPlanningError


class SecurityError(CardiacPlanningError):
    """Base class of the security layer's errors."""


class PermissionDenied(SecurityError, PermissionError):
    """The logged-in user's role does not allow the action (the refusal is audited)."""


class AuthenticationError(SecurityError):
    """Unknown user, wrong password or wrong second-factor code (deliberately not saying which)."""


class AccountLocked(AuthenticationError):
    """Too many failed logins: the account is locked until the time in the message."""


class SessionExpired(SecurityError):
    """The session was idle longer than the timeout, or was logged out: log in again."""


class PasswordPolicyError(SecurityError, ValueError):
    """A new password breaks the password rules (length, character classes, reuse, user name)."""


class RoleConflictError(SecurityError, ValueError):
    """A role assignment that the separation of duties forbids (e.g. two administrator roles)."""


class AuditIntegrityError(SecurityError):
    """The audit log failed verification (edited, deleted, reordered or truncated records)."""


class PurgeRefused(SecurityError):
    """An audit purge that would delete records younger than the retention period (180 days)."""
