"""What a feature of the browser review gets: :class:`ReviewContext` (the current seat, its guarded
store, the open case, the viewer, the trame server) and the registration points (side panels,
role-checked downloads, case hooks). See ``web/README.md``.

A feature is a function ``install(ctx: ReviewContext) -> None`` listed in :data:`FEATURES`; the app
calls each once at start-up, before the UI is built.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..security.errors import SessionExpired
from .auth import Seat, SeatManager

if TYPE_CHECKING:
    from aiohttp import web

    from .cases import CaseIndex

logger = logging.getLogger(__name__)

# (module relative to CardiacPlanningLib.web, function). Each feature adds ONE line here; a module
# that does not exist yet is skipped (parallel development).
FEATURES: list[tuple[str, str]] = [
    ("features.edit_panel", "install"),
    ("features.stent_panel", "install"),
    ("features.report_panel", "install"),
]


@dataclass
class Panel:
    """A side panel of the case viewer. ``build()`` is called inside the panel's container while the
    UI is built (use trame widgets there). The panel shows only to roles that ``allows(action)``."""

    key: str
    title: str
    build: Callable[[], None]
    action: str = "case.read_deid"
    icon: str = "mdi-puzzle"


@dataclass
class Download:
    """What a download producer returns: the bytes, the file name offered and the content type."""

    data: bytes
    filename: str
    content_type: str = "application/octet-stream"


DownloadProducer = Callable[["ReviewContext", "web.Request"], Download]


@dataclass
class DownloadRoute:
    name: str
    # the permission-matrix action checked (and audited) before ``produce`` runs, or a function of
    # the context giving it (e.g. export.identified or export.deidentified by the open case)
    action: str | Callable[[ReviewContext], str]
    produce: DownloadProducer


class ReviewContext:
    """The running review app as features see it.

    Attributes: ``server`` (trame server: ``.state``, ``.controller``), ``slicer_app`` (trame-slicer
    :class:`SlicerApp`; ``.scene`` is the MRML scene), ``seats`` (:class:`SeatManager`), ``viewer``
    (:class:`~.viewer.CaseViewer`: ``.phase_views``, ``.segmentation_sequence``, ``.case``).
    """

    def __init__(self, server: Any, slicer_app: Any, seats: SeatManager, viewer: Any) -> None:
        self.server = server
        self.slicer_app = slicer_app
        self.seats = seats
        self.viewer = viewer
        self.panels: list[Panel] = []
        self.downloads: dict[str, DownloadRoute] = {}
        self.on_case_opened: list[Callable[[ReviewContext], None]] = []
        self.on_case_closed: list[Callable[[ReviewContext], None]] = []
        self.on_seat_started: list[Callable[[ReviewContext], None]] = []
        self.on_seat_ended: list[Callable[[ReviewContext], None]] = []

    # -- who is logged in ---------------------------------------------------------------------------
    @property
    def seat(self) -> Seat:
        """The logged-in seat, activity marked; :class:`SessionExpired` if nobody is logged in."""
        return self.seats.touch()

    @property
    def store(self):
        """The :class:`CaseStore` of the logged-in session (every call checked and audited)."""
        return self.seat.store

    def allows(self, action: str) -> bool:
        """Whether the logged-in role may ``action`` (no audit record; for showing/hiding UI)."""
        seat = self.seats.seat
        return seat is not None and seat.guard.allows(action)

    def authorize(self, action: str, target: str) -> None:
        """Refuse (``PermissionDenied``, audited) unless the role may ``action`` on ``target``."""
        self.seat.guard.authorize(action, target)

    def record(self, action: str, target: str, outcome: str = "success", detail: str = "") -> None:
        """Write an audit record for the logged-in user (e.g. an edit saved, a choice made)."""
        self.seat.guard.record(action, target, outcome, detail)

    @property
    def case(self) -> CaseIndex | None:
        """The open case (None on the case list)."""
        return self.viewer.case

    # -- registration -------------------------------------------------------------------------------
    def add_panel(self, panel: Panel) -> None:
        if any(p.key == panel.key for p in self.panels):
            raise ValueError(f"panel {panel.key!r} registered twice")
        self.panels.append(panel)

    def add_download(
        self, name: str, action: str | Callable[[ReviewContext], str], produce: DownloadProducer
    ) -> None:
        """Serve ``GET /download/<name>`` (query parameters free): the session cookie is required,
        ``action`` is authorized (refusal audited, HTTP 403), then ``produce(ctx, request)`` runs and
        the download is audited with its file name and size."""
        if name in self.downloads:
            raise ValueError(f"download {name!r} registered twice")
        self.downloads[name] = DownloadRoute(name, action, produce)

    def fire(self, hooks: list[Callable[[ReviewContext], None]]) -> None:
        for hook in hooks:
            try:
                hook(self)
            except SessionExpired:
                raise
            except Exception:
                logger.exception("review hook %r failed", hook)


def install_features(ctx: ReviewContext, features: list[tuple[str, str]] | None = None) -> list[str]:
    """Import and install every feature of :data:`FEATURES`; returns the installed ones."""
    done = []
    for module, function in features if features is not None else FEATURES:
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__package__}."):
                logger.info("web feature %s not built yet", module)
                continue
            raise
        getattr(mod, function)(ctx)
        done.append(module)
    return done
