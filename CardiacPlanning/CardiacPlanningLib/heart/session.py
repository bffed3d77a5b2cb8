"""Fine-tuning sessions of several segmentations (what the CardiacPlanning module's Logic keeps).

Each segmentation (keyed by an id, e.g. its MRML node ID) has one :class:`~.editing.EditSession`.
Before every edit the caller passes the segmentation's current label map: if it changed outside the
session (brush edits in Slicer's Segment Editor), that change is recorded as an undoable step first,
so undo never silently throws away the user's own work. Points are LPS mm, distances mm.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .. import labels as lbl
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..markups import Markups
from ..progress import Progress
from .editing import EditSession

logger = logging.getLogger(__name__)

OUTSIDE_EDIT = "edits outside the session"
OPERATIONS = ("grow", "shrink", "smooth", "fill_holes", "remove_islands", "cut")


def resolve_label(segment: int | str) -> int:
    """The label value of ``segment``: a value (``3``, ``"3"``), a key (``"rv"``) or a name
    (``"Right ventricle"``, case-insensitive) from the label table."""
    if isinstance(segment, (int, np.integer)):
        return lbl.by_value(int(segment)).value
    text = str(segment).strip()
    if text.isdigit():
        return lbl.by_value(int(text)).value
    for label in lbl.label_table():
        if text.lower() in (label.key.lower(), label.name.lower()):
            return label.value
    raise CardiacInputError(f"segment {segment!r} is not in the label table (give a value, key or name)")


class EditSessions:
    """One undo/redo stack per segmentation id, kept in step with edits made elsewhere."""

    def __init__(self, max_steps: int = 50) -> None:
        self.max_steps = max_steps
        self._sessions: dict[str, EditSession] = {}

    def session(self, key: str, current: Volume) -> EditSession:
        """The session of ``key``, synchronised with ``current`` (its label map now)."""
        existing = self._sessions.get(key)
        if existing is None or existing.seg.shape != current.shape or not existing.seg.same_geometry(current):
            existing = EditSession(current, self.max_steps)
            self._sessions[key] = existing
        elif not np.array_equal(existing.array, current.array):
            existing.apply(OUTSIDE_EDIT, current.array.astype(existing.array.dtype, copy=True))
        return existing

    def edit(
        self,
        key: str,
        current: Volume,
        operation: str,
        segment: int | str,
        center_lps=None,
        radius_mm: float = 10.0,
        amount_mm: float = 2.0,
        normal_lps=None,
    ) -> tuple[Volume, int]:
        """Apply ``operation`` (one of :data:`OPERATIONS`; spaces or underscores) to ``segment``.

        grow/shrink: by ``amount_mm`` inside the sphere of ``radius_mm`` around ``center_lps``;
        smooth: Gaussian sigma ``amount_mm``; fill holes; remove islands (keep the largest piece);
        cut: remove the part on the side ``normal_lps`` points to from the plane through
        ``center_lps``. Returns (new label map, number of voxels changed)."""
        operation = operation.strip().lower().replace(" ", "_")
        if operation not in OPERATIONS:
            raise CardiacInputError(f"unknown edit {operation!r} (use {', '.join(OPERATIONS)})")
        if operation in ("grow", "shrink", "cut") and center_lps is None:
            raise CardiacInputError(f"{operation} needs a point (LPS mm): place it first")
        if operation == "cut" and normal_lps is None:
            raise CardiacInputError("cut needs the plane normal")
        session = self.session(key, current)
        label = resolve_label(segment)
        if not (session.array == label).any():
            name = lbl.by_value(label).name
            raise CardiacInputError(f"segment {name!r} is empty or absent in this segmentation")
        args = {
            "grow": (center_lps, radius_mm, amount_mm),
            "shrink": (center_lps, radius_mm, amount_mm),
            "smooth": (amount_mm,),
            "fill_holes": (),
            "remove_islands": (),
            "cut": (center_lps, normal_lps),
        }[operation]
        changed = getattr(session, operation)(label, *args)
        return session.seg.with_array(session.array.copy()), changed

    def undo(self, key: str, current: Volume) -> tuple[Volume, str]:
        """Undo the last step of ``key``; returns (label map, what was undone)."""
        session = self.session(key, current)
        what = session.undo()
        return session.seg.with_array(session.array.copy()), what

    def redo(self, key: str, current: Volume) -> tuple[Volume, str]:
        """Redo the last undone step of ``key``; returns (label map, what was redone)."""
        session = self.session(key, current)
        what = session.redo()
        return session.seg.with_array(session.array.copy()), what

    def history(self, key: str) -> list[str]:
        """Descriptions of the undoable steps of ``key`` (oldest first; empty when none)."""
        session = self._sessions.get(key)
        return session.history if session else []

    def forget(self, key: str) -> None:
        """Drop the stack of ``key`` (e.g. its node was removed)."""
        self._sessions.pop(key, None)


def segment_with_points(
    volume: Volume,
    scope: str = "whole",
    preset: str = "general",
    engine: str = "classical",
    seed_points_lps=None,
    seed_labels: list[str] | None = None,
    progress: Progress | None = None,
    name: str = "image",
) -> Volume:
    """:func:`~.api.segment` with optional seed points (LPS mm) whose labels name structures (value,
    key or name); no points: the automatic engine."""
    from .api import segment

    if seed_points_lps is None or len(seed_points_lps) == 0:
        return segment(volume, scope, preset, engine, None, progress, name)
    seeds = Markups.from_points(np.asarray(seed_points_lps, float), seed_labels, "Seeds")  # in memory
    return segment(volume, scope, preset, engine, seeds, progress, name)


def landmark_points(labels: Volume) -> tuple[np.ndarray, list[str]]:
    """The preset landmarks of a :func:`~.api.segment` result that are points (LPS mm) and their names;
    directions (e.g. ``aortic_valve_normal``) are left out."""
    landmarks = {
        k: v for k, v in (labels.metadata.get("landmarks_lps") or {}).items() if not k.endswith("_normal")
    }
    return np.array(list(landmarks.values()), float).reshape(-1, 3), list(landmarks)


def available_engines() -> list[str]:
    """:func:`~.api.engines`, or only ``classical`` when the model registry cannot be read (logged),
    so a broken registry never stops the module from loading."""
    from .api import DEFAULT_ENGINE, engines

    try:
        return engines()
    except (CardiacInputError, OSError, ValueError) as exc:
        logger.warning("model registry unreadable, only the classical engine is offered: %s", exc)
        return [DEFAULT_ENGINE]


def missing_requirements(requirements_file: str | Path) -> list[str]:
    """Lines of a ``requirements.txt`` (``name>=version``) whose package is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    missing = []
    for line in Path(requirements_file).read_text(encoding="utf-8").splitlines():
        requirement = line.split("#")[0].strip()
        try:
            if requirement:
                version(requirement.split(">=")[0].split("[")[0].strip())
        except PackageNotFoundError:
            missing.append(requirement)
    return missing
