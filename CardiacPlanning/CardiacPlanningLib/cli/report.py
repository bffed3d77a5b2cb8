"""``cardiac-planning report``: the surgical planning report of a case folder (PDF, HL7 CDA,
DICOM Encapsulated PDF + SEG, STL/OBJ)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from .common import procedure_option, progress_bar, user_errors
from .secure import store_io

logger = logging.getLogger(__name__)


@click.command()
@click.argument("case_dir", type=click.Path(path_type=Path))
@procedure_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--operator", default="", help="Name of the operator shown in the report.")
@click.option("--institution", default="", help="Hospital name (CDA custodian).")
@click.option("--deidentify", is_flag=True, help="Replace patient identifiers by a pseudonym (no DICOM SEG).")
@click.option(
    "--measurements",
    "measurements_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Reuse a JSON written by `cardiac-planning measure` (e.g. after corrections).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["pdf", "cda", "dicom", "stl"]),
    help="Outputs to write (repeatable; default: all). The PDF is always written.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_io(inputs=("case_dir", "measurements_file"), outputs=("out_dir",))
def report(
    case_dir: Path,
    procedure: str,
    out_dir: Path,
    operator: str,
    institution: str,
    deidentify: bool,
    measurements_file: Path | None,
    formats: tuple[str, ...],
    quiet: bool,
) -> None:
    """Write the planning report of CASE_DIR for a procedure into OUT."""
    from ..errors import CardiacInputError
    from ..report.build import ALL_FORMATS, generate_report

    with user_errors():
        measurements = None
        if measurements_file is not None:
            try:
                measurements = json.loads(measurements_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise CardiacInputError(f"cannot read measurements file {measurements_file}: {exc}") from exc
            if measurements.get("procedure") != procedure:
                got = measurements.get("procedure")
                raise CardiacInputError(f"{measurements_file} holds {got!r} measurements, not {procedure!r}")
        with progress_bar("report", enabled=not quiet) as progress:
            result = generate_report(
                case_dir,
                procedure,
                out_dir,
                operator=operator,
                institution=institution,
                deidentify=deidentify,
                formats=tuple(formats) or ALL_FORMATS,
                measurements=measurements,
                progress=progress,
            )
    for key, path in result["files"].items():
        click.echo(f"  {key}: {path}")
    click.echo(f"report written to {out_dir} in {result['seconds']['total']:.1f} s")
