"""The pure part of the synchronised multi-phase viewing (no Slicer): which phases to show, in which
slice view, the Slicer layout XML, and the phase each view shows during playback.

The MRML side (``CardiacPlanningLib.mrml`` / the Cardiac4D module) registers :func:`layout_xml` with
the layout manager under :data:`LAYOUT_ID`, puts phase ``view_phases[i]`` in the slice view named
``view_names(n)[i]`` (background volume + segmentation of that phase), gives every slice node the same
view group and links their slice composite nodes (``SetLinkedControl(1)``, ``SetHotLinkedControl``)
so that slice offset, zoom and pan follow the view being moved, and shares one window/level.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import quoteattr

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

LAYOUT_ID = 7401  # a custom layout id above Slicer's built-in ones
MIN_VIEWS, MAX_VIEWS = 2, 10
VIEW_PREFIX = "Phase"
_COLOURS = (
    "#e06040",
    "#40a0e0",
    "#60c060",
    "#e0c040",
    "#b070e0",
    "#40d0c0",
    "#e080b0",
    "#a0a0a0",
    "#c08040",
    "#6080ff",
)


def choose_view_phases(n_phases: int, ed: int, es: int, count: int = 2) -> list[int]:
    """``count`` (2-10) distinct phase indices in cycle order: always end-diastole ``ed`` and
    end-systole ``es``, the others spread over the cycle (each next one the phase farthest from the
    chosen ones)."""
    if not MIN_VIEWS <= count <= MAX_VIEWS:
        raise CardiacInputError(f"choose {MIN_VIEWS} to {MAX_VIEWS} phases to show, not {count}")
    if count > n_phases:
        raise CardiacInputError(f"{count} views asked for but the study has only {n_phases} phases")
    for name, i in (("end-diastole", ed), ("end-systole", es)):
        if not 0 <= i < n_phases:
            raise CardiacInputError(f"{name} phase {i} outside 0..{n_phases - 1}")
    chosen = {ed, es}

    def gap(p: int) -> int:  # cyclic distance to the nearest chosen phase
        return min(min(abs(p - c), n_phases - abs(p - c)) for c in chosen)

    while len(chosen) < count:  # farthest-point sampling of the cycle
        chosen.add(max((p for p in range(n_phases) if p not in chosen), key=lambda p: (gap(p), -p)))
    return sorted(chosen)


def view_names(count: int) -> list[str]:
    """Slice view (singleton tag) names: ``Phase1`` ... ``PhaseN``."""
    return [f"{VIEW_PREFIX}{i + 1}" for i in range(count)]


def grid_shape(count: int, with_3d: bool = True) -> tuple[int, int]:
    """(rows, columns) holding ``count`` slice views (+ one 3D view): as square as possible, wider
    than tall."""
    cells = count + (1 if with_3d else 0)
    rows = max(1, int(cells**0.5))
    cols = -(-cells // rows)
    return rows, cols


def layout_xml(
    count: int, with_3d: bool = True, orientation: str = "Axial", labels: list[str] | None = None
) -> str:
    """Slicer layout description: ``count`` linked slice views in a grid (+ a 3D view last)."""
    if not 1 <= count <= MAX_VIEWS:
        raise CardiacInputError(f"a phase layout holds 1 to {MAX_VIEWS} slice views, not {count}")
    if orientation not in ("Axial", "Sagittal", "Coronal"):
        raise CardiacInputError(f"orientation must be Axial, Sagittal or Coronal, not {orientation!r}")
    labels = labels or [str(i + 1) for i in range(count)]
    rows, cols = grid_shape(count, with_3d)
    cells = [
        _slice_view(name, labels[i], _COLOURS[i], orientation) for i, name in enumerate(view_names(count))
    ]
    if with_3d:
        label_3d = '<property name="viewlabel" action="default">1</property>'
        cells.append(f'<view class="vtkMRMLViewNode" singletontag="1">{label_3d}</view>')
    row_xml = []
    for r in range(rows):
        items = "".join(f"<item>{c}</item>" for c in cells[r * cols : (r + 1) * cols])
        if items:
            row_xml.append(f'<item><layout type="horizontal">{items}</layout></item>')
    return f'<layout type="vertical">{"".join(row_xml)}</layout>'


def _slice_view(name: str, label: str, colour: str, orientation: str) -> str:
    return (
        f'<view class="vtkMRMLSliceNode" singletontag={quoteattr(name)}>'
        f'<property name="orientation" action="default">{orientation}</property>'
        f'<property name="viewlabel" action="default">{label}</property>'
        f'<property name="viewcolor" action="default">{colour}</property>'
        f'<property name="viewgroup" action="default">1</property>'
        "</view>"
    )


def view_assignments(
    phase_labels: list[str], view_phases: list[int], ed: int | None = None, es: int | None = None
) -> list[dict]:
    """One dict per view: ``view`` (slice view name), ``phase`` (index), ``label`` (e.g. ``"40% ES"``)."""
    out = []
    for name, p in zip(view_names(len(view_phases)), view_phases):
        if not 0 <= p < len(phase_labels):
            raise CardiacInputError(f"phase {p} outside 0..{len(phase_labels) - 1}")
        tag = " ED" if p == ed else " ES" if p == es else ""
        out.append({"view": name, "phase": p, "label": f"{phase_labels[p]}{tag}"})
    return out


def playback_phases(view_phases: list[int], step: int, n_phases: int) -> list[int]:
    """Phase shown by each view ``step`` frames into a playback: every view advances together and
    keeps its offset from the others (views stay synchronised over the cycle)."""
    return [(p + step) % n_phases for p in view_phases]
