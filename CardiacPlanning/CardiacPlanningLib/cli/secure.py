"""Shared options of the secured subcommands (admin, audit, backup): ``--store``, ``--key-file``,
``--user``, ``--totp``, and reading secrets from environment variables or a no-echo prompt."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import click

from ..security.sessions import Session
from ..security.workstation import Workstation
from ..store.store import default_store_root

logger = logging.getLogger(__name__)

ENV_PASSPHRASE = "CARDIAC_PLANNING_PASSPHRASE"  # key-file passphrase
ENV_PASSWORD = "CARDIAC_PLANNING_PASSWORD"  # the --user's login password
ENV_NEW_PASSWORD = "CARDIAC_PLANNING_NEW_PASSWORD"  # a password being set (new user, change)
ENV_NEW_PASSPHRASE = "CARDIAC_PLANNING_NEW_PASSPHRASE"  # a new key-file passphrase


def secret(env: str, prompt: str, confirm: bool = False) -> str:
    """The value of ``env`` if set, else a prompt that does not echo."""
    value = os.environ.get(env)
    if value:
        return value
    return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def store_options(func: Callable) -> Callable:
    """Add ``--store`` and ``--key-file``."""

    @click.option(
        "--store",
        "store_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Case-store folder (default: $CARDIAC_PLANNING_STORE or the user's data folder).",
    )
    @click.option(
        "--key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Key file (default: <store>/keyfile.json). Passphrase from $" + ENV_PASSPHRASE + " or a prompt.",
    )
    @functools.wraps(func)
    def wrapper(*args, store_dir: Path | None, key_file: Path | None, **kwargs):
        return func(*args, store_dir=store_dir or default_store_root(), key_file=key_file, **kwargs)

    return wrapper


def login_options(func: Callable) -> Callable:
    """Add ``--user`` and ``--totp`` (password from $CARDIAC_PLANNING_PASSWORD or a prompt)."""

    @click.option(
        "--user", "username", required=True, help="Your user name (password: $" + ENV_PASSWORD + ")."
    )
    @click.option("--totp", "totp_code", default=None, help="Second-factor code if enrolled.")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def open_workstation(store_dir: Path, key_file: Path | None) -> Workstation:
    return Workstation.open(store_dir, secret(ENV_PASSPHRASE, "Key-file passphrase"), key_file)


def login(ws: Workstation, username: str, totp_code: str | None) -> Session:
    return ws.login(username, secret(ENV_PASSWORD, f"Password for {username}"), totp_code)
