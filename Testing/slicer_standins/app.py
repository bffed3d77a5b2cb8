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


class Settings:
    """Minimal ``QSettings`` (in memory): value / setValue / contains / remove / allKeys / sync."""

    def __init__(self) -> None:
        self._values: dict[str, object] = {}

    def value(self, key: str, default=None):
        return self._values.get(key, default)

    def setValue(self, key: str, value) -> None:  # noqa: N802 (Qt's name)
        self._values[key] = value

    def contains(self, key: str) -> bool:
        return key in self._values

    def remove(self, key: str) -> None:
        self._values.pop(key, None)

    def allKeys(self) -> list[str]:  # noqa: N802
        return sorted(self._values)

    def sync(self) -> None:
        """Nothing to flush in memory."""


class UpdateChecker:
    """Minimal ``qSlicerApplicationUpdateManager`` / ``qSlicerExtensionsManagerModel``: like Slicer's,
    the setters keep the value in memory and write it to the user settings under ``prefix``."""

    def __init__(self, settings: Settings, prefix: str, install: bool) -> None:
        self._settings, self._prefix = settings, prefix
        self.autoUpdateCheck = bool(settings.value(f"{prefix}/AutoUpdateCheck", True))
        if install:
            self.autoUpdateInstall = bool(settings.value(f"{prefix}/AutoUpdateInstall", False))

    def setAutoUpdateCheck(self, enable: bool) -> None:  # noqa: N802
        self.autoUpdateCheck = bool(enable)
        self._settings.setValue(f"{self._prefix}/AutoUpdateCheck", bool(enable))

    def setAutoUpdateInstall(self, enable: bool) -> None:  # noqa: N802
        self.autoUpdateInstall = bool(enable)
        self._settings.setValue(f"{self._prefix}/AutoUpdateInstall", bool(enable))


class Application:
    """Minimal ``slicer.app``: no GUI, a temporary folder, events processed immediately."""

    majorVersion = 5
    minorVersion = 11
    applicationName = "slicer-core (headless stand-in)"

    def __init__(self) -> None:
        self.temporaryPath = str(Path(tempfile.gettempdir()) / "slicer-standin")
        Path(self.temporaryPath).mkdir(parents=True, exist_ok=True)
        self._settings = Settings()
        self._updates = UpdateChecker(self._settings, "ApplicationUpdate", install=False)
        self._extensions = UpdateChecker(self._settings, "Extensions", install=True)

    def userSettings(self) -> Settings:  # noqa: N802 (Slicer's name)
        return self._settings

    def applicationUpdateManager(self) -> UpdateChecker:  # noqa: N802
        return self._updates

    def extensionsManagerModel(self) -> UpdateChecker:  # noqa: N802
        return self._extensions

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
