"""A logged-in session with an idle timeout measured on an injectable clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .errors import SessionExpired
from .roles import Role

logger = logging.getLogger(__name__)


@dataclass
class Session:
    """Who is logged in, with which roles; :meth:`touch` enforces the idle timeout."""

    username: str
    roles: frozenset[Role]
    clock: Callable[[], datetime]
    idle_timeout: timedelta
    must_change_password: bool = False
    started: datetime = field(init=False)
    last_activity: datetime = field(init=False)
    active: bool = True
    on_timeout: Callable[[Session], None] | None = None

    def __post_init__(self) -> None:
        self.started = self.last_activity = self.clock()

    @property
    def role_names(self) -> str:
        return ",".join(sorted(r.value for r in self.roles))

    def touch(self) -> None:
        """Mark activity now; raise :class:`SessionExpired` if idle longer than the timeout."""
        if not self.active:
            raise SessionExpired(f"session of {self.username} has ended: log in again")
        now = self.clock()
        if now - self.last_activity > self.idle_timeout:
            self.active = False
            if self.on_timeout:
                self.on_timeout(self)
            minutes = self.idle_timeout.total_seconds() / 60
            raise SessionExpired(
                f"session of {self.username} expired after {minutes:g} minutes idle: log in again"
            )
        self.last_activity = now

    def end(self) -> None:
        self.active = False
