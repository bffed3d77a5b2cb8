"""Run every reconstruction algorithm on a region, score and rank them, write the results.

Files written by :func:`write_results` into the output folder (LPS mm):
``<name>.vtp`` and ``<name>.stl`` (envelope mesh), ``<name>_axis.json`` (axis points and radius
profile), ``<name>_score.json`` (score terms), ``ranking.json`` (names by total score, best first,
with the metal detection values)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .algorithms import ALGORITHMS
from .geometry import Reconstruction
from .region import DEVICE_KINDS, MetalDetection, Region, detect_metal
from .score import Score, score_for

logger = logging.getLogger(__name__)


def reconstruct_all(
    volume: Volume,
    region: Region,
    kind: str = "generic",
    progress: Progress | None = None,
    algorithms: list[str] | None = None,
) -> tuple[list[tuple[Reconstruction, Score]], MetalDetection]:
    """All algorithms on ``region`` (from :mod:`.region`, cropped from ``volume``), each scored;
    returns ([(reconstruction, score)] best first, the metal detection).

    ``kind`` (coronary | valve | generic) is recorded; raises NoDeviceFoundError without metal."""
    progress = as_progress(progress)
    if kind not in DEVICE_KINDS:
        raise CardiacInputError(f"device kind {kind!r} is not one of {', '.join(DEVICE_KINDS)}")
    names = list(algorithms or ALGORITHMS)
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown:
        raise CardiacInputError(f"unknown reconstruction algorithm {unknown[0]!r} ({', '.join(ALGORITHMS)})")
    progress(0.0, "detecting metal")
    metal = detect_metal(region, kind)
    results = []
    for i, name in enumerate(names):
        progress((i + 0.1) / len(names), name)
        rec = ALGORITHMS[name](region.ct, metal)
        rec.metadata.update(
            {"algorithm": name, "kind": kind, "region": region.name, "volumeShape": list(volume.shape)}
        )
        sc = score_for(rec, region, metal, kind)  # valve: apposition in the annulus landing zone
        logger.info("%s: score %.1f", name, sc.total)
        results.append((rec, sc))
    progress(1.0, "ranked")
    results.sort(key=lambda rs: -rs[1].total)
    return results, metal


def write_mesh(mesh, stem: Path) -> None:
    """Write a vtkPolyData (LPS mm) as ``stem.vtp`` and binary ``stem.stl``."""
    import vtk

    for ext, writer in ((".vtp", vtk.vtkXMLPolyDataWriter()), (".stl", vtk.vtkSTLWriter())):
        path = stem.with_name(stem.name + ext)
        writer.SetFileName(str(path))
        writer.SetInputData(mesh)
        if ext == ".stl":
            writer.SetFileTypeToBinary()
        if not writer.Write():
            raise CardiacInputError(f"could not write {path}")


def write_results(
    results: list[tuple[Reconstruction, Score]], metal: MetalDetection, out_dir: str | Path
) -> Path:
    """Write meshes, axis/radius and score JSON per algorithm and ``ranking.json`` (path returned)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for rec, sc in results:
        write_mesh(rec.mesh, out / rec.name)
        axis = {
            "name": rec.name,
            "coordinateSystem": "LPS",
            "units": "mm",
            "axis": np.round(rec.axis, 4).tolist(),
            "radiusProfileMm": np.round(rec.radius_profile, 4).tolist(),
            "metadata": rec.metadata,
        }
        (out / f"{rec.name}_axis.json").write_text(json.dumps(axis, indent=1), encoding="utf-8")
        (out / f"{rec.name}_score.json").write_text(json.dumps(sc.as_dict(), indent=1), encoding="utf-8")
    ranking = {
        "ranking": [{"name": r.name, "score": round(s.total, 2)} for r, s in results],
        "best": results[0][0].name if results else None,
        "metalThresholdHu": metal.threshold_hu,
        "bloodMedianHu": metal.blood_median_hu,
        "bloodSigmaHu": metal.blood_sigma_hu,
        "metalVoxels": int(metal.mask.sum()),
    }
    path = out / "ranking.json"
    path.write_text(json.dumps(ranking, indent=1), encoding="utf-8")
    return path
