"""Saving and loading a scene as a Medical Reality Bundle (.mrb: a zip of the .mrml scene and its data)."""

from __future__ import annotations

import logging
import tempfile
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


def load_mrb(path: str | Path, scene: slicer.vtkMRMLScene | None = None, clear: bool = True):
    """Load the .mrb file ``path`` into ``scene`` (default: the application scene) and return the scene.

    ``clear`` empties the scene first. Headless scenes get the cache and data I/O managers that the
    Slicer application would provide (the bundle is unpacked in a temporary folder).
    """
    path = Path(path)
    if not path.is_file():
        raise CardiacInputError(f"{path}: no such scene bundle file")
    scene = get_scene(scene)
    if scene.GetDataIOManager() is None or scene.GetCacheManager() is None:
        cache = slicer.vtkCacheManager()
        cache.SetRemoteCacheDirectory(tempfile.mkdtemp(prefix="mrb-cache-"))
        scene.SetCacheManager(cache)
        io_manager = slicer.vtkDataIOManager()
        io_manager.SetCacheManager(cache)
        scene.SetDataIOManager(io_manager)
    messages = slicer.vtkMRMLMessageCollection()
    if not scene.ReadFromMRB(str(path), clear, messages):
        detail = messages.GetAllMessagesAsString().strip().splitlines()
        reason = detail[-1] if detail else "not a valid scene bundle"
        raise CardiacInputError(f"{path}: cannot load the scene bundle ({reason})")
    logger.info("loaded scene bundle %s", path)
    return scene
