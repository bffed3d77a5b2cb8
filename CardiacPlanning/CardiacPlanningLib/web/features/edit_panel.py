"""The "Edit segmentation" panel of the browser review (clinicians): paint / erase with a brush
dragged over a phase view, smooth, undo, redo, save to the store. Strokes are caught on the views'
interactors while a tool is active (the events then no longer pan or change window/level) and
handed to :class:`~.view_editing.ViewEditing`.

Element ids: ``edit-tool-none``, ``edit-tool-paint``, ``edit-tool-erase``, ``edit-label``,
``edit-radius``, ``edit-smooth``, ``edit-undo``, ``edit-redo``, ``edit-save``, ``edit-status``.
"""

from __future__ import annotations

import logging

from ...errors import CardiacPlanningError
from ...motion import views as motion_views
from ...security.errors import SessionExpired
from ..context import Panel
from .ui_common import guarded
from .view_editing import ViewEditing

logger = logging.getLogger(__name__)

EVENTS = ("LeftButtonPressEvent", "MouseMoveEvent", "LeftButtonReleaseEvent")
PRIORITY = 100.0  # before the slice view's own interactor style


class EditPanel:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.state = ctx.server.state
        self.editing = ViewEditing(ctx.viewer, lambda: ctx.store)
        self._observed: set[str] = set()
        self._stroke: list | None = None
        self._stroke_view: int | None = None
        self.state.update(
            {
                "edit_tool": "none",
                "edit_label": None,
                "edit_radius": 3.0,
                "edit_sigma": 1.0,
                "edit_status": "",
                "edit_dirty": False,
                "edit_can_undo": False,
                "edit_can_redo": False,
                "edit_strokes": 0,
            }
        )
        ctrl = ctx.server.controller
        ctrl.set("edit_smooth")(guarded(ctx, self.smooth))
        ctrl.set("edit_undo")(guarded(ctx, self.undo))
        ctrl.set("edit_redo")(guarded(ctx, self.redo))
        ctrl.set("edit_save")(guarded(ctx, self.save))

    # -- hooks ------------------------------------------------------------------------------------
    def case_opened(self, _ctx=None) -> None:
        self.editing.reset()
        segments = self.state.segments or []
        with self.state:
            self.state.edit_label = segments[0]["value"] if segments else None
            self.state.edit_tool = "none"
            self._publish("")
        self._observe_views()

    def case_closed(self, _ctx=None) -> None:
        self.editing.reset()
        self._stroke = None
        with self.state:
            self.state.edit_tool = "none"
            self._publish("")

    # -- view interaction -------------------------------------------------------------------------
    def _observe_views(self) -> None:
        manager = self.ctx.slicer_app.view_manager
        for name in motion_views.view_names(motion_views.MAX_VIEWS):
            view = manager.get_view(name)
            if view is None or name in self._observed:
                continue
            interactor = view.interactor()
            for event in EVENTS:
                holder: dict = {}
                holder["tag"] = interactor.AddObserver(event, self._handler(name, event, holder), PRIORITY)
            self._observed.add(name)

    def _handler(self, name: str, event: str, holder: dict):
        def on_event(interactor, _event) -> None:
            if self.state.edit_tool not in ("paint", "erase") or self.ctx.viewer.case is None:
                return
            if event == "MouseMoveEvent" and self._stroke is None:
                return  # hovering: let the view show its cursor position
            interactor.GetCommand(holder["tag"]).SetAbortFlag(1)  # no pan / window-level meanwhile
            view = self.editing.view_index(name)
            if view is None:
                return
            xy = interactor.GetEventPosition()
            if event == "LeftButtonPressEvent":
                self._stroke, self._stroke_view = [xy], view
            elif self._stroke is not None and view == self._stroke_view:
                self._stroke.append(xy)
                if event == "LeftButtonReleaseEvent":
                    points, self._stroke = self._stroke, None
                    self._finish_stroke(view, points)

        return on_event

    def _finish_stroke(self, view: int, xy_points: list) -> None:
        try:
            self.ctx.seats.touch()
            lps = self.editing.display_to_lps(view, xy_points)
            logger.info(
                "stroke on view %d: display %s..%s -> LPS %s..%s",
                view,
                xy_points[0],
                xy_points[-1],
                lps[0].round(1),
                lps[-1].round(1),
            )
            label = self.state.edit_label
            tool = self.state.edit_tool
            n = self.editing.stroke(
                view, lps, tool, None if label is None else int(label), float(self.state.edit_radius)
            )
            with self.state:
                self.state.edit_strokes = int(self.state.edit_strokes or 0) + 1
                self.state.segments = self.ctx.viewer.segments()
                self._publish(f"{tool}: {n} voxels changed")
        except SessionExpired:
            return
        except (CardiacPlanningError, PermissionError) as exc:
            with self.state:
                self.state.error = str(exc).splitlines()[0]

    # -- buttons ----------------------------------------------------------------------------------
    def smooth(self) -> None:
        if self.state.edit_label is None:
            raise CardiacPlanningError("choose the segment to smooth")
        n = self.editing.smooth(int(self.state.edit_label), float(self.state.edit_sigma))
        self._publish(f"smooth: {n} voxels changed")

    def undo(self) -> None:
        self._publish(f"undone: {self.editing.undo()}")

    def redo(self) -> None:
        self._publish(f"redone: {self.editing.redo()}")

    def save(self) -> None:
        phases = self.editing.save()
        labels = ", ".join(self.ctx.viewer.phase_label(p) for p in phases)
        self._publish(f"saved {labels}" if phases else "nothing to save")

    def _publish(self, message: str) -> None:
        status = self.editing.status()
        self.state.edit_dirty = status["dirty"]
        self.state.edit_can_undo = status["can_undo"]
        self.state.edit_can_redo = status["can_redo"]
        where = "" if status["phase"] is None else f"phase {self.ctx.viewer.phase_label(status['phase'])}: "
        self.state.edit_status = f"{where}{message}" if message else ""

    # -- UI ---------------------------------------------------------------------------------------
    def build(self) -> None:
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        ctrl = self.ctx.server.controller
        with v.VBtnToggle(v_model=("edit_tool",), density="compact", mandatory=True, divided=True):
            for tool, icon in (
                ("none", "mdi-cursor-default"),
                ("paint", "mdi-brush"),
                ("erase", "mdi-eraser"),
            ):
                v.VBtn(tool, value=tool, size="x-small", id=f"edit-tool-{tool}", prepend_icon=icon)
        v.VSelect(
            v_model=("edit_label",),
            items=("segments",),
            item_title="name",
            item_value="value",
            label="segment",
            density="compact",
            hide_details=True,
            id="edit-label",
            classes="mt-1",
        )
        v.VSlider(
            v_model=("edit_radius",),
            min=0.5,
            max=15,
            step=0.5,
            label="brush mm",
            thumb_label=True,
            density="compact",
            hide_details=True,
            id="edit-radius",
        )
        with html.Div(classes="d-flex flex-wrap ga-1"):
            v.VBtn("Smooth", size="x-small", id="edit-smooth", click=ctrl.edit_smooth)
            v.VBtn("Undo", size="x-small", id="edit-undo", click=ctrl.edit_undo, disabled=("!edit_can_undo",))
            v.VBtn("Redo", size="x-small", id="edit-redo", click=ctrl.edit_redo, disabled=("!edit_can_redo",))
            v.VBtn(
                "Save",
                size="x-small",
                color="primary",
                id="edit-save",
                click=ctrl.edit_save,
                disabled=("!edit_dirty",),
            )
        html.Div("{{ edit_status }}", id="edit-status", classes="text-caption")


def install(ctx) -> None:
    """Register the editing panel (clinicians: ``case.write``) and its case hooks."""
    panel = EditPanel(ctx)
    ctx.add_panel(Panel("edit", "Edit segmentation", panel.build, action="case.write", icon="mdi-brush"))
    ctx.on_case_opened.append(panel.case_opened)
    ctx.on_case_closed.append(panel.case_closed)
    ctx.on_seat_ended.append(panel.case_closed)
