"""Demo stage ``review``: put the demo phantom's 4D study (CT of every phase with the propagated
segmentation) into the security stage's encrypted store as case ``DEMO-4D``, and say how to open
it in a browser with ``cardiac-planning serve``. Register after the security stage:
``("review", "web.demo_stage", "run")`` in ``cli/demo.py``."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress
from ..security.demo_stage import DEMO_PASSPHRASE, DEMO_PASSWORDS
from ..security.workstation import Workstation
from .cases import store_phases

logger = logging.getLogger(__name__)

DEMO_CASE = "DEMO-4D"
DEMO_PORT = 8080


def run(out_dir: Path, progress: Progress, context: dict) -> dict:
    """Store the 4D case; returns the store and the ``open_in_browser`` instructions."""
    phantom = context.get("phantom")
    if not phantom:
        raise CardiacInputError("the review stage needs the phantom stage's case (context['phantom'])")
    store_dir = Path(out_dir).parent / "security" / "store"
    if not (store_dir / "keyfile.json").exists():
        raise CardiacInputError(f"the review stage needs the security stage's store ({store_dir})")
    labels = (context.get("propagate") or {}).get("labels") or phantom["labels"]
    ws = Workstation.open(store_dir, DEMO_PASSPHRASE)
    try:
        store = ws.store(ws.login("demo_doc", DEMO_PASSWORDS["demo_doc"]))
        meta = store_phases(
            store,
            DEMO_CASE,
            (Volume.read(p) for p in phantom["ct"]),
            phantom["percent"],
            (Volume.read(p) for p in labels),
            deidentified=False,
            progress=progress,
        )
    finally:
        ws.close()
    command = (
        f"CARDIAC_PLANNING_PASSPHRASE={shlex.quote(DEMO_PASSPHRASE)} "
        f"cardiac-planning serve --store {shlex.quote(str(store_dir.resolve()))} --port {DEMO_PORT}"
    )
    how = (
        f"to review the demo case in a browser: {command} ; then open http://127.0.0.1:{DEMO_PORT}/ "
        f"and log in as demo_doc / {DEMO_PASSWORDS['demo_doc']} (case {DEMO_CASE})"
    )
    return {
        "store": str(store_dir),
        "case": DEMO_CASE,
        "phases": len(meta["phases"]),
        "end_diastole": meta["ed"],
        "end_systole": meta["es"],
        "open_in_browser": how,
    }
