"""One object that opens a store folder's key file, audit log and user database, and hands out a
:class:`CaseStore` bound to a logged-in session (the way the GUI and the CLI use the store).

Layout: ``<root>/keyfile.json`` (or ``key_path``), ``<root>/audit/audit.db``, ``<root>/users.db``,
``<root>/cases/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..store.keys import DEFAULT_ITERATIONS, KeyRing
from ..store.store import CaseStore
from .audit import AuditLog
from .guard import SessionGuard
from .passwords import DEFAULT_HASH_ITERATIONS, PasswordPolicy
from .sessions import Session
from .users import UserDB

logger = logging.getLogger(__name__)


class Workstation:
    """Key ring + audit log + users of one store folder."""

    def __init__(
        self,
        root: Path,
        ring: KeyRing,
        clock: Callable[[], datetime] | None = None,
        policy: PasswordPolicy | None = None,
        hash_iterations: int = DEFAULT_HASH_ITERATIONS,
        checkpoint_every: int = 100,
    ) -> None:
        self.root = Path(root)
        self.ring = ring
        self.audit = AuditLog(
            self.root / "audit" / "audit.db", ring, clock, checkpoint_every=checkpoint_every
        )
        self.users = UserDB(self.root / "users.db", ring, self.audit, clock, policy, hash_iterations)

    @classmethod
    def init(
        cls,
        root: Path,
        passphrase: str,
        key_path: Path | None = None,
        key_iterations: int = DEFAULT_ITERATIONS,
        **kwargs,
    ) -> Workstation:
        """Create the key file (refuses to overwrite one) and empty audit log and user database."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        ring = KeyRing.create(key_path or root / "keyfile.json", passphrase, key_iterations)
        ws = cls(root, ring, **kwargs)
        ws.audit.append("installer", "installer", "store.init", str(root), "success")
        return ws

    @classmethod
    def open(cls, root: Path, passphrase: str, key_path: Path | None = None, **kwargs) -> Workstation:
        """Unlock an existing store folder (runs the crypto self-test)."""
        root = Path(root)
        return cls(root, KeyRing.open(key_path or root / "keyfile.json", passphrase), **kwargs)

    def login(self, username: str, password: str, totp_code: str | None = None) -> Session:
        return self.users.login(username, password, totp_code)

    def guard(self, session: Session) -> SessionGuard:
        return SessionGuard(session, self.audit)

    def store(self, session: Session) -> CaseStore:
        """The case store as seen by ``session``: every operation checked and audited."""
        return CaseStore(self.root, self.ring, SessionGuard(session, self.audit))

    def close(self) -> None:
        self.audit.checkpoint()
        self.users.close()
        self.audit.close()
