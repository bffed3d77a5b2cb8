"""Shared helpers of the store/security/audit/backup tests: a fast key file (few PBKDF2 iterations)
and a controllable clock. Imported by test_store*.py, test_security*.py, test_audit*.py, test_backup*.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from CardiacPlanningLib.store import KeyRing

PASSPHRASE = "correct horse battery staple"
FAST_ITERATIONS = 1000  # the production default (600,000) is tested once, in test_store.py


def make_ring(root: Path) -> KeyRing:
    root.mkdir(parents=True, exist_ok=True)
    return KeyRing.create(root / "keyfile.json", PASSPHRASE, iterations=FAST_ITERATIONS)


class FakeClock:
    """A clock tests move by hand: ``clock()`` returns an aware UTC datetime."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


INITIAL_PASSWORD = "Initial-Passw0rd"


def store_with_users(root: Path, passwords: dict[str, str], roles: dict[str, str], clock=None) -> None:
    """A new workstation store at ``root``: administrator 'sys' (initial password) plus one user per
    ``roles`` entry (name -> role), each past the first-login password change to ``passwords[name]``."""
    from CardiacPlanningLib.security.workstation import Workstation

    ws = Workstation.init(
        root, PASSPHRASE, key_iterations=FAST_ITERATIONS, hash_iterations=FAST_ITERATIONS, clock=clock
    )
    ws.users.add_user(None, "sys", "system_admin", INITIAL_PASSWORD)
    admin = ws.login("sys", INITIAL_PASSWORD)
    for name, role in roles.items():
        ws.users.add_user(admin, name, role, INITIAL_PASSWORD)
        ws.users.change_password(ws.login(name, INITIAL_PASSWORD), INITIAL_PASSWORD, passwords[name])
    ws.close()
