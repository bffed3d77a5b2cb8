"""``cardiac-planning heart``: segment the heart of a contrast CT into the label table's structures."""

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
    "--out", "out_path", type=click.Path(path_type=Path), required=True, help="Label map (.nii.gz/.nrrd)."
)
@click.option("--scope", type=click.Choice(["whole", "left", "right"]), default="whole", show_default=True)
@click.option(
    "--preset", type=click.Choice(["general", "coronary", "valve"]), default="general", show_default=True
)
@click.option("--engine", default="classical", show_default=True, help="classical or an installed model id.")
@click.option(
    "--seeds",
    type=click.Path(path_type=Path),
    default=None,
    help="Seeds to complete: a label map or a .mrk.json of points labelled with structure names.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_io(inputs=("image", "seeds"), outputs=("out_path",))
def heart(
    image: Path, out_path: Path, scope: str, preset: str, engine: str, seeds: Path | None, quiet: bool
) -> None:
    """Segment the heart in IMAGE (contrast CT in HU) and write the label map to --out."""
    from ..heart import segment
    from ..imaging.volume import Volume
    from ..labels import by_value

    with user_errors():
        volume = Volume.read(image)
        with progress_bar("heart", enabled=not quiet) as progress:
            seg = segment(volume, scope, preset, engine, seeds, progress, name=str(image))
        seg.write(out_path)
    import numpy as np

    voxel_ml = float(np.prod(seg.spacing)) / 1000.0
    values, counts = np.unique(seg.array, return_counts=True)
    click.echo(f"wrote {out_path}")
    for v, c in zip(values, counts):
        if v:
            click.echo(f"  {int(v):2d} {by_value(int(v)).name}: {c * voxel_ml:.1f} ml")
