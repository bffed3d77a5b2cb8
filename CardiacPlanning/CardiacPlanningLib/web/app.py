"""The browser review server: a trame-slicer app behind the login gate (see ``web/README.md``).

:class:`ReviewApp` keeps the :class:`trame_slicer.core.SlicerApp` for the whole life of the server
(if Python collected it, its colour tables would leave the scene and the slice images would break).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from ..errors import CardiacPlanningError
from ..motion import views as motion_views
from ..mrml import prepare_scene
from ..progress import Progress
from ..security.errors import PermissionDenied, SessionExpired
from ..security.workstation import Workstation
from ..store.errors import NotFoundError
from . import auth, cases
from .context import FEATURES, ReviewContext, install_features
from .downloads import add_builtin_downloads, download_handler
from .viewer import THREE_D, WINDOW_LEVEL_PRESETS, CaseViewer

logger = logging.getLogger(__name__)

IDLE_CHECK_S = 5.0


def _empty_state() -> dict:
    return {
        "user": "",
        "role": "",
        "page": "cases",
        "cases": [],
        "cases_message": "",
        "case_id": "",
        "n_phases": 0,
        "phase_choices": [],
        "view_phases": [],
        "shown_phases": [],
        "view_labels": {},
        "playing": False,
        "cine_step": 0,
        "fps": 4,
        "segments": [],
        "views_fov": [],
        "error": "",
        "busy": False,
        "busy_message": "",
        "panels_allowed": {},
    }


class ReviewApp:
    """One review seat: trame server + Slicer core + viewer + seat manager + features."""

    def __init__(self, workstation: Workstation, tls: bool = False, features=None) -> None:
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
        from trame.app import get_server
        from trame_rca import module as trame_rca_module
        from trame_slicer import module as trame_slicer_module
        from trame_slicer.core import LayoutManager, SlicerApp
        from trame_slicer.rca_view import register_rca_factories

        from .ui import build_ui, view_label_ui

        self.workstation = workstation
        self.tls = tls
        self.server = get_server("cardiac_planning_review", client_type="vue3")
        self.server.enable_module(trame_slicer_module)
        self.server.enable_module(trame_rca_module)  # views are made on first use, after start-up
        self.state, self.ctrl = self.server.state, self.server.controller
        self.slicer_app = SlicerApp()  # held for the server's whole life
        scene = self.slicer_app.scene
        # our MRML adapters use the application's logics instead of registering their own
        scene._cardiac_planning_logics = {
            "colors": self.slicer_app.color_logic,
            "segmentations": self.slicer_app.segmentations_logic,
        }
        prepare_scene(scene)
        register_rca_factories(
            self.slicer_app.view_manager,
            self.server,
            slice_view_ui_f=view_label_ui,
            three_d_view_ui_f=view_label_ui,
            target_fps=10.0,
            blur_fps=5.0,
        )
        self.layout_manager = LayoutManager(scene, self.slicer_app.view_manager, self.server)
        self.viewer = CaseViewer(self.slicer_app, self.layout_manager)
        self.viewer.on_views_modified.append(self._views_modified)
        self.seats = auth.SeatManager(workstation)
        self.seats.on_seat_started.append(self._seat_started)
        self.seats.on_seat_ended.append(self._seat_ended)
        self.ctx = ReviewContext(self.server, self.slicer_app, self.seats, self.viewer)
        add_builtin_downloads(self.ctx)
        self.features = install_features(self.ctx, features if features is not None else FEATURES)
        self.state.update(_empty_state())
        self.state.trame__title = "Cardiac planning review"
        self.state.session_ended = False
        self._register_controllers()
        self.ui = build_ui(self)
        self._wslink = None
        self._play_task: asyncio.Task | None = None
        self._fov_pending = False
        self.ctrl.on_server_bind.add(self._bind)
        self.ctrl.on_server_ready.add(self._on_ready)

    # -- server wiring ----------------------------------------------------------------------------
    def _bind(self, wslink_server) -> None:
        self._wslink = wslink_server
        app = wslink_server.app
        app.middlewares.append(auth.gate_middleware(self.seats, self.tls))
        auth.add_routes(app, self.seats, self.tls)
        app.router.add_get("/download/{name}", download_handler(self.ctx))

    def _on_ready(self, **_kwargs) -> None:
        loop = asyncio.get_event_loop()
        loop.create_task(self._idle_watch())
        # make the default layout's views while the first user logs in (a few seconds each)
        loop.call_later(0.1, self.viewer.ensure_views, motion_views.MIN_VIEWS)

    async def _idle_watch(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK_S)
            self.seats.expire_if_idle()

    @staticmethod
    async def _disconnect_clients(seat: auth.Seat) -> None:
        await asyncio.sleep(0.5)  # let the "session ended" state reach the page (it redirects)
        seat.close_sockets()

    def start(self, host: str, port: int, tls_cert: str | None = None, tls_key: str | None = None, **kw):
        """Serve (blocking). trame reads its options from the command line: give it only ours."""
        argv = [sys.argv[0], "--server", "--host", host, "--port", str(port), "--timeout", "0"]
        if tls_cert and tls_key:
            argv += ["--ssl", f"{tls_cert},{tls_key}"]
        saved, sys.argv = sys.argv, argv
        try:
            return self.server.start(host=host, port=port, open_browser=False, timeout=0, **kw)
        finally:
            sys.argv = saved

    # -- seat life --------------------------------------------------------------------------------
    def _seat_started(self, seat: auth.Seat) -> None:
        with self.state:
            self.state.update(_empty_state())
            self.state.session_ended = False
            self.state.user = seat.username
            self.state.role = seat.role_names
            self.state.panels_allowed = {p.key: seat.guard.allows(p.action) for p in self.ctx.panels}
            self._refresh_cases(seat)
        self.ctx.fire(self.ctx.on_seat_started)

    def _seat_ended(self, seat: auth.Seat, reason: str) -> None:
        self._stop_play()
        if self.viewer.case is not None:
            self.ctx.fire(self.ctx.on_case_closed)
        self.viewer.close()
        with self.state:
            self.state.update(_empty_state())
            self.state.session_ended = True
        self.ctx.fire(self.ctx.on_seat_ended)
        logger.info("seat of %s ended: %s", seat.username, reason)
        if self._wslink is not None:
            asyncio.get_event_loop().create_task(self._disconnect_clients(seat))

    def _refresh_cases(self, seat: auth.Seat) -> None:
        if seat.session.must_change_password:
            self.state.cases_message = (
                "Your password must be changed before you can see cases (cardiac-planning admin passwd)."
            )
            return
        if not seat.guard.allows("case.list"):
            self.state.cases_message = (
                f"Your role ({seat.role_names}) does not give access to patient images."
            )
            return
        listed = cases.list_reviewable(seat.store)
        self.state.cases = [c.to_state() for c in listed]
        self.state.cases_message = "" if listed else "No case to review."

    # -- controllers ------------------------------------------------------------------------------
    def _register_controllers(self) -> None:
        ctrl = self.ctrl
        ctrl.trigger("open_case")(self.open_case)
        ctrl.trigger("close_case")(self.close_case)
        ctrl.set("open_case")(self.open_case)
        ctrl.set("close_case")(self.close_case)
        ctrl.set("apply_phases")(self._guarded(self.apply_phases))
        ctrl.set("toggle_play")(self._guarded(self.toggle_play))
        ctrl.set("set_window_level")(self._guarded(self.set_window_level))
        ctrl.set("set_segment_visible")(self._guarded(self.set_segment_visible))
        ctrl.set("reset_3d")(self._guarded(self.viewer.reset_3d))
        self.state.change("cine_step")(self._on_step)

    def _guarded(self, fn):
        """Run ``fn`` for the logged-in seat (activity marked); errors go to the page."""

        def run(*args, **kwargs):
            try:
                self.seats.touch()
                return fn(*args, **kwargs)
            except SessionExpired:
                return None  # the seat-ended listener has reset the page
            except (CardiacPlanningError, PermissionError) as exc:
                self.state.error = str(exc).splitlines()[0]
            return None

        return run

    async def open_case(self, case_id: str) -> None:
        try:
            seat = self.seats.touch()
        except SessionExpired:
            return
        self._stop_play()
        with self.state:
            self.state.busy, self.state.error = True, ""
            self.state.busy_message = f"opening {case_id}"
        await asyncio.sleep(0)
        try:
            index = cases.open_case(seat.store, str(case_id))
            if index.phases >= motion_views.MIN_VIEWS:
                view = motion_views.choose_view_phases(index.phases, index.ed, index.es, 2)
            else:
                view = [0]
            shown = self.viewer.open(seat.store, index, view, Progress())
            seat.guard.record(
                "case.read",
                index.case_id,
                "success",
                f"opened in the browser review: {index.phases} phases, views {shown}",
            )
        except (PermissionDenied, NotFoundError):
            # one answer for "absent" and "not allowed": a role learns nothing of cases it may not see
            with self.state:
                self.state.busy, self.state.busy_message = False, ""
                self.state.error = (
                    "This case cannot be opened: it does not exist or your role may not open it."
                )
            return
        except CardiacPlanningError as exc:
            with self.state:
                self.state.busy, self.state.busy_message = False, ""
                self.state.error = str(exc).splitlines()[0]
            return
        with self.state:
            self.state.busy, self.state.busy_message = False, ""
            self.state.page = "viewer"
            self.state.case_id = index.case_id
            self.state.n_phases = index.phases
            self.state.phase_choices = [
                {"value": k, "title": self.viewer.phase_label(k)} for k in range(index.phases)
            ]
            self.state.view_phases = shown if index.phases > 1 else [0]
            self.state.cine_step = 0
            self._update_view_state()
            self.state.segments = self.viewer.segments()
        self.ctx.fire(self.ctx.on_case_opened)
        # surfaces after the first slice images (they take seconds on a clinical grid)
        asyncio.get_event_loop().call_later(0.5, self._surfaces)

    def _surfaces(self) -> None:
        if self.viewer.phase_views is not None:
            self.viewer.update_3d()

    def close_case(self) -> None:
        self._stop_play()
        if self.viewer.case is not None:
            self.ctx.fire(self.ctx.on_case_closed)
        self.viewer.close()
        with self.state:
            self.state.update({k: v for k, v in _empty_state().items() if k not in ("user", "role")})
            self.state.panels_allowed = {p.key: self.ctx.allows(p.action) for p in self.ctx.panels}
        seat = self.seats.seat
        if seat is not None:
            try:
                self.seats.touch()
                with self.state:
                    self._refresh_cases(seat)
            except (SessionExpired, PermissionDenied):
                pass

    def apply_phases(self) -> None:
        shown = self.viewer.show_phases(list(self.state.view_phases or []))
        self.state.view_phases = shown
        self.state.cine_step = 0
        self._update_view_state()

    def set_window_level(self, preset: str) -> None:
        window, level = WINDOW_LEVEL_PRESETS[preset]
        self.viewer.set_window_level(window, level)

    def set_segment_visible(self, value: int, visible: bool) -> None:
        self.viewer.set_label_visible(int(value), bool(visible))
        self.state.segments = self.viewer.segments()

    def toggle_play(self) -> None:
        if self._play_task is not None:
            self._stop_play()
            self._surfaces()  # the 3D view catches up with the phase shown
            return
        self.state.playing = True
        self._play_task = asyncio.get_event_loop().create_task(self._play())

    async def _play(self) -> None:
        try:
            while self.viewer.case is not None:
                await asyncio.sleep(1.0 / max(1, int(self.state.fps or 4)))
                with self.state:
                    self.state.cine_step = (int(self.state.cine_step) + 1) % max(1, self.viewer.case.phases)
        finally:
            self._play_task = None

    def _stop_play(self) -> None:
        if self._play_task is not None:
            self._play_task.cancel()
            self._play_task = None
        self.state.playing = False

    def _on_step(self, cine_step=0, **_kwargs) -> None:
        if self.viewer.phase_views is None:
            return
        if self._play_task is None:  # a user's move of the slider is activity; playback is not
            try:
                self.seats.touch()
            except SessionExpired:
                return
        self.viewer.show_step(int(cine_step or 0), surfaces=self._play_task is None)
        self._update_view_state()

    def _update_view_state(self) -> None:
        views = self.viewer.phase_views
        if views is None:
            return
        shown = views.shown_phases()
        self.state.shown_phases = [self.viewer.phase_label(p) for p in shown]
        labels = {name: self.viewer.phase_label(p) for name, p in zip(views.names, shown)}
        self.state.view_labels = {**labels, THREE_D: "3D surfaces"}
        self.state.views_fov = self.viewer.fields_of_view()

    def _views_modified(self) -> None:
        if self._play_task is None and self.seats.seat is not None:
            try:  # zoom, pan, slice or window changes from the browser are activity
                self.seats.touch()
            except SessionExpired:
                return
        if self._fov_pending:
            return
        self._fov_pending = True

        def flush():
            self._fov_pending = False
            with self.state:
                self.state.views_fov = self.viewer.fields_of_view()

        asyncio.get_event_loop().call_later(0.2, flush)
