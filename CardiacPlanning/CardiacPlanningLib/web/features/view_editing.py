"""Editing the open case's segmentation from its slice views (no trame here, so it is testable on a
headless scene): a stroke in a view's display coordinates becomes LPS points on that view's slice,
is applied by the :class:`~.editing.SegmentationEditor` of the phase the view shows, and the edited
label map replaces that phase in the segmentation sequence, so every view showing the phase and the
3D surfaces follow. Saving writes each edited phase back to the store."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from ...errors import CardiacInputError
from ...mrml import labelmap_to_segmentation, remove_node
from ...store.store import CaseStore
from .editing import SegmentationEditor

logger = logging.getLogger(__name__)

TOOLS = ("paint", "erase")
RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])


class ViewEditing:
    """Strokes, smoothing, undo/redo and saving for the case open in ``viewer`` (a
    :class:`~..viewer.CaseViewer`: ``case``, ``phase_views``, ``segmentation_sequence``, ``scene``,
    ``show_step``); ``store`` returns the logged-in session's store (activity marked)."""

    def __init__(self, viewer, store: Callable[[], CaseStore]) -> None:
        self.viewer = viewer
        self.store = store
        self.editors: dict[int, SegmentationEditor] = {}
        self.phase: int | None = None  # the phase edited last (smooth/undo/redo act on it)

    def reset(self) -> None:
        """Forget every editor (unsaved edits are dropped; e.g. when the case closes)."""
        dropped = [p for p, e in self.editors.items() if e.dirty]
        if dropped:
            logger.warning("unsaved edits of phases %s dropped", dropped)
        self.editors.clear()
        self.phase = None

    # -- where a stroke lands ---------------------------------------------------------------------
    def _views(self):
        views = self.viewer.phase_views
        if self.viewer.case is None or views is None:
            raise CardiacInputError("open a case first")
        if not self.viewer.case.seg_objects or self.viewer.segmentation_sequence is None:
            raise CardiacInputError(f"case {self.viewer.case.case_id!r} has no segmentation to edit")
        return views

    def view_index(self, view_name: str) -> int | None:
        """Index of the phase view called ``view_name`` (e.g. ``Phase2``), None if not shown."""
        views = self.viewer.phase_views
        names = views.names if views is not None else []
        return names.index(view_name) if view_name in names else None

    def editor(self, phase: int) -> SegmentationEditor:
        """The editor of ``phase``'s stored label map (opened on first use; needs case.write)."""
        if phase not in self.editors:
            case = self.viewer.case
            self.editors[phase] = SegmentationEditor(self.store(), case.case_id, case.seg_objects[phase])
        return self.editors[phase]

    def display_to_lps(self, view: int, xy: np.ndarray) -> np.ndarray:
        """Display points (x, y pixels from the lower left of view ``view``) -> LPS mm on its slice."""
        node = self._views().slice_nodes[view]
        m = node.GetXYToRAS()
        xy = np.atleast_2d(np.asarray(xy, float))
        ras = [m.MultiplyPoint((float(x), float(y), 0.0, 1.0))[:3] for x, y in xy]
        return np.asarray(ras) * RAS_TO_LPS

    def _slice_axis(self, view: int, editor: SegmentationEditor) -> int | None:
        """The voxel index axis normal to the view's slice (None for an oblique slice)."""
        m = self._views().slice_nodes[view].GetSliceToRAS()
        normal = np.array([m.GetElement(r, 2) for r in range(3)]) * RAS_TO_LPS
        normal /= np.linalg.norm(normal)
        align = np.abs(np.asarray(editor.seg.direction).T @ normal)
        return int(np.argmax(align)) if align.max() > 0.999 else None

    # -- edits ------------------------------------------------------------------------------------
    def stroke(self, view: int, points_lps, tool: str, label: int | None, radius_mm: float) -> int:
        """Paint (or erase) along ``points_lps`` (on view ``view``'s slice) in the phase it shows;
        points outside the image are dropped. Returns the voxels changed."""
        if tool not in TOOLS:
            raise CardiacInputError(f"edit tool must be one of {', '.join(TOOLS)}, got {tool!r}")
        views = self._views()
        phase = views.shown_phases()[view]
        editor = self.editor(phase)
        seg = editor.seg
        pts = np.atleast_2d(np.asarray(points_lps, float))
        pts = pts[seg.contains(pts)]
        if len(pts) == 0:
            raise CardiacInputError("the stroke lies outside the image")
        ijk = seg.lps_to_index(pts)
        axis = self._slice_axis(view, editor)
        if axis is not None:  # all points on one voxel layer: a disk brush in the slice
            ijk[:, axis] = np.rint(ijk[:, axis].mean())
        if tool == "paint":
            if label is None:
                raise CardiacInputError("choose the segment to paint")
            changed = editor.paint(label, ijk, radius_mm, space="ijk", slice_axis=axis)
        else:
            changed = editor.erase(label, ijk, radius_mm, space="ijk", slice_axis=axis)
        self.phase = phase
        self.refresh(phase)
        return changed

    def _current(self) -> SegmentationEditor:
        if self.phase is None:
            views = self._views()
            self.phase = views.shown_phases()[0]
        return self.editor(self.phase)

    def smooth(self, label: int, sigma_mm: float) -> int:
        changed = self._current().smooth(label, sigma_mm)
        self.refresh(self.phase)
        return changed

    def undo(self) -> str:
        what = self._current().undo()
        self.refresh(self.phase)
        return what

    def redo(self) -> str:
        what = self._current().redo()
        self.refresh(self.phase)
        return what

    def save(self) -> list[int]:
        """Save every phase with unsaved edits to the store; returns those phases."""
        saved = []
        for phase, editor in sorted(self.editors.items()):
            if editor.dirty:
                editor.save()
                saved.append(phase)
        return saved

    @property
    def dirty(self) -> bool:
        return any(e.dirty for e in self.editors.values())

    def status(self) -> dict:
        """For the page: edited phase, whether undo/redo/save are possible, history of that phase."""
        editor = self.editors.get(self.phase) if self.phase is not None else None
        return {
            "phase": self.phase,
            "can_undo": bool(editor and editor.can_undo),
            "can_redo": bool(editor and editor.can_redo),
            "dirty": self.dirty,
            "history": editor.history[-5:] if editor else [],
        }

    # -- display ----------------------------------------------------------------------------------
    def refresh(self, phase: int) -> None:
        """Put ``phase``'s edited label map into the segmentation sequence and update the views."""
        views = self._views()
        sequence = self.viewer.segmentation_sequence
        value = sequence.GetNthIndexValue(phase)
        scene = self.viewer.scene
        holder = labelmap_to_segmentation(self.editors[phase].seg, scene, f"edited phase {value}")
        try:
            sequence.SetDataNodeAtValue(holder, value)
        finally:
            remove_node(scene, holder)
        self.viewer.show_step(views.step)
