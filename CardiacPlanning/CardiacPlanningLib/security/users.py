"""User accounts in SQLite: roles, password hashes and history, lockout, optional TOTP second factor.

Every change and every login outcome is written to the audit log. Each user row carries an
HMAC-SM3 over (name, roles, password hash, disabled, TOTP secret), so editing the database by hand
(e.g. granting a role) makes the account unusable instead of silently effective.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from ..store.atomic import open_durable_db
from ..store.crypto import constant_time_equal, hmac_sm3, random_bytes, sm4_gcm_decrypt, sm4_gcm_encrypt
from ..store.keys import KeyRing
from .audit import AuditLog
from .errors import AccountLocked, AuthenticationError, PasswordPolicyError, PermissionDenied, SecurityError
from .passwords import DEFAULT_HASH_ITERATIONS, PasswordPolicy, hash_password, verify_password
from .roles import Role, allowed, check_role_set, parse_role
from .sessions import Session

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, roles TEXT NOT NULL, pw_hash TEXT NOT NULL, pw_changed TEXT NOT NULL,
    must_change INTEGER NOT NULL, failures INTEGER NOT NULL DEFAULT 0, locked_until TEXT,
    disabled INTEGER NOT NULL DEFAULT 0, totp TEXT NOT NULL DEFAULT '',
    totp_last_step INTEGER NOT NULL DEFAULT -1,
    history TEXT NOT NULL DEFAULT '[]', mac TEXT NOT NULL);
"""
TOTP_STEP = 30  # seconds (RFC 6238 default), 6 digits, HMAC-SHA1 for authenticator-app compatibility


