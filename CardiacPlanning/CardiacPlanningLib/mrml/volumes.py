"""Volume (LPS, array [z, y, x]) <-> vtkMRMLScalarVolumeNode (RAS).

Geometry: ``IJKToRAS = diag(-1, -1, 1) @ direction @ diag(spacing)`` and the origin's first two
coordinates change sign. Spacing and the direction cosines are copied without arithmetic other than a
sign change, so a round trip is exact to the bit.
"""

from __future__ import annotations

import logging

import numpy as np
import slicer

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ._scene import LPS_TO_RAS, add_node, get_scene, node_to_world_matrix, require_node

logger = logging.getLogger(__name__)

# numpy dtypes a vtkImageData holds without conversion
_SUPPORTED_KINDS = "iuf"


def set_node_geometry(node, volume: Volume) -> None:
    """Give a volume node the geometry of ``volume`` (LPS) converted to RAS."""
    node.SetSpacing(*volume.spacing)
    node.SetOrigin(*(LPS_TO_RAS @ np.asarray(volume.origin)).tolist())
    node.SetIJKToRASDirections((LPS_TO_RAS @ volume.direction).tolist())


def node_geometry(node) -> tuple[tuple[float, float, float], tuple[float, float, float], np.ndarray]:
    """(spacing mm, origin LPS mm, direction LPS columns) of a volume node, parent transform applied."""
    spacing = np.array(node.GetSpacing(), dtype=float)
    origin_ras = np.array(node.GetOrigin(), dtype=float)
    directions = np.zeros((3, 3))
    node.GetIJKToRASDirections(directions)
    to_world = node_to_world_matrix(node)
    if not np.array_equal(to_world, np.eye(4)):
        ijk_to_world = to_world[:3, :3] @ directions @ np.diag(spacing)
        origin_ras = to_world[:3, :3] @ origin_ras + to_world[:3, 3]
        spacing = np.linalg.norm(ijk_to_world, axis=0)
        directions = ijk_to_world / spacing
    origin = LPS_TO_RAS @ origin_ras
    direction = LPS_TO_RAS @ directions
    return tuple(spacing.tolist()), tuple(origin.tolist()), direction  # type: ignore[return-value]


def volume_to_node(
    volume: Volume,
    scene: slicer.vtkMRMLScene | None = None,
    name: str = "Volume",
    node=None,
    class_name: str = "vtkMRMLScalarVolumeNode",
    display: bool = True,
):
    """Put ``volume`` into a volume node (new, or ``node`` updated in place) and return the node.

    The node's voxels are a copy of ``volume.array`` (bool becomes uint8); its IJK-to-RAS geometry is
    the LPS geometry of ``volume`` converted to RAS. ``class_name`` may be ``vtkMRMLLabelMapVolumeNode``;
    ``display=False`` creates no display node (for temporary nodes).
    """
    if not isinstance(volume, Volume):
        raise CardiacInputError(f"volume_to_node needs a Volume, got {type(volume).__name__}")
    array = volume.array
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind not in _SUPPORTED_KINDS:
        raise CardiacInputError(f"volume {name!r}: voxel type {array.dtype} cannot go into a volume node")
    if node is None:
        node = add_node(get_scene(scene), class_name, name)
    else:
        require_node(node, "vtkMRMLVolumeNode", "node")
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))
    set_node_geometry(node, volume)
    if display and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    logger.debug("volume %s -> node %s", volume.shape, node.GetID())
    return node


def node_to_volume(node) -> Volume:
    """A Volume (LPS, a copy of the voxels) from a scalar or label map volume node.

    A linear parent transform is applied to the geometry; a non-linear one raises
    :class:`CardiacInputError` (harden it first).
    """
    require_node(node, "vtkMRMLScalarVolumeNode", "node")
    if node.GetImageData() is None:
        raise CardiacInputError(f"volume node {node.GetName()!r} holds no image data")
    if node.GetImageData().GetNumberOfScalarComponents() != 1:
        raise CardiacInputError(f"volume node {node.GetName()!r} is not a scalar (single component) volume")
    array = np.array(slicer.util.arrayFromVolume(node), copy=True)
    spacing, origin, direction = node_geometry(node)
    return Volume(array, spacing, origin, direction, {"node_name": node.GetName()})
