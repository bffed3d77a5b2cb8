"""The 4D case viewer of the browser review: phases from the store into MRML sequences, the linked
multi-phase slice views of :mod:`CardiacPlanningLib.mrml.views` shown through trame-slicer's layout
manager, cine playback, segment visibility and segmentation surfaces in the 3D view.

Views ``Phase1..Phase10`` and the 3D view ``1`` are created once, at start-up; opening a case adds
its sequences and browsers to the scene, closing removes every node the case added (so many
open/close cycles do not grow the server).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..errors import CardiacInputError
from ..motion import views as motion_views
from ..mrml import (
    build_phase_views,
    labelmaps_to_segmentation_sequence,
    segment_label_values,
    stream_phases_to_sequence,
)
from ..progress import Progress, as_progress
from ..store.store import CaseStore
from .cases import CaseIndex, iter_volumes

logger = logging.getLogger(__name__)

LAYOUT_PREFIX = "phases-"
EMPTY_LAYOUT = "none"
THREE_D = "ThreeD"  # singleton tag of the 3D view (a JS identifier: trame names state keys after it)
# node classes a case never owns: the views' own nodes stay when a case closes
_KEEP_CLASSES = (
    "vtkMRMLSliceNode",
    "vtkMRMLSliceCompositeNode",
    "vtkMRMLViewNode",
    "vtkMRMLCameraNode",
    "vtkMRMLLayoutNode",
    "vtkMRMLCrosshairNode",
    "vtkMRMLSelectionNode",
    "vtkMRMLInteractionNode",
    "vtkMRMLScriptedModuleNode",
)
WINDOW_LEVEL_PRESETS = {
    "cardiac": (800.0, 200.0),
    "soft tissue": (400.0, 40.0),
    "calcium": (1500.0, 450.0),
    "wide": (2000.0, 300.0),
}


def phase_layout(count: int, labels: list[str] | None = None):
    """trame-slicer :class:`Layout` of ``count`` linked phase views and the 3D view."""
    from trame_slicer.views import slicer_layout_to_vue

    xml = motion_views.layout_xml(count, with_3d=True, labels=labels)
    return slicer_layout_to_vue(xml.replace('singletontag="1"', f'singletontag="{THREE_D}"'))


class CaseViewer:
    """Owns the MRML content of the open case and the views' layout (one per server process)."""

    def __init__(self, slicer_app, layout_manager) -> None:
        from trame_slicer.views import Layout

        self.app = slicer_app
        self.scene = slicer_app.scene
        self.layouts = layout_manager
        self.case: CaseIndex | None = None
        self.phase_views = None
        self.sequence = None
        self.segmentation_sequence = None
        self.visible_labels: dict[int, bool] = {}
        self.on_views_modified: list[Callable[[], None]] = []
        self._observed: list[tuple] = []
        self._fit_dims: tuple | None = None
        self._fit_scheduled = False
        for count in range(motion_views.MIN_VIEWS, motion_views.MAX_VIEWS + 1):
            layout = phase_layout(count)
            self.layouts.register_layout(f"{LAYOUT_PREFIX}{count}", layout, lazy_initialization=True)
        self.layouts.register_layout(EMPTY_LAYOUT, Layout.empty_layout())
        self.layouts.set_layout(EMPTY_LAYOUT)
        self._keep: set[str] = self._node_ids()  # nodes no case owns (views add theirs when made)

    def _node_ids(self) -> set[str]:
        return {self.scene.GetNthNode(i).GetID() for i in range(self.scene.GetNumberOfNodes())}

    def ensure_views(self, count: int) -> None:
        """Create the views of the ``count``-phase layout now (views are made on first use; their
        nodes are kept when a case closes)."""
        before = self._node_ids()
        self.layouts.create_layout_views_if_needed(f"{LAYOUT_PREFIX}{count}")
        self._keep |= self._node_ids() - before

    # -- open / close ------------------------------------------------------------------------------
    def open(
        self, store: CaseStore, index: CaseIndex, view_phases: list[int], progress: Progress | None = None
    ) -> list[int]:
        """Load ``index``'s phases (and label maps) from ``store`` and show ``view_phases``."""
        progress = as_progress(progress)
        self.close()
        values = [self._index_value(index, k) for k in range(index.phases)]
        try:
            part = progress.sub(0.0, 0.6 if index.seg_objects else 0.9)
            cts = iter_volumes(store, index.case_id, index.ct_objects)

            def phases():
                for k, (value, volume) in enumerate(zip(values, cts)):
                    part(k / index.phases, f"loading phase {k + 1}/{index.phases}")
                    yield value, volume

            self.sequence, _browser = stream_phases_to_sequence(phases(), self.scene, "Review phases")
            if index.seg_objects:
                self.segmentation_sequence = labelmaps_to_segmentation_sequence(
                    iter_volumes(store, index.case_id, index.seg_objects),
                    values,
                    self.scene,
                    "Review segmentation",
                    progress=progress.sub(0.6, 0.9),
                )
            self.case = index
            shown = self.show_phases(view_phases, surfaces=False)
        except BaseException:
            self.close()
            raise
        progress(1.0, "case open")
        return shown

    @staticmethod
    def _index_value(index: CaseIndex, k: int) -> str:
        p = index.percents[k] if k < len(index.percents) else None
        return f"{p:g}%" if p is not None else str(k)

    def show_phases(self, view_phases: list[int], surfaces: bool = True) -> list[int]:
        """Show ``view_phases`` (2-10 phase indices; one for a single-phase study) in linked views;
        ``surfaces=False`` leaves the 3D surfaces to a later :meth:`update_3d` (slow on big grids)."""
        if self.sequence is None or self.case is None:
            raise CardiacInputError("open a case first")
        n = self.case.phases
        view_phases = sorted({int(p) for p in view_phases})
        if n >= motion_views.MIN_VIEWS and len(view_phases) < motion_views.MIN_VIEWS:
            raise CardiacInputError(f"choose {motion_views.MIN_VIEWS} to {motion_views.MAX_VIEWS} phases")
        if len(view_phases) > motion_views.MAX_VIEWS:
            raise CardiacInputError(f"at most {motion_views.MAX_VIEWS} phase views")
        if n == 1:
            view_phases = [0, 0]
        labels = [self.phase_label(p) for p in view_phases]
        if self.phase_views is not None:
            self._unobserve()
            self.phase_views.detach()
        self.ensure_views(len(view_phases))
        self._drop_unused_browsers(len(view_phases))
        self.phase_views = build_phase_views(
            self.sequence, view_phases, self.scene, labels, self.segmentation_sequence, with_3d=False
        )
        self.layouts.set_layout(f"{LAYOUT_PREFIX}{len(view_phases)}")
        for slice_node in self.phase_views.slice_nodes:
            self._observed.append((slice_node, slice_node.AddObserver("ModifiedEvent", self._views_modified)))
        self._fit_dims = None
        self._fit()
        if surfaces:
            self.update_3d()
        self._apply_visibility()
        self.set_window_level(*WINDOW_LEVEL_PRESETS["cardiac"])
        return view_phases

    def phase_label(self, k: int) -> str:
        assert self.case is not None
        label = self.case.labels[k] if k < len(self.case.labels) else f"phase {k}"
        tags = [t for t, i in (("ED", self.case.ed), ("ES", self.case.es)) if i == k]
        return " ".join(tags + [label])

    def _drop_unused_browsers(self, count: int) -> None:
        from ..mrml import remove_node

        for name in motion_views.view_names(motion_views.MAX_VIEWS)[count:]:
            browser = self.scene.GetFirstNodeByName(f"{name} browser")
            if browser is not None and browser.IsA("vtkMRMLSequenceBrowserNode"):
                proxies = [browser.GetProxyNode(self.sequence)]
                if self.segmentation_sequence is not None:
                    proxies.append(browser.GetProxyNode(self.segmentation_sequence))
                remove_node(self.scene, browser)
                for proxy in proxies:
                    remove_node(self.scene, proxy)

    def close(self) -> None:
        """Remove every node the open case added; show no views."""
        if self.phase_views is not None:
            self._unobserve()
            self.phase_views.detach()
        for i in reversed(range(self.scene.GetNumberOfNodes())):
            node = self.scene.GetNthNode(i)
            if node is None or node.GetID() in self._keep:
                continue
            if any(node.IsA(c) for c in _KEEP_CLASSES) or node.GetSingletonTag():
                continue
            self.scene.RemoveNode(node)
        self.phase_views = self.sequence = self.segmentation_sequence = self.case = None
        self.visible_labels = {}
        self.layouts.set_layout(EMPTY_LAYOUT)

    # -- interaction ------------------------------------------------------------------------------
    def show_step(self, step: int, surfaces: bool = True) -> list[int]:
        """Cine: advance every view by ``step`` phases (the segmentation follows; the 3D surfaces
        too unless ``surfaces=False``, as during playback)."""
        if self.phase_views is None:
            raise CardiacInputError("open a case first")
        phases = self.phase_views.show_step(step)
        if surfaces:
            self.update_3d()
        self._apply_visibility()
        return phases

    def set_window_level(self, window: float, level: float) -> None:
        if self.phase_views is not None:
            self.phase_views.set_window_level(window, level)

    def segments(self) -> list[dict]:
        """The segments of the shown segmentation: label value, name, colour (hex), visible."""
        node = self.phase_views.segmentation_node(0) if self.phase_views is not None else None
        if node is None:
            return []
        out = []
        for segment_id, value in sorted(segment_label_values(node).items(), key=lambda kv: kv[1]):
            segment = node.GetSegmentation().GetSegment(segment_id)
            rgb = "#" + "".join(f"{int(round(255 * c)):02x}" for c in segment.GetColor())
            visible = self.visible_labels.get(value, True)
            out.append({"value": value, "name": segment.GetName(), "color": rgb, "visible": visible})
        return out

    def set_label_visible(self, value: int, visible: bool) -> None:
        self.visible_labels[int(value)] = bool(visible)
        self._apply_visibility()

    def _segmentation_nodes(self) -> list:
        if self.phase_views is None or self.segmentation_sequence is None:
            return []
        nodes = [self.phase_views.segmentation_node(k) for k in range(len(self.phase_views.browsers))]
        return [n for n in nodes if n is not None]

    def _apply_visibility(self) -> None:
        for node in self._segmentation_nodes():
            display = node.GetDisplayNode()
            if display is None:
                continue
            for segment_id, value in segment_label_values(node).items():
                display.SetSegmentVisibility(segment_id, self.visible_labels.get(value, True))

    def update_3d(self) -> None:
        """Surfaces (not volume rendering: software rendering is slow) of view 1's segmentation."""
        nodes = self._segmentation_nodes()
        if not nodes:
            return
        view = self.scene.GetSingletonNode(THREE_D, "vtkMRMLViewNode")
        first = nodes[0]
        first.CreateClosedSurfaceRepresentation()
        display = first.GetDisplayNode()
        if view is not None and display is not None and not display.IsDisplayableInView(view.GetID()):
            display.AddViewNodeID(view.GetID())
        if display is not None:
            display.SetPreferredDisplayRepresentationName3D("Closed surface")
            display.SetVisibility3D(True)

    def reset_3d(self) -> None:
        view = self.app.view_manager.get_view(THREE_D)
        if view is not None:
            view.reset_camera()
            view.reset_focal_point()

    def fields_of_view(self) -> list[float]:
        """Field of view width (mm) of each phase view, for the UI and the tests."""
        if self.phase_views is None:
            return []
        return [round(n.GetFieldOfView()[0], 3) for n in self.phase_views.slice_nodes]

    def _dims(self) -> tuple:
        return tuple(tuple(n.GetDimensions()) for n in self.phase_views.slice_nodes)

    def _fit(self) -> None:
        """Fit the views to the volume (again whenever the browser gives a view a new size: the
        slice logic then rescales that view's field of view, and the sync would spread it)."""
        self._fit_scheduled = False
        if self.phase_views is None:
            return
        self._fit_dims = self._dims()
        self.phase_views.fit()

    def _views_modified(self, *_args) -> None:
        views = self.phase_views
        if views is not None and not self._fit_scheduled and self._dims() != self._fit_dims:
            self._fit_scheduled = True
            try:  # after the current event cascade (the sync guards against re-entry)
                asyncio.get_running_loop().call_later(0.05, self._fit)
            except RuntimeError:  # no event loop (scripts, tests): now
                self._fit()
        for callback in self.on_views_modified:
            callback()

    def _unobserve(self) -> None:
        for node, tag in self._observed:
            node.RemoveObserver(tag)
        self._observed = []
