"""Stand-in for ``slicer.app`` and ``slicer.mrmlScene`` (our own minimal code, for headless tests).

The scene is a real ``vtkMRMLScene`` from slicer-core, prepared like the application's scene: default
colour tables, the segmentations logic (labelmap/surface converters) and the sequences logic (browser
proxy nodes) are registered on it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


def new_application_scene():
    """A real vtkMRMLScene prepared with the module logics the Slicer application registers."""
    from CardiacPlanningLib import mrml

    return mrml.new_scene()


class _CommandOptions:
    """The few command-line options module code looks at (no GUI, testing)."""

    noMainWindow = True
    testingEnabled = True


class Application:
    """Minimal ``slicer.app``: no GUI, a temporary folder, events processed immediately."""

    majorVersion = 5
    minorVersion = 11
    applicationName = "slicer-core (headless stand-in)"

    def __init__(self) -> None:
        self.temporaryPath = str(Path(tempfile.gettempdir()) / "slicer-standin")
        Path(self.temporaryPath).mkdir(parents=True, exist_ok=True)

    def mrmlScene(self):
        import slicer

        return slicer.mrmlScene

    def commandOptions(self) -> _CommandOptions:
        return _CommandOptions()

    def testingEnabled(self) -> bool:
        return True

    def processEvents(self) -> None:
        """Nothing to do: there is no event loop headless."""

    def pythonConsole(self):
        return None
