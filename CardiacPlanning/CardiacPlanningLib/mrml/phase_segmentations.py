"""Per-phase label maps -> a sequence of segmentation nodes (e.g. a propagated segmentation), and
streaming phase volumes into a sequence one at a time (:func:`stream_phases_to_sequence`,
:func:`append_phase`).

Each phase's label map becomes a segmentation (segments named and coloured from the label table, see
:func:`.segmentations.labelmap_to_segmentation`) stored in the sequence; only one phase is converted
at a time. The sequence can be synchronised with the CT phase browser, so both play together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import slicer

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from ._scene import add_node, get_scene, remove_node, require_node, sequences_logic
from .segmentations import labelmap_to_segmentation
from .sequences import phases_to_sequence
from .volumes import volume_to_node

logger = logging.getLogger(__name__)


def labelmaps_to_segmentation_sequence(
    label_maps: Iterable[Volume],
    index_values: Sequence[str],
    scene: slicer.vtkMRMLScene | None = None,
    name: str = "Cardiac phases segmentation",
    browser=None,
    progress: ProgressCallback | Progress | None = None,
):
    """A sequence node with one segmentation per label map, at ``index_values`` (the CT sequence's
    index values, so the two match item by item). ``label_maps`` may be a generator (streamed).

    With ``browser`` (the CT sequence browser) the sequence is added to it as a synchronised sequence
    and its proxy segmentation is displayed. Returns the sequence node.
    """
    scene = get_scene(scene)
    prog = as_progress(progress)
    index_values = [str(v) for v in index_values]
    sequence = add_node(scene, "vtkMRMLSequenceNode", name)
    count = 0
    try:
        for k, label_map in enumerate(label_maps):
            if k >= len(index_values):
                raise CardiacInputError(f"more label maps than the {len(index_values)} phases")
            prog(k / len(index_values), f"loading the segmentation of phase {index_values[k]}")
            holder = labelmap_to_segmentation(label_map, scene, f"{name} {index_values[k]}")
            try:
                sequence.SetDataNodeAtValue(holder, index_values[k])
            finally:
                remove_node(scene, holder)
            count += 1
    except BaseException:
        remove_node(scene, sequence)
        raise
    if count != len(index_values):
        remove_node(scene, sequence)
        raise CardiacInputError(f"{count} label maps given for {len(index_values)} phases")
    if browser is not None:
        synchronise(browser, sequence)
    prog(1.0, f"{count} phase segmentations loaded")
    return sequence


def synchronise(browser, sequence):
    """Add ``sequence`` to ``browser`` (synchronised with its master) and return its proxy node."""
    require_node(browser, "vtkMRMLSequenceBrowserNode", "browser")
    require_node(sequence, "vtkMRMLSequenceNode", "sequence")
    master = browser.GetMasterSequenceNode()
    if master is not None and master.GetNumberOfDataNodes() != sequence.GetNumberOfDataNodes():
        raise CardiacInputError(
            f"{sequence.GetName()!r} holds {sequence.GetNumberOfDataNodes()} items, "
            f"{master.GetName()!r} {master.GetNumberOfDataNodes()}"
        )
    if not browser.IsSynchronizedSequenceNodeID(sequence.GetID()):
        browser.AddSynchronizedSequenceNodeID(sequence.GetID())
    sequences_logic(get_scene(browser.GetScene())).UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is not None and proxy.GetDisplayNode() is None:
        proxy.CreateDefaultDisplayNodes()
    return proxy


def append_phase(sequence, volume: Volume, index_value: str, browser=None) -> None:
    """Add one phase volume to ``sequence`` at ``index_value`` (so that a study is streamed into the
    sequence phase by phase instead of being held whole in memory first)."""
    require_node(sequence, "vtkMRMLSequenceNode", "sequence")
    if not isinstance(volume, Volume):
        raise CardiacInputError(f"phase {index_value!r} is a {type(volume).__name__}, not a Volume")
    if sequence.GetItemNumberFromIndexValue(str(index_value)) >= 0:
        raise CardiacInputError(f"sequence {sequence.GetName()!r} already holds a phase {index_value!r}")
    holder = slicer.vtkMRMLScalarVolumeNode()  # outside the scene: the sequence stores a copy
    holder.SetName(f"{sequence.GetName()} {index_value}")
    volume_to_node(volume, node=holder, display=False)
    sequence.SetDataNodeAtValue(holder, str(index_value))
    if browser is not None:
        sequences_logic(get_scene(browser.GetScene())).UpdateProxyNodesFromSequences(browser)


def stream_phases_to_sequence(
    phases: Iterable[tuple[str, Volume]],
    scene: slicer.vtkMRMLScene | None = None,
    name: str = "Cardiac phases",
):
    """(sequence, browser) from ``(index value, Volume)`` pairs read one at a time (e.g. from
    ``PhaseSeries.volumes``). If reading fails or is cancelled, nothing is left in the scene."""
    scene = get_scene(scene)
    sequence = browser = None
    try:
        for value, volume in phases:
            if sequence is None:
                sequence, browser = phases_to_sequence([volume], scene, name, [str(value)])
            else:
                append_phase(sequence, volume, str(value))
    except BaseException:
        proxy = browser.GetProxyNode(sequence) if browser is not None else None
        for node in (browser, proxy, sequence):  # the browser first, or it makes a new proxy
            remove_node(scene, node)
        raise
    if sequence is None:
        raise CardiacInputError(f"no phases to put in the sequence {name!r}")
    sequences_logic(scene).UpdateProxyNodesFromSequences(browser)
    return sequence, browser


def show_in_views(node, view_node_class: str = "vtkMRMLViewNode") -> None:
    """Display ``node`` only in the views of ``view_node_class`` (default: the 3D views)."""
    display = node.GetDisplayNode()
    if display is None:
        node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
    display.RemoveAllViewNodeIDs()
    views = node.GetScene().GetNodesByClass(view_node_class)
    for i in range(views.GetNumberOfItems()):
        display.AddViewNodeID(views.GetItemAsObject(i).GetID())


def unsynchronise(browser, sequence) -> None:
    """Stop playing ``sequence`` in ``browser`` and remove its proxy node (the sequence stays)."""
    require_node(browser, "vtkMRMLSequenceBrowserNode", "browser")
    if sequence is None or not browser.IsSynchronizedSequenceNodeID(sequence.GetID()):
        return
    proxy = browser.GetProxyNode(sequence)
    browser.RemoveSynchronizedSequenceNode(sequence.GetID())  # first, or the browser makes a new proxy
    if proxy is not None and proxy.GetScene() is not None:
        remove_node(proxy.GetScene(), proxy)
