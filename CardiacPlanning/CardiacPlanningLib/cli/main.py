"""Entry point of ``cardiac-planning``. Each subcommand lives in its own module of this package and is
registered in :data:`SUBCOMMANDS` (module name, attribute), so stages can be added independently."""

from __future__ import annotations

import importlib
import logging

import click

from .. import __version__

logger = logging.getLogger(__name__)

# (module in CardiacPlanningLib.cli, click command attribute). Later stages append here.
SUBCOMMANDS: list[tuple[str, str]] = [
    ("demo", "demo"),
    ("info", "info"),
    ("heart", "heart"),
    ("admin", "admin"),
    ("audit", "audit"),
    ("backup", "backup"),
    ("case", "case"),
    ("phantom", "phantom"),
    ("fourd", "import_phases"),
    ("fourd", "propagate"),
    ("measure", "measure"),
    ("report", "report"),
    ("coronary", "coronary"),
    ("stent", "stent"),
    ("serve", "serve"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cardiac-planning")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Cardiac CT surgical planning (TAVR, TEER, PPVI, PCI): the SlicerCardiacPlanning pipeline
    without the GUI. Points are LPS millimetres unless a markups file says otherwise."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


for _module, _attr in SUBCOMMANDS:
    cli.add_command(getattr(importlib.import_module(f"{__package__}.{_module}"), _attr))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cardiac-planning")


if __name__ == "__main__":
    main()
