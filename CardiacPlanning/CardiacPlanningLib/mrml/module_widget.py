"""What the five module widgets do the same way, in one place: the ``parameterNodeWrapper`` parameter
node bound to the module's .ui, the scene-close handling, and a progress dialog whose Cancel button
stops the running Logic call.

A widget lists :class:`ModuleWidgetMixin` first among its bases::

    class CoronarySegWidget(ModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):

sets ``self.logic`` and ``self.ui`` in ``setup()``, calls :meth:`ModuleWidgetMixin.observeSceneClose`
and ends ``setup()`` with ``self.initializeParameterNode()``. A module that holds resources of its
own (a cine timer, linked views, a previewed file) releases them in :meth:`releaseResources`, which
runs when the module is closed and when the scene closes.
"""

from __future__ import annotations

import logging

import slicer

from ..progress import Progress

logger = logging.getLogger(__name__)


class ModuleWidgetMixin:
    """Parameter node, scene close and progress dialog of a module widget (see the module docstring)."""

    _parameterNode = None  # noqa: N815 (the names of Slicer's module template)
    _parameterNodeGuiTag = None  # noqa: N815

    def observeSceneClose(self) -> None:
        """Drop the parameter node when the scene closes and take the new one after (observers of
        ``VTKObservationMixin``, removed by :meth:`cleanup`)."""
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

    def releaseResources(self) -> None:
        """Release what the module holds besides observers (override; nothing by default)."""

    def cleanup(self) -> None:
        self.releaseResources()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        self.releaseResources()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        """Bind ``inputParameterNode`` (or nothing) to the .ui widgets named by ``SlicerParameterName``."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    def runWithProgress(self, title: str, work):
        """Run ``work(progress)`` (a :class:`~CardiacPlanningLib.progress.Progress`, which the Logic
        calls with fraction and message and which raises ``OperationCancelled`` after Cancel) with a
        progress dialog; returns what ``work`` returns."""
        dialog = slicer.util.createProgressDialog(labelText=title, maximum=100)

        def report(fraction, message):
            dialog.value = int(100 * fraction)
            dialog.labelText = message or dialog.labelText
            slicer.app.processEvents()

        try:
            return work(Progress(report, lambda: dialog.wasCanceled))
        finally:
            dialog.close()
