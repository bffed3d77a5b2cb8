"""Synchronised multi-phase slice views (MRML side of :mod:`CardiacPlanningLib.motion.views`).

:func:`build_phase_views` registers the phase layout (:func:`~..motion.views.layout_xml`) with the
layout node under :data:`~..motion.views.LAYOUT_ID` and switches to it; the layout logic (the
application's in Slicer, one of our own headless) creates the slice nodes ``Phase1..N`` (one view
group). Missing slice composite nodes are created the way Slicer's slice logic does (by layout name).

Which volume in which view: every view gets its *own sequence browser* on the phase sequence (and on
the segmentation sequence, when there is one), so view ``k`` shows its browser's proxy volume as
background and its proxy segmentation (displayed in view ``k`` only). A browser's proxy holds one
phase (a copy of the sequence's data node), so memory grows by one phase per view, not by the whole
study. All proxy volumes share *one* display node, so window/level is the same in every view.

Synchronisation: the composite nodes are linked (``SetLinkedControl(1)``, ``SetHotLinkedControl(1)``)
for Slicer's own slice link logic, and :class:`SliceSync` observes every slice node and copies the
field of view (width in mm; height follows each view's aspect ratio), the XYZ origin (pan) and the
SliceToRAS matrix (slice position and orientation) to the others, guarded against recursion. That
part needs no application, so it works (and is tested) headless.

Playback: :meth:`PhaseViews.show_step` puts step ``s`` of :func:`~..motion.views.playback_phases` in
every view; :meth:`PhaseViews.follow_browser` lets a main browser (e.g. the Sequences toolbar's) drive
it: its selected item is the step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import slicer
import vtk

from ..errors import CardiacInputError
from ..motion import views as motion_views
from ..motion.phase_io import PhaseEntry, PhaseSeries
from ._scene import _own_logic, get_scene, require_node, sequences_logic
from .phase_segmentations import unsynchronise
from .volumes import node_to_volume

logger = logging.getLogger(__name__)


def register_phase_layout(
    count: int,
    scene: slicer.vtkMRMLScene | None = None,
    labels: list[str] | None = None,
    with_3d: bool = True,
    orientation: str = "Axial",
):
    """Register the ``count``-view phase layout with the layout node and show it; return the node.

    Headless (no layout node in the scene) a layout logic of our own creates the layout node and,
    as in Slicer, the view nodes the layout names.
    """
    scene = get_scene(scene)
    xml = motion_views.layout_xml(count, with_3d=with_3d, orientation=orientation, labels=labels)
    layout = scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
    if layout is None:
        if scene.GetDefaultNodeByClass("vtkMRMLSliceNode") is None:
            slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
        layout = _own_logic(scene, "layout", slicer.vtkMRMLLayoutLogic).GetLayoutNode()
    if layout.IsLayoutDescription(motion_views.LAYOUT_ID):
        layout.SetLayoutDescription(motion_views.LAYOUT_ID, xml)
    else:
        layout.AddLayoutDescription(motion_views.LAYOUT_ID, xml)
    if layout.GetViewArrangement() == motion_views.LAYOUT_ID:
        layout.SetViewArrangement(layout.SlicerLayoutNone)  # re-apply a changed description
    layout.SetViewArrangement(motion_views.LAYOUT_ID)
    return layout


def slice_view_nodes(
    names: Sequence[str], scene: slicer.vtkMRMLScene | None = None, orientation: str = "Axial"
) -> tuple[list, list]:
    """(slice nodes, slice composite nodes) of the views ``names``; missing ones are created (one
    view group, ``orientation``), composite nodes linked."""
    scene = get_scene(scene)
    slices, composites = [], []
    for name in names:
        node = scene.GetSingletonNode(name, "vtkMRMLSliceNode")
        if node is None:
            node = scene.AddNode(_new_slice_node(scene, name, orientation))
        node.SetViewGroup(1)
        composite = _composite_of(scene, name)
        if composite is None:
            composite = slicer.vtkMRMLSliceCompositeNode()
            composite.SetLayoutName(name)
            composite.SetSingletonTag(name)
            composite = scene.AddNode(composite)
        composite.SetLinkedControl(1)
        composite.SetHotLinkedControl(1)
        slices.append(node)
        composites.append(composite)
    return slices, composites


def _new_slice_node(scene, name: str, orientation: str):
    if scene.GetDefaultNodeByClass("vtkMRMLSliceNode") is None:
        slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    node = scene.CreateNodeByClass("vtkMRMLSliceNode")
    node.UnRegister(None)  # CreateNodeByClass returns a new reference
    node.SetName(name)
    node.SetLayoutName(name)
    node.SetSingletonTag(name)
    node.SetOrientation(orientation)
    return node


def _composite_of(scene, name: str):
    nodes = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    for i in range(nodes.GetNumberOfItems()):
        node = nodes.GetItemAsObject(i)
        if node.GetLayoutName() == name:
            return node
    return None


class SliceSync:
    """Keeps a group of slice nodes showing the same place: zoom (field of view), pan (XYZ origin)
    and slice position/orientation (SliceToRAS) follow whichever node was changed last."""

    def __init__(self, slice_nodes: Sequence) -> None:
        self.nodes = [require_node(n, "vtkMRMLSliceNode", "slice node") for n in slice_nodes]
        self._busy = False
        self._tags = [(n, n.AddObserver(vtk.vtkCommand.ModifiedEvent, self._on_modified)) for n in self.nodes]

    def _on_modified(self, caller, _event=None) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            self.copy_from(caller)
        finally:
            self._busy = False

    def copy_from(self, source) -> None:
        """Give every other node ``source``'s zoom, pan and slice position."""
        fov, dims = source.GetFieldOfView(), source.GetDimensions()
        origin = source.GetXYZOrigin()
        slice_to_ras = source.GetSliceToRAS()
        for node in self.nodes:
            if node is source:
                continue
            aspect = node.GetDimensions()[1] / node.GetDimensions()[0] if dims[0] else 1.0
            want = (fov[0], fov[0] * aspect, fov[2])
            if any(abs(a - b) > 1e-9 for a, b in zip(node.GetFieldOfView(), want)):
                node.SetFieldOfView(*want)
            if any(abs(a - b) > 1e-9 for a, b in zip(node.GetXYZOrigin(), origin)):
                node.SetXYZOrigin(*origin)
            matrix = node.GetSliceToRAS()
            if any(
                abs(matrix.GetElement(r, c) - slice_to_ras.GetElement(r, c)) > 1e-9
                for r in range(4)
                for c in range(4)
            ):
                matrix.DeepCopy(slice_to_ras)
                node.UpdateMatrices()

    def detach(self) -> None:
        """Stop synchronising (remove the observers)."""
        for node, tag in self._tags:
            node.RemoveObserver(tag)
        self._tags = []


