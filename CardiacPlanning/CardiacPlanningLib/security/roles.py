"""Roles and the permission matrix (role x action), with the separation of duties of GB/T 22239-2019
level 3: system, security and audit administrators are distinct accounts, and none of them reads
patient data. Researchers see de-identified cases only."""

from __future__ import annotations

import logging
from enum import Enum

from ..store.guard import ACTIONS
from .errors import RoleConflictError

logger = logging.getLogger(__name__)


class Role(str, Enum):
    CLINICIAN = "clinician"
    RESEARCHER = "researcher"
    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    AUDIT_ADMIN = "audit_admin"


ADMIN_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.CLINICIAN: frozenset(
        {
            "case.list",
            "case.read",
            "case.read_deid",
            "case.write",
            "export.identified",
            "export.deidentified",
            "print.report",
        }
    ),
    Role.RESEARCHER: frozenset({"case.list", "case.read_deid", "export.deidentified"}),
    Role.SYSTEM_ADMIN: frozenset(
        {"case.delete", "store.verify", "backup.create", "backup.verify", "backup.restore", "user.manage"}
    ),
    Role.SECURITY_ADMIN: frozenset({"role.assign", "security.policy", "key.rotate", "store.rekey"}),
    Role.AUDIT_ADMIN: frozenset({"audit.read", "audit.verify", "audit.export", "audit.purge"}),
}

assert all(a in ACTIONS for perms in PERMISSIONS.values() for a in perms)


def parse_role(name: str) -> Role:
    """The :class:`Role` called ``name`` (clear error listing the valid names otherwise)."""
    try:
        return Role(name.strip().lower().replace("-", "_"))
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise RoleConflictError(f"unknown role {name!r}; valid roles: {valid}") from None


def check_role_set(roles: set[Role]) -> None:
    """Refuse an empty set and any account holding two administrator roles, or an administrator role
    together with a clinical/research role (administrators never read patient data)."""
    if not roles:
        raise RoleConflictError("an account needs one role")
    admin = roles & ADMIN_ROLES
    if len(admin) > 1:
        names = " and ".join(sorted(r.value for r in admin))
        raise RoleConflictError(f"one account cannot hold two administrator roles ({names})")
    if admin and roles - ADMIN_ROLES:
        raise RoleConflictError("an administrator account cannot also be clinician or researcher")


def allowed(roles: set[Role] | frozenset[Role], action: str) -> bool:
    """Whether any of ``roles`` permits ``action`` (unknown actions are refused)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return any(action in PERMISSIONS[r] for r in roles)
