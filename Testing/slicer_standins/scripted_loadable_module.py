"""Stand-in for ``slicer.ScriptedLoadableModule`` (our own minimal code, for headless tests).

Same class names and the behaviour module files rely on:

- ``ScriptedLoadableModule(parent)``: ``self.parent`` carries title, categories, dependencies,
  contributors, helpText, acknowledgementText; ``runTest(msec, **kwargs)`` runs ``<Name>Test().runTest()``.
- ``ScriptedLoadableModuleWidget``: ``moduleName``, ``resourcePath(name)``; ``setup()`` needs Qt and is
  not exercised headless.
- ``ScriptedLoadableModuleLogic``: ``getParameterNode()`` returns the module's singleton
  ``vtkMRMLScriptedModuleNode`` in ``slicer.mrmlScene``.
- ``ScriptedLoadableModuleTest``: a ``unittest.TestCase`` whose ``delayDisplay`` logs the message.
"""

from __future__ import annotations

import importlib
import logging
import sys
import unittest
from pathlib import Path
from types import SimpleNamespace

logger = logging.getLogger(__name__)


def _strip_suffix(name: str, suffix: str) -> str:
    return name[: -len(suffix)] if suffix and name.endswith(suffix) else name


def _module_file(obj) -> Path:
    return Path(sys.modules[type(obj).__module__].__file__).resolve()


class ScriptedLoadableModule:
    """Base of a module's description class."""

    def __init__(self, parent=None) -> None:
        if parent is None:
            parent = SimpleNamespace()
        self.parent = parent
        self.moduleName = type(self).__name__
        self.path = str(_module_file(self))
        defaults = {
            "title": self.moduleName,
            "categories": [],
            "dependencies": [],
            "contributors": [],
            "helpText": "",
            "acknowledgementText": "",
            "hidden": False,
        }
        for key, value in defaults.items():
            if not hasattr(parent, key):
                setattr(parent, key, value)

    def getDefaultModuleDocumentationLink(self, docPage: str | None = None) -> str:
        page = docPage or self.moduleName
        return f'<p>See the <a href="{page}">{page}</a> documentation page.</p>'

    def runTest(self, msec: int = 100, **kwargs) -> None:
        """Run the ``<ModuleName>Test`` class defined in the module file."""
        module = importlib.import_module(type(self).__module__)
        test_case = getattr(module, self.moduleName + "Test")()
        test_case.messageDelay = msec
        test_case.runTest(**kwargs)


class ScriptedLoadableModuleWidget:
    """Base of a module's GUI class (Qt: not built headless)."""

    def __init__(self, parent=None) -> None:
        self.parent = parent
        self.moduleName = _strip_suffix(type(self).__name__, "Widget")
        self.developerMode = False
        self.layout = parent.layout() if parent is not None and hasattr(parent, "layout") else None

    def resourcePath(self, filename: str) -> str:
        """Path of ``Resources/<filename>`` next to the module file."""
        return str(_module_file(self).parent / "Resources" / filename)

    def setup(self) -> None:
        """The real one builds the Reload & Test panel with Qt; nothing to build headless."""

    def cleanup(self) -> None:
        """Called when the application closes."""

    def enter(self) -> None:
        """Called when the module is shown."""

    def exit(self) -> None:
        """Called when another module is shown."""


class ScriptedLoadableModuleLogic:
    """Base of a module's logic: a parameter node per module in ``slicer.mrmlScene``."""

    def __init__(self, parent=None) -> None:
        self.parent = parent
        self.moduleName = _strip_suffix(type(self).__name__, "Logic")

    def getParameterNode(self):
        """The module's singleton ``vtkMRMLScriptedModuleNode`` (created on first use)."""
        import slicer

        scene = slicer.mrmlScene
        node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.vtkMRMLScriptedModuleNode()
            node.SetSingletonTag(self.moduleName)
            node.SetName(scene.GenerateUniqueName(self.moduleName))
            node.SetModuleName(self.moduleName)
            node = scene.AddNode(node)
        return node

    def getAllParameterNodes(self) -> list:
        import slicer

        scene = slicer.mrmlScene
        nodes = []
        for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode")):
            node = scene.GetNthNodeByClass(index, "vtkMRMLScriptedModuleNode")
            if node.GetModuleName() == self.moduleName:
                nodes.append(node)
        return nodes


class ScriptedLoadableModuleTest(unittest.TestCase):
    """Base of a module's self-test; ``runTest`` (defined by the module) runs all its checks."""

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self.messageDelay = 50

    def delayDisplay(self, message: str, requestedDelay: int | None = None, msec: int | None = None) -> None:
        """The real one shows the message for a moment; headless it is logged."""
        logger.info("%s: %s", type(self).__name__, message)

    def takeScreenshot(self, name: str, description: str, type: int = -1) -> None:
        """No views to capture headless."""
        logger.info("screenshot %s skipped (headless): %s", name, description)