class PhaseViews:
    """A built multi-phase layout: per view its slice node, composite node, browser and phases."""

    def __init__(self, sequence, view_phases, slices, composites, browsers, display_node, sync) -> None:
        self.sequence = sequence
        self.view_phases = list(view_phases)
        self.slice_nodes = slices
        self.composite_nodes = composites
        self.browsers = browsers
        self.display_node = display_node
        self.sync = sync
        self.segmentation_sequence = None
        self.step = 0
        self._followed: list[tuple] = []

    @property
    def names(self) -> list[str]:
        return [n.GetLayoutName() for n in self.slice_nodes]

    def volume_node(self, k: int):
        """The proxy volume node shown as background of view ``k``."""
        return self.browsers[k].GetProxyNode(self.sequence)

    def segmentation_node(self, k: int):
        """The proxy segmentation node shown in view ``k`` (None without a segmentation sequence)."""
        if self.segmentation_sequence is None:
            return None
        return self.browsers[k].GetProxyNode(self.segmentation_sequence)

    def shown_phases(self) -> list[int]:
        """Phase index each view shows now."""
        return [b.GetSelectedItemNumber() for b in self.browsers]

    def show_step(self, step: int) -> list[int]:
        """Show playback step ``step`` (every view advanced by ``step`` phases); return the phases."""
        n = self.sequence.GetNumberOfDataNodes()
        phases = motion_views.playback_phases(self.view_phases, int(step), n)
        logic = sequences_logic(get_scene(self.sequence.GetScene()))
        for browser, phase in zip(self.browsers, phases):
            browser.SetSelectedItemNumber(phase)
            logic.UpdateProxyNodesFromSequences(browser)
        self.step = int(step) % n
        return phases

    def follow_browser(self, browser) -> None:
        """Let ``browser`` (e.g. the Sequences toolbar's) drive playback: when it shows phase ``p``,
        view 1 shows ``p`` and every other view keeps its offset (:meth:`show_step`)."""
        require_node(browser, "vtkMRMLSequenceBrowserNode", "browser")

        def on_modified(caller, _event=None):
            item = caller.GetSelectedItemNumber()
            step = (item - self.view_phases[0]) % self.sequence.GetNumberOfDataNodes()
            if item >= 0 and step != self.step:
                self.show_step(step)

        self._followed.append((browser, browser.AddObserver(vtk.vtkCommand.ModifiedEvent, on_modified)))

    def set_segmentation_sequence(self, segmentation_sequence) -> None:
        """Show ``segmentation_sequence``'s item ``p`` in every view that shows phase ``p``."""
        require_node(segmentation_sequence, "vtkMRMLSequenceNode", "segmentation sequence")
        count = segmentation_sequence.GetNumberOfDataNodes()
        if count != self.sequence.GetNumberOfDataNodes():
            raise CardiacInputError(
                f"segmentation sequence {segmentation_sequence.GetName()!r} holds {count} phases, "
                f"the CT sequence {self.sequence.GetNumberOfDataNodes()}"
            )
        if self.segmentation_sequence is not None and self.segmentation_sequence is not segmentation_sequence:
            for browser in self.browsers:  # a new propagation replaces the shown one
                unsynchronise(browser, self.segmentation_sequence)
        self.segmentation_sequence = segmentation_sequence
        logic = sequences_logic(get_scene(self.sequence.GetScene()))
        for k, browser in enumerate(self.browsers):
            if not browser.IsSynchronizedSequenceNodeID(segmentation_sequence.GetID()):
                browser.AddSynchronizedSequenceNodeID(segmentation_sequence.GetID())
            logic.UpdateProxyNodesFromSequences(browser)
            proxy = browser.GetProxyNode(segmentation_sequence)
            proxy.SetName(f"{self.names[k]} segmentation")
            if proxy.GetDisplayNode() is None:
                proxy.CreateDefaultDisplayNodes()
            display = proxy.GetDisplayNode()
            display.RemoveAllViewNodeIDs()
            display.AddViewNodeID(self.slice_nodes[k].GetID())

    def set_window_level(self, window: float, level: float) -> None:
        """Window/level (HU) of every view (they share one display node)."""
        self.display_node.SetAutoWindowLevel(0)
        self.display_node.SetWindowLevel(float(window), float(level))

    def fit(self) -> None:
        """Centre every view on the phase volume and zoom to show all of it (views follow view 1)."""
        bounds = [0.0] * 6
        self.volume_node(0).GetRASBounds(bounds)
        first = self.slice_nodes[0]
        centre = [(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)]
        matrix = first.GetSliceToRAS()
        extent = [bounds[2 * i + 1] - bounds[2 * i] for i in range(3)]
        # extent along the view's x and y axes (columns 0 and 1 of SliceToRAS)
        width = sum(abs(matrix.GetElement(r, 0)) * extent[r] for r in range(3))
        height = sum(abs(matrix.GetElement(r, 1)) * extent[r] for r in range(3))
        dims = first.GetDimensions()
        aspect = dims[1] / dims[0]
        fov_x = max(width, height / aspect) if aspect > 0 else width
        for r in range(3):
            matrix.SetElement(r, 3, centre[r])
        first.DisableModifiedEventOn()
        first.SetXYZOrigin(0.0, 0.0, 0.0)
        first.SetFieldOfView(fov_x, fov_x * aspect, first.GetFieldOfView()[2])
        first.DisableModifiedEventOff()
        first.UpdateMatrices()  # fires Modified once: the sync copies it to the other views

    def detach(self) -> None:
        """Stop synchronising and following browsers (the nodes stay in the scene)."""
        self.sync.detach()
        for browser, tag in self._followed:
            browser.RemoveObserver(tag)
        self._followed = []


