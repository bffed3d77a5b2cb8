"""``cardiac-planning phantom``: generate a synthetic 4D cardiac CT case with exact ground truth."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .common import progress_bar, user_errors

logger = logging.getLogger(__name__)


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--phases", default=10, show_default=True, help="Number of phases over the R-R interval.")
@click.option("--spacing", default=1.25, show_default=True, help="Isotropic voxel spacing (mm).")
@click.option(
    "--size", default="160,160,112", show_default=True, help="Voxels along x,y,z (e.g. 512,512,300)."
)
@click.option("--seed", default=0, show_default=True, help="Random seed of the anatomy and noise.")
@click.option("--stent", type=click.Choice(["none", "coronary", "valve"]), default="none", show_default=True)
@click.option("--noise", "noise_hu", default=20.0, show_default=True, help="Noise standard deviation (HU).")
@click.option("--ef", default=60.0, show_default=True, help="LV ejection fraction (%, 5 to about 65).")
@click.option("--calcified", is_flag=True, help="Add calcified coronary plaques.")
@click.option("--supersample", default=2, show_default=True, help="Sub-voxels per axis (partial volume).")
@click.option("--no-dicom", is_flag=True, help="Write NIfTI only (no DICOM series).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def phantom(
    out_dir: Path,
    phases: int,
    spacing: float,
    size: str,
    seed: int,
    stent: str,
    noise_hu: float,
    ef: float,
    calcified: bool,
    supersample: int,
    no_dicom: bool,
    quiet: bool,
) -> None:
    """Generate a contrast-enhanced ECG-gated cardiac CT over PHASES phases (0-90 % R-R) with its
    label maps, coronary centrelines, ostia, device geometry and motion, written to OUT."""
    from ..errors import CardiacInputError
    from ..phantom.generate import PhantomParameters, generate_case

    with user_errors():
        try:
            dims = tuple(int(v) for v in size.split(","))
        except ValueError as exc:
            raise CardiacInputError(f"--size must be three integers like 160,160,112, got {size!r}") from exc
        params = PhantomParameters(
            seed=seed,
            phases=phases,
            spacing_mm=spacing,
            size=dims,  # type: ignore[arg-type]
            ef=ef / 100.0 if ef > 1 else ef,
            noise_hu=noise_hu,
            stent=stent,
            supersample=supersample,
            calcified=calcified,
            dicom=not no_dicom,
        )
        with progress_bar("phantom", enabled=not quiet) as progress:
            meta = generate_case(params, out_dir, progress)
    efm = meta["ejectionFraction"]["measured"]
    click.echo(f"phantom case written to {out_dir.resolve()} ({phases} phases, EF {100 * efm:.1f} %)")
