"""Where the Slicer modules read and write their files: the current case of the encrypted store, or
plain folders. One place for the rule, so the modules do not each copy it (docs/security.md,
"Module outputs").

* **Store session** (a user logged in through the "Login and audit" panel and a case chosen):
  :meth:`ModuleOutputs.saving` gives a private RAM folder whose files are saved encrypted into the
  current case under a prefix (``case.write``, checked and audited per object and for the whole
  save); :meth:`ModuleOutputs.working` decrypts objects of the case into such a folder as a tool's
  input folder and saves back what the tool changed (when the user may write to the case);
  :meth:`ModuleOutputs.exporting` lets plain files reach a folder the user chose only when the role
  may export (``export.identified``, or ``export.deidentified`` for a de-identified case or
  variant; the permission matrix of :mod:`.roles`), refused with a message naming the roles that may
  and audited otherwise; :meth:`ModuleOutputs.scratch` is a RAM folder for something shown and thrown
  away (a report preview), always overwritten and deleted.
* **Store but no session** (the workstation's store is unlocked, nobody is logged in -- e.g. after
  the idle timeout logged the user out): every read, save and export of files is refused with
  "log in first" and the refusal audited with operator ``(no session)``, so that outputs never
  leave the store silently.
* **No store** (a research installation on de-identified files, tests): the same calls work on the
  plain folders given, as before.

Module logic gets the current :class:`ModuleOutputs` from :func:`current`; the application's
security logic registers itself with :func:`use`.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import CardiacInputError
from ..store.errors import NotFoundError, StoreError
from ..store.staging import Stage, ram_root, wipe_folder
from ..store.store import CaseStore
from .audit import AuditLog
from .errors import PermissionDenied
from .roles import PERMISSIONS

logger = logging.getLogger(__name__)

NO_SESSION = "(no session)"


def is_blank(value) -> bool:
    return value is None or str(value).strip() in ("", ".")


def _files_under(folder: Path) -> dict[str, tuple[int, int]]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


class ModuleOutputs:
    """The store (bound to the logged-in session; its guard checks and audits) and the current case,
    or nothing (plain files, audited in ``audit`` when given). See the module docstring."""

    def __init__(
        self, store: CaseStore | None = None, case_id: str | None = None, audit: AuditLog | None = None
    ) -> None:
        # audit without store: the workstation's store exists but nobody is logged in -> refuse files
        self.store, self.case_id, self.audit = store, case_id, audit
        self.saved: list[str] = []  # object names saved by the last saving/working block
        self.exported: list[Path] = []  # files written by the last exporting block

    @property
    def in_store(self) -> bool:
        return self.store is not None

    def where(self, folder=None) -> str:
        """Where outputs go, for a status line."""
        return f"case {self.case_id} (encrypted store)" if self.in_store else str(folder)

    def _case(self, what: str) -> str:
        if not self.case_id:
            raise CardiacInputError(
                f"{what}: choose the case to work on first (Cardiac Planning > Login and audit > "
                "Open case... or Save to case...); with a store session outputs go into a case"
            )
        return self.case_id

    def _file_record(self, action: str, target: str, outcome: str, detail: str) -> None:
        if self.audit is not None:
            self.audit.append(NO_SESSION, NO_SESSION, action, target, outcome, detail[:2000])

    def _refuse_without_login(self, action: str, what: str, folder) -> None:
        """With the workstation's store configured, plain files need a logged-in user."""
        if self.audit is None:
            return
        self._file_record(action, str(folder), "denied", f"{what}: nobody is logged in")
        raise PermissionDenied(
            f"{what}: log in first (Cardiac Planning > Login and audit). This workstation keeps "
            "patient data in the encrypted store; nothing is written to or read from a plain folder "
            "without a logged-in user."
        )

    # -- inputs -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def working(self, what: str, folder) -> Iterator[Path]:
        """A tool's case folder. Store: ``folder`` names a folder of objects of the current case
        (``.``: the whole case), decrypted into RAM; files the block creates or changes are saved
        back into the case if the user may write to it (else dropped, logged); the RAM folder is wiped.
        No session: the disk folder ``folder`` itself (it must exist)."""
        self.saved = []
        if not self.in_store:
            self._refuse_without_login("case.read", what, folder)
            if is_blank(folder) or not Path(folder).is_dir():
                raise CardiacInputError(f"{what}: choose an existing case folder (got {folder!r})")
            yield Path(folder)
            return
        case = self._case(what)
        prefix = "." if is_blank(folder) else str(folder)
        if Path(prefix).is_absolute():
            raise CardiacInputError(
                f"{what}: with a store session the case folder names a folder of objects of case "
                f"{case} (e.g. plan, or . for the whole case), not the disk folder {prefix}"
            )
        with Stage(self.store, case) as stage:
            path = stage.fetch(prefix)
            yield path
            if self.store.guard.allows("case.write"):
                self.saved = stage.collect()
            else:
                logger.info("%s: changes not saved, the user may not write to case %s", what, case)

    # -- outputs ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def saving(self, what: str, prefix: str, folder=None) -> Iterator[Path]:
        """The folder a tool writes its outputs to. Store: a RAM folder whose files become objects
        ``<prefix>/...`` of the current case (``case.write``; the RAM folder is wiped; the object
        names are in :attr:`saved`). No session: the disk folder ``folder`` (created)."""
        self.saved = []
        if not self.in_store:
            self._refuse_without_login("case.write", what, folder)
            if is_blank(folder):
                raise CardiacInputError(f"{what}: choose an output folder")
            out = Path(folder)
            out.mkdir(parents=True, exist_ok=True)
            yield out
            return
        case, guard = self._case(what), self.store.guard
        guard.authorize("case.write", case)  # refusal audited by the guard
        with Stage(self.store, case) as stage:
            target = stage.root if is_blank(prefix) else stage.path(prefix)
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                yield target
                self.saved = stage.collect()
            except BaseException as exc:
                guard.record("case.write", case, "failure", f"{what}: {type(exc).__name__}: {exc}"[:500])
                raise
        guard.record("case.write", case, "success", f"{what}: saved {', '.join(self.saved)}"[:2000])

    def located(self, files: dict, folder: Path, prefix: str) -> dict:
        """``files`` ({kind: path under ``folder``}) as the caller should report them: object names
        ``<prefix>/...`` of the case with a session (the RAM paths are gone), the paths otherwise."""
        if not self.in_store:
            return dict(files)
        root, base = Path(folder), "" if is_blank(prefix) else str(prefix).strip("/") + "/"
        named = {}
        for kind, value in files.items():
            try:
                named[kind] = base + Path(value).relative_to(root).as_posix()
            except (TypeError, ValueError):  # not a path under the folder (e.g. a count)
                named[kind] = value
        return named

    def may(self, action: str) -> bool:
        """Whether the logged-in user may ``action`` (no audit record); False without a session."""
        return self.in_store and self.store.guard.allows(action)

    def case_key(self, folder) -> str:
        """A stable name of the case a tool works on: ``store:<case>/<folder>`` or the resolved path."""
        if self.in_store:
            return f"store:{self.case_id}/{'.' if is_blank(folder) else folder}"
        return str(Path(folder).resolve())

    def export_action(self, deidentified: bool = False) -> str:
        """``export.deidentified`` for a de-identified variant or case, else ``export.identified``."""
        if deidentified:
            return "export.deidentified"
        if self.in_store and self.case_id:
            with contextlib.suppress(NotFoundError):
                if self.store.is_deidentified(self.case_id):
                    return "export.deidentified"
        return "export.identified"

    @contextlib.contextmanager
    def exporting(self, what: str, folder, deidentified: bool = False) -> Iterator[Path]:
        """An explicit export of plain files to the disk folder ``folder``. Store: allowed only to
        the roles with :meth:`export_action` (refused with a clear message, the refusal audited);
        the export and the files written are audited. No session: audited where an audit log is
        configured."""
        if is_blank(folder):
            raise CardiacInputError(f"{what}: choose the folder to export to")
        out, action = Path(folder), self.export_action(deidentified)
        self.exported = []
        if not self.in_store:
            self._refuse_without_login(action, what, out)
            out.mkdir(parents=True, exist_ok=True)
            yield out
            return
        case, guard = self._case(what), self.store.guard
        target = f"{case} -> {out}"
        try:
            guard.authorize(action, target)  # the refusal is audited as denied
        except PermissionDenied as exc:
            roles = ", ".join(r.value for r, perms in PERMISSIONS.items() if action in perms)
            kind = "de-identified" if action == "export.deidentified" else "identified"
            raise PermissionDenied(
                f"{what}: export refused ({exc}). Exporting {kind} data of a case to a folder is "
                f"allowed to: {roles}. The outputs stay in the encrypted store."
            ) from None
        out.mkdir(parents=True, exist_ok=True)
        before = _files_under(out)
        try:
            yield out
        except BaseException as exc:
            guard.record(action, target, "failure", f"{what}: {type(exc).__name__}: {exc}"[:500])
            raise
        changed = sorted(k for k, v in _files_under(out).items() if before.get(k) != v)
        self.exported = [out / k for k in changed]
        guard.record(action, target, "success", f"{what}: {', '.join(changed)}"[:2000])

    def _scratch_root(self) -> Path:
        try:
            base = ram_root()
        except StoreError:
            if self.in_store:
                raise
            base = None
        return Path(tempfile.mkdtemp(prefix="cardiac-scratch-", dir=base))

    @contextlib.contextmanager
    def scratch(self, what: str) -> Iterator[Path]:
        """A private folder for something shown and thrown away (a preview): in RAM (with a session
        a RAM folder is required, as for the CLI; without one the temp folder is the fallback).
        Overwritten and deleted when the block ends, also after an error."""
        root = self._scratch_root()
        try:
            yield root
        finally:
            wipe_folder(root)


class ShownFile:
    """A file written only so that an external viewer can show it (a report preview): in a private
    RAM folder (the temp folder without a session and without RAM), replaced by the next one and
    overwritten and deleted by :meth:`close` (call it when the module closes)."""

    def __init__(self) -> None:
        self.root: Path | None = None

    def show(self, outputs: ModuleOutputs, data: bytes, name: str) -> Path:
        self.close()
        self.root = outputs._scratch_root()
        path = self.root / Path(name).name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def close(self) -> None:
        if self.root is not None:
            wipe_folder(self.root)
            self.root = None


_providers: list[Callable[[], ModuleOutputs]] = []


def use(provider: Callable[[], ModuleOutputs] | None) -> None:
    """Register the function that gives the current :class:`ModuleOutputs` (the application's
    security logic); ``None`` removes it (plain files, unaudited)."""
    _providers[:] = [provider] if provider is not None else []


def current() -> ModuleOutputs:
    """Where a module's files go now (see the module docstring)."""
    return _providers[0]() if _providers else ModuleOutputs()