def build_phase_views(
    sequence,
    view_phases: Sequence[int],
    scene: slicer.vtkMRMLScene | None = None,
    labels: list[str] | None = None,
    segmentation_sequence=None,
    with_3d: bool = True,
    orientation: str = "Axial",
) -> PhaseViews:
    """Show phase ``view_phases[k]`` of ``sequence`` in slice view ``Phase{k+1}``, synchronised.

    ``labels`` are the view labels (e.g. from :func:`~..motion.views.view_assignments`).
    """
    require_node(sequence, "vtkMRMLSequenceNode", "phase sequence")
    scene = get_scene(scene if scene is not None else sequence.GetScene())
    n = sequence.GetNumberOfDataNodes()
    view_phases = [int(p) for p in view_phases]
    if not view_phases:
        raise CardiacInputError("choose at least one phase to show")
    for p in view_phases:
        if not 0 <= p < n:
            raise CardiacInputError(f"phase {p} does not exist: {sequence.GetName()!r} holds 0..{n - 1}")
    names = motion_views.view_names(len(view_phases))
    register_phase_layout(len(view_phases), scene, labels, with_3d, orientation)
    slices, composites = slice_view_nodes(names, scene, orientation)
    logic = sequences_logic(scene)
    browsers, display = [], None
    for name, phase, composite in zip(names, view_phases, composites):
        browser = _view_browser(scene, name, sequence)
        browser.SetSelectedItemNumber(phase)
        logic.UpdateProxyNodesFromSequences(browser)
        proxy = browser.GetProxyNode(sequence)
        proxy.SetName(f"{name} CT")
        if display is None:
            proxy.CreateDefaultDisplayNodes()
            display = proxy.GetDisplayNode()
        else:
            proxy.SetAndObserveDisplayNodeID(display.GetID())
        composite.SetBackgroundVolumeID(proxy.GetID())
        browsers.append(browser)
    views = PhaseViews(sequence, view_phases, slices, composites, browsers, display, SliceSync(slices))
    views.show_step(0)
    if segmentation_sequence is not None:
        views.set_segmentation_sequence(segmentation_sequence)
    views.fit()
    logger.info("phase views %s show phases %s", names, view_phases)
    return views


