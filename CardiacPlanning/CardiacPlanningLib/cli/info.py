"""``cardiac-planning info IMAGE``: read an image or DICOM folder and print its geometry."""

from __future__ import annotations

import json

import click

from ..imaging import Volume
from .common import user_errors


@click.command()
@click.argument("image", type=click.Path(path_type=str))
def info(image: str) -> None:
    """Print shape, spacing (mm), origin (LPS mm) and intensity range of IMAGE
    (NIfTI/NRRD/MHA file or a DICOM series folder)."""
    with user_errors():
        vol = Volume.read(image)
    summary = {
        "shape_zyx": list(vol.shape),
        "spacing_mm": list(vol.spacing),
        "origin_lps_mm": list(vol.origin),
        "direction": vol.direction.round(6).tolist(),
        "min": float(vol.array.min()),
        "max": float(vol.array.max()),
    }
    click.echo(json.dumps(summary, indent=2))
