"""Saving a scene as a Medical Reality Bundle (.mrb, a zip of the .mrml scene and its data files)."""

from __future__ import annotations

import logging
from pathlib import Path

import slicer

from ..errors import CardiacInputError
from ._scene import get_scene

logger = logging.getLogger(__name__)


def save_mrb(path: str | Path, scene: slicer.vtkMRMLScene | None = None) -> Path:
    """Write ``scene`` (default: the application scene) to the .mrb file ``path``; returns the path.

    Storable nodes without a storage node get their default one first (markups, sequences), so every
    volume, segmentation, sequence and markups node is saved.
    """
    path = Path(path)
    if path.suffix.lower() != ".mrb":
        raise CardiacInputError(f"{path}: a scene bundle file name must end with .mrb")
    scene = get_scene(scene)
    path.parent.mkdir(parents=True, exist_ok=True)
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node.IsA("vtkMRMLStorableNode") and node.GetStorageNode() is None and node.GetSaveWithScene():
            if not node.IsA("vtkMRMLVolumeNode") or node.GetImageData() is not None:
                node.AddDefaultStorageNode()
    if not scene.WriteToMRB(str(path)):
        raise CardiacInputError(f"{path}: the scene could not be written (check the folder is writable)")
    logger.info("saved scene bundle %s", path)
    return path
