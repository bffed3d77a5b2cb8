"""Label map (a Volume of integer label values) <-> vtkMRMLSegmentationNode.

One segment per label value present, named, coloured and tagged (SNOMED-CT terminology entry and the
label value) from the label table (:mod:`CardiacPlanningLib.labels`). Exporting back gives the input
label map exactly, on the same geometry, because each segment carries its label value in the tag
``CardiacPlanning.LabelValue`` and the segmentation keeps the input grid as its reference geometry.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import slicer
import vtk

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ._scene import add_node, get_scene, remove_node, require_node, segmentations_logic, temporary_nodes
from .volumes import node_to_volume, volume_to_node

logger = logging.getLogger(__name__)

LABEL_VALUE_TAG = "CardiacPlanning.LabelValue"
LABEL_KEY_TAG = "CardiacPlanning.LabelKey"
# node attribute keeping the source label map's exact LPS geometry and voxel type (the segmentation's
# own reference geometry string is rounded)
GEOMETRY_ATTRIBUTE = "CardiacPlanning.LabelmapGeometry"
# Slicer's terminology context whose codes are the DICOM (SNOMED-CT) codes of our label table
TERMINOLOGY_CONTEXT = "Segmentation category and type - DICOM master list"
UNKNOWN_LABEL_COLOR = (0.5, 0.5, 0.5)


def terminology_entry(label: labels.Label) -> str:
    """Slicer's serialized terminology entry (category and type as SCT codes) of a label."""
    return (
        f"{TERMINOLOGY_CONTEXT}~SCT^{label.category_sct}^{label.category}"
        f"~SCT^{label.sct}^{label.sct_meaning}~^^~Anatomic codes - DICOM master list~^^~^^"
    )


def _describe_segment(segment, value: int) -> None:
    """Name, colour and tag ``segment`` from the label table entry of ``value``."""
    segment.SetTag(LABEL_VALUE_TAG, str(value))
    try:
        label = labels.by_value(value)
    except KeyError:
        logger.warning("label value %d is not in the label table; segment named 'Label %d'", value, value)
        segment.SetName(f"Label {value}")
        segment.SetColor(*UNKNOWN_LABEL_COLOR)
        return
    segment.SetName(label.name)
    segment.SetColor(*label.color_float)
    segment.SetTag(LABEL_KEY_TAG, label.key)
    segment.SetTag(segment.GetTerminologyEntryTagName(), terminology_entry(label))


def labelmap_to_segmentation(
    label_volume: Volume,
    scene: slicer.vtkMRMLScene | None = None,
    name: str = "Segmentation",
    node=None,
    show_3d: bool = False,
):
    """A segmentation node with one segment per non-zero label value in ``label_volume``.

    ``node``, if given, is emptied and reused. The segmentation's reference geometry is the label map's
    grid, so :func:`segmentation_to_labelmap` returns it unchanged. ``show_3d`` also builds the closed
    surface representation (slow on large label maps).
    """
    if not isinstance(label_volume, Volume):
        raise CardiacInputError(f"labelmap_to_segmentation needs a Volume, got {type(label_volume).__name__}")
    if label_volume.array.dtype.kind not in "iub":
        raise CardiacInputError(
            f"label map {name!r} must hold integer label values, got voxel type {label_volume.array.dtype}"
        )
    if label_volume.array.size and label_volume.array.min() < 0:
        raise CardiacInputError(f"label map {name!r} holds negative label values")
    scene = get_scene(scene)
    seg_logic = segmentations_logic(scene)
    if node is None:
        node = add_node(scene, "vtkMRMLSegmentationNode", name)
    else:
        require_node(node, "vtkMRMLSegmentationNode", "node")
        node.GetSegmentation().RemoveAllSegments()
    labelmap_node = volume_to_node(
        label_volume, scene, "tmp_labelmap", class_name="vtkMRMLLabelMapVolumeNode", display=False
    )
    try:
        node.SetReferenceImageGeometryParameterFromVolumeNode(labelmap_node)
        if not seg_logic.ImportLabelmapToSegmentationNode(labelmap_node, node):
            raise CardiacInputError(f"label map {name!r} could not be imported into a segmentation")
    finally:
        remove_node(scene, labelmap_node)
    node.SetAttribute(GEOMETRY_ATTRIBUTE, _geometry_json(label_volume))
    segmentation = node.GetSegmentation()
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        _describe_segment(segment, int(segment.GetLabelValue()))
    node.CreateDefaultDisplayNodes()
    if show_3d:
        node.CreateClosedSurfaceRepresentation()
    logger.debug(
        "label map -> segmentation %s with %d segments", node.GetID(), segmentation.GetNumberOfSegments()
    )
    return node


