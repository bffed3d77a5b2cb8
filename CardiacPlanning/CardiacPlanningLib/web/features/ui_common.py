"""Small helpers shared by the feature panels of the browser review."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ...errors import CardiacPlanningError
from ...security.errors import SessionExpired

logger = logging.getLogger(__name__)


def guarded(ctx, fn: Callable) -> Callable:
    """``fn`` run for the logged-in seat (activity marked): a user error or a refusal goes to the
    page's error banner; an ended session is left to the seat listener (it resets the page)."""

    def run(*args, **kwargs):
        try:
            ctx.seats.touch()
            return fn(*args, **kwargs)
        except SessionExpired:
            return None
        except (CardiacPlanningError, PermissionError) as exc:
            with ctx.server.state:
                ctx.server.state.error = str(exc).splitlines()[0]
        return None

    return run
