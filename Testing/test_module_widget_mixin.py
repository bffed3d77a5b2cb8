"""The module widgets' shared behaviour (CardiacPlanningLib.mrml.module_widget), headless on slicer-core:
the parameter node follows the module and the scene, resources are released on scene close and
cleanup, and the progress dialog reports to the Logic and cancels it."""

import types

import pytest
from conftest import MODULE_NAMES, load_module_file

from CardiacPlanningLib.errors import OperationCancelled

pytestmark = pytest.mark.mrml


class FakeParameterNode:
    def __init__(self):
        self.connected = []

    def connectGui(self, ui):
        self.connected.append(ui)
        return len(self.connected)

    def disconnectGui(self, tag):
        self.connected[tag - 1] = None


class FakeDialog:
    def __init__(self, cancel_at=None):
        self.value, self.labelText, self.wasCanceled, self.closed = 0, "", False, False
        self.cancel_at, self.seen = cancel_at, []

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "value" and getattr(self, "cancel_at", None) is not None:
            self.seen.append(value)
            self.wasCanceled = value >= self.cancel_at

    def close(self):
        self.closed = True


def _widget(slicer_app):
    from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
    from slicer.util import VTKObservationMixin

    from CardiacPlanningLib.mrml.module_widget import ModuleWidgetMixin

    class ProbeWidget(ModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
        def __init__(self):
            ScriptedLoadableModuleWidget.__init__(self, types.SimpleNamespace(isEntered=True))
            VTKObservationMixin.__init__(self)
            self.ui, self.released, self.node = object(), 0, FakeParameterNode()
            self.logic = types.SimpleNamespace(getParameterNode=lambda: self.node)

        def releaseResources(self):
            self.released += 1

    return ProbeWidget()


def test_parameter_node_follows_the_module_and_the_scene(slicer_app):
    widget = _widget(slicer_app)
    widget.observeSceneClose()
    widget.enter()
    assert widget.node.connected == [widget.ui]
    widget.exit()
    assert widget.node.connected == [None] and widget._parameterNode is None
    widget.enter()
    slicer_app.mrmlScene.Clear(0)  # StartCloseEvent: released and unbound; EndCloseEvent: bound again
    assert widget.released == 1
    assert widget.node.connected == [None, None, widget.ui]
    widget.cleanup()
    assert widget.released == 2
    slicer_app.mrmlScene.Clear(0)  # observers removed by cleanup: nothing happens any more
    assert widget.released == 2 and len(widget.node.connected) == 3


def test_progress_dialog_reports_and_cancels(slicer_app, monkeypatch):
    widget = _widget(slicer_app)
    dialogs = []

    def create(labelText, maximum):
        dialogs.append(FakeDialog(cancel_at=50))
        return dialogs[-1]

    monkeypatch.setattr(slicer_app.util, "createProgressDialog", create)
    monkeypatch.setattr(slicer_app.app, "processEvents", lambda: None, raising=False)

    def work(progress):
        progress(0.25, "first quarter")
        progress.sub(0.5, 1.0)(0.0, "second half")  # reports 50 % -> the user pressed Cancel
        progress(0.9, "never reached")

    with pytest.raises(OperationCancelled):
        widget.runWithProgress("Working...", work)
    assert dialogs[0].seen == [25, 50] and dialogs[0].labelText == "second half" and dialogs[0].closed
    assert widget.runWithProgress("Working...", lambda progress: progress(0.1, "") or 7) == 7
    assert dialogs[1].value == 10 and dialogs[1].closed


def test_every_module_widget_uses_the_shared_behaviour(slicer_app):
    from CardiacPlanningLib.mrml.module_widget import ModuleWidgetMixin

    for name in MODULE_NAMES:
        widget_class = getattr(load_module_file(name), f"{name}Widget")
        assert widget_class.__mro__[1] is ModuleWidgetMixin, name
        for method in ("setParameterNode", "runWithProgress", "onSceneStartClose"):
            assert method not in vars(widget_class), (name, method)  # no private copy of the shared code
