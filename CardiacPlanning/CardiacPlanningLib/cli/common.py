"""Helpers shared by the CLI subcommands: progress bars and one-line errors."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import CardiacPlanningError
from ..progress import Progress as LibProgress

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[LibProgress]:
    """A rich progress bar wrapped as the library's :class:`Progress` callback."""
    if not enabled:
        yield LibProgress()
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=1.0, message="")

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, message=message)

        yield LibProgress(update)
        bar.update(task, completed=1.0)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into a one-line ``Error: ...`` and exit status 2."""
    try:
        yield
    except CardiacPlanningError as exc:
        raise click.ClickException(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


# --procedure of the commands that measure or report on a case. The same values as
# measure.case.PROCEDURES, written out so that the CLI starts without importing the measure package.
procedure_option = click.option(
    "--procedure",
    type=click.Choice(["tavr", "pci", "teer", "ppvi"]),
    required=True,
    help="Planned procedure.",
)
