"""``cardiac-planning serve``: the browser review of the store's cases (trame-slicer), behind a login."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from .common import user_errors
from .secure import open_workstation, store_options

logger = logging.getLogger(__name__)


@click.command("serve")
@store_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (intranet IP).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
def serve(store_dir: Path, key_file: Path | None, host: str, port: int, tls_cert, tls_key) -> None:
    """Serve the 4D review of the store's cases to browsers: log in with your store account.

    Binds 127.0.0.1 unless --host names the intranet interface; HTTPS when --tls-cert and
    --tls-key are given (use them whenever the server is reachable from other machines)."""
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    with user_errors():
        ws = open_workstation(store_dir, key_file)
    from ..web.app import ReviewApp

    app = ReviewApp(ws, tls=tls_cert is not None)
    scheme = "https" if tls_cert else "http"
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    click.echo(f"review server for {store_dir}: {scheme}://{shown}:{port}/ (log in with your store account)")
    try:
        app.start(host, port, str(tls_cert) if tls_cert else None, str(tls_key) if tls_key else None)
    finally:
        ws.close()
