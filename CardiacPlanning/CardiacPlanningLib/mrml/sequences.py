"""Cardiac phases (a list of Volumes) <-> vtkMRMLSequenceNode + vtkMRMLSequenceBrowserNode.

The browser's proxy node shows one phase at a time: selecting item k of the browser puts phase k's
voxels and geometry into the proxy volume node.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import slicer

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ._scene import add_node, get_scene, require_node, sequences_logic
from .volumes import node_to_volume, volume_to_node

logger = logging.getLogger(__name__)


def phases_to_sequence(
    phases: Sequence[Volume],
    scene: slicer.vtkMRMLScene | None = None,
    name: str = "Cardiac phases",
    index_values: Sequence[float | str] | None = None,
    index_name: str = "cardiac phase",
    index_unit: str = "%",
):
    """A sequence node holding one volume node per phase, and a browser showing phase 0.

    ``index_values`` label the phases (default 0, 1, 2, ...; e.g. R-R percentages 0, 10, ... 90).
    Returns ``(sequence_node, browser_node)``; ``browser_node``'s proxy is the displayed volume.
    """
    phases = list(phases)
    if not phases:
        raise CardiacInputError("phases_to_sequence needs at least one phase volume")
    for k, phase in enumerate(phases):
        if not isinstance(phase, Volume):
            raise CardiacInputError(f"phase {k} is a {type(phase).__name__}, not a Volume")
    if index_values is None:
        index_values = list(range(len(phases)))
    if len(index_values) != len(phases):
        raise CardiacInputError(f"{len(index_values)} index values given for {len(phases)} phases")
    if len({str(v) for v in index_values}) != len(phases):
        raise CardiacInputError(f"phase index values must be distinct, got {list(index_values)}")
    scene = get_scene(scene)
    sequence = add_node(scene, "vtkMRMLSequenceNode", name)
    sequence.SetIndexName(index_name)
    sequence.SetIndexUnit(index_unit)
    sequence.SetIndexType(
        sequence.NumericIndex if all(_is_number(v) for v in index_values) else sequence.TextIndex
    )
    for phase, value in zip(phases, index_values):
        # a node outside the scene: the sequence stores its own copy of it
        holder = slicer.vtkMRMLScalarVolumeNode()
        holder.SetName(f"{name} {value}")
        volume_to_node(phase, node=holder, display=False)
        sequence.SetDataNodeAtValue(holder, str(value))
    browser = add_node(scene, "vtkMRMLSequenceBrowserNode", f"{name} browser")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    browser.SetSelectedItemNumber(0)
    logic = sequences_logic(scene)
    logic.UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is not None:
        proxy.SetName(name)
        if proxy.GetDisplayNode() is None:
            proxy.CreateDefaultDisplayNodes()
    logger.debug("%d phases -> sequence %s", len(phases), sequence.GetID())
    return sequence, browser


def select_phase(browser, k: int):
    """Show phase ``k`` through ``browser``'s proxy node and return the proxy volume node."""
    require_node(browser, "vtkMRMLSequenceBrowserNode", "browser")
    sequence = browser.GetMasterSequenceNode()
    if sequence is None:
        raise CardiacInputError(f"sequence browser {browser.GetName()!r} has no sequence")
    count = sequence.GetNumberOfDataNodes()
    if not 0 <= k < count:
        raise CardiacInputError(f"phase {k} does not exist: the sequence holds phases 0..{count - 1}")
    browser.SetSelectedItemNumber(int(k))
    sequences_logic(get_scene(browser.GetScene())).UpdateProxyNodesFromSequences(browser)
    return browser.GetProxyNode(sequence)


def displayed_phase(browser) -> Volume:
    """The phase the browser shows now, as a Volume (LPS)."""
    require_node(browser, "vtkMRMLSequenceBrowserNode", "browser")
    return node_to_volume(browser.GetProxyNode(browser.GetMasterSequenceNode()))


def sequence_to_phases(sequence) -> list[Volume]:
    """Every phase volume of a sequence node, in sequence order, as Volumes (LPS).

    Each Volume's ``metadata["phase_index"]`` is the sequence's index value (a string).
    """
    require_node(sequence, "vtkMRMLSequenceNode", "sequence")
    phases = []
    for item in range(sequence.GetNumberOfDataNodes()):
        node = sequence.GetNthDataNode(item)
        if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
            raise CardiacInputError(f"sequence {sequence.GetName()!r} item {item} is not a scalar volume")
        volume = node_to_volume(node)
        volume.metadata["phase_index"] = sequence.GetNthIndexValue(item)
        phases.append(volume)
    return phases


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
