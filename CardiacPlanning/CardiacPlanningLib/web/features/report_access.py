"""The planning report of a case in the browser: a preview of a PDF page as PNG (poppler's
``pdftoppm``, fed and read through pipes so no plaintext lands on disk) and downloads of the PDF and
the HL7 CDA, role-checked and audited.

Store layout (objects of the case, written by :func:`store_report_folder` from the folder that
:func:`CardiacPlanningLib.report.build.generate_report` / ``cardiac-planning report --out`` writes)::

    report/<procedure>/report.pdf        report/<procedure>/report_cda.xml
    report/<procedure>/measurements.json

Who may do what: a preview is a read of the case (clinicians; researchers only on de-identified
cases; administrators never), a download is an export: ``export.identified`` for an identified case
(clinicians), ``export.deidentified`` for a de-identified one (clinicians and researchers). A report
stored in a de-identified case must have been made with ``--deidentify``."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ...errors import CardiacInputError
from ...store.errors import NotFoundError
from ...store.store import CaseStore

logger = logging.getLogger(__name__)

PREFIX = "report/"
# format -> (file name written by generate_report, MIME type)
FORMATS: dict[str, tuple[str, str]] = {
    "pdf": ("report.pdf", "application/pdf"),
    "cda": ("report_cda.xml", "application/xml"),
}
MEASUREMENTS = ("measurements.json", "application/json")


def _object(procedure: str, fmt: str) -> str:
    if fmt not in FORMATS:
        raise CardiacInputError(f"report format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not procedure or "/" in procedure:
        raise CardiacInputError(f"invalid procedure name {procedure!r}")
    return f"{PREFIX}{procedure}/{FORMATS[fmt][0]}"


def store_report_folder(store: CaseStore, case_id: str, procedure: str, folder: str | Path) -> list[str]:
    """Store the PDF, CDA and measurements a report run wrote into ``folder`` (the PDF is required)
    as the ``procedure`` report of ``case_id``. Returns the object names written."""
    folder = Path(folder)
    pdf = folder / FORMATS["pdf"][0]
    if not pdf.is_file() or not pdf.read_bytes()[:5] == b"%PDF-":
        raise CardiacInputError(f"{pdf} is missing or not a PDF: write the report first")
    written = []
    for fname, ctype in (*FORMATS.values(), MEASUREMENTS):
        path = folder / fname
        if path.is_file():
            name = f"{PREFIX}{procedure}/{fname}"
            store.put_bytes(case_id, name, path.read_bytes(), ctype)
            written.append(name)
    return written


@dataclass
class Download:
    """A file handed to the browser: content, suggested file name, MIME type."""

    data: bytes
    filename: str
    mime: str


def pdf_page_png(pdf: bytes, page: int = 1, dpi: int = 60, what: str = "PDF") -> bytes:
    """Page ``page`` (1-based) of ``pdf`` rendered to PNG at ``dpi`` by ``pdftoppm`` (stdin/stdout)."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise CardiacInputError("pdftoppm is not installed (Debian package poppler-utils): no report preview")
    if page < 1 or not 10 <= dpi <= 300:
        raise CardiacInputError(f"preview page must be >= 1 and dpi 10..300, got page {page}, dpi {dpi}")
    args = [
        exe,
        "-png",
        "-r",
        str(dpi),
        "-f",
        str(page),
        "-l",
        str(page),
        "-singlefile",
        "-",
    ]  # PNG to stdout
    try:
        run = subprocess.run(args, input=pdf, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise CardiacInputError(f"rendering {what} page {page} took longer than 60 s") from None
    if run.returncode != 0 or not run.stdout.startswith(b"\x89PNG"):
        message = run.stderr.decode(errors="replace").strip().splitlines()
        raise CardiacInputError(
            f"cannot render {what} page {page}: {message[-1] if message else 'no output'}"
        )
    return run.stdout


class ReportAccess:
    """Reports of ``case_id`` as seen by the store's session."""

    def __init__(self, store: CaseStore, case_id: str) -> None:
        self.store = store
        self.case_id = case_id

    def procedures(self) -> list[str]:
        """Procedures that have a stored report PDF (a read of the case: role-checked, audited)."""
        names = self.store.list_objects(self.case_id)
        suffix = "/" + FORMATS["pdf"][0]
        return sorted(
            n[len(PREFIX) : -len(suffix)] for n in names if n.startswith(PREFIX) and n.endswith(suffix)
        )

    def formats(self, procedure: str) -> list[str]:
        """Formats stored for ``procedure`` (``pdf``, ``cda``)."""
        names = set(self.store.list_objects(self.case_id))
        return [f for f in FORMATS if _object(procedure, f) in names]

    def _read(self, procedure: str, fmt: str) -> bytes:
        name = _object(procedure, fmt)
        try:
            return self.store.get_bytes(self.case_id, name)[0]  # read permission checked and audited
        except NotFoundError:
            raise CardiacInputError(
                f"case {self.case_id!r} has no {procedure} report {fmt.upper()}"
            ) from None

    def preview_png(self, procedure: str, page: int = 1, dpi: int = 60) -> bytes:
        """PNG of page ``page`` of the ``procedure`` report PDF (the read is audited by the store)."""
        pdf = self._read(procedure, "pdf")
        png = pdf_page_png(pdf, page, dpi, f"{self.case_id} {procedure} report")
        guard = self.store.guard
        action = "case.read" if guard.allows("case.read") else "case.read_deid"
        guard.record(action, f"{self.case_id}/{_object(procedure, 'pdf')}", "success", f"preview page {page}")
        return png

    def download(self, procedure: str, fmt: str = "pdf", record: bool = True) -> Download:
        """The ``procedure`` report as ``fmt`` (pdf | cda) for download: an export, refused and
        audited for a role without the export permission of this case, audited when handed out
        (``record`` False: the caller, e.g. the web download route, audits the hand-out itself)."""
        name = _object(procedure, fmt)
        guard = self.store.guard
        target = f"{self.case_id}/{name}"
        if not (guard.allows("export.identified") or guard.allows("export.deidentified")):
            guard.authorize("export.identified", target)  # refused and audited before the case is read
        action = "export.deidentified" if self.store.is_deidentified(self.case_id) else "export.identified"
        guard.authorize(action, target)
        data = self._read(procedure, fmt)
        fname, mime = FORMATS[fmt]
        filename = f"{self.case_id}_{procedure}_{fname}"
        if record:
            guard.record(action, target, "success", f"download {filename} ({len(data)} bytes)")
        return Download(data, filename, mime)
