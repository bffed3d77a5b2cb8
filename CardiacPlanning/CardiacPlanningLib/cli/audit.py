"""``cardiac-planning audit verify|export``: for the audit administrator."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..security.audit_access import export_log, verify_log
from .common import user_errors
from .secure import login, login_options, open_workstation, store_options

logger = logging.getLogger(__name__)


@click.group()
def audit() -> None:
    """Verify or export the tamper-evident audit log (audit administrator only)."""


@audit.command("verify")
@store_options
@login_options
def verify(store_dir: Path, key_file, username, totp_code) -> None:
    """Check the HMAC-SM3 chain and SM2-signed checkpoints; name each bad record; exit 1 on problems."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        rep = verify_log(ws.guard(login(ws, username, totp_code)), ws.audit)
        ws.close()
    for p in rep.problems:
        click.echo(f"PROBLEM {p}")
    if not rep.ok:
        raise SystemExit(1)
    click.echo(f"audit log OK: {rep.records} records, {rep.checkpoints} signed checkpoints")


@audit.command("export")
@store_options
@login_options
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
def export(store_dir: Path, key_file, username, totp_code, out: Path, fmt: str) -> None:
    """Export every record (with its MACs) to OUT; the export itself is audited."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        n = export_log(ws.guard(login(ws, username, totp_code)), ws.audit, out, fmt)
        ws.close()
    click.echo(f"exported {n} records to {out}")
