"""``cardiac-planning admin ...``: create the store, manage users and roles, rotate keys, verify."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from ..security.errors import PermissionDenied
from ..security.roles import allowed
from ..security.workstation import Workstation
from ..store.crypto import self_test
from ..store.keys import DEFAULT_ITERATIONS
from .common import user_errors
from .secure import (
    ENV_NEW_PASSPHRASE,
    ENV_NEW_PASSWORD,
    ENV_PASSPHRASE,
    login,
    login_options,
    open_workstation,
    secret,
    store_options,
)

logger = logging.getLogger(__name__)


@click.group()
def admin() -> None:
    """Users, roles, keys and integrity of the encrypted case store (separation of duties:
    system / security / audit administrators)."""


@admin.command("init")
@store_options
@click.option("--sysadmin", required=True, help="Name of the first (system administrator) account.")
@click.option(
    "--kdf-iterations",
    type=click.IntRange(min=10_000),
    default=DEFAULT_ITERATIONS,
    show_default=True,
    help="PBKDF2-HMAC-SM3 iterations protecting the key file (lower only for tests).",
)
def init(store_dir: Path, key_file: Path | None, sysadmin: str, kdf_iterations: int) -> None:
    """Create the key file (passphrase from $CARDIAC_PLANNING_PASSPHRASE or prompt), the audit log,
    the user database and the first system administrator ($CARDIAC_PLANNING_NEW_PASSWORD or prompt)."""
    with user_errors():
        passphrase = secret(ENV_PASSPHRASE, "New key-file passphrase (>= 12 characters)", confirm=True)
        password = secret(ENV_NEW_PASSWORD, f"Password for {sysadmin}", confirm=True)
        ws = Workstation.init(store_dir, passphrase, key_file, key_iterations=kdf_iterations)
        ws.users.add_user(None, sysadmin, "system_admin", password)
        ws.close()
    click.echo(f"Initialised store {store_dir} with system administrator {sysadmin}")


@admin.command("self-test")
def self_test_cmd() -> None:
    """Check SM4, SM3 and SM4-GCM against the published test vectors."""
    with user_errors():
        self_test(force=True)
    click.echo("crypto self-test passed (SM4 GB/T 32907, SM3 GB/T 32905, SM4-GCM RFC 8998)")


@admin.command("user-add")
@store_options
@login_options
@click.argument("name")
@click.option(
    "--role", required=True, help="clinician, researcher, system_admin, security_admin, audit_admin."
)
def user_add(store_dir, key_file, username, totp_code, name: str, role: str) -> None:
    """Create account NAME (system administrator). Its first password comes from
    $CARDIAC_PLANNING_NEW_PASSWORD or a prompt and must be changed at first login."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        session = login(ws, username, totp_code)
        ws.users.add_user(session, name, role, secret(ENV_NEW_PASSWORD, f"Password for {name}", confirm=True))
        ws.close()
    click.echo(f"Added {name} ({role})")


@admin.command("role-set")
@store_options
@login_options
@click.argument("name")
@click.argument("role")
def role_set(store_dir, key_file, username, totp_code, name: str, role: str) -> None:
    """Give account NAME the role ROLE (security administrator)."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        ws.users.set_roles(login(ws, username, totp_code), name, role)
        ws.close()
    click.echo(f"{name} is now {role}")


@admin.command("user-disable")
@store_options
@login_options
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable instead of disable.")
def user_disable(store_dir, key_file, username, totp_code, name: str, enable: bool) -> None:
    """Disable (or --enable) account NAME (system administrator)."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        ws.users.set_disabled(login(ws, username, totp_code), name, not enable)
        ws.close()
    click.echo(f"{name} {'enabled' if enable else 'disabled'}")


@admin.command("unlock")
@store_options
@login_options
@click.argument("name")
def unlock(store_dir, key_file, username, totp_code, name: str) -> None:
    """Unlock account NAME after repeated failed logins (system administrator)."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        ws.users.unlock(login(ws, username, totp_code), name)
        ws.close()
    click.echo(f"{name} unlocked")


@admin.command("passwd")
@store_options
@login_options
def passwd(store_dir, key_file, username, totp_code) -> None:
    """Change your own password (new one from $CARDIAC_PLANNING_NEW_PASSWORD or a prompt)."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        old = secret("CARDIAC_PLANNING_PASSWORD", f"Current password for {username}")
        session = ws.login(username, old, totp_code)
        ws.users.change_password(session, old, secret(ENV_NEW_PASSWORD, "New password", confirm=True))
        ws.close()
    click.echo("Password changed")


