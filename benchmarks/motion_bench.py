"""4D propagation benchmark: accuracy against the phantom's exact labels, time per phase, peak memory.

For each phantom case (seed, EF) the phase-0 (end-diastole) truth labels of the chambers and great
vessels are propagated to all phases with ``motion.propagate_labels``; every propagated label map is
compared with the phantom's truth at that phase (mean symmetric surface distance and 95 % Hausdorff,
``CardiacPlanningLib.metrics``); the LV ejection fraction of the propagated curve is compared with the
EF of the truth label maps. ``--clinical`` also times a 10-phase 512x512x300, 0.5 mm study made by
resampling a phantom case (peak RSS of that run, phases streamed from NIfTI files).

    .venv/bin/python benchmarks/motion_bench.py --seeds 401 402 403 --efs 0.30 0.50 0.70 --out /tmp/mb

``--table FILES...`` re-prints the tables from saved ``motion_accuracy_*.json`` files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.metrics import surface_distances
from CardiacPlanningLib.motion.phase_io import open_phases, series_from_files
from CardiacPlanningLib.motion.propagate import propagate_labels
from CardiacPlanningLib.motion.register import RegistrationSettings

logger = logging.getLogger(__name__)

LABELS = {1: "LV", 2: "LV myo", 3: "RV", 4: "LA", 5: "RA", 6: "aorta", 7: "PA"}
SCORED = set(LABELS)  # labels scored against the truth (all propagated); --score-labels


PHANTOM_GRID: dict = {"spacing_mm": 0.75, "size": (224, 224, 160)}  # set from the command line


def make_case(seed: int, ef: float, out: Path) -> dict:
    from CardiacPlanningLib.phantom.generate import PhantomParameters, generate_case

    if not (out / "phantom.json").exists():
        generate_case(PhantomParameters(seed=seed, ef=ef, dicom=False, **PHANTOM_GRID), out)
    return json.loads((out / "phantom.json").read_text())


def reference_labels(path: str) -> Volume:
    truth = Volume.read(path)
    return truth.with_array(np.where(np.isin(truth.array, list(LABELS)), truth.array, 0).astype(np.uint8))


def evaluate_case(seed: int, ef: float, root: Path, settings: RegistrationSettings) -> dict:
    meta = make_case(seed, ef, root / f"case_{seed}")
    phases = meta["files"]["phases"]
    series = series_from_files([p["ct"] for p in phases], [p["percent"] for p in phases])
    ref = reference_labels(phases[0]["labels"])
    result = propagate_labels(series, 0, ref, root / f"prop_{seed}", settings=settings)
    rows, true_lv = [], []
    for n, p in enumerate(phases):
        truth = Volume.read(p["labels"]).array
        got = Volume.read(result.label_files[n]).array
        true_lv.append(float((truth == 1).sum()) * ref.voxel_volume_mm3 / 1000.0)
        if n == 0:
            continue
        for v in LABELS:
            if v not in SCORED or not (truth == v).any():
                continue
            sd = surface_distances(got == v, truth == v, ref.spacing)
            rows.append({"phase": n, "label": v, "msd": sd.mean_mm, "hd95": sd.hd95_mm})
    true_ef = 100.0 * (max(true_lv) - min(true_lv)) / max(true_lv)
    got_ef = result.summary["lv_ef_percent"]
    return {
        "seed": seed,
        "ef_requested": ef,
        "true_ef": true_ef,
        "propagated_ef": got_ef,
        "ef_error": got_ef - true_ef,
        "es_phase_truth": int(np.argmin(true_lv)),
        "es_phase_found": result.summary["end_systole_phase"],
        "seconds_per_phase": result.summary["mean_seconds_per_propagated_phase"],
        "spacing_mm": ref.spacing[0],
        "shape": ref.shape,
        "rows": rows,
    }


def oracle_case(seed: int, root: Path, settings: RegistrationSettings) -> dict:
    """The floor set by voxelisation: warp the phase-0 truth with the phantom's *exact* motion
    (sampled on the same registration grid) and score it like the propagation."""
    from CardiacPlanningLib.motion.register import crop_grid
    from CardiacPlanningLib.motion.warp import label_box, sub_volume, warp_labels
    from CardiacPlanningLib.phantom.generate import PhantomParameters, build_case

    meta = json.loads((root / f"case_{seed}" / "phantom.json").read_text())
    params = {k: tuple(v) if k == "size" else v for k, v in meta["parameters"].items()}
    case = build_case(PhantomParameters(**params))
    phases = meta["files"]["phases"]
    ref = reference_labels(phases[0]["labels"])
    box = label_box(ref, settings.margin_mm)
    grid = crop_grid(ref, ref.array != 0, settings.spacing_mm, settings.margin_mm)
    crop = sub_volume(ref, box)
    crop.array = np.ascontiguousarray(crop.array)
    size = grid.GetSize()
    kk, jj, ii = np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")
    idx = np.stack([ii, jj, kk], -1).reshape(-1, 3).astype(float)
    y = (idx * settings.spacing_mm) @ np.reshape(grid.GetDirection(), (3, 3)).T + np.asarray(grid.GetOrigin())
    rows = []
    for n, p in enumerate(phases[1:], start=1):
        u = (case.motion.backward(y, p["percent"] / 100.0) - y).reshape(size[2], size[1], size[0], 3)
        field = sitk.GetImageFromArray(u, isVector=True)
        field.CopyInformation(grid)
        full = np.zeros(ref.shape, np.uint8)
        full[box] = warp_labels(crop, field).labels.array
        truth = Volume.read(p["labels"]).array
        for v in LABELS:
            if (truth == v).any():
                sd = surface_distances(full == v, truth == v, ref.spacing)
                rows.append({"phase": n, "label": v, "msd": sd.mean_mm, "hd95": sd.hd95_mm})
    return {"seed": seed, "rows": rows}


def clinical_run(case_dir: Path, root: Path, settings: RegistrationSettings) -> dict:
    """Resample a phantom case onto a 512x512x300, 0.5 mm grid (10 NIfTI phases) and propagate."""
    meta = json.loads((case_dir / "phantom.json").read_text())
    phases = meta["files"]["phases"]
    big = root / "clinical"
    big.mkdir(parents=True, exist_ok=True)
    first = Volume.read(phases[0]["ct"]).to_sitk()
    centre = first.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in first.GetSize()])
    grid = sitk.Image([512, 512, 300], sitk.sitkInt16)
    grid.SetSpacing([0.5] * 3)
    grid.SetOrigin([c - 0.5 * (s - 1) / 2 for c, s in zip(centre, (512, 512, 300))])
    for p in phases:
        target = big / f"ct_{int(round(p['percent'])):02d}.nii.gz"
        if not target.exists():
            img = sitk.Resample(
                Volume.read(p["ct"]).to_sitk(), grid, sitk.Transform(), sitk.sitkLinear, -1000
            )
            sitk.WriteImage(img, str(target), useCompression=False)
    seg = reference_labels(phases[0]["labels"]).to_sitk()
    seg_big = Volume.from_sitk(sitk.Resample(seg, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0))
    del seg
    series = open_phases(big)
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    result = propagate_labels(series, 0, seg_big, root / "clinical_prop", settings=settings)
    cpu = [c for n, c in enumerate(result.summary["cpu_seconds_per_phase"]) if n != 0]
    return {
        "shape_zyx": list(seg_big.shape),
        "spacing_mm": 0.5,
        "seconds_total": round(time.perf_counter() - t0, 1),
        "cpu_seconds_total": round(time.process_time() - c0, 1),
        "seconds_per_phase": result.summary["mean_seconds_per_propagated_phase"],
        "cpu_seconds_per_phase": round(float(np.mean(cpu)), 2),
        "cpu_seconds_per_phase_max": round(float(np.max(cpu)), 2),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }


def table(results: list[dict]) -> str:
    lines = [
        "| case | label | MSD mean / max (mm) | HD95 mean / max (mm) | phases MSD<=0.5 & HD95<=1.0 |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for v, name in LABELS.items():
            rows = [x for x in r["rows"] if x["label"] == v]
            if not rows:
                continue
            msd = np.array([x["msd"] for x in rows])
            hd = np.array([x["hd95"] for x in rows])
            ok = int(np.sum((msd <= 0.5) & (hd <= 1.0)))
            lines.append(
                f"| seed {r['seed']} EF {100 * r['ef_requested']:.0f}% | {name} "
                f"| {msd.mean():.2f} / {msd.max():.2f} "
                f"| {hd.mean():.2f} / {hd.max():.2f} | {ok}/{len(rows)} |"
            )
    lines.append("")
    lines.append(
        "| case | true EF (%) | propagated EF (%) | error (points) | ES phase true/found | s per phase |"
    )
    lines.append("|---|---|---|---|---|---|")
    for r in results:
        lines.append(
            f"| seed {r['seed']} | {r['true_ef']:.1f} | {r['propagated_ef']:.1f} | {r['ef_error']:+.1f} "
            f"| {r['es_phase_truth']}/{r['es_phase_found']} | {r['seconds_per_phase']:.1f} |"
        )
    return "\n".join(lines)


def phase_table(results: list[dict], labels=(1, 4, 6)) -> str:
    """MSD / HD95 (mm) of the chosen labels at every propagated phase, one row per case and label."""
    phases = sorted({x["phase"] for r in results for x in r["rows"]})
    lines = [
        "| case | label | " + " | ".join(f"phase {p}" for p in phases) + " |",
        "|---|---|" + "---|" * len(phases),
    ]
    for r in results:
        for v in labels:
            cells = {x["phase"]: x for x in r["rows"] if x["label"] == v}
            row = []
            for p in phases:
                x = cells.get(p)
                if x is None:
                    row.append("")
                else:
                    mark = "**" if x["msd"] > 0.5 or x["hd95"] > 1.0 else ""
                    row.append(f"{mark}{x['msd']:.2f} / {x['hd95']:.2f}{mark}")
            lines.append(
                f"| seed {r['seed']} EF {100 * r['ef_requested']:.0f}% | {LABELS[v]} | "
                + " | ".join(row)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[401, 402, 403])
    ap.add_argument("--efs", type=float, nargs="+", default=[0.30, 0.50, 0.70])
    ap.add_argument("--out", type=Path, default=Path("/tmp/motion_bench"))
    ap.add_argument("--reg-spacing", type=float, default=1.5)
    ap.add_argument("--clinical", action="store_true", help="also time a 512x512x300 0.5 mm study")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--phantom-spacing", type=float, default=0.75, help="phantom voxel size (mm)")
    ap.add_argument("--phantom-size", type=int, nargs=3, default=[224, 224, 160], help="x y z voxels")
    ap.add_argument("--oracle", action="store_true", help="also score the exact-motion warp (floor)")
    ap.add_argument("--generate-only", action="store_true", help="only generate the phantom cases")
    ap.add_argument("--table", type=Path, nargs="+", help="print the tables of saved accuracy files")
    ap.add_argument(
        "--large-contraction",
        action="store_true",
        help="RegistrationSettings.large_contraction() (the residual pass unchecked, the opt-in until "
        "2026-11-28) instead of the defaults; the earlier default: --settings '{\"refine_passes\": 0}'",
    )
    ap.add_argument(
        "--settings",
        type=json.loads,
        default={},
        help="JSON of RegistrationSettings fields to change, e.g. '{\"refine_passes\": 0}'",
    )
    ap.add_argument("--score-labels", type=int, nargs="+", help="score only these labels (saves CPU)")
    args = ap.parse_args()
    if args.score_labels:
        SCORED.intersection_update(args.score_labels)
    if args.table:
        saved = [r for f in args.table for r in json.loads(f.read_text())]
        print(table(saved))
        print(phase_table(saved))
        return
    PHANTOM_GRID.update(spacing_mm=args.phantom_spacing, size=tuple(args.phantom_size))
    if args.generate_only:
        for seed, ef in zip(args.seeds, args.efs):
            make_case(seed, ef, args.out / f"case_{seed}")
        return
    logging.basicConfig(level=logging.WARNING)
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in args.settings.items()}
    if args.large_contraction:
        settings = RegistrationSettings.large_contraction(spacing_mm=args.reg_spacing, **changes)
    else:
        settings = RegistrationSettings(spacing_mm=args.reg_spacing, **changes)
    results = []
    if not args.skip_accuracy:
        for seed, ef in zip(args.seeds, args.efs):
            results.append(evaluate_case(seed, ef, args.out, settings))
            r = results[-1]
            print(f"seed {seed}: EF true {r['true_ef']:.1f} propagated {r['propagated_ef']:.1f}", flush=True)
        tag = "_".join(str(s) for s in args.seeds)
        (args.out / f"motion_accuracy_{tag}.json").write_text(json.dumps(results, indent=1))
        print(table(results))
        print(phase_table(results))
        print(f"load average {os.getloadavg()}")
    if args.oracle:
        oracle = oracle_case(args.seeds[0], args.out, settings)
        (args.out / "motion_oracle.json").write_text(json.dumps(oracle, indent=1))
        for v, name in LABELS.items():
            rows = [x for x in oracle["rows"] if x["label"] == v]
            if rows:
                msd, hd = [x["msd"] for x in rows], [x["hd95"] for x in rows]
                print(
                    f"oracle seed {oracle['seed']} {name}: MSD {np.mean(msd):.2f}/{np.max(msd):.2f} "
                    f"HD95 {np.mean(hd):.2f}/{np.max(hd):.2f}"
                )
    if args.clinical:
        clin = clinical_run(args.out / f"case_{args.seeds[0]}", args.out, settings)
        (args.out / "motion_clinical.json").write_text(json.dumps(clin, indent=1))
        print(json.dumps(clin))


if __name__ == "__main__":
    main()
