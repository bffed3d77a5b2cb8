"""A review store for the demo, the browser tests and the benchmark: users of every role and a
phantom 4D case stored twice (identified, and a de-identified copy for research).

The accounts use fixed, published passwords: synthetic data only, never a real store.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..security.workstation import Workstation
from .cases import store_phantom_case

logger = logging.getLogger(__name__)

PASSPHRASE = "review store passphrase (synthetic data only)"
USERS = {  # user name: (role, password)
    "doc": ("clinician", "Blue-Valve-Passw0rd1"),
    "res": ("researcher", "Green-Valve-Passw0rd2"),
    "sys": ("system_admin", "Amber-Valve-Passw0rd3"),
    "sec": ("security_admin", "Violet-Valve-Passw0rd4"),
    "aud": ("audit_admin", "Silver-Valve-Passw0rd5"),
}
IDENTIFIED_CASE = "PHANTOM-4D"
DEID_CASE = "RESEARCH-4D"


def make_review_store(
    root: Path,
    phantom_meta: dict | None,
    passphrase: str = PASSPHRASE,
    key_iterations: int = 1000,
    hash_iterations: int = 2000,
    deidentified_copy: bool = True,
) -> dict:
    """Create a store at ``root`` with :data:`USERS` (passwords already changed, so they can log in
    straight away) and, when ``phantom_meta`` (from ``generate_case``) is given, the phantom case
    as :data:`IDENTIFIED_CASE` and (``deidentified_copy``) :data:`DEID_CASE`. Returns what was made."""
    ws = Workstation.init(
        Path(root), passphrase, key_iterations=key_iterations, hash_iterations=hash_iterations
    )
    try:
        sys_role, sys_pw = USERS["sys"]
        ws.users.add_user(None, "sys", sys_role, sys_pw)
        admin = ws.login("sys", sys_pw)
        for name, (role, password) in USERS.items():
            if name == "sys":
                continue
            ws.users.add_user(admin, name, role, "Temporary-Passw0rd-1")
            session = ws.login(name, "Temporary-Passw0rd-1")
            ws.users.change_password(session, "Temporary-Passw0rd-1", password)
        cases = []
        if phantom_meta is not None:
            doc = ws.login("doc", USERS["doc"][1])
            store = ws.store(doc)
            meta = store_phantom_case(store, IDENTIFIED_CASE, phantom_meta, deidentified=False)
            cases = [IDENTIFIED_CASE]
            if deidentified_copy:
                store_phantom_case(store, DEID_CASE, phantom_meta, deidentified=True)
                cases.append(DEID_CASE)
        else:
            meta = {}
    finally:
        ws.close()
    return {
        "store": str(root),
        "cases": cases,
        "users": {u: r for u, (r, _p) in USERS.items()},
        "phases": meta,
    }
