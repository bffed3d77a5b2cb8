"""StentRecon Logic and the model/transform adapters headless (slicer-core + stand-ins): meshes go
to RAS model nodes and back to LPS exactly, a transform node reads as an LPS matrix, and the Logic
refuses steps out of order with clear errors. (The module self-test in test_modules reconstructs,
adjusts with a transform and propagates.)"""

import numpy as np
import pytest
import vtk
from conftest import load_module_file

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.stent.geometry import mesh_arrays, radial_surface_points, tube_mesh

pytestmark = pytest.mark.mrml


def _mesh():
    s = np.linspace(0.0, 10.0, 11)
    axis = np.stack([np.full_like(s, 5.0), np.full_like(s, -3.0), s], 1)
    return tube_mesh(radial_surface_points(axis, np.array([0.0, 0.0, 1.0]), np.full(11, 2.0), 24), axis)


def test_model_node_round_trip_and_transform_in_lps(slicer_app):
    from CardiacPlanningLib.mrml.models import (
        mesh_to_model_node,
        model_node_to_mesh,
        reset_transform,
        transform_to_lps_matrix,
    )

    scene = slicer_app.mrmlScene
    scene.Clear()
    mesh = _mesh()
    node = mesh_to_model_node(mesh, scene, "tube")
    ras = mesh_arrays(node.GetPolyData())[0]
    np.testing.assert_allclose(ras[:, :2], -mesh_arrays(mesh)[0][:, :2])  # L -> R, P -> A flip
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "move")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 3, 2.0)  # 2 mm to the Right
    matrix.SetElement(2, 3, 1.0)  # 1 mm Superior
    transform.SetMatrixTransformToParent(matrix)
    np.testing.assert_allclose(transform_to_lps_matrix(transform)[:3, 3], [-2.0, 0.0, 1.0])
    node.SetAndObserveTransformNodeID(transform.GetID())
    moved = mesh_arrays(model_node_to_mesh(node))[0]
    np.testing.assert_allclose(
        moved - mesh_arrays(mesh)[0], np.tile([-2.0, 0.0, 1.0], (len(moved), 1)), atol=1e-9
    )
    reset_transform(transform)
    np.testing.assert_allclose(transform_to_lps_matrix(transform), np.eye(4))
    with pytest.raises(CardiacInputError, match="empty"):
        mesh_to_model_node(vtk.vtkPolyData(), scene, "nothing")


def test_logic_steps_out_of_order_give_clear_errors(slicer_app):
    slicer_app.mrmlScene.Clear()
    logic = load_module_file("StentRecon").StentReconLogic()
    with pytest.raises(CardiacInputError, match="choose the CT volume"):
        logic.reconstruct(None)
    with pytest.raises(CardiacInputError, match="run the reconstruction first"):
        logic.choose("tube_fit")
    with pytest.raises(CardiacInputError, match="choose a reconstruction first"):
        logic.applyAdjustment()
    with pytest.raises(CardiacInputError, match="choose a reconstruction first"):
        logic.propagate(None)
    from CardiacPlanningLib.imaging.volume import Volume

    with pytest.raises(CardiacInputError, match="device region"):
        logic.region_of(Volume(np.zeros((4, 4, 4), np.int16), (1.0, 1.0, 1.0)))
