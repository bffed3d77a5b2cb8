"""``cardiac-planning demo``: run every stage that exists on the built-in default case.

Each stage is a function ``stage(out_dir, progress) -> dict`` registered in :data:`STAGES`; later
issues add theirs. The demo writes ``summary.json`` listing every stage's outputs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import click

from .. import __version__
from ..progress import Progress
from .common import progress_bar, user_errors

logger = logging.getLogger(__name__)

StageFn = Callable[[Path, Progress, dict], dict]
STAGES: list[tuple[str, str, str]] = [
    # (stage name, module path relative to CardiacPlanningLib, function name)
    ("phantom", "phantom.demo_stage", "run"),
    ("propagate", "motion.demo_stage", "run"),
    ("coronary", "coronary.demo_stage", "run"),
    ("stent", "stent.demo_stage", "run"),  # after propagate: its displacement fields and label maps
    ("heart", "heart.demo_stage", "run"),
    ("report", "report.demo_stage", "run"),  # after the analysis stages: it reports on their outputs
    ("security", "security.demo_stage", "run"),  # last: stores the case and report encrypted, backs up
    ("review", "web.demo_stage", "run"),  # the 4D case into that store; prints how to open it in a browser
]


def _load_stage(module: str, function: str) -> StageFn | None:
    import importlib

    try:
        mod = importlib.import_module(f"CardiacPlanningLib.{module}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("CardiacPlanningLib"):
            return None  # stage not built yet
        raise
    return getattr(mod, function)


@click.command()
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), default=Path("demo-output"), show_default=True
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out_dir: Path, quiet: bool) -> None:
    """Run every available stage on the built-in default case (a synthetic 4D cardiac CT with known
    ground truth) and write the outputs to OUT."""
    out_dir.mkdir(parents=True, exist_ok=True)
    context: dict = {}
    summary: dict = {"version": __version__, "stages": {}}
    with user_errors():
        for name, module, function in STAGES:
            fn = _load_stage(module, function)
            if fn is None:
                summary["stages"][name] = {"status": "not built yet"}
                continue
            t0 = time.perf_counter()
            with progress_bar(name, enabled=not quiet) as progress:
                result = fn(out_dir / name, progress, context) or {}
            summary["stages"][name] = {
                "status": "done",
                "seconds": round(time.perf_counter() - t0, 2),
                **result,
            }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    click.echo(f"demo outputs written to {out_dir.resolve()}")
    for name, info in summary["stages"].items():
        click.echo(f"  {name}: {info['status']}")
    for info in summary["stages"].values():
        if info.get("open_in_browser"):
            click.echo(info["open_in_browser"])