def _view_browser(scene, name: str, sequence):
    """The sequence browser of view ``name`` (reused when the layout is built again)."""
    browser_name = f"{name} browser"
    existing = scene.GetFirstNodeByName(browser_name)
    if existing is not None and existing.IsA("vtkMRMLSequenceBrowserNode"):
        if existing.GetMasterSequenceNode() is sequence:
            return existing
        scene.RemoveNode(existing)
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", browser_name)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    return browser


def sequence_phase_series(sequence) -> PhaseSeries:
    """A :class:`PhaseSeries` reading each phase from ``sequence``'s data nodes, one at a time (for a
    phase sequence already in the scene). Index values like ``"40%"`` give the R-R percentages."""
    require_node(sequence, "vtkMRMLSequenceNode", "phase sequence")
    entries = []
    for item in range(sequence.GetNumberOfDataNodes()):
        value = sequence.GetNthIndexValue(item).strip()
        number = value[:-1] if value.endswith("%") else ""
        percent = float(number) if number.replace(".", "", 1).isdigit() else None

        def load(item=item):
            node = sequence.GetNthDataNode(item)
            if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
                raise CardiacInputError(f"sequence {sequence.GetName()!r} item {item} is not a scalar volume")
            return node_to_volume(node)

        entries.append(PhaseEntry(item, percent, value, f"{sequence.GetName()}[{item}]", load))
    if len(entries) < 2:
        raise CardiacInputError(
            f"sequence {sequence.GetName()!r} holds {len(entries)} phase(s); 2 or more needed"
        )
    return PhaseSeries(entries, sequence.GetName())
