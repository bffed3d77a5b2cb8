"""Semi-automatic fine-tuning of a stored segmentation from the browser: paint and erase along a brush
stroke, smooth a segment, undo/redo, save back to the encrypted store.

Every operation goes through the store's guard (the logged-in session): opening, each edit, each
undo/redo and the save need ``case.write`` (clinicians only; a refusal is audited), and each one
writes an audit record (``case.write`` on ``<case>/<object>``, the detail naming the edit and the
voxels it changed). The undo stack and the edit operations are those of
:class:`CardiacPlanningLib.heart.editing.EditSession`; strokes are in :mod:`.brush`."""

from __future__ import annotations

import logging

import numpy as np

from ...errors import CardiacInputError
from ...heart import editing
from ...imaging.volume import Volume
from ...labels import by_value, value_of
from ...store.store import CaseStore
from .brush import erased, painted, stroke_mask, stroke_points_lps

logger = logging.getLogger(__name__)

ACTION = "case.write"


def label_value(label: int | str) -> int:
    """A segment's label value from its value or its key in the label table (``"aorta"`` -> 6)."""
    if isinstance(label, str) and not label.strip().isdigit():
        try:
            return value_of(label.strip())
        except KeyError as exc:
            raise CardiacInputError(f"unknown segment {label!r}: {exc.args[0]}") from None
    value = int(label)
    if not 0 < value < 256:
        raise CardiacInputError(f"segment label must be 1..255, got {label}")
    return value


def _label_name(value: int) -> str:
    try:
        return by_value(value).key
    except KeyError:
        return str(value)


class SegmentationEditor:
    """One stored label map (``case_id``/``object_name``) under edit by the store's session."""

    def __init__(self, store: CaseStore, case_id: str, object_name: str, max_steps: int = 50) -> None:
        self.store = store
        self.case_id = case_id
        self.object_name = object_name
        self.target = f"{case_id}/{object_name}"
        store.guard.authorize(ACTION, self.target)  # only a role that may save may start editing
        seg = store.get_volume(case_id, object_name)  # audited read
        if not np.issubdtype(seg.array.dtype, np.integer):
            raise CardiacInputError(f"{self.target} is not a label map (voxel type {seg.array.dtype})")
        self.session = editing.EditSession(seg, max_steps)
        self._unsaved: list[str] = []
        store.guard.record(ACTION, self.target, "success", "edit session opened")

    # -- state ------------------------------------------------------------------------------------
    @property
    def seg(self) -> Volume:
        """The label map as edited so far (not yet saved when :attr:`dirty`)."""
        return self.session.seg

    @property
    def dirty(self) -> bool:
        return bool(self._unsaved)

    @property
    def history(self) -> list[str]:
        return self.session.history

    @property
    def can_undo(self) -> bool:
        return bool(self.session._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self.session._redo)

    def voxel_count(self, label: int | str) -> int:
        return int(np.count_nonzero(self.session.array == label_value(label)))

    # -- edits ------------------------------------------------------------------------------------
    def _edit(self, description: str, compute) -> int:
        self.store.guard.authorize(ACTION, self.target)
        changed = self.session.apply(description, compute())
        if changed:
            self._unsaved.append(description)
        self.store.guard.record(ACTION, self.target, "success", f"edit {description}: {changed} voxels")
        return changed

    def paint(
        self,
        label: int | str,
        points,
        radius_mm: float,
        *,
        space: str = "lps",
        slice_axis: int | None = None,
        overwrite: bool = True,
    ) -> int:
        """Paint ``label`` along the stroke ``points`` (LPS mm, or voxel (i, j, k) with ``space``
        "ijk") with a brush of ``radius_mm``; ``slice_axis`` confines it to one slice (see
        :func:`.brush.stroke_mask`). ``overwrite`` False keeps other segments. Returns voxels changed."""
        value = label_value(label)
        pts = stroke_points_lps(self.seg, points, space)
        box, mask = stroke_mask(self.seg, pts, radius_mm, slice_axis)
        what = f"paint {_label_name(value)} ({len(pts)} points, radius {radius_mm:g} mm)"
        return self._edit(what, lambda: painted(self.session.array, box, mask, value, overwrite))

    def erase(
        self,
        label: int | str | None,
        points,
        radius_mm: float,
        *,
        space: str = "lps",
        slice_axis: int | None = None,
    ) -> int:
        """Erase ``label`` (every segment when None) along the stroke; returns voxels changed."""
        value = None if label is None else label_value(label)
        pts = stroke_points_lps(self.seg, points, space)
        box, mask = stroke_mask(self.seg, pts, radius_mm, slice_axis)
        name = "all segments" if value is None else _label_name(value)
        what = f"erase {name} ({len(pts)} points, radius {radius_mm:g} mm)"
        return self._edit(what, lambda: erased(self.session.array, box, mask, value))

    def smooth(self, label: int | str, sigma_mm: float = 1.0) -> int:
        """Gaussian-smooth segment ``label`` (sigma in mm; :func:`heart.editing.smooth`), computed in
        the segment's bounding box padded by 4 sigma; returns voxels changed."""
        value = label_value(label)
        if not np.isfinite(sigma_mm) or sigma_mm <= 0:
            raise CardiacInputError(f"smoothing sigma must be a positive number of mm, got {sigma_mm}")
        return self._edit(
            f"smooth {_label_name(value)} (sigma {sigma_mm:g} mm)", lambda: self._smoothed(value, sigma_mm)
        )

    def _smoothed(self, value: int, sigma_mm: float) -> np.ndarray:
        arr = self.session.array
        idx = np.argwhere(arr == value)
        if idx.size == 0:
            raise CardiacInputError(f"segment {_label_name(value)} ({value}) is empty in {self.target}")
        pad = np.ceil(4 * sigma_mm / np.asarray(self.seg.spacing[::-1])).astype(int) + 1
        lo = np.maximum(idx.min(0) - pad, 0)
        hi = np.minimum(idx.max(0) + pad + 1, arr.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        crop = Volume(
            arr[box], self.seg.spacing, self.seg.index_to_lps(lo[::-1].astype(float)), self.seg.direction
        )
        out = arr.copy()
        out[box] = editing.smooth(crop, value, sigma_mm)
        return out

    def undo(self) -> str:
        """Undo the last edit (audited); returns its description."""
        self.store.guard.authorize(ACTION, self.target)
        what = self.session.undo()
        self._unsaved.append(f"undo {what}")
        self.store.guard.record(ACTION, self.target, "success", f"undo {what}")
        return what

    def redo(self) -> str:
        """Redo the last undone edit (audited); returns its description."""
        self.store.guard.authorize(ACTION, self.target)
        what = self.session.redo()
        self._unsaved.append(f"redo {what}")
        self.store.guard.record(ACTION, self.target, "success", f"redo {what}")
        return what

    def save(self) -> str:
        """Write the edited label map back to the store (encrypted, atomic; the store audits the
        write) and audit which edits it holds. Returns the SM3 of the stored object."""
        self.store.guard.authorize(ACTION, self.target)
        digest = self.store.put_volume(self.case_id, self.object_name, self.seg)
        summary = "; ".join(self._unsaved) or "no changes"
        self.store.guard.record(ACTION, self.target, "success", f"saved edits: {summary}")
        logger.info("saved %s after %d edits", self.target, len(self._unsaved))
        self._unsaved.clear()
        return digest
