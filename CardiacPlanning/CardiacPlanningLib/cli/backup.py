"""``cardiac-planning backup create|verify|restore``: encrypted backup sets (system administrator)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..store.backup import create_backup, restore_backup, verify_backup
from ..store.keys import KeyRing
from .common import progress_bar, user_errors
from .secure import ENV_PASSPHRASE, login, login_options, open_workstation, secret, store_options

logger = logging.getLogger(__name__)


@click.group()
def backup() -> None:
    """Encrypted backup sets of the case store with an SM3 manifest."""


@backup.command("create")
@store_options
@login_options
@click.option("--dest", required=True, type=click.Path(file_okay=False, path_type=Path))
def create(store_dir: Path, key_file, username, totp_code, dest: Path) -> None:
    """Write a new backup set under DEST."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        guard = ws.guard(login(ws, username, totp_code))
        with progress_bar("backup") as progress:
            res = create_backup(ws.root, ws.ring, dest, guard, progress)
        ws.close()
    click.echo(f"backup written: {res.path} ({res.files} files, {res.bytes} bytes)")


@backup.command("verify")
@store_options
@login_options
@click.argument("backup_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def verify(store_dir: Path, key_file, username, totp_code, backup_dir: Path) -> None:
    """Check BACKUP_DIR against its manifest; name each bad file; exit 1 on problems."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        problems = verify_backup(backup_dir, ws.ring, ws.guard(login(ws, username, totp_code)))
        ws.close()
    for p in problems:
        click.echo(f"PROBLEM {p}")
    if problems:
        raise SystemExit(1)
    click.echo("backup OK")


@backup.command("restore")
@store_options
@login_options
@click.argument("backup_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--target", required=True, type=click.Path(file_okay=False, path_type=Path))
def restore(store_dir: Path, key_file, username, totp_code, backup_dir: Path, target: Path) -> None:
    """Verify BACKUP_DIR completely, then restore it into the new folder TARGET (nothing is written if
    any file fails). Uses the key file saved in the backup; the restore is audited in --store."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        guard = ws.guard(login(ws, username, totp_code))
        ring = KeyRing.open(backup_dir / "keyfile.json", secret(ENV_PASSPHRASE, "Backup key-file passphrase"))
        with progress_bar("restore") as progress:
            n = restore_backup(backup_dir, ring, target, guard, progress)
        ws.close()
    click.echo(f"restored {n} files into {target}")
