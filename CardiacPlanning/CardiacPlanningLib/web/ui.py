"""The trame page of the browser review (Vuetify 3): the case list and the 4D case viewer.

Element ids used by the browser tests: ``case-list``, ``open-<case id>``, ``close-case``,
``play``, ``step-slider``, ``phase-select``, ``apply-phases``, ``segment-<value>``, ``wl-<preset>``,
``views-fov`` (the phase views' field of view, mm), ``shown-phases``, ``user-name``, ``logout``,
``error``; each view's container holds a hidden marker ``view-<Phase1..N or ThreeD>``.
"""

from __future__ import annotations

import logging

from .viewer import WINDOW_LEVEL_PRESETS

logger = logging.getLogger(__name__)


def view_label_ui(server, view_id: str, slicer_view) -> None:
    """Overlay of one view: its name (and the phase it shows) in a corner; marks the container."""
    from trame.widgets import html

    tag = slicer_view.get_singleton_tag()
    html.Div(
        "{{ view_labels['" + tag + "'] || '' }}",
        classes="text-caption",
        style="position:absolute;top:2px;left:6px;color:#ffd27f;pointer-events:none;",
    )
    html.Div("", id=f"view-{tag}", classes="cp-view-marker", style="display:none")


def build_ui(app) -> object:
    """Build the single page (``app`` is the :class:`~.app.ReviewApp`); returns the layout."""
    from trame.ui.vuetify3 import SinglePageLayout
    from trame.widgets import client, html
    from trame.widgets import vuetify3 as v

    server, ctrl = app.server, app.server.controller
    with SinglePageLayout(server, full_height=True) as layout:
        layout.title.set_text("Cardiac planning review")
        client.ClientStateChange(
            value="session_ended",
            change="if (session_ended) { window.location.href = '/login?expired=1'; }",
        )
        with layout.toolbar:
            v.VSpacer()
            html.Span("{{ user }} ({{ role }})", id="user-name", classes="mr-4 text-body-2")
            html.A(
                "Log out",
                href="/logout",
                id="logout",
                classes="text-body-2 mr-4",
                style="color:inherit",
            )
        with layout.content:
            with v.VContainer(fluid=True, classes="fill-height pa-1 d-flex flex-column align-stretch"):
                v.VAlert(
                    "{{ error }}",
                    v_if=("error",),
                    type="error",
                    density="compact",
                    closable=True,
                    id="error",
                    click_close="error = ''",
                )
                _case_list(v, html, ctrl)
                _viewer(app, v, html, ctrl, layout)
    return layout


def _case_list(v, html, ctrl) -> None:
    with v.VCard(v_if=("page === 'cases'",), id="case-list", classes="ma-4"):
        v.VCardTitle("Cases")
        v.VCardText("{{ cases_message }}", v_if=("cases_message",), id="cases-message")
        with v.VTable(v_if=("cases.length",), density="compact"):
            with html.Thead(), html.Tr():
                for title in ("Case", "Phases", "Segmented", "De-identified", ""):
                    html.Th(title)
            with html.Tbody(), html.Tr(v_for="c in cases", key="c.id"):
                html.Td("{{ c.id }}")
                html.Td("{{ c.phases }}")
                html.Td("{{ c.segmented ? 'yes' : 'no' }}")
                html.Td("{{ c.deidentified ? 'yes' : 'no' }}")
                with html.Td():
                    v.VBtn(
                        "Open",
                        size="small",
                        color="primary",
                        id=("`open-${c.id}`",),
                        click=(ctrl.open_case, "[c.id]"),
                        disabled=("busy",),
                    )
        v.VProgressLinear(v_if=("busy",), indeterminate=True)
        v.VCardText("{{ busy_message }}", v_if=("busy",))


def _viewer(app, v, html, ctrl, layout) -> None:
    with html.Div(
        v_show=("page === 'viewer'",),
        classes="d-flex flex-column",
        style="height: calc(100vh - 72px); width: 100%;",
    ):
        with html.Div(classes="d-flex flex-wrap align-center ga-2 pa-1"):
            v.VBtn("Close case", size="small", id="close-case", click=ctrl.close_case)
            html.Span("{{ case_id }}", classes="text-subtitle-2", id="case-title")
            v.VBtn(
                "{{ playing ? 'Pause' : 'Play' }}",
                size="small",
                id="play",
                click=ctrl.toggle_play,
                disabled=("n_phases < 2",),
            )
            v.VSlider(
                v_model=("cine_step", 0),
                min=0,
                max=("Math.max(n_phases - 1, 0)",),
                step=1,
                hide_details=True,
                density="compact",
                style="max-width: 180px",
                id="step-slider",
                label="step",
            )
            v.VSelect(
                v_model=("view_phases", []),
                items=("phase_choices", []),
                multiple=True,
                chips=True,
                density="compact",
                hide_details=True,
                label="phases shown",
                style="max-width: 420px",
                id="phase-select",
            )
            v.VBtn("Show phases", size="small", id="apply-phases", click=ctrl.apply_phases)
            for preset in WINDOW_LEVEL_PRESETS:
                v.VBtn(
                    preset,
                    size="x-small",
                    variant="outlined",
                    id=f"wl-{preset.replace(' ', '-')}",
                    click=(ctrl.set_window_level, f"['{preset}']"),
                )
            v.VBtn("Reset 3D", size="x-small", variant="outlined", id="reset-3d", click=ctrl.reset_3d)
        with html.Div(classes="d-flex flex-row", style="flex: 1 1 auto; min-height: 0;"):
            with html.Div(style="width: 220px; overflow-y: auto;", classes="pa-1"):
                html.Div("Segments", classes="text-subtitle-2")
                v.VCheckbox(
                    v_for="s in segments",
                    key="s.value",
                    v_model=("s.visible",),
                    label=("s.name",),
                    color=("s.color",),
                    density="compact",
                    hide_details=True,
                    id=("`segment-${s.value}`",),
                    update_modelValue=(ctrl.set_segment_visible, "[s.value, $event]"),
                )
                html.Div("views: {{ shown_phases.join(', ') }}", id="shown-phases", classes="text-caption")
                html.Div("{{ views_fov.join(' ') }}", id="views-fov", classes="text-caption")
                for panel in app.ctx.panels:
                    with html.Div(v_if=(f"panels_allowed['{panel.key}']",), classes="mt-2"):
                        html.Div(panel.title, classes="text-subtitle-2")
                        panel.build()
            with html.Div(style="flex: 1 1 auto; position: relative;", classes="d-flex"):
                app.layout_manager.initialize_layout_grid(layout)
