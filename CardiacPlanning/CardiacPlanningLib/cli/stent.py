"""``cardiac-planning stent``: reconstruct a stent / valve frame with every algorithm, score, rank;
optionally propagate the best (or a named) reconstruction to every phase of a 4D CT."""

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
@click.option(
    "--phases",
    "phases_path",
    type=click.Path(path_type=Path),
    default=None,
    help="4D CT (folder of phase volumes, DICOM folder or .seq.nrrd): propagate to every phase.",
)
@click.option(
    "--reference", default="0", show_default=True, help="Phase of IMAGE in --phases (index, '40%' or name)."
)
@click.option(
    "--fields",
    "fields_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of displacement_phase_XX.nii.gz from `cardiac-planning propagate` (4D motion).",
)
@click.option("--choose", default=None, help="Algorithm to propagate (default: the best-ranked).")
@click.option(
    "--frame",
    type=click.Choice(["auto", "rigid", "radial"]),
    default="auto",
    show_default=True,
    help="Propagation: rigid registration only, or with the per-ring radial step (self-expanding "
    "frames); auto = radial except for coronary stents.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_io(inputs=("image", "region_path", "phases_path", "fields_dir"), outputs=("out_dir",))
def stent(
    image: Path,
    region_path: Path,
    out_dir: Path,
    kind: str,
    label: int | None,
    phases_path: Path | None,
    reference: str,
    fields_dir: Path | None,
    choose: str | None,
    frame: str,
    quiet: bool,
) -> None:
    """Reconstruct the device in IMAGE within REGION with every algorithm; write per algorithm the
    envelope (.vtp, .stl; LPS mm), axis/radius JSON and score JSON, and ranking.json. With --phases,
    also the chosen reconstruction at every phase in OUT/phases (phase_XX.vtp/.stl, propagation.json)."""
    from ..errors import CardiacInputError
    from ..imaging.volume import Volume
    from ..stent.algorithms import ALGORITHMS
    from ..stent.pipeline import reconstruct_all, write_results
    from ..stent.region import load_region

    if (fields_dir is not None or choose is not None) and phases_path is None:
        raise click.UsageError("--fields and --choose need --phases")
    with user_errors():
        if choose is not None and choose not in ALGORITHMS:
            raise CardiacInputError(f"--choose {choose!r} is not one of {', '.join(ALGORITHMS)}")
        volume = Volume.read(image)
        region = load_region(volume, region_path, label)
        with progress_bar("stent", enabled=not quiet) as progress:
            results, metal = reconstruct_all(volume, region, kind, progress)
        path = write_results(results, metal, out_dir)
        for rec, sc in results:
            click.echo(f"{rec.name:22s} score {sc.total:5.1f}")
        click.echo(f"ranking written to {path}")
        if phases_path is None:
            return
        from ..motion.phase_io import open_phases
        from ..stent.propagate import field_mover, propagate_device, write_phase_devices

        series = open_phases(phases_path)
        ref = series.index_of(reference)
        names = [r.name for r, _ in results]
        chosen = results[names.index(choose)][0] if choose else results[0][0]
        mover = None
        if fields_dir is not None:
            files = [fields_dir / f"displacement_phase_{p:02d}.nii.gz" for p in range(len(series))]
            mover = field_mover([None if p == ref else f for p, f in enumerate(files)])
        with progress_bar("propagate", enabled=not quiet) as progress:
            radial = {"auto": None, "rigid": False, "radial": True}[frame]
            devices = propagate_device(chosen, series, ref, kind, mover, progress=progress, radial=radial)
        ppath = write_phase_devices(devices, out_dir / "phases")
        for d in devices:
            score = "  -  " if d.score is None else f"{d.score.total:5.1f}"
            click.echo(f"phase {series[d.phase].label:>8s} {d.method:14s} score {score}")
        click.echo(f"{chosen.name} propagated to {len(series)} phases: {ppath}")
