"""``cardiac-planning measure``: procedure measurements of a case folder as JSON."""

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
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON file to write (default: CASE_DIR/measurements_<procedure>.json).",
)
@click.option(
    "--hinges",
    type=click.Path(path_type=Path),
    default=None,
    help="Markups file with the three aortic annulus hinge points (TAVR; default: automatic).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_io(inputs=("case_dir", "hinges"), outputs=("out_path",))
def measure(case_dir: Path, procedure: str, out_path: Path | None, hinges: Path | None, quiet: bool) -> None:
    """Measure CASE_DIR (label maps in labels/, optional ct/, dicom/, coronary_centerlines.json,
    ostia.mrk.json, annulus_hinges.mrk.json) for a procedure and write the values (mm, mm2, mL, %,
    degrees; points LPS mm) as JSON."""
    from ..measure.case import measure_case

    with user_errors():
        with progress_bar("measure", enabled=not quiet) as progress:
            result = measure_case(case_dir, procedure, hinges_file=hinges, progress=progress)
        out_path = out_path or case_dir / f"measurements_{procedure}.json"
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    click.echo(f"measurements written to {out_path}")
