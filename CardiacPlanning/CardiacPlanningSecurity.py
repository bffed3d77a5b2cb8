"""Login, audit viewer and update-check suppression for the CardiacPlanning module.

Slicer has no login, roles or audit; the extension supplies them (docs/security.md). This file
holds the parts that need Slicer:

* :class:`CardiacPlanningSecurityLogic` (headless, tested on slicer-core): unlocks the store folder,
  logs users in and out, enforces the idle timeout, and gives the audit administrator a filtered,
  verified and exportable view of the audit log; every read of the log is itself audited.
* :func:`sharedLogic` also starts a :class:`~CardiacPlanningLib.mrml.update_checks.CaseWatcher`:
  while patient data are in the scene, Slicer's application and extension update checks are off;
  the previous settings come back when the scene holds none (after a crash: at the next start).
* :class:`LoginDialog`, :class:`AuditViewerDialog`, :class:`SecurityPanel`: thin Qt classes.

The file also declares a hidden module, because Slicer treats every ``.py`` file in a scripted
module folder as a module.
"""

import logging
from datetime import datetime
from pathlib import Path

import ctk
import qt
import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule

from CardiacPlanningLib.errors import CardiacPlanningError
from CardiacPlanningLib.mrml.update_checks import CaseWatcher, UpdateCheckGuard
from CardiacPlanningLib.security import outputs
from CardiacPlanningLib.security.audit_access import export_log, query_log, verify_log
from CardiacPlanningLib.security.errors import SecurityError, SessionExpired
from CardiacPlanningLib.security.workstation import Workstation
from CardiacPlanningLib.store.store import default_store_root

logger = logging.getLogger(__name__)

AUDIT_COLUMNS = ("seq", "time", "operator", "role", "workstation", "action", "object", "outcome", "detail")


