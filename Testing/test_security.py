"""Users and roles: every role x action pair, separation of duties, password rules, lockout and idle
timeout on an injected clock, TOTP second factor, hand-edited user rows."""

from __future__ import annotations

import sqlite3

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from security_fixtures import FakeClock, make_ring

from CardiacPlanningLib.security.errors import (
    AccountLocked,
    AuthenticationError,
    PasswordPolicyError,
    PermissionDenied,
    RoleConflictError,
    SecurityError,
    SessionExpired,
)
from CardiacPlanningLib.security.passwords import PasswordPolicy, hash_password, verify_password
from CardiacPlanningLib.security.roles import Role
from CardiacPlanningLib.security.workstation import Workstation
from CardiacPlanningLib.store import ACTIONS

PW = "Initial-Passw0rd"
# Written out independently of roles.PERMISSIONS: the expected allowed actions of each role.
EXPECTED = {
    "clinician": "case.list case.read case.read_deid case.write export.identified export.deidentified "
    "print.report",
    "researcher": "case.list case.read_deid export.deidentified",
    "system_admin": "case.delete store.verify backup.create backup.verify backup.restore user.manage",
    "security_admin": "role.assign security.policy key.rotate store.rekey",
    "audit_admin": "audit.read audit.verify audit.export audit.purge",
}


def _ws(tmp_path, clock):
    return Workstation(tmp_path, make_ring(tmp_path), clock=clock, hash_iterations=1000)


@pytest.fixture(scope="module")
def matrix_ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    clock = FakeClock()
    ws = _ws(root, clock)
    ws.users.add_user(None, "sys", "system_admin", PW)
    sys_s = ws.login("sys", PW)
    assert sys_s.must_change_password is False  # the bootstrap account is created by the installer
    sessions = {}
    for role in Role:
        ws.users.add_user(sys_s, f"u_{role.value}", role.value, PW)
        s = ws.login(f"u_{role.value}", PW)
        ws.users.change_password(s, PW, "Changed-Passw0rd-1")
        sessions[role.value] = s
    return ws, sessions


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_role_action_pair(matrix_ws, role, action):
    ws, sessions = matrix_ws
    guard = ws.guard(sessions[role])
    before = ws.audit.count()
    if action in EXPECTED[role].split():
        guard.authorize(action, "target-x")
        assert guard.allows(action)
        assert ws.audit.count() == before
    else:
        with pytest.raises(PermissionDenied, match=action):
            guard.authorize(action, "target-x")
        assert not guard.allows(action)
        last = ws.audit.records(before)[-1]
        assert (last["operator"], last["action"], last["object"], last["outcome"]) == (
            f"u_{role}",
            action,
            "target-x",
            "denied",
        )


def test_store_operations_enforce_roles(matrix_ws):
    ws, s = matrix_ws
    clin = ws.store(s["clinician"])
    clin.put_bytes("ID-CASE", "ct", b"identified")
    clin.put_bytes("DEID-CASE", "ct", b"deidentified", deidentified=True)
    res = ws.store(s["researcher"])
    assert res.list_cases() == ["DEID-CASE"]
    assert res.get_bytes("DEID-CASE", "ct")[0] == b"deidentified"
    with pytest.raises(PermissionDenied, match="case.read"):
        res.get_bytes("ID-CASE", "ct")
    with pytest.raises(PermissionDenied, match="case.write"):
        res.put_bytes("DEID-CASE", "x", b"1")
    for admin in ("system_admin", "security_admin", "audit_admin"):
        with pytest.raises(PermissionDenied):
            ws.store(s[admin]).get_bytes("ID-CASE", "ct")
    assert sorted(clin.list_cases()) == ["DEID-CASE", "ID-CASE"]
    recs = ws.audit.records()
    assert any(
        r["action"] == "case.write" and r["object"] == "ID-CASE/ct" and r["outcome"] == "success"
        for r in recs
    )
    assert any(
        r["operator"] == "u_researcher" and r["action"] == "case.read" and r["outcome"] == "denied"
        for r in recs
    )


def test_role_separation(tmp_path):
    ws = _ws(tmp_path, FakeClock())
    with pytest.raises(RoleConflictError, match="two administrator roles"):
        ws.users.add_user(None, "both", "system_admin,audit_admin", PW)
    with pytest.raises(RoleConflictError, match="cannot also be clinician"):
        ws.users.add_user(None, "mixed", "security_admin,clinician", PW)
    with pytest.raises(RoleConflictError, match="unknown role"):
        ws.users.add_user(None, "x", "superuser", PW)
    ws.users.add_user(None, "sec", "security_admin", PW)
    with pytest.raises(PermissionDenied, match="log in first"):
        ws.users.add_user(None, "late", "clinician", PW)
    sec = ws.login("sec", PW)
    with pytest.raises(PermissionDenied, match="user.manage"):
        ws.users.add_user(sec, "doc", "clinician", PW)
    with pytest.raises(PermissionDenied, match="own roles"):
        ws.users.set_roles(sec, "sec", "audit_admin")


def test_role_change_by_security_admin_is_audited(tmp_path):
    ws = _ws(tmp_path, FakeClock())
    ws.users.add_user(None, "sys", "system_admin", PW)
    sys_s = ws.login("sys", PW)
    ws.users.add_user(sys_s, "sec", "security_admin", PW)
    ws.users.add_user(sys_s, "doc", "clinician", PW)
    sec = ws.login("sec", PW)
    ws.users.change_password(sec, PW, "Admin-Passw0rd-New")
    with pytest.raises(RoleConflictError):
        ws.users.set_roles(sec, "sys", "system_admin,audit_admin")
    ws.users.set_roles(sec, "doc", "researcher")
    assert ws.users.roles_of("doc") == {Role.RESEARCHER}
    last = ws.audit.records()[-1]
    assert (last["action"], last["object"], last["detail"]) == ("role.set", "doc", "clinician -> researcher")


