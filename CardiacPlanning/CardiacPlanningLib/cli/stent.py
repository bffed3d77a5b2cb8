"""``cardiac-planning stent``: reconstruct a stent / valve frame with every algorithm, score, rank."""

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
    "--region",
    "region_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Label map (with --label) or .mrk.json points spanning the device.",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option(
    "--kind", type=click.Choice(["coronary", "valve", "generic"]), default="generic", show_default=True
)
@click.option(
    "--label", type=int, default=None, help="Label value of the vessel / aortic root in the label map."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_io(inputs=("image", "region_path"), outputs=("out_dir",))
def stent(image: Path, region_path: Path, out_dir: Path, kind: str, label: int | None, quiet: bool) -> None:
    """Reconstruct the device in IMAGE within REGION with every algorithm; write per algorithm the
    envelope (.vtp, .stl; LPS mm), axis/radius JSON and score JSON, and ranking.json."""
    from ..imaging.volume import Volume
    from ..stent.pipeline import reconstruct_all, write_results
    from ..stent.region import load_region

    with user_errors():
        volume = Volume.read(image)
        region = load_region(volume, region_path, label)
        with progress_bar("stent", enabled=not quiet) as progress:
            results, metal = reconstruct_all(volume, region, kind, progress)
        path = write_results(results, metal, out_dir)
    for rec, sc in results:
        click.echo(f"{rec.name:22s} score {sc.total:5.1f}")
    click.echo(f"ranking written to {path}")
