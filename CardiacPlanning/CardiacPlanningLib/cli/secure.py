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
from .common import user_errors

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


def audited(action: str, target_param: str | None = None) -> Callable:
    """Decorator for the file-in/file-out commands: adds ``--store``, ``--key-file``, ``--user`` and
    ``--totp``. Without ``--store`` the command runs as before (research on de-identified files,
    tests). With ``--store`` the user logs in, ``action`` (an action of the permission matrix) is
    checked, and the outcome is written to that store's audit log, naming the value of the command's
    ``target_param`` argument as the object.

    Usage::

        @click.command()
        @click.argument("image")
        @audited("export.deidentified", target_param="image")
        def my_command(image): ...
    """

    def decorate(func: Callable) -> Callable:
        @click.option(
            "--store",
            "audit_store",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Check this store's permissions and record the run in its audit log.",
        )
        @click.option(
            "--key-file", "audit_key_file", type=click.Path(dir_okay=False, path_type=Path), default=None
        )
        @click.option("--user", "audit_user", default=None, help="Your user name (with --store).")
        @click.option("--totp", "audit_totp", default=None, help="Second-factor code (with --store).")
        @functools.wraps(func)
        def wrapper(*args, audit_store, audit_key_file, audit_user, audit_totp, **kwargs):
            if audit_store is None:
                return func(*args, **kwargs)
            if not audit_user:
                raise click.UsageError("--user is required with --store")
            with user_errors():
                ws = open_workstation(audit_store, audit_key_file)
            try:
                target = str(kwargs.get(target_param, "")) if target_param else func.__name__
                with user_errors():
                    guard = ws.guard(login(ws, audit_user, audit_totp))
                return _run_recorded(func, guard, action, target, func.__name__, args, kwargs)
            finally:
                ws.close()

        return wrapper

    return decorate


FILE_MODE_ACTION = "case.read_deid"  # files outside the store: clinicians and researchers, not admins


def store_io(inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()) -> Callable:
    """Decorator for the clinical commands: adds ``--store``, ``--key-file``, ``--user``, ``--totp``
    and ``--case``.

    * no ``--store``: the command runs on files as before (research on de-identified files, tests);
    * ``--store`` without ``--case``: still on files, but the user logs in, the run must be allowed
      (``case.read_deid``: clinicians and researchers, never administrators) and its outcome is
      written to the store's audit log, naming the first input;
    * ``--store`` with ``--case``: the parameters named in ``inputs`` and ``outputs`` name objects (or
      folders of objects) of that case instead of files. Inputs are decrypted into a RAM working
      folder (:class:`~CardiacPlanningLib.store.staging.Stage`), the command runs there, every file it
      writes is saved encrypted into the case, and the folder is wiped. Each object read and written
      is permission-checked and audited, and the run itself is audited as ``case.write``.
    """

    def decorate(func: Callable) -> Callable:
        @click.option(
            "--store",
            "io_store",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Encrypted case store: log in, check permissions, audit the run (see --case).",
        )
        @click.option(
            "--key-file", "io_key_file", type=click.Path(dir_okay=False, path_type=Path), default=None
        )
        @click.option("--user", "io_user", default=None, help="Your user name (with --store).")
        @click.option("--totp", "io_totp", default=None, help="Second-factor code (with --store).")
        @click.option(
            "--case",
            "io_case",
            default=None,
            help="With --store: input/output arguments name objects of this case (decrypted only in RAM).",
        )
        @functools.wraps(func)
        def wrapper(*args, io_store, io_key_file, io_user, io_totp, io_case, **kwargs):
            if io_store is None:
                if io_case is not None:
                    raise click.UsageError("--case needs --store")
                return func(*args, **kwargs)
            if not io_user:
                raise click.UsageError("--user is required with --store")
            with user_errors():
                ws = open_workstation(io_store, io_key_file)
            try:
                with user_errors():
                    session = login(ws, io_user, io_totp)
                guard = ws.guard(session)
                if io_case is None:
                    return _run_on_files(func, guard, inputs, args, kwargs)
                return _run_in_store(func, ws, session, guard, io_case, inputs, outputs, args, kwargs)
            finally:
                ws.close()

        return wrapper

    return decorate


def _run_recorded(func: Callable, guard, action: str, target: str, label: str, args, kwargs):
    """Check ``action`` on ``target``, run the command and audit its outcome (``label`` on success,
    ``label: error`` on failure)."""
    with user_errors():
        guard.authorize(action, target)
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        guard.record(action, target, "failure", f"{label}: {type(exc).__name__}: {exc}"[:500])
        raise
    guard.record(action, target, "success", label)
    return result


def _run_on_files(func: Callable, guard, inputs: tuple[str, ...], args, kwargs):
    target = next((str(kwargs[p]) for p in inputs if kwargs.get(p) is not None), func.__name__)
    return _run_recorded(func, guard, FILE_MODE_ACTION, target, f"{func.__name__} on files", args, kwargs)


def _run_in_store(func: Callable, ws, session, guard, case_id: str, inputs, outputs, args, kwargs):
    from ..store.staging import Stage

    store = ws.store(session)
    with user_errors():
        guard.authorize("case.write", case_id)
        with Stage(store, case_id) as stage:
            for p in inputs:
                if kwargs.get(p) is not None:
                    kwargs[p] = stage.fetch(str(kwargs[p]))
            for p in outputs:
                if kwargs.get(p) is not None:
                    kwargs[p] = stage.path(str(kwargs[p]))
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                guard.record(
                    "case.write", case_id, "failure", f"{func.__name__}: {type(exc).__name__}: {exc}"[:500]
                )
                raise
            saved = stage.collect()
    guard.record("case.write", case_id, "success", f"{func.__name__}: saved {', '.join(saved)}"[:2000])
    return result
