"""The "Stent comparison" panel of the browser review: the stored reconstructions of the open case
ranked by their structure matching score, every score term side by side, each envelope shown in the
3D view in its own colour, and (clinicians) the choice of one, stored and audited.

Element ids: ``stent-message``, ``stent-list``, ``stent-open``, ``stent-table``, ``stent-row-<name>``,
``stent-show-<name>``, ``stent-choose-<name>``, ``stent-chosen``, ``stent-close``.
"""

from __future__ import annotations

import logging

from ...errors import CardiacInputError
from ..context import Panel
from ..viewer import THREE_D
from .stent_compare import TERMS, StentComparison
from .ui_common import guarded

logger = logging.getLogger(__name__)

ANATOMY_OPACITY_3D = 0.3  # segment surfaces in 3D while a device is shown
COLOURS = ((0.95, 0.75, 0.2), (0.3, 0.8, 1.0), (0.9, 0.35, 0.9), (0.4, 0.95, 0.4), (1.0, 0.5, 0.4))


def _cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def lps_mesh_to_ras(mesh):
    """A copy of an LPS vtkPolyData in RAS (x and y negated), for display in the Slicer scene."""
    import vtk

    transform = vtk.vtkTransform()
    transform.Scale(-1.0, -1.0, 1.0)
    flt = vtk.vtkTransformPolyDataFilter()
    flt.SetTransform(transform)
    flt.SetInputData(mesh)
    flt.Update()
    out = vtk.vtkPolyData()
    out.DeepCopy(flt.GetOutput())
    return out