class CardiacPlanningSecurity(ScriptedLoadableModule):
    """Hidden helper module (the login and audit viewer are reached from Cardiac Planning)."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Cardiac Planning Security"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = []
        self.parent.contributors = ["SlicerCardiacPlanning developers"]
        self.parent.helpText = "Login, audit viewer and update-check suppression of Cardiac Planning."
        self.parent.acknowledgementText = "Part of SlicerCardiacPlanning."
        self.parent.hidden = True


class CardiacPlanningSecurityLogic:
    """Users and audit for the GUI. Never opens dialogs; raises SecurityError subclasses with messages
    a user can act on. ``clock`` (aware datetimes) and workstation options are injectable for tests."""

    def __init__(self, storeDir=None, clock=None, **workstationOptions) -> None:
        self.storeDir = Path(storeDir) if storeDir else default_store_root()
        self.clock = clock
        self.workstationOptions = workstationOptions
        self.workstation = None
        self.session = None
        self.currentCase = None  # the case the modules save into while someone is logged in

    # -- store and login ----------------------------------------------------------------------------
    @property
    def isUnlocked(self) -> bool:
        return self.workstation is not None

    def unlock(self, passphrase: str, keyFile=None) -> None:
        """Open the store folder's key file (runs the crypto self-test)."""
        if self.workstation is None:
            if self.clock is not None:
                self.workstationOptions.setdefault("clock", self.clock)
            self.workstation = Workstation.open(self.storeDir, passphrase, keyFile, **self.workstationOptions)

    def login(self, username: str, password: str, totpCode=None):
        """Log ``username`` in (any previous session is logged out first). Returns the session; its
        ``must_change_password`` means only :meth:`changePassword` is allowed next."""
        if self.workstation is None:
            raise SecurityError(f"the case store {self.storeDir} is locked: enter its key passphrase")
        if self.session is not None:
            self.logout()
        self.session = self.workstation.login(username.strip(), password, totpCode or None)
        return self.session

    def changePassword(self, oldPassword: str, newPassword: str) -> None:
        self.workstation.users.change_password(self.requireSession(), oldPassword, newPassword)

    def logout(self) -> None:
        if self.session is not None:
            self.workstation.users.logout(self.session)
            self.workstation.audit.checkpoint()
            self.session = None
        self.currentCase = None

    def close(self) -> None:
        self.logout()
        if self.workstation is not None:
            self.workstation.close()
            self.workstation = None

    def requireSession(self):
        """The active session; SessionExpired (audited by the session) once idle too long."""
        if self.session is None:
            raise SessionExpired("nobody is logged in: log in first")
        try:
            self.session.touch()
        except SessionExpired:
            self.session = None
            raise
        return self.session

    def idleSecondsLeft(self) -> float:
        if self.session is None:
            return 0.0
        now = self.session.clock()
        return max(0.0, (self.session.idle_timeout - (now - self.session.last_activity)).total_seconds())

    def checkIdle(self) -> bool:
        """For a timer: True (and the user logged out, the timeout audited) once the session has been
        idle longer than the timeout. Checking is not activity."""
        if self.session is None or self.idleSecondsLeft() > 0:
            return False
        try:
            self.session.touch()  # raises SessionExpired and audits session.timeout
        except SessionExpired:
            self.session = None
            return True
        return False

    def statusText(self) -> str:
        if self.workstation is None:
            return f"Store {self.storeDir}: locked"
        if self.session is None:
            return "Not logged in"
        case = f"; case {self.currentCase}" if self.currentCase else ""
        return f"Logged in: {self.session.username} ({self.session.role_names}){case}"

    def caseStore(self):
        """The case store seen by the logged-in user (every operation permission-checked and audited)."""
        return self.workstation.store(self.requireSession())

    def setCurrentCase(self, caseId) -> None:
        """The case the modules' outputs go into (set by Open case / Save to case too)."""
        self.currentCase = (str(caseId).strip() or None) if caseId else None

    def moduleOutputs(self):
        """Where the modules' files go now (CardiacPlanningLib.security.outputs): the current case
        while someone is logged in; with the store unlocked but nobody logged in, files are refused."""
        if self.session is None:
            return outputs.ModuleOutputs(audit=self.workstation.audit if self.workstation else None)
        return outputs.ModuleOutputs(self.caseStore(), self.currentCase)

    # -- cases in the store (volumes and segmentations; decrypted only in memory) ----------------------
    def listCases(self) -> list:
        return self.caseStore().list_cases()

    def listObjects(self, caseId: str) -> list:
        return self.caseStore().list_objects(caseId)

    def loadFromStore(self, caseId: str, name: str, asSegmentation: bool = False):
        """A stored volume as a scalar volume node, or (``asSegmentation``) a stored label map as a
        segmentation node named from the label table. Read permission-checked and audited."""
        from CardiacPlanningLib import mrml

        volume = self.caseStore().get_volume(caseId, name)
        self.setCurrentCase(caseId)
        if asSegmentation:
            return mrml.labelmap_to_segmentation(volume, slicer.mrmlScene, name=name)
        return mrml.volume_to_node(volume, slicer.mrmlScene, name=name)

    def saveToStore(self, caseId: str, name: str, node) -> str:
        """Save a volume node, or a segmentation node as a label map, encrypted as object ``name``
        of case ``caseId`` (no file is written). Returns the SM3 of the stored file."""
        from CardiacPlanningLib import mrml

        if node is None:
            raise CardiacPlanningError("choose the volume or segmentation to save")
        isSegmentation = node.IsA("vtkMRMLSegmentationNode")
        volume = mrml.segmentation_to_labelmap(node) if isSegmentation else mrml.node_to_volume(node)
        sm3 = self.caseStore().put_volume(caseId, name, volume)
        self.setCurrentCase(caseId)
        return sm3

    # -- audit viewer ---------------------------------------------------------------------------------
    def canViewAudit(self) -> bool:
        return self.session is not None and self.workstation.guard(self.session).allows("audit.read")

    def _guard(self):
        return self.workstation.guard(self.requireSession())

    def queryAudit(self, operator="", action="", outcome="", since=None, until=None, text="", limit=1000):
        """Filtered records, newest first (audit administrator only; the read is audited).
        ``since``/``until``: aware datetimes or ISO dates ("2026-11-28"); ``until`` is exclusive."""
        since, until = _asTime(since), _asTime(until)
        return query_log(
            self._guard(),
            self.workstation.audit,
            operator=operator.strip(),
            action=action.strip(),
            outcome=outcome.strip(),
            since=since,
            until=until,
            text=text.strip(),
            limit=limit,
        )

    def verifyAudit(self):
        """Verify the chain and signed checkpoints (audit administrator; audited). A VerifyReport."""
        return verify_log(self._guard(), self.workstation.audit)

    def exportAudit(self, path, fmt="csv") -> int:
        return export_log(self._guard(), self.workstation.audit, Path(path), fmt)

    @staticmethod
    def auditTableRows(records) -> list:
        return [tuple(str(r[c]) for c in AUDIT_COLUMNS) for r in records]