@admin.command("users")
@store_options
@login_options
def users(store_dir, key_file, username, totp_code) -> None:
    """List accounts and their roles (system or security administrator)."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        session = login(ws, username, totp_code)
        if not (allowed(session.roles, "user.manage") or allowed(session.roles, "role.assign")):
            ws.audit.append(username, session.role_names, "user.list", "users", "denied")
            raise PermissionDenied(f"user {username} may not list accounts")
        ws.audit.append(username, session.role_names, "user.list", "users", "success")
        for name in ws.users.usernames():
            click.echo(f"{name}\t{','.join(sorted(r.value for r in ws.users.roles_of(name)))}")
        ws.close()


@admin.command("rotate-key")
@store_options
@login_options
def rotate_key(store_dir, key_file, username, totp_code) -> None:
    """Rotate the master key, re-wrap every file key, retire the old master (security administrator).
    Keep a backup's own key file to read backups made before the rotation."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        session = login(ws, username, totp_code)
        guard = ws.guard(session)
        guard.authorize("key.rotate", "keyfile")
        old = ws.ring.current_master_id
        new = ws.ring.rotate_master()
        count = ws.store(session).rekey()
        ws.ring.retire_master(old)
        guard.record("key.rotate", "keyfile", "success", f"{old} -> {new}, {count} files re-wrapped")
        ws.close()
    click.echo(f"Master key rotated {old} -> {new}; {count} files re-wrapped")


@admin.command("verify-store")
@store_options
@login_options
def verify_store(store_dir, key_file, username, totp_code) -> None:
    """Check every stored file against its case manifest (system administrator); exit 1 on problems."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        problems = ws.store(login(ws, username, totp_code)).verify()
        ws.close()
    for p in problems:
        click.echo(f"PROBLEM {p}")
    if problems:
        raise SystemExit(1)
    click.echo("store OK")


@admin.command("recover")
@store_options
@login_options
def recover(store_dir, key_file, username, totp_code) -> None:
    """After a crash: remove temp files and unreferenced object versions (system administrator)."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        session = login(ws, username, totp_code)
        guard = ws.guard(session)
        guard.authorize("store.verify", "store")
        removed = ws.store(session).recover()
        guard.record("store.verify", "recover", "success", f"{len(removed)} files removed")
        ws.close()
    click.echo(f"removed {len(removed)} leftover files")


@admin.command("change-passphrase")
@store_options
@login_options
def change_passphrase(store_dir, key_file, username, totp_code) -> None:
    """Re-protect the key file with a new passphrase from $CARDIAC_PLANNING_NEW_PASSPHRASE or a prompt
    (security administrator). Keys themselves do not change; existing backups keep their own copy."""
    with user_errors():
        ws = open_workstation(store_dir, key_file)
        guard = ws.guard(login(ws, username, totp_code))
        guard.authorize("key.rotate", "keyfile passphrase")
        ws.ring.change_passphrase(secret(ENV_NEW_PASSPHRASE, "New key-file passphrase", confirm=True))
        guard.record("key.rotate", "keyfile passphrase", "success")
        ws.close()
    click.echo("key-file passphrase changed")


@admin.command("totp-enroll")
@store_options
@login_options
def totp_enroll(store_dir, key_file, username, totp_code) -> None:
    """Turn on the second factor for your own account; prints the secret (base32) and an otpauth://
    URI to load into an authenticator app. Shown once: from now on log in with --totp CODE."""
    import base64

    with user_errors():
        ws = open_workstation(store_dir, key_file)
        secret_bytes = ws.users.enroll_totp(login(ws, username, totp_code))
        ws.close()
    b32 = base64.b32encode(secret_bytes).decode().rstrip("=")
    click.echo(f"secret (base32): {b32}")
    click.echo(
        f"otpauth://totp/CardiacPlanning:{username}?secret={b32}&issuer=CardiacPlanning&digits=6&period=30"
    )
