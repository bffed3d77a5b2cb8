"""Write a :class:`CoronaryResult`: centerlines JSON, ``.mrk.json`` curves, stenosis table (CSV and
JSON), the label map (NIfTI) and straightened curved planar reformations per branch (PNG)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from ..imaging.volume import Volume
from ..markups import Markups, write_markups

logger = logging.getLogger(__name__)


def straightened_cpr(
    volume: Volume, points: np.ndarray, half_width_mm: float = 10.0, step_mm: float = 0.25
) -> np.ndarray:
    """Straightened CPR image (rows along the centerline ``points`` (LPS mm), columns across it) in HU,
    sampled every ``step_mm`` on a parallel-transported normal (trilinear)."""
    pts = np.asarray(points, float)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    t_new = np.arange(0.0, s[-1] + 1e-9, step_mm)
    c = np.stack([np.interp(t_new, s, pts[:, a]) for a in range(3)], axis=1)
    tan = np.gradient(c, axis=0)
    tan /= np.maximum(np.linalg.norm(tan, axis=1, keepdims=True), 1e-9)
    n = np.cross(tan[0], [0.0, 0.0, 1.0] if abs(tan[0][2]) < 0.9 else [1.0, 0.0, 0.0])
    normals = []
    for t in tan:  # parallel transport: project the previous normal onto the new normal plane
        n = n - n.dot(t) * t
        n /= max(np.linalg.norm(n), 1e-9)
        normals.append(n.copy())
    offs = np.arange(-half_width_mm, half_width_mm + 1e-9, step_mm)
    grid = c[:, None, :] + offs[None, :, None] * np.array(normals)[:, None, :]
    ijk = volume.lps_to_index(grid.reshape(-1, 3))
    vals = ndi.map_coordinates(volume.array.astype(np.float32), ijk[:, ::-1].T, order=1, cval=-1000.0)
    return vals.reshape(len(c), len(offs))


def write_result(result, volume: Volume, out_dir: str | Path, cpr: bool = True) -> dict[str, Path]:
    """Write every output of ``result`` into ``out_dir``; returns {kind: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    files["centerlines"] = out / "coronary_centerlines.json"
    files["centerlines"].write_text(json.dumps(result.to_json(), indent=1))
    curves = [
        Markups.from_points(b.points[:: max(len(b.points) // 60, 1)], None, name=b.name, kind="Curve")
        for b in result.branches
        if len(b.points) >= 2
    ]
    if curves:
        files["curves"] = write_markups(curves, out / "coronary_centerlines.mrk.json")
    files["stenoses_json"] = out / "stenoses.json"
    files["stenoses_json"].write_text(json.dumps([les.to_json() for les in result.lesions], indent=1))
    files["stenoses_csv"] = out / "stenoses.csv"
    with open(files["stenoses_csv"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "branch",
                "percent_diameter",
                "length_mm",
                "reference_radius_mm",
                "minimal_radius_mm",
                "start_mm",
                "L",
                "P",
                "S",
            ]
        )
        for les in result.lesions:
            d = les.to_json()
            w.writerow(
                [
                    les.branch,
                    d["percentDiameter"],
                    d["lengthMm"],
                    d["referenceRadiusMm"],
                    d["minimalRadiusMm"],
                    d["startMm"],
                    *d["centerLPS"],
                ]
            )
    files["labelmap"] = result.labelmap.write(out / "coronary_labels.nii.gz")
    if cpr:
        cdir = out / "cpr"
        cdir.mkdir(exist_ok=True)
        for b in result.branches:
            if len(b.points) < 2:
                continue
            img = straightened_cpr(volume, result.vessel_path(b.name)[0])
            g = np.clip((img + 200.0) / 1000.0 * 255.0, 0, 255).astype(np.uint8)  # window [-200, 800] HU
            Image.fromarray(g).save(cdir / f"{b.name}.png")
        files["cpr"] = cdir
    return files