def test_password_rules_history_and_expiry(tmp_path):
    clock = FakeClock()
    ws = _ws(tmp_path, clock)
    policy = PasswordPolicy()
    for bad, why in [
        ("Short-1a", "at least 12"),
        ("alllowercaseletters", "at least 3 of"),
        ("Alice-Passw0rd-x", "user name"),
    ]:
        with pytest.raises(PasswordPolicyError, match=why):
            policy.check(bad, "alice")
    policy.check("Good-Passw0rd!", "alice")
    h = hash_password("Good-Passw0rd!", 1000)
    assert h.startswith("pbkdf2-sm3$1000$") and verify_password("Good-Passw0rd!", h)
    assert not verify_password("Good-Passw0rd?", h)
    ws.users.add_user(None, "alice", "clinician", PW)
    s = ws.login("alice", PW)
    ws.users.change_password(s, PW, "Second-Passw0rd")
    with pytest.raises(PasswordPolicyError, match="repeats"):
        ws.users.change_password(s, "Second-Passw0rd", PW)
    for i in range(5):
        ws.users.change_password(
            s, ["Second-Passw0rd", *[f"Rotating-Pw0rd-{j}" for j in range(4)]][i], f"Rotating-Pw0rd-{i}"
        )
    ws.users.change_password(s, "Rotating-Pw0rd-4", PW)  # 6 changes ago: allowed again (history 5)
    clock.advance(days=89)
    assert ws.login("alice", PW).must_change_password is False
    clock.advance(days=2)
    expired = ws.login("alice", PW)
    assert expired.must_change_password is True
    with pytest.raises(PermissionDenied, match="must change"):
        ws.guard(expired).authorize("case.read", "c")


def test_lockout_after_failures_with_clock(tmp_path):
    clock = FakeClock()
    ws = _ws(tmp_path, clock)
    ws.users.add_user(None, "bob", "clinician", PW)
    for _ in range(4):
        with pytest.raises(AuthenticationError, match="wrong password"):
            ws.login("bob", "Wrong-Passw0rd-x")
    with pytest.raises(AccountLocked, match="locked for 30 minutes"):
        ws.login("bob", "Wrong-Passw0rd-x")
    with pytest.raises(AccountLocked, match="locked until"):
        ws.login("bob", PW)  # even the right password while locked
    clock.advance(minutes=29, seconds=59)
    with pytest.raises(AccountLocked):
        ws.login("bob", PW)
    clock.advance(seconds=2)
    assert ws.login("bob", PW).username == "bob"
    actions = [(r["action"], r["outcome"]) for r in ws.audit.records() if r["operator"] == "bob"]
    assert actions.count(("login", "failure")) == 7
    assert actions.count(("lockout", "success")) == 1
    assert actions[-1] == ("login", "success")
    with pytest.raises(AuthenticationError, match="unknown user"):
        ws.login("nobody", PW)


def test_idle_timeout_with_clock(tmp_path):
    clock = FakeClock()
    ws = _ws(tmp_path, clock)
    ws.users.add_user(None, "carol", "clinician", PW)
    s = ws.login("carol", PW)
    store = ws.store(s)
    store.put_bytes("C1", "a", b"x")
    clock.advance(minutes=14, seconds=59)
    assert store.get_bytes("C1", "a")[0] == b"x"  # activity resets the idle timer
    clock.advance(minutes=15)
    store.get_bytes("C1", "a")
    clock.advance(minutes=15, seconds=1)
    with pytest.raises(SessionExpired, match="15 minutes idle"):
        store.get_bytes("C1", "a")
    with pytest.raises(SessionExpired, match="ended"):
        store.put_bytes("C1", "b", b"y")
    assert ws.audit.records()[-1]["action"] == "session.timeout"


def test_totp_second_factor(tmp_path):
    clock = FakeClock()
    ws = _ws(tmp_path, clock)
    ws.users.add_user(None, "dan", "clinician", PW)
    secret = ws.users.enroll_totp(ws.login("dan", PW))
    assert len(secret) == 20
    gen = TOTP(secret, 6, SHA1(), 30)
    with pytest.raises(AuthenticationError):
        ws.login("dan", PW)  # code missing
    code = gen.generate(clock().timestamp()).decode()
    assert ws.login("dan", PW, code).username == "dan"
    with pytest.raises(AuthenticationError):
        ws.login("dan", PW, code)  # replay of the same code
    clock.advance(seconds=60)
    wrong = f"{(int(gen.generate(clock().timestamp())) + 1) % 1_000_000:06d}"
    with pytest.raises(AuthenticationError):
        ws.login("dan", PW, wrong)
    assert ws.login("dan", PW, gen.generate(clock().timestamp()).decode()).username == "dan"
    # RFC 6238 appendix B vector (SHA-1, T = 59 s): 94287082 (8 digits)
    rfc = TOTP(b"12345678901234567890", 8, SHA1(), 30)
    assert rfc.generate(59) == b"94287082"


def test_hand_edited_user_row_is_refused(tmp_path):
    ws = _ws(tmp_path, FakeClock())
    ws.users.add_user(None, "eve", "researcher", PW)
    db = sqlite3.connect(tmp_path / "users.db")
    db.execute("UPDATE users SET roles = 'clinician' WHERE username = 'eve'")
    db.commit()
    db.close()
    with pytest.raises(SecurityError, match="edited outside"):
        ws.login("eve", PW)
    assert ws.audit.records()[-1]["action"] == "users.integrity"
