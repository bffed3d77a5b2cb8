"""Stent / valve-frame reconstruction on phantom cases (seeds not used while tuning: tuning used the
synthetic images of Testing/stent_fixtures.py only).

Per case and algorithm: mean area-weighted distance (mm) of the lateral envelope to the true device
envelope (a tube at the device's radius profile around its axis, from devices.json), the score, and
whether the score ranked the most accurate algorithm first; plus run time of all algorithms.

    .venv/bin/python benchmarks/stent_bench.py --kind valve --seeds 5 6 --work /tmp/stent_bench
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.phantom.devices import _Tube
from CardiacPlanningLib.phantom.generate import PhantomParameters, generate_case
from CardiacPlanningLib.stent.geometry import triangle_samples
from CardiacPlanningLib.stent.pipeline import reconstruct_all
from CardiacPlanningLib.stent.region import region_from_label

logger = logging.getLogger(__name__)

REGION_LABEL = {"valve": 6, "coronary": 8}


def envelope_distance(points: np.ndarray, axis: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Distance (mm) of LPS points to a dense sampling of the lateral tube (axis, radius profile)."""
    tube = _Tube(np.asarray(axis, float), np.asarray(radius, float))
    z = np.linspace(0.0, tube.s[-1], int(tube.s[-1] / 0.05) + 1)
    th = np.linspace(0.0, 2 * np.pi, 360, endpoint=False)
    zz, tt = np.meshgrid(z, th, indexing="ij")
    return cKDTree(tube.points(zz.ravel(), tt.ravel())).query(points)[0]


def run_case(case_dir: Path, kind: str) -> dict:
    meta = json.loads((case_dir / "phantom.json").read_text())
    first = meta["files"]["phases"][0] if "phases" in meta.get("files", {}) else None
    ct_path = Path(first["ct"]) if first else sorted((case_dir / "ct").glob("*.nii.gz"))[0]
    lab_path = Path(first["labels"]) if first else sorted((case_dir / "labels").glob("*.nii.gz"))[0]
    ct, lab = Volume.read(ct_path), Volume.read(lab_path)
    truth = json.loads((case_dir / "devices.json").read_text())["phases"][0]
    t0 = time.perf_counter()
    results, metal = reconstruct_all(ct, region_from_label(ct, lab, REGION_LABEL[kind]), kind)
    seconds = time.perf_counter() - t0
    rows = []
    for rec, sc in results:
        c, a, n = triangle_samples(rec.mesh)
        t = (rec.axis[-1] - rec.axis[0]) / np.linalg.norm(rec.axis[-1] - rec.axis[0])
        lat = np.abs(n @ t) < 0.7
        d = envelope_distance(c[lat], truth["axis"], truth["radiusProfileMm"])
        rows.append({"name": rec.name, "meanMm": float((d * a[lat]).sum() / a[lat].sum()), "score": sc.total})
    best = min(rows, key=lambda r: r["meanMm"])["name"]
    return {
        "case": str(case_dir),
        "seconds": seconds,
        "thresholdHu": metal.threshold_hu,
        "algorithms": rows,
        "rankedMostAccurateFirst": rows[0]["name"] == best,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=sorted(REGION_LABEL), default="valve")
    ap.add_argument("--seeds", type=int, nargs="+", default=[5])
    ap.add_argument("--spacing", type=float, default=0.6)
    ap.add_argument("--work", type=Path, default=Path("/tmp/stent_bench"))
    ap.add_argument("--case", type=Path, nargs="*", default=[], help="Existing phantom case folders.")
    args = ap.parse_args()
    cases = list(args.case)
    for seed in args.seeds if not cases else []:
        out = args.work / f"{args.kind}_{seed}"
        if not (out / "devices.json").exists():
            p = PhantomParameters(seed=seed, phases=2, spacing_mm=args.spacing, stent=args.kind, dicom=False)
            generate_case(p, out)
        cases.append(out)
    report = [run_case(c, args.kind) for c in cases]
    print(json.dumps(report, indent=1))  # noqa: T201 - benchmark output


if __name__ == "__main__":
    main()