def segment_label_values(node) -> dict[str, int]:
    """Segment ID -> label value: from the segment's tag, else its name in the label table, else a free
    value above the table (logged)."""
    require_node(node, "vtkMRMLSegmentationNode", "node")
    segmentation = node.GetSegmentation()
    values: dict[str, int] = {}
    untagged: list[str] = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        tag = _tag(segment, LABEL_VALUE_TAG)
        if tag is not None and tag.isdigit() and int(tag) > 0:
            values[segment_id] = int(tag)
            continue
        by_name = [lab.value for lab in labels.label_table() if lab.name == segment.GetName()]
        if by_name:
            values[segment_id] = by_name[0]
        else:
            untagged.append(segment_id)
    next_value = max([lab.value for lab in labels.label_table()] + list(values.values())) + 1
    for segment_id in untagged:
        logger.warning(
            "segment %r has no label value: exported as %d",
            segmentation.GetSegment(segment_id).GetName(),
            next_value,
        )
        values[segment_id] = next_value
        next_value += 1
    if len(set(values.values())) != len(values):
        raise CardiacInputError(f"segmentation {node.GetName()!r}: two segments carry the same label value")
    return values


def _tag(segment, name: str) -> str | None:
    """The value of a segment tag, None if absent."""
    holder = vtk.reference("")
    return str(holder) if segment.GetTag(name, holder) else None


def segmentation_to_labelmap(node, reference: Volume | None = None) -> Volume:
    """The segmentation as a label map Volume (LPS), each segment painted with its label value.

    The grid is ``reference``'s if given, else the segmentation's reference geometry (the label map it
    was made from). ``metadata["labels"]`` maps each value to its segment name.
    """
    require_node(node, "vtkMRMLSegmentationNode", "node")
    scene = node.GetScene()
    if scene is None:
        raise CardiacInputError(f"segmentation {node.GetName()!r} is not in a MRML scene")
    scene = get_scene(scene)
    seg_logic = segmentations_logic(scene)
    values = segment_label_values(node)
    max_value = max(values.values(), default=0)
    segmentation = node.GetSegmentation()
    names = {}
    with temporary_nodes(scene):
        colors = add_node(scene, "vtkMRMLColorTableNode", "tmp_label_colors")
        colors.SetTypeToUser()
        colors.SetNumberOfColors(max_value + 1)
        colors.SetColor(0, "Background", 0.0, 0.0, 0.0, 0.0)
        for segment_id, value in values.items():
            segment_name = segmentation.GetSegment(segment_id).GetName()
            colors.SetColor(value, segment_name, *segmentation.GetSegment(segment_id).GetColor(), 1.0)
            names[value] = segment_name
        labelmap_node = add_node(scene, "vtkMRMLLabelMapVolumeNode", "tmp_export")
        reference_node = None
        if reference is not None:
            reference_node = volume_to_node(reference, scene, "tmp_reference", display=False)
        ok = seg_logic.ExportSegmentsToLabelmapNode(
            node,
            list(values.keys()),
            labelmap_node,
            reference_node,
            slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY,
            colors,
        )
        if not ok:
            raise CardiacInputError(f"segmentation {node.GetName()!r} could not be exported to a label map")
        result = node_to_volume(labelmap_node)
    if not values:
        logger.warning("segmentation %r has no segments: the label map is empty", node.GetName())
    geometry = _reference_geometry(node, reference)
    if geometry is not None:
        spacing, origin, direction, dtype = geometry
        exported = Volume(result.array, spacing, origin, direction)
        if not (result.shape == exported.shape and result.same_geometry(exported, tol=1e-5)):
            raise CardiacInputError(
                f"segmentation {node.GetName()!r}: exported grid differs from its reference geometry"
            )
        result = exported
        if dtype is not None and np.can_cast(np.min_scalar_type(max_value), dtype):
            result.array = result.array.astype(dtype)
    result.metadata = {"labels": names, "node_name": node.GetName()}
    return result


def _geometry_json(volume: Volume) -> str:
    """Exact (repr-precision) LPS geometry and voxel type of a label map, as JSON."""
    return json.dumps(
        {
            "spacing": list(volume.spacing),
            "origin": list(volume.origin),
            "direction": volume.direction.tolist(),
            "dtype": volume.array.dtype.str if volume.array.dtype != bool else np.dtype(np.uint8).str,
        }
    )


def _reference_geometry(node, reference: Volume | None):
    """(spacing, origin, direction, dtype or None) the exported label map must have, or None."""
    text = node.GetAttribute(GEOMETRY_ATTRIBUTE)
    data = json.loads(text) if text else None
    dtype = np.dtype(data["dtype"]) if data else None
    if reference is not None:
        return reference.spacing, reference.origin, reference.direction, dtype
    if data is None:
        return None
    return data["spacing"], data["origin"], np.array(data["direction"]), dtype
