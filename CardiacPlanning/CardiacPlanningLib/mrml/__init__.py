"""MRML adapters: the ONLY part of CardiacPlanningLib that imports ``slicer``.

Library objects (LPS, arrays ``[z, y, x]``) <-> Slicer MRML nodes (RAS):

- :func:`volume_to_node` / :func:`node_to_volume`: Volume <-> vtkMRMLScalarVolumeNode
- :func:`labelmap_to_segmentation` / :func:`segmentation_to_labelmap`: label map <-> segmentation node
  (segments named, coloured and tagged from the label table)
- :func:`phases_to_sequence` / :func:`sequence_to_phases` / :func:`select_phase`: cardiac phases <->
  sequence node + sequence browser
- :func:`points_to_node` / :func:`node_to_points`, :func:`curve_to_node` / :func:`node_to_curve`:
  LPS points and curves <-> markups nodes
- :func:`save_mrb` / :func:`load_mrb`: the scene as a .mrb bundle
- :func:`build_phase_views` (:class:`PhaseViews`, :class:`SliceSync`, :func:`register_phase_layout`):
  synchronised multi-phase slice views; :func:`labelmaps_to_segmentation_sequence`: per-phase label
  maps -> segmentation sequence

Every function takes ``scene=None`` meaning ``slicer.mrmlScene`` inside Slicer; headless code passes
a scene from :func:`new_scene`.
"""

from ._scene import LPS_TO_RAS, get_scene, new_scene, prepare_scene, remove_node
from .bundles import load_mrb, save_mrb
from .markups import curve_to_node, node_to_curve, node_to_points, points_to_node
from .phase_segmentations import (
    append_phase,
    labelmaps_to_segmentation_sequence,
    show_in_views,
    stream_phases_to_sequence,
    synchronise,
    unsynchronise,
)
from .segmentations import (
    LABEL_VALUE_TAG,
    labelmap_to_segmentation,
    segment_label_values,
    segmentation_to_labelmap,
    terminology_entry,
)
from .sequences import displayed_phase, phases_to_sequence, select_phase, sequence_to_phases
from .views import (
    PhaseViews,
    SliceSync,
    build_phase_views,
    register_phase_layout,
    sequence_phase_series,
    slice_view_nodes,
)
from .volumes import node_to_volume, volume_to_node

__all__ = [
    "append_phase",
    "LABEL_VALUE_TAG",
    "LPS_TO_RAS",
    "PhaseViews",
    "SliceSync",
    "build_phase_views",
    "curve_to_node",
    "displayed_phase",
    "get_scene",
    "labelmap_to_segmentation",
    "labelmaps_to_segmentation_sequence",
    "load_mrb",
    "new_scene",
    "node_to_curve",
    "node_to_points",
    "node_to_volume",
    "phases_to_sequence",
    "points_to_node",
    "prepare_scene",
    "register_phase_layout",
    "remove_node",
    "save_mrb",
    "segment_label_values",
    "segmentation_to_labelmap",
    "select_phase",
    "sequence_phase_series",
    "sequence_to_phases",
    "show_in_views",
    "slice_view_nodes",
    "stream_phases_to_sequence",
    "synchronise",
    "terminology_entry",
    "unsynchronise",
    "volume_to_node",
]
