"""Coronary reconstruction results -> MRML: the trees as a segmentation (8 left, 9 right), each named
branch as a markups curve, the stenosis table as a table node and a straightened CPR image as a
one-slice volume node. Points are LPS mm in the library, RAS in the nodes (converted here)."""

from __future__ import annotations

import logging

import numpy as np
import vtk

from ..imaging.volume import Volume
from ..markups import Markups
from ._scene import add_node, get_scene, require_node
from .markups import curve_to_node, node_to_points
from .segmentations import labelmap_to_segmentation
from .volumes import volume_to_node

logger = logging.getLogger(__name__)

STENOSIS_COLUMNS = ("Branch", "Diameter reduction (%)", "Length (mm)", "Reference radius (mm)",
                    "Minimal radius (mm)", "Start (mm)")  # fmt: skip
CURVE_POINT_SPACING_MM = 2.0


def node_to_markups(node) -> Markups:
    """A markups node as library :class:`Markups` (LPS mm, world), keeping which points are unplaced."""
    points, names = node_to_points(node)
    status = [
        node.GetPositionStatusAsString(node.GetNthControlPointPositionStatus(i)) for i in range(len(names))
    ]
    status = [s if s in ("defined", "preview", "undefined") else "defined" for s in status]
    points[[s == "undefined" for s in status]] = np.nan
    return Markups("Fiducial", node.GetName(), names, points, position_status=status)


def ostia_node(labels=("LCA ostium", "RCA ostium"), scene=None, name: str = "Coronary ostia"):
    """A new markups point list holding one unplaced point per label, for the user to place."""
    node = add_node(get_scene(scene), "vtkMRMLMarkupsFiducialNode", name)
    node.CreateDefaultDisplayNodes()
    for label in labels:
        index = node.AddControlPoint(0.0, 0.0, 0.0, label)
        node.UnsetNthControlPointPosition(index)
    return node


def curve_points(points: np.ndarray, spacing_mm: float = CURVE_POINT_SPACING_MM) -> np.ndarray:
    """Control points for a markups curve: the first, last and about one every ``spacing_mm`` (LPS mm)."""
    pts = np.asarray(points, float)
    if len(pts) < 3:
        return pts.copy()
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    n = max(int(round(s[-1] / spacing_mm)), 1)
    keep = np.unique(np.searchsorted(s, np.linspace(0.0, s[-1], n + 1)).clip(0, len(pts) - 1))
    return pts[np.union1d(keep, [0, len(pts) - 1])]


def result_to_nodes(result, scene=None, name: str = "Coronary", segmentation_node=None) -> dict:
    """MRML nodes of a :class:`~CardiacPlanningLib.coronary.CoronaryResult`:
    ``{"segmentation", "curves": {branch: curve node}, "table"}``; ``segmentation_node`` is reused
    (emptied) when given. The curves sit in a subject-hierarchy-free folder of names ``<name> <branch>``."""
    scene = get_scene(scene)
    lab = result.labelmap
    seg = labelmap_to_segmentation(lab, scene, name=f"{name} trees", node=segmentation_node, show_3d=True)
    curves = {}
    for b in result.branches:
        if len(b.points) < 2:
            continue
        node = curve_to_node(curve_points(b.points), scene, name=f"{name} {b.name}")
        node.SetAttribute("CardiacPlanning.coronaryBranch", b.name)
        node.SetAttribute("CardiacPlanning.coronaryTree", b.tree)
        node.GetDisplayNode().SetPropertiesLabelVisibility(False)
        curves[b.name] = node
    table = stenosis_table(result.lesions, scene, name=f"{name} stenoses")
    return {"segmentation": seg, "curves": curves, "table": table}


def stenosis_rows(lesions) -> list[tuple]:
    """(branch, % diameter, length mm, reference radius mm, minimal radius mm, start mm) per lesion."""
    return [
        (les.branch, round(les.percent, 1), round(les.length_mm, 1), round(les.reference_radius_mm, 2),
         round(les.minimal_radius_mm, 2), round(les.start_mm, 1))
        for les in lesions
    ]  # fmt: skip


def stenosis_table(lesions, scene=None, name: str = "Stenoses", node=None):
    """A table node (new or ``node`` refilled) with one row per lesion and :data:`STENOSIS_COLUMNS`."""
    scene = get_scene(scene)
    if node is None:
        node = add_node(scene, "vtkMRMLTableNode", name)
    else:
        require_node(node, "vtkMRMLTableNode", "node")
        node.RemoveAllColumns()
    rows = stenosis_rows(lesions)
    for c, title in enumerate(STENOSIS_COLUMNS):
        array = vtk.vtkStringArray() if c == 0 else vtk.vtkDoubleArray()
        array.SetName(title)
        for row in rows:
            array.InsertNextValue(row[c] if c == 0 else float(row[c]))
        node.AddColumn(array)
    return node


def table_rows(node) -> list[list[str]]:
    """The cells of a table node as text, row by row (for display and tests)."""
    require_node(node, "vtkMRMLTableNode", "node")
    return [
        [node.GetCellText(r, c) for c in range(node.GetNumberOfColumns())]
        for r in range(node.GetNumberOfRows())
    ]


def cpr_to_node(image: np.ndarray, step_mm: float, scene=None, name: str = "CPR", node=None):
    """A one-slice scalar volume node showing a straightened CPR ``image`` (rows along the vessel, HU):
    the vessel runs along the volume's superior axis from the ostium (top) down, across along R-L, so
    it shows upright in an axial-plane-free 'coronal' slice view."""
    rows, cols = image.shape
    # array [z, y, x] = [row along the vessel, 1, column across]; LPS axes: x -> L, y -> P, z -> -S
    direction = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    vol = Volume(
        image.astype(np.float32)[:, None, :],
        (float(step_mm), float(step_mm), float(step_mm)),
        (0.0, 0.0, 0.0),
        direction,
    )
    node = volume_to_node(vol, get_scene(scene), name=name, node=node)
    display = node.GetDisplayNode()
    if display is not None:
        display.AutoWindowLevelOff()
        display.SetWindowLevel(1000.0, 300.0)  # [-200, 800] HU, as the PNG outputs
    logger.debug("CPR %s: %d x %d at %.2f mm", name, rows, cols, step_mm)
    return node
