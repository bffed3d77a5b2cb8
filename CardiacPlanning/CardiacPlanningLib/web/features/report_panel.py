"""The "Report" panel of the browser review: the planning reports stored with the open case, a preview
of the PDF's first page, and downloads of the PDF and the HL7 CDA through ``GET /download/report``
(``?procedure=tavr&format=pdf|cda``, of the open case; role-checked: researchers only de-identified
cases, administrators nothing; every hand-out and refusal audited).

Element ids: ``report-message``, ``report-procedure``, ``report-preview-button``, ``report-preview``,
``report-download-pdf``, ``report-download-cda``.
"""

from __future__ import annotations

import base64
import logging

from ...errors import CardiacInputError
from ..context import Download, Panel
from .report_access import FORMATS, ReportAccess
from .ui_common import guarded

logger = logging.getLogger(__name__)


def _route_action(ctx) -> str:
    """The export a report download of the open case is: de-identified case -> export.deidentified
    (clinicians, researchers), identified case or no case open -> export.identified (clinicians)."""
    case = ctx.case
    if case is not None and ctx.store.is_deidentified(case.case_id):
        return "export.deidentified"
    return "export.identified"


def _produce(ctx, request) -> Download:
    if ctx.case is None:
        raise CardiacInputError("open a case first")
    procedure = request.query.get("procedure", "")
    fmt = request.query.get("format", "pdf")
    got = ReportAccess(ctx.store, ctx.case.case_id).download(procedure, fmt, record=False)
    return Download(got.data, got.filename, got.mime)


class ReportPanel:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.state = ctx.server.state
        self.state.update(self._empty())
        ctx.server.controller.set("report_preview")(guarded(ctx, self.preview))

    @staticmethod
    def _empty() -> dict:
        return {
            "report_procedures": [],
            "report_procedure": None,
            "report_formats": [],
            "report_preview_png": "",
            "report_message": "",
        }

    def case_opened(self, _ctx=None) -> None:
        access = ReportAccess(self.ctx.store, self.ctx.case.case_id)
        procedures = access.procedures()
        with self.state:
            self.state.update(self._empty())
            self.state.report_procedures = procedures
            self.state.report_procedure = procedures[0] if procedures else None
            self.state.report_formats = access.formats(procedures[0]) if procedures else []
            if not procedures:
                self.state.report_message = "No planning report stored for this case."

    def case_closed(self, _ctx=None) -> None:
        with self.state:
            self.state.update(self._empty())

    def preview(self) -> None:
        procedure = self.state.report_procedure
        if not procedure or self.ctx.case is None:
            raise CardiacInputError("no report to preview")
        png = ReportAccess(self.ctx.store, self.ctx.case.case_id).preview_png(procedure, dpi=50)
        with self.state:
            self.state.report_preview_png = "data:image/png;base64," + base64.b64encode(png).decode()

    def build(self) -> None:
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        ctrl = self.ctx.server.controller
        html.Div(
            "{{ report_message }}", v_if=("report_message",), id="report-message", classes="text-caption"
        )
        with html.Div(v_if=("report_procedures.length",)):
            v.VSelect(
                v_model=("report_procedure",),
                items=("report_procedures",),
                label="procedure",
                density="compact",
                hide_details=True,
                id="report-procedure",
            )
            with html.Div(classes="d-flex flex-wrap ga-1 mt-1"):
                v.VBtn("Preview", size="x-small", id="report-preview-button", click=ctrl.report_preview)
                for fmt in FORMATS:
                    html.A(
                        fmt.upper(),
                        v_if=(f"report_formats.includes('{fmt}')",),
                        href=(f"`/download/report?procedure=${{report_procedure}}&format={fmt}`",),
                        download=True,
                        id=f"report-download-{fmt}",
                        classes="text-body-2 mx-1",
                    )
            html.Img(
                v_if=("report_preview_png",),
                src=("report_preview_png",),
                id="report-preview",
                style="width: 100%; border: 1px solid #666; margin-top: 4px;",
            )


def install(ctx) -> None:
    """Register the report panel, its download route and its case hooks."""
    panel = ReportPanel(ctx)
    ctx.add_panel(Panel("report", "Report", panel.build, action="case.read_deid", icon="mdi-file-pdf-box"))
    ctx.add_download("report", _route_action, _produce)
    ctx.on_case_opened.append(panel.case_opened)
    ctx.on_case_closed.append(panel.case_closed)