def _asTime(value):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise CardiacPlanningError(
            f"cannot read the date {value!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    return parsed if parsed.tzinfo else parsed.astimezone()  # a date typed by the user: local time


_shared = {}


def sharedLogic() -> CardiacPlanningSecurityLogic:
    """The one security logic of the application; on first use it starts watching the scene so that
    Slicer's update checks stay off while a case is open."""
    if "logic" not in _shared:
        _shared["logic"] = CardiacPlanningSecurityLogic()
        _shared["watcher"] = CaseWatcher(slicer.mrmlScene, UpdateCheckGuard(slicer.app))
        outputs.use(_shared["logic"].moduleOutputs)  # the modules save into its current case
    return _shared["logic"]


# --- Qt (thin: read fields, call the logic, show the outcome) ---------------------------------------
class LoginDialog:
    """Store passphrase (while locked), user name, password, optional second-factor code; then a new
    password when the account must change it. Stays open until a login succeeds or Cancel."""

    def __init__(self, logic: CardiacPlanningSecurityLogic, parent=None) -> None:
        self.logic = logic
        self.dialog = qt.QDialog(parent or slicer.util.mainWindow())
        self.dialog.setWindowTitle("Cardiac Planning: log in")
        form = qt.QFormLayout(self.dialog)
        self.passphrase = self._field(form, "Store key passphrase:", secret=True)
        self.passphrase.setVisible(not logic.isUnlocked)
        self.user = self._field(form, "User:")
        self.password = self._field(form, "Password:", secret=True)
        self.totp = self._field(form, "Second-factor code (if enrolled):")
        self.newPassword = self._field(form, "New password:", secret=True)
        self.newPassword.setVisible(False)
        self.message = qt.QLabel("")
        self.message.wordWrap = True
        form.addRow(self.message)
        buttons = qt.QDialogButtonBox(qt.QDialogButtonBox.Ok | qt.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.onOk)
        buttons.rejected.connect(self.dialog.reject)
        form.addRow(buttons)

    @staticmethod
    def _field(form, label, secret=False):
        edit = qt.QLineEdit()
        if secret:
            edit.echoMode = qt.QLineEdit.Password
        form.addRow(label, edit)
        return edit

    def onOk(self) -> None:
        try:
            if self.newPassword.visible:
                self.logic.changePassword(self.password.text, self.newPassword.text)
                self.dialog.accept()
                return
            self.logic.unlock(self.passphrase.text)
            session = self.logic.login(self.user.text, self.password.text, self.totp.text)
        except CardiacPlanningError as exc:
            self.message.text = str(exc)
            return
        finally:
            self.passphrase.text = ""
        if session.must_change_password:
            self.message.text = "Your password must be changed: enter a new one."
            self.newPassword.setVisible(True)
            return
        self.dialog.accept()

    def exec(self) -> bool:
        return bool(self.dialog.exec_())


class AuditViewerDialog:
    """Filter, read, verify and export the audit log (audit administrator only)."""

    def __init__(self, logic: CardiacPlanningSecurityLogic, parent=None) -> None:
        self.logic = logic
        self.dialog = qt.QDialog(parent or slicer.util.mainWindow())
        self.dialog.setWindowTitle("Cardiac Planning: audit log")
        self.dialog.resize(1100, 600)
        layout = qt.QVBoxLayout(self.dialog)
        filters = qt.QHBoxLayout()
        layout.addLayout(filters)
        self.fields = {}
        hints = (
            ("operator", "operator"),
            ("action", "action (case.*)"),
            ("outcome", "outcome"),
            ("since", "from YYYY-MM-DD"),
            ("until", "before YYYY-MM-DD"),
            ("text", "object/detail text"),
        )
        for name, hint in hints:
            edit = qt.QLineEdit()
            edit.placeholderText = hint
            filters.addWidget(edit)
            self.fields[name] = edit
        for label, slot in (
            ("Search", self.onSearch),
            ("Verify", self.onVerify),
            ("Export...", self.onExport),
        ):
            button = qt.QPushButton(label)
            button.clicked.connect(slot)
            filters.addWidget(button)
        self.table = qt.QTableWidget(0, len(AUDIT_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(AUDIT_COLUMNS))
        layout.addWidget(self.table)
        self.message = qt.QLabel("")
        layout.addWidget(self.message)

    def onSearch(self) -> None:
        with slicer.util.tryWithErrorDisplay("Cannot read the audit log.", waitCursor=True):
            records = self.logic.queryAudit(**{k: f.text for k, f in self.fields.items()})
            rows = self.logic.auditTableRows(records)
            self.table.setRowCount(len(rows))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    self.table.setItem(r, c, qt.QTableWidgetItem(value))
            self.message.text = f"{len(rows)} records (newest first)"

    def onVerify(self) -> None:
        with slicer.util.tryWithErrorDisplay("Cannot verify the audit log.", waitCursor=True):
            report = self.logic.verifyAudit()
            ok = f"OK: {report.records} records, {report.checkpoints} signed checkpoints"
            self.message.text = ok if report.ok else "PROBLEMS: " + "; ".join(report.problems[:10])

    def onExport(self) -> None:
        path = qt.QFileDialog.getSaveFileName(
            self.dialog, "Export the audit log", "", "CSV (*.csv);;JSON (*.json)"
        )
        if path:
            with slicer.util.tryWithErrorDisplay("Cannot export the audit log.", waitCursor=True):
                n = self.logic.exportAudit(path, "json" if path.lower().endswith(".json") else "csv")
                self.message.text = f"{n} records exported to {path}"

    def exec(self) -> None:
        self.dialog.exec_()


class SecurityPanel:
    """A "Login and audit" section in the module panel, and the idle-timeout timer."""

    def __init__(self, layout, logic: CardiacPlanningSecurityLogic, checkSeconds: int = 30) -> None:
        self.logic = logic
        box = ctk.ctkCollapsibleButton()
        box.text = "Login and audit"
        layout.insertWidget(0, box)
        row = qt.QHBoxLayout(box)
        self.status = qt.QLabel(logic.statusText())
        row.addWidget(self.status)
        for label, slot in (
            ("Log in...", self.onLogin),
            ("Log out", self.onLogout),
            ("Open case...", self.onOpen),
            ("Save to case...", self.onSave),
            ("Audit log...", self.onAudit),
        ):
            button = qt.QPushButton(label)
            button.clicked.connect(slot)
            row.addWidget(button)
        self.timer = qt.QTimer()
        self.timer.setInterval(checkSeconds * 1000)
        self.timer.timeout.connect(self.onTimer)
        self.timer.start()

    def refresh(self) -> None:
        self.status.text = self.logic.statusText()

    def onLogin(self) -> None:
        LoginDialog(self.logic).exec()
        self.refresh()

    def onLogout(self) -> None:
        self.logic.logout()
        self.refresh()

    def onOpen(self) -> None:
        with slicer.util.tryWithErrorDisplay("Cannot open the case.", waitCursor=True):
            case = qt.QInputDialog.getItem(None, "Open case", "Case:", self.logic.listCases(), 0, False)
            objects = self.logic.listObjects(case) if case else []
            self.logic.setCurrentCase(case or self.logic.currentCase)  # the modules save into it
            self.refresh()
            name = case and qt.QInputDialog.getItem(None, case, "Object:", objects, 0, False)
            if name:
                isLabels = "label" in name.lower() or "seg" in name.lower()
                node = self.logic.loadFromStore(case, name, asSegmentation=isLabels)
                if not isLabels:
                    slicer.util.setSliceViewerLayers(background=node, fit=True)

    def onSave(self) -> None:
        with slicer.util.tryWithErrorDisplay("Cannot save to the case.", waitCursor=True):
            classes = ("vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode")
            nodes = {n.GetName(): n for c in classes for n in slicer.util.getNodesByClass(c)}
            nodeName = qt.QInputDialog.getItem(None, "Save to case", "Node:", sorted(nodes), 0, False)
            case = nodeName and qt.QInputDialog.getText(None, "Save to case", "Case id (pseudonymous):")
            if case:
                self.logic.saveToStore(case, nodeName, nodes[nodeName])
                self.refresh()

    def onAudit(self) -> None:
        if not self.logic.canViewAudit():
            slicer.util.errorDisplay("Only the audit administrator may view the audit log: log in as one.")
            return
        AuditViewerDialog(self.logic).exec()

    def onTimer(self) -> None:
        if self.logic.checkIdle():
            self.refresh()
            slicer.util.warningDisplay("You were logged out after the idle timeout. Log in again.")
