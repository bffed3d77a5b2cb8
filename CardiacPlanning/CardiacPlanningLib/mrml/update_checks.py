"""Keep Slicer from checking for updates while a case is open (issue: no network traffic with patient
data loaded).

Slicer 5.x checks for updates in two places, each driven by a user setting and an object of the
application (Slicer source, ``Base/QTCore/qSlicerApplicationUpdateManager.cxx`` and
``qSlicerExtensionsManagerModel.cxx``):

* ``slicer.app.applicationUpdateManager()``: setting ``ApplicationUpdate/AutoUpdateCheck`` (default
  on), slot ``setAutoUpdateCheck(bool)``, property ``autoUpdateCheck``; queries the download server
  at most once per ``ApplicationUpdate/AutoUpdateFrequencyMinutes``;
* ``slicer.app.extensionsManagerModel()``: settings ``Extensions/AutoUpdateCheck`` and
  ``Extensions/AutoUpdateInstall``, slots ``setAutoUpdateCheck(bool)`` / ``setAutoUpdateInstall(bool)``.

:class:`UpdateCheckGuard` turns all three off through those slots (which also write the settings),
keeping the previous values in the user settings under :data:`SAVED_SETTINGS_KEY`; :meth:`restore`
puts them back. :class:`CaseWatcher` calls one or the other whenever the scene gains or loses patient
data. Because the saved values live in the settings, a crash while a case was open is repaired at
the next start (the watcher finds no case and restores). ``app`` and ``scene`` are passed in, so
headless tests use stand-ins; nothing here imports ``slicer``.
"""

from __future__ import annotations

import json
import logging

logger = logging.getLogger(__name__)

# (settings key, accessor on slicer.app, setter slot, property)
UPDATE_SETTINGS: tuple[tuple[str, str, str, str], ...] = (
    (
        "ApplicationUpdate/AutoUpdateCheck",
        "applicationUpdateManager",
        "setAutoUpdateCheck",
        "autoUpdateCheck",
    ),
    ("Extensions/AutoUpdateCheck", "extensionsManagerModel", "setAutoUpdateCheck", "autoUpdateCheck"),
    ("Extensions/AutoUpdateInstall", "extensionsManagerModel", "setAutoUpdateInstall", "autoUpdateInstall"),
)
SAVED_SETTINGS_KEY = "CardiacPlanning/UpdateSettingsBeforeCase"
# node classes whose presence in the scene means patient data are loaded
PATIENT_DATA_CLASSES = ("vtkMRMLVolumeNode", "vtkMRMLSegmentationNode", "vtkMRMLSequenceNode")


def _to_bool(value: object) -> bool:
    """QSettings gives "true"/"false" strings for booleans read back from the .ini file."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class UpdateCheckGuard:
    """Switch Slicer's update checks off (:meth:`block`) and back to what they were (:meth:`restore`).
    A second :meth:`block` keeps the first saved values (never saves "off" as the user's choice)."""

    def __init__(self, app) -> None:
        self.app = app

    @property
    def settings(self):
        return self.app.userSettings()

    @property
    def blocked(self) -> bool:
        return bool(self.settings.contains(SAVED_SETTINGS_KEY))

    def _manager(self, accessor: str):
        getter = getattr(self.app, accessor, None)
        return getter() if callable(getter) else None

    def current(self, key: str) -> bool | None:
        """The effective value of one update setting (the manager's, else the setting's; None: unset)."""
        _key, accessor, _setter, prop = next(s for s in UPDATE_SETTINGS if s[0] == key)
        manager = self._manager(accessor)
        if manager is not None and hasattr(manager, prop):
            value = getattr(manager, prop)
            return _to_bool(value() if callable(value) else value)
        return _to_bool(self.settings.value(key)) if self.settings.contains(key) else None

    def _apply(self, key: str, accessor: str, setter: str, value: bool) -> None:
        manager = self._manager(accessor)
        if manager is not None and callable(getattr(manager, setter, None)):
            getattr(manager, setter)(value)
        self.settings.setValue(key, value)

    def block(self) -> None:
        """Turn every update check off, saving the previous values first."""
        if self.blocked:
            return
        saved = {
            key: {"value": self.current(key), "present": bool(self.settings.contains(key))}
            for key, *_ in UPDATE_SETTINGS
        }
        self.settings.setValue(SAVED_SETTINGS_KEY, json.dumps(saved))
        for key, accessor, setter, _prop in UPDATE_SETTINGS:
            self._apply(key, accessor, setter, False)
        self.settings.sync()
        logger.info("Slicer update checks switched off while a case is open")

    def restore(self) -> None:
        """Put back the values saved by :meth:`block` (a setting that was unset becomes unset again)."""
        if not self.blocked:
            return
        try:
            saved = json.loads(str(self.settings.value(SAVED_SETTINGS_KEY)))
        except ValueError:
            logger.warning("saved update settings are unreadable; leaving the checks off")
            saved = {}
        for key, accessor, setter, _prop in UPDATE_SETTINGS:
            entry = saved.get(key)
            if not entry or entry.get("value") is None:
                continue
            self._apply(key, accessor, setter, bool(entry["value"]))
            if not entry.get("present"):
                self.settings.remove(key)  # it was Slicer's default: keep it a default
        self.settings.remove(SAVED_SETTINGS_KEY)
        self.settings.sync()
        logger.info("Slicer update-check settings restored (no case open)")


class CaseWatcher:
    """A case is open while ``scene`` holds patient data (:data:`PATIENT_DATA_CLASSES`): then the guard
    blocks the update checks, otherwise it restores them. Re-evaluated on node added/removed, end of
    import and end of close (not in between, so loading a scene does not flip the settings)."""

    def __init__(self, scene, guard: UpdateCheckGuard) -> None:
        self.scene, self.guard = scene, guard
        events = (scene.NodeAddedEvent, scene.NodeRemovedEvent, scene.EndImportEvent, scene.EndCloseEvent)
        self._tags = [scene.AddObserver(event, self.update) for event in events]
        self.update()

    def case_open(self) -> bool:
        return any(self.scene.GetNumberOfNodesByClass(c) for c in PATIENT_DATA_CLASSES)

    def update(self, caller=None, event=None) -> None:
        if self.scene.IsImporting() or self.scene.IsClosing():
            return  # EndImportEvent / EndCloseEvent will call again
        if self.case_open():
            self.guard.block()
        else:
            self.guard.restore()

    def detach(self) -> None:
        for tag in self._tags:
            self.scene.RemoveObserver(tag)
        self._tags = []
