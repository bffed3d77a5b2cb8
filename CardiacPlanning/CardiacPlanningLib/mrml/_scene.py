"""Scene access and the Slicer module logics the adapters need (the only files that import slicer).

In the Slicer application the adapters use ``slicer.mrmlScene`` and the application's module logics.
Headless (``slicer-core`` from PyPI, no application) they work on any ``vtkMRMLScene`` and register
their own segmentations/sequences logic on it, once per scene.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import numpy as np
import slicer
import vtk

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

# LPS <-> RAS: both flip the first two axes (the matrix is its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

_LOGICS_ATTRIBUTE = "_cardiac_planning_logics"


def get_scene(scene: slicer.vtkMRMLScene | None = None) -> slicer.vtkMRMLScene:
    """``scene`` if given, else the application scene ``slicer.mrmlScene``; prepared for the adapters."""
    if scene is None:
        scene = getattr(slicer, "mrmlScene", None)
        if scene is None:
            raise CardiacInputError(
                "no MRML scene: pass scene=... (headless) or run inside Slicer where slicer.mrmlScene exists"
            )
    return prepare_scene(scene)


def prepare_scene(scene: slicer.vtkMRMLScene) -> slicer.vtkMRMLScene:
    """Register on ``scene`` the logics the adapters rely on (default colour tables, segmentation
    converters, sequence proxies); a no-op in the Slicer application, idempotent headless."""
    if _application_module_logic(scene, "segmentations") is None:
        colors_logic(scene)
        segmentations_logic(scene)
        sequences_logic(scene)
        if scene.GetSingletonNode("Singleton", "vtkMRMLSelectionNode") is None:
            # the application logic adds it in Slicer; markups look up their length unit through it
            selection = slicer.vtkMRMLSelectionNode()
            selection.SetSingletonTag("Singleton")
            scene.AddNode(selection)
        if not scene.IsNodeClassRegistered("vtkMRMLMarkupsJsonStorageNode"):
            # the markups logic registers it in Slicer; it needs the application's selection node
            scene.RegisterNodeClass(slicer.vtkMRMLMarkupsJsonStorageNode())
    return scene


def new_scene() -> slicer.vtkMRMLScene:
    """A fresh, empty headless scene prepared for the adapters."""
    return prepare_scene(slicer.vtkMRMLScene())


def colors_logic(scene: slicer.vtkMRMLScene) -> slicer.vtkMRMLColorLogic:
    """The colour logic of ``scene`` (adds the default colour tables display nodes refer to)."""
    return _own_logic(scene, "colors", slicer.vtkMRMLColorLogic)


def _application_module_logic(scene: slicer.vtkMRMLScene, module: str):
    """The running application's logic of ``module`` when ``scene`` is the application scene."""
    if getattr(slicer, "app", None) is None or scene is not getattr(slicer, "mrmlScene", None):
        return None
    modules = getattr(slicer, "modules", None)
    module_object = getattr(modules, module, None) if modules is not None else None
    return module_object.logic() if module_object is not None else None


def _own_logic(scene: slicer.vtkMRMLScene, key: str, factory):
    logics = getattr(scene, _LOGICS_ATTRIBUTE, None)
    if logics is None:
        logics = {}
        setattr(scene, _LOGICS_ATTRIBUTE, logics)
    if key not in logics:
        logic = factory()
        logic.SetMRMLScene(scene)
        logics[key] = logic
    return logics[key]


def segmentations_logic(scene: slicer.vtkMRMLScene) -> slicer.vtkSlicerSegmentationsModuleLogic:
    """The segmentations logic of ``scene`` (registers the labelmap/surface converters)."""
    app_logic = _application_module_logic(scene, "segmentations")
    if app_logic is not None:
        return app_logic
    return _own_logic(scene, "segmentations", slicer.vtkSlicerSegmentationsModuleLogic)


def sequences_logic(scene: slicer.vtkMRMLScene) -> slicer.vtkSlicerSequencesLogic:
    """The sequences logic of ``scene`` (keeps browser proxy nodes up to date)."""
    app_logic = _application_module_logic(scene, "sequences")
    if app_logic is not None:
        return app_logic
    return _own_logic(scene, "sequences", slicer.vtkSlicerSequencesLogic)


def add_node(scene: slicer.vtkMRMLScene, class_name: str, name: str):
    """A new node of ``class_name`` named ``name`` (made unique) added to ``scene``."""
    node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    if node is None:
        raise RuntimeError(f"the MRML scene cannot create a {class_name} node")
    return node


def remove_node(scene: slicer.vtkMRMLScene, node) -> None:
    """Remove ``node`` and its display and storage nodes from ``scene``."""
    if node is None:
        return
    helpers = []
    for getter, count in (
        ("GetNthDisplayNode", "GetNumberOfDisplayNodes"),
        ("GetNthStorageNode", "GetNumberOfStorageNodes"),
    ):
        if hasattr(node, count):
            helpers += [getattr(node, getter)(i) for i in range(getattr(node, count)())]
    scene.RemoveNode(node)
    for helper in helpers:
        if helper is not None and helper.GetScene() is scene:
            scene.RemoveNode(helper)


@contextmanager
def temporary_nodes(scene: slicer.vtkMRMLScene):
    """Remove, on exit, every node added to ``scene`` inside the ``with`` block (also on error)."""
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        yield
    finally:
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in added:
            if node.GetID() not in before and node.GetScene() is scene:
                scene.RemoveNode(node)


def require_node(node, class_name: str, what: str):
    """Raise :class:`CardiacInputError` unless ``node`` is a ``class_name`` (or subclass) node."""
    if node is None or not hasattr(node, "IsA") or not node.IsA(class_name):
        got = node.GetClassName() if hasattr(node, "GetClassName") else type(node).__name__
        raise CardiacInputError(f"{what} must be a {class_name}, got {got}")
    return node


def matrix_to_numpy(matrix) -> np.ndarray:
    """A vtkMatrix4x4 as a 4x4 numpy array."""
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def node_to_world_matrix(node) -> np.ndarray:
    """4x4 RAS matrix from ``node``'s local frame to world; raises for non-linear parent transforms."""
    transform = node.GetParentTransformNode()
    if transform is None:
        return np.eye(4)
    if not transform.IsTransformToWorldLinear():
        raise CardiacInputError(
            f"node {node.GetName()!r} is under the non-linear transform {transform.GetName()!r}: "
            "harden the transform first"
        )
    m = vtk.vtkMatrix4x4()
    transform.GetMatrixTransformToWorld(m)
    return matrix_to_numpy(m)
