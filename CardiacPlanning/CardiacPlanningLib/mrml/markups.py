"""Points and curves (LPS mm) <-> markups fiducial and curve nodes (RAS).

Markups nodes keep control points in RAS; these adapters convert with diag(-1, -1, 1) and apply a
linear parent transform when reading (world coordinates).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import slicer

from ..errors import CardiacInputError
from ._scene import LPS_TO_RAS, add_node, get_scene, node_to_world_matrix, require_node

logger = logging.getLogger(__name__)


def _as_points(points_lps, what: str) -> np.ndarray:
    points = np.asarray(points_lps, dtype=float)
    if points.ndim == 1 and points.size == 3:
        points = points[None, :]
    if points.ndim != 2 or points.shape[1] != 3:
        raise CardiacInputError(
            f"{what} must be an (N, 3) array of LPS points in mm, got shape {points.shape}"
        )
    if not np.all(np.isfinite(points)):
        raise CardiacInputError(f"{what} contains a non-finite coordinate")
    return points


def _fill_control_points(node, points_lps: np.ndarray, labels: Sequence[str] | None, what: str) -> None:
    if labels is not None and len(labels) != len(points_lps):
        raise CardiacInputError(f"{what}: {len(labels)} labels given for {len(points_lps)} points")
    node.RemoveAllControlPoints()
    for index, ras in enumerate(points_lps @ LPS_TO_RAS.T):
        label = labels[index] if labels is not None else ""
        node.AddControlPoint(float(ras[0]), float(ras[1]), float(ras[2]), str(label))


def points_to_node(
    points_lps,
    labels: Sequence[str] | None = None,
    scene: slicer.vtkMRMLScene | None = None,
    name: str = "Points",
    node=None,
):
    """A markups fiducial node (new, or ``node`` refilled) with one control point per LPS point (mm).

    ``labels`` name the points (e.g. ``["LCA ostium", "RCA ostium"]``).
    """
    points = _as_points(points_lps, f"points {name!r}")
    if node is None:
        node = add_node(get_scene(scene), "vtkMRMLMarkupsFiducialNode", name)
    else:
        require_node(node, "vtkMRMLMarkupsNode", "node")
    _fill_control_points(node, points, labels, f"points {name!r}")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def node_to_points(node) -> tuple[np.ndarray, list[str]]:
    """Control points of any markups node as ``(points (N, 3) LPS mm, labels)``, in world coordinates."""
    require_node(node, "vtkMRMLMarkupsNode", "node")
    count = node.GetNumberOfControlPoints()
    ras = np.array([node.GetNthControlPointPosition(i) for i in range(count)], dtype=float).reshape(-1, 3)
    labels = [node.GetNthControlPointLabel(i) for i in range(count)]
    to_world = node_to_world_matrix(node)
    ras = ras @ to_world[:3, :3].T + to_world[:3, 3]
    return ras @ LPS_TO_RAS.T, labels


def curve_to_node(
    points_lps,
    scene: slicer.vtkMRMLScene | None = None,
    name: str = "Curve",
    node=None,
    closed: bool = False,
    labels: Sequence[str] | None = None,
):
    """A markups curve node (closed curve if ``closed``) through the LPS control points (mm)."""
    points = _as_points(points_lps, f"curve {name!r}")
    minimum = 3 if closed else 2
    if len(points) < minimum:
        raise CardiacInputError(f"curve {name!r} needs at least {minimum} points, got {len(points)}")
    class_name = "vtkMRMLMarkupsClosedCurveNode" if closed else "vtkMRMLMarkupsCurveNode"
    if node is None:
        node = add_node(get_scene(scene), class_name, name)
    else:
        require_node(node, "vtkMRMLMarkupsCurveNode", "node")
    _fill_control_points(node, points, labels, f"curve {name!r}")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def node_to_curve(node, interpolated: bool = False) -> np.ndarray:
    """A curve node's control points (or, if ``interpolated``, its interpolated curve points) in LPS mm."""
    require_node(node, "vtkMRMLMarkupsCurveNode", "node")
    if not interpolated:
        return node_to_points(node)[0]
    curve = node.GetCurvePointsWorld()
    if curve is None or curve.GetNumberOfPoints() == 0:
        return np.zeros((0, 3))
    ras = np.array([curve.GetPoint(i) for i in range(curve.GetNumberOfPoints())], dtype=float)
    return ras @ LPS_TO_RAS.T