class StentPanel:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.state = ctx.server.state
        self.comparison: StentComparison | None = None
        self.models: dict[str, object] = {}
        self.state.update(self._empty())
        self.state.stent_columns = [{"key": k, "title": t, "unit": u} for k, t, u in TERMS]
        ctrl = ctx.server.controller
        ctrl.set("stent_show")(guarded(ctx, self.show))
        ctrl.set("stent_choose")(guarded(ctx, self.choose))

    @staticmethod
    def _empty() -> dict:
        return {
            "stent_rows": [],
            "stent_chosen": "",
            "stent_shown": "",
            "stent_message": "",
            "stent_dialog": False,
            "stent_can_choose": False,
        }

    # -- hooks ------------------------------------------------------------------------------------
    def case_opened(self, _ctx=None) -> None:
        self.case_closed()
        case = self.ctx.case
        try:
            self.comparison = StentComparison(self.ctx.store, case.case_id)
        except CardiacInputError:
            with self.state:
                self.state.stent_message = "No stent or valve-frame reconstruction stored for this case."
            return
        chosen = self.comparison.chosen()
        with self.state:
            self.state.stent_rows = self._rows()
            self.state.stent_chosen = chosen["name"] if chosen else ""
            self.state.stent_can_choose = self.ctx.allows("case.write")
        self.show(chosen["name"] if chosen else self.comparison.names[0])

    def case_closed(self, _ctx=None) -> None:
        # the viewer removes the models with the case's other nodes; forget them here
        self.comparison = None
        self.models = {}
        with self.state:
            self.state.update(self._empty())

    def _rows(self) -> list[dict]:
        rows = []
        for i, row in enumerate(self.comparison.table()):
            cells = {k: _cell(row[k]) for k, _t, _u in TERMS}
            r, g, b = COLOURS[i % len(COLOURS)]
            colour = f"rgb({int(255 * r)},{int(255 * g)},{int(255 * b)})"
            rows.append({"name": row["name"], "rank": row["rank"], "colour": colour, **cells})
        return rows

    # -- actions ----------------------------------------------------------------------------------
    def _model(self, name: str):
        if name not in self.models:
            scene = self.ctx.slicer_app.scene
            node = scene.AddNewNodeByClass("vtkMRMLModelNode", f"stent {name}")
            node.SetAndObservePolyData(lps_mesh_to_ras(self.comparison.mesh(name)))
            node.CreateDefaultDisplayNodes()
            display = node.GetDisplayNode()
            display.SetColor(*COLOURS[self.comparison.names.index(name) % len(COLOURS)])
            view = scene.GetSingletonNode(THREE_D, "vtkMRMLViewNode")
            if view is not None:
                display.AddViewNodeID(view.GetID())  # 3D only, not the slice views
            self.models[name] = node
        return self.models[name]

    def show(self, name: str) -> None:
        """Show reconstruction ``name``'s envelope in the 3D view (the others hidden)."""
        if self.comparison is None:
            raise CardiacInputError("this case has no stent reconstruction")
        self.comparison.row(name)
        for other in self.comparison.names:
            if other == name or other in self.models:
                self._model(other).GetDisplayNode().SetVisibility(other == name)
        views = self.ctx.viewer.phase_views
        for k in range(len(views.browsers) if views is not None else 0):
            segmentation = views.segmentation_node(k)
            if segmentation is not None and segmentation.GetDisplayNode() is not None:
                segmentation.GetDisplayNode().SetOpacity3D(ANATOMY_OPACITY_3D)  # the device shows through
        with self.state:
            self.state.stent_shown = name

    def choose(self, name: str) -> None:
        """Record ``name`` as the chosen reconstruction (case.write; stored and audited)."""
        if self.comparison is None:
            raise CardiacInputError("this case has no stent reconstruction")
        record = self.comparison.choose(name, note="chosen in the browser review")
        with self.state:
            self.state.stent_chosen = record["name"]
        self.show(name)

    # -- UI ---------------------------------------------------------------------------------------
    def build(self) -> None:
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        ctrl = self.ctx.server.controller
        html.Div("{{ stent_message }}", v_if=("stent_message",), id="stent-message", classes="text-caption")
        with html.Div(v_if=("stent_rows.length",), id="stent-list", classes="text-caption"):
            with html.Div(v_for="r in stent_rows", key="r.name", classes="d-flex align-center"):
                html.Span("■", style=("{color: r.colour}",), classes="mr-1")
                html.Span("{{ r.rank }}. {{ r.name }} {{ r.total }}")
                html.Span(" ✓", v_if=("r.name === stent_chosen",))
            v.VBtn("Compare", size="x-small", id="stent-open", click="stent_dialog = true", classes="mt-1")
            html.Div("chosen: {{ stent_chosen || 'none' }}", id="stent-chosen")
        with v.VDialog(
            v_model=("stent_dialog",), width=1100, scrim=False, persistent=True, classes="align-end"
        ):
            with v.VCard(id="stent-table"):
                v.VCardTitle("Stent / valve-frame reconstructions of {{ case_id }}")
                with v.VCardText():
                    self._table(v, html, ctrl)
                    html.Div(
                        "Score = 0.5 apposition + 0.3 completeness + 0.2 continuity (with a vessel wall); "
                        "apposition: share of the envelope within 0.5 mm of the wall.",
                        classes="text-caption mt-2",
                    )
                with v.VCardActions():
                    v.VSpacer()
                    v.VBtn("Close", id="stent-close", click="stent_dialog = false")

    def _table(self, v, html, ctrl) -> None:
        with v.VTable(density="compact"):
            with html.Thead(), html.Tr():
                html.Th("Rank")
                html.Th("Algorithm")
                html.Th("{{ c.title }} ({{ c.unit }})", v_for="c in stent_columns", key="c.key")
            with html.Tbody():
                with html.Tr(
                    v_for="r in stent_rows",
                    key="r.name",
                    id=("`stent-row-${r.name}`",),
                    style=("r.name === stent_chosen ? 'background: rgba(80,160,255,0.18)' : ''",),
                ):
                    html.Td("{{ r.rank }}")
                    with html.Td(classes="text-no-wrap"):
                        html.Span("■ ", style=("{color: r.colour}",))
                        html.Span("{{ r.name }}")
                        html.Span(" (chosen)", v_if=("r.name === stent_chosen",), classes="font-weight-bold")
                        html.Br()
                        v.VBtn(
                            "{{ r.name === stent_shown ? 'shown in 3D' : 'show in 3D' }}",
                            size="x-small",
                            variant="outlined",
                            id=("`stent-show-${r.name}`",),
                            click=(ctrl.stent_show, "[r.name]"),
                        )
                        v.VBtn(
                            "choose",
                            size="x-small",
                            color="primary",
                            classes="ml-1",
                            v_if=("stent_can_choose",),
                            id=("`stent-choose-${r.name}`",),
                            click=(ctrl.stent_choose, "[r.name]"),
                        )
                    html.Td("{{ r[c.key] }}", v_for="c in stent_columns", key="c.key")


def install(ctx) -> None:
    """Register the stent comparison panel (every role that may read the case) and its hooks."""
    panel = StentPanel(ctx)
    ctx.add_panel(Panel("stent", "Stent comparison", panel.build, action="case.read_deid", icon="mdi-ring"))
    ctx.on_case_opened.append(panel.case_opened)
    ctx.on_case_closed.append(panel.case_closed)
