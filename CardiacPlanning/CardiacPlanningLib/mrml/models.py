"""Surface meshes (vtkPolyData, LPS mm) <-> model nodes (RAS), and linear transform nodes as LPS
matrices: what the StentRecon module shows and reads back after the user moves a model."""

from __future__ import annotations

import logging

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from ..errors import CardiacInputError
from ._scene import LPS_TO_RAS, get_scene, matrix_to_numpy, require_node

logger = logging.getLogger(__name__)

_FLIP4 = np.diag([-1.0, -1.0, 1.0, 1.0])


def _to_ras(mesh) -> vtk.vtkPolyData:
    poly = vtk.vtkPolyData()
    poly.DeepCopy(mesh)
    pts = vtk_to_numpy(mesh.GetPoints().GetData()).astype(float) @ LPS_TO_RAS.T
    poly.GetPoints().SetData(numpy_to_vtk(np.ascontiguousarray(pts), deep=True))
    return poly


def mesh_to_model_node(mesh, scene=None, name: str = "model", color=(0.8, 0.8, 0.85), node=None):
    """A model node (new, or ``node`` updated) showing ``mesh`` (vtkPolyData in LPS mm) in RAS."""
    scene = get_scene(scene)
    if mesh is None or mesh.GetNumberOfPoints() == 0:
        raise CardiacInputError(f"{name}: the surface is empty")
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLModelNode", name)
        node.CreateDefaultDisplayNodes()
    node.SetAndObservePolyData(_to_ras(mesh))
    display = node.GetDisplayNode()
    if display is not None:
        display.SetColor(*color)
        display.SetVisibility(True)
    return node


def model_node_to_mesh(node) -> vtk.vtkPolyData:
    """The model's surface in LPS mm with its parent transforms hardened (a copy)."""
    require_node(node, "vtkMRMLModelNode", "model")
    poly = node.GetPolyData()
    if poly is None or poly.GetNumberOfPoints() == 0:
        raise CardiacInputError(f"model {node.GetName()} has no surface")
    ras = vtk_to_numpy(poly.GetPoints().GetData()).astype(float)
    transform = node.GetParentTransformNode()
    m = transform_to_lps_matrix(transform) if transform is not None else np.eye(4)
    lps = ras @ LPS_TO_RAS.T
    out = vtk.vtkPolyData()
    out.DeepCopy(poly)
    out.GetPoints().SetData(numpy_to_vtk(np.ascontiguousarray(lps @ m[:3, :3].T + m[:3, 3]), deep=True))
    return out


def transform_to_lps_matrix(node) -> np.ndarray:
    """4x4 LPS matrix (to world) of a linear transform node (its RAS matrix conjugated by the flip)."""
    require_node(node, "vtkMRMLTransformNode", "transform")
    if not node.IsTransformToWorldLinear():
        raise CardiacInputError(f"transform {node.GetName()} is not linear")
    matrix = vtk.vtkMatrix4x4()
    node.GetMatrixTransformToWorld(matrix)
    return _FLIP4 @ matrix_to_numpy(matrix) @ _FLIP4


def reset_transform(node) -> None:
    """Set a linear transform node back to identity."""
    require_node(node, "vtkMRMLLinearTransformNode", "transform")
    node.SetMatrixTransformToParent(vtk.vtkMatrix4x4())