class UserDB:
    """Accounts, logins and sessions. ``clock`` returns aware datetimes (tests inject a fake one)."""

    def __init__(
        self,
        path: Path,
        ring: KeyRing,
        audit: AuditLog,
        clock: Callable[[], datetime] | None = None,
        policy: PasswordPolicy | None = None,
        hash_iterations: int = DEFAULT_HASH_ITERATIONS,
    ) -> None:
        self.path = Path(path)
        self.audit = audit
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.policy = policy or PasswordPolicy()
        self.hash_iterations = hash_iterations
        self._dummy_hash: str | None = None
        self._mac_key = hmac_sm3(ring.secret("audit_mac"), b"users-db")
        self._totp_key = hmac_sm3(ring.secret("index"), b"totp-secrets")[:16]
        self._db = open_durable_db(self.path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- rows -------------------------------------------------------------------------------------
    def _row_mac(self, username: str, roles: str, pw_hash: str, disabled: int, totp: str) -> str:
        return hmac_sm3(self._mac_key, json.dumps([username, roles, pw_hash, disabled, totp]).encode()).hex()

    def _get(self, username: str) -> dict | None:
        cur = self._db.execute("SELECT * FROM users WHERE username = ?", (username,))
        row = cur.fetchone()
        if row is None:
            return None
        user = dict(zip([d[0] for d in cur.description], row))
        expect = self._row_mac(
            user["username"], user["roles"], user["pw_hash"], user["disabled"], user["totp"]
        )
        if not constant_time_equal(bytes.fromhex(expect), bytes.fromhex(user["mac"])):
            self.audit.append(
                username, "?", "users.integrity", username, "failure", "user row edited outside the software"
            )
            raise SecurityError(
                f"account {username!r} was edited outside the software; "
                "a security administrator must reset it"
            )
        return user

    def _put(self, user: dict) -> None:
        user["mac"] = self._row_mac(
            user["username"], user["roles"], user["pw_hash"], user["disabled"], user["totp"]
        )
        cols = ", ".join(user)
        self._db.execute(
            f"INSERT OR REPLACE INTO users ({cols}) VALUES ({', '.join('?' * len(user))})",
            list(user.values()),
        )

    def roles_of(self, username: str) -> frozenset[Role]:
        user = self._get(username)
        if user is None:
            raise SecurityError(f"no user {username!r}")
        return frozenset(Role(r) for r in user["roles"].split(","))

    def usernames(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT username FROM users ORDER BY username")]

    # -- account management -----------------------------------------------------------------------
    def _require(self, actor: Session | None, action: str, target: str) -> tuple[str, str]:
        if actor is None:  # bootstrap only: allowed while there is no account at all
            if self.usernames():
                raise PermissionDenied(f"{action} on {target}: log in first")
            return "installer", "installer"
        actor.touch()
        if actor.must_change_password or not allowed(actor.roles, action):
            self.audit.append(actor.username, actor.role_names, action, target, "denied")
            raise PermissionDenied(f"user {actor.username} ({actor.role_names}) may not {action} ({target})")
        return actor.username, actor.role_names

    def add_user(self, actor: Session | None, username: str, role: str, password: str) -> None:
        """Create an account with one role; the user must change the password at first login.
        ``actor`` is a system administrator's session (``None`` only to bootstrap an empty database)."""
        who, as_role = self._require(actor, "user.manage", username)
        roles = {parse_role(r) for r in role.split(",")}
        check_role_set(roles)
        if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
            raise SecurityError(f"invalid user name {username!r} (letters, digits, . _ - only)")
        if self._get(username) is not None:
            raise SecurityError(f"user {username!r} already exists")
        self.policy.check(password, username)
        h = hash_password(password, self.hash_iterations)
        self._put(
            {
                "username": username,
                "roles": ",".join(sorted(r.value for r in roles)),
                "pw_hash": h,
                "pw_changed": self.clock().isoformat(),
                "must_change": int(actor is not None),
                "failures": 0,
                "locked_until": None,
                "disabled": 0,
                "totp": "",
                "totp_last_step": -1,
                "history": json.dumps([h]),
            }
        )
        self.audit.append(who, as_role, "user.add", username, "success", f"roles={role}")

    def set_roles(self, actor: Session, username: str, role: str) -> None:
        """Replace a user's roles (security administrator; never one's own account)."""
        who, as_role = self._require(actor, "role.assign", username)
        if username == actor.username:
            self.audit.append(who, as_role, "role.set", username, "denied", "own account")
            raise PermissionDenied("nobody may change their own roles")
        user = self._get(username)
        if user is None:
            raise SecurityError(f"no user {username!r}")
        roles = {parse_role(r) for r in role.split(",")}
        try:
            check_role_set(roles)
        except SecurityError as exc:
            self.audit.append(who, as_role, "role.set", username, "denied", str(exc))
            raise
        old = user["roles"]
        user["roles"] = ",".join(sorted(r.value for r in roles))
        self._put(user)
        self.audit.append(who, as_role, "role.set", username, "success", f"{old} -> {user['roles']}")

    def set_disabled(self, actor: Session, username: str, disabled: bool) -> None:
        who, as_role = self._require(actor, "user.manage", username)
        user = self._get(username)
        if user is None:
            raise SecurityError(f"no user {username!r}")
        user["disabled"] = int(disabled)
        self._put(user)
        self.audit.append(who, as_role, "user.disable" if disabled else "user.enable", username, "success")

    def unlock(self, actor: Session, username: str) -> None:
        who, as_role = self._require(actor, "user.manage", username)
        user = self._get(username)
        if user is None:
            raise SecurityError(f"no user {username!r}")
        user["failures"], user["locked_until"] = 0, None
        self._put(user)
        self.audit.append(who, as_role, "user.unlock", username, "success")

    def reset_password(self, actor: Session, username: str, new_password: str) -> None:
        """Administrator reset: the user must change it at the next login."""
        who, as_role = self._require(actor, "user.manage", username)
        self._set_password(username, new_password, must_change=True)
        self.audit.append(who, as_role, "password.reset", username, "success")

    def change_password(self, session: Session, old: str, new: str) -> None:
        """The logged-in user changes their own password (old one required)."""
        session.touch()
        user = self._get(session.username)
        if user is None or not verify_password(old, user["pw_hash"]):
            self.audit.append(
                session.username, session.role_names, "password.change", session.username, "failure"
            )
            raise AuthenticationError("current password is wrong")
        try:
            self._set_password(session.username, new, must_change=False)
        except PasswordPolicyError as exc:
            self.audit.append(
                session.username, session.role_names, "password.change", session.username, "failure", str(exc)
            )
            raise
        session.must_change_password = False
        self.audit.append(
            session.username, session.role_names, "password.change", session.username, "success"
        )

    def _set_password(self, username: str, new: str, must_change: bool) -> None:
        user = self._get(username)
        if user is None:
            raise SecurityError(f"no user {username!r}")
        self.policy.check(new, username)
        history = json.loads(user["history"])
        if any(verify_password(new, h) for h in history[-self.policy.history :]):
            raise PasswordPolicyError(f"password rejected: it repeats one of the last {self.policy.history}")
        h = hash_password(new, self.hash_iterations)
        user.update(pw_hash=h, pw_changed=self.clock().isoformat(), must_change=int(must_change))
        user["history"] = json.dumps((history + [h])[-self.policy.history :])
        self._put(user)

    # -- second factor ----------------------------------------------------------------------------
    def enroll_totp(self, session: Session) -> bytes:
        """Enable TOTP (RFC 6238, 6 digits, 30 s) for the logged-in user; returns the 20-byte secret
        to load into an authenticator (shown once, stored only SM4-GCM encrypted)."""
        session.touch()
        user = self._get(session.username)
        secret = random_bytes(20)
        user["totp"] = sm4_gcm_encrypt(self._totp_key, secret, session.username.encode()).hex()
        self._put(user)
        self.audit.append(session.username, session.role_names, "totp.enroll", session.username, "success")
        return secret

    def _check_totp(self, user: dict, code: str | None) -> bool:
        secret = sm4_gcm_decrypt(self._totp_key, bytes.fromhex(user["totp"]), user["username"].encode())
        if not code:
            return False
        now = self.clock().timestamp()
        totp = TOTP(secret, 6, SHA1(), TOTP_STEP)
        for drift in (0, -1, 1):  # one step of clock drift either way
            step = int(now // TOTP_STEP) + drift
            if step <= user["totp_last_step"]:
                continue  # a code is accepted once (replay protection)
            try:
                totp.verify(code.encode(), step * TOTP_STEP)
            except InvalidToken:
                continue
            user["totp_last_step"] = step
            return True
        return False

    # -- login ------------------------------------------------------------------------------------
    def login(self, username: str, password: str, totp_code: str | None = None) -> Session:
        """Check password (and TOTP code when enrolled), apply lockout and expiry, open a session."""
        now = self.clock()
        user = self._get(username)
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = hash_password("unknown-user", self.hash_iterations)
            verify_password(password, self._dummy_hash)  # same work as for a real account
            self.audit.append(username, "?", "login", username, "failure", "unknown user")
            raise AuthenticationError("unknown user or wrong password")
        role = user["roles"]
        if user["disabled"]:
            self.audit.append(username, role, "login", username, "failure", "account disabled")
            raise AuthenticationError(f"account {username!r} is disabled")
        if user["locked_until"] and now < datetime.fromisoformat(user["locked_until"]):
            self.audit.append(username, role, "login", username, "failure", "account locked")
            raise AccountLocked(
                f"account {username!r} is locked until {user['locked_until'][:19]} "
                "after repeated failed logins"
            )
        ok = verify_password(password, user["pw_hash"])
        if ok and user["totp"]:
            ok = self._check_totp(user, totp_code)
        if not ok:
            user["failures"] += 1
            locked = user["failures"] >= self.policy.max_failures
            if locked:
                user["locked_until"] = (now + timedelta(minutes=self.policy.lockout_minutes)).isoformat()
                user["failures"] = 0
            self._put(user)
            self.audit.append(username, role, "login", username, "failure", "wrong password or code")
            if locked:
                self.audit.append(
                    username, role, "lockout", username, "success", f"{self.policy.lockout_minutes} min"
                )
                raise AccountLocked(
                    f"account {username!r} is locked for {self.policy.lockout_minutes} minutes "
                    f"after {self.policy.max_failures} failed logins"
                )
            raise AuthenticationError("unknown user or wrong password")
        expired = now - datetime.fromisoformat(user["pw_changed"]) > timedelta(days=self.policy.max_age_days)
        user["failures"], user["locked_until"] = 0, None
        self._put(user)
        session = Session(
            username,
            frozenset(Role(r) for r in role.split(",")),
            self.clock,
            timedelta(minutes=self.policy.idle_timeout_minutes),
            must_change_password=bool(user["must_change"]) or expired,
            on_timeout=lambda s: self.audit.append(
                s.username, s.role_names, "session.timeout", s.username, "success"
            ),
        )
        detail = "password change required" if session.must_change_password else ""
        self.audit.append(username, role, "login", username, "success", detail)
        return session

    def logout(self, session: Session) -> None:
        if session.active:
            session.end()
            self.audit.append(session.username, session.role_names, "logout", session.username, "success")
