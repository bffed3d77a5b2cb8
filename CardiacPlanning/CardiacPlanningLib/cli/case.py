"""``cardiac-planning case import|list|export``: put images into the encrypted store and take them out
(every step checked against the user's role and audited)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .common import user_errors
from .secure import login, login_options, open_workstation, store_options

logger = logging.getLogger(__name__)


@click.group("case")
def case() -> None:
    """Cases in the encrypted store (--store): import, list, export."""


@case.command("import")
@store_options
@login_options
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option("--case", "case_id", required=True, help="Case id (use a pseudonymous id, not a name).")
@click.option("--name", default=None, help="Object name in the case (default: the file name).")
def import_(store_dir, key_file, username, totp_code, image: Path, case_id: str, name: str | None) -> None:
    """Read IMAGE (NIfTI/NRRD/MHA or a DICOM folder) and store it encrypted in case CASE."""
    from ..imaging import Volume

    with user_errors():
        ws = open_workstation(store_dir, key_file)
        store = ws.store(login(ws, username, totp_code))
        store.put_volume(case_id, name or image.name, Volume.read(image))
        ws.close()
    click.echo(f"stored {image} as {case_id}/{name or image.name}")


@case.command("list")
@store_options
@login_options
@click.option("--case", "case_id", default=None, help="List the objects of this case instead of the cases.")
def list_(store_dir, key_file, username, totp_code, case_id: str | None) -> None:
    """List the cases you may see (or the objects of one case)."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        store = ws.store(login(ws, username, totp_code))
        names = store.list_objects(case_id) if case_id else store.list_cases()
        ws.close()
    for n in names:
        click.echo(n)


@case.command("export")
@store_options
@login_options
@click.option("--case", "case_id", required=True)
@click.option("--name", required=True, help="Volume object to export.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(store_dir, key_file, username, totp_code, case_id: str, name: str, out: Path) -> None:
    """Write a stored volume to OUT (.nii.gz/.nrrd) in plain form: an identified export, audited."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        session = login(ws, username, totp_code)
        guard = ws.guard(session)
        guard.authorize("export.identified", f"{case_id}/{name}")
        ws.store(session).get_volume(case_id, name).write(out)
        guard.record("export.identified", f"{case_id}/{name}", "success", str(out))
        ws.close()
    click.echo(f"exported {case_id}/{name} to {out}")
