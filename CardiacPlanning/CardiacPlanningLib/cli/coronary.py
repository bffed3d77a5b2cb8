"""``cardiac-planning coronary``: reconstruct the coronary trees of a contrast CT from marked ostia."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .common import progress_bar, user_errors
from .secure import store_io

logger = logging.getLogger(__name__)


@click.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option(
    "--ostia",
    type=click.Path(path_type=Path),
    required=True,
    help=".mrk.json with points labelled 'LCA ostium' and/or 'RCA ostium' (LPS or RAS).",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option(
    "--points",
    type=click.Path(path_type=Path),
    default=None,
    help=".mrk.json of path points that extend the tree to branches growth missed.",
)
@click.option("--no-cpr", is_flag=True, help="Skip the straightened CPR images.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_io(inputs=("image", "ostia", "points"), outputs=("out_dir",))
def coronary(image: Path, ostia: Path, out_dir: Path, points: Path | None, no_cpr: bool, quiet: bool) -> None:
    """Segment the coronary trees of IMAGE (contrast CT in HU) from the ostia; write the label map
    (8 left, 9 right), named centerlines (JSON and .mrk.json curves), stenoses and CPR images to --out."""
    from ..coronary import reconstruct_coronaries, write_result
    from ..imaging.volume import Volume

    with user_errors():
        volume = Volume.read(image)
        with progress_bar("coronary", enabled=not quiet) as progress:
            result = reconstruct_coronaries(volume, ostia, points, progress=progress)
        write_result(result, volume, out_dir, cpr=not no_cpr)
    click.echo(f"wrote {out_dir} ({result.timings['total_s']:.1f} s)")
    for warning in result.warnings:
        click.echo(f"  warning: {warning}")
    for b in result.branches:
        length = float(sum(((b.points[1:] - b.points[:-1]) ** 2).sum(axis=1) ** 0.5))
        click.echo(f"  {b.name:6s} {length:6.1f} mm  r {b.radii[0]:.2f} -> {b.radii[-1]:.2f} mm")
    for les in result.lesions:
        click.echo(f"  stenosis {les.branch}: {les.percent:.0f} % over {les.length_mm:.1f} mm")
