"""Heart segmentation benchmark (classical engine).

1. Phantom cases not used for tuning (other seeds, noise and voxel sizes): Dice and mean surface
   distance per structure against the exact ground truth.
2. The real CTA in ../shared/data/real-cta: Dice of the heart union against TotalSegmentator's
   ``heart`` mask and of the pulmonary artery against its ``pulmonary_artery`` mask (resampled onto
   the CT grid); an overlay PNG (docs/heart_realcta_overlay.png).
3. Run time and peak memory on a 512x512x300, 0.5 mm volume (the real CTA resampled), in a child
   process.

    .venv/bin/python benchmarks/heart_bench.py [--update-docs] [--skip-phantom] [--skip-speed]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CardiacPlanning"))

from CardiacPlanningLib import labels as lbl  # noqa: E402
from CardiacPlanningLib.heart import segment  # noqa: E402
from CardiacPlanningLib.imaging.volume import Volume  # noqa: E402
from CardiacPlanningLib.metrics import dice, surface_distances  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real-cta"
CT = REAL / "ts_thorax_cta_crop_pulm_1p5mm.nii.gz"
SCORED = {
    "LV": lbl.LV_BLOOD_POOL,
    "myocardium": lbl.LV_MYOCARDIUM,
    "RV": lbl.RV,
    "LA": lbl.LA,
    "RA": lbl.RA,
    "aorta": lbl.AORTA,
    "PA": lbl.PULMONARY_ARTERY,
}
# phantom cases never used while building the engine (tuning used seed 11 and the toy heart)
CASES = [
    {"seed": 21, "noise_hu": 20.0, "spacing_mm": 1.25, "size": (160, 160, 112)},
    {"seed": 22, "noise_hu": 35.0, "spacing_mm": 1.25, "size": (160, 160, 112)},
    {"seed": 23, "noise_hu": 15.0, "spacing_mm": 1.5, "size": (134, 134, 94)},
]
CHAMBERS_WALLS = (1, 2, 3, 4, 5, 10, 17, 18)


def phantom_scores() -> list[dict]:
    from CardiacPlanningLib.phantom.generate import PhantomParameters, build_case, render_phase

    rows = []
    for spec in CASES:
        params = PhantomParameters(phases=10, dicom=False, ef=0.5, **spec)
        case = build_case(params)
        ct, truth = render_phase(case, 0.0, np.random.default_rng([spec["seed"], 9]))
        t0 = time.perf_counter()
        seg = segment(ct)
        seconds = time.perf_counter() - t0
        row = {"case": spec, "seconds": round(seconds, 1), "dice": {}, "msd_mm": {}}
        for name, value in SCORED.items():
            a, b = truth.array == value, seg.array == value
            row["dice"][name] = round(dice(a, b), 3)
            row["msd_mm"][name] = round(surface_distances(a, b, ct.spacing).mean_mm, 2) if b.any() else None
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def reference(name: str, ct: Volume) -> np.ndarray:
    image = sitk.ReadImage(str(REAL / name))
    out = sitk.Resample(image, ct.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(out) > 0


def real_scores(overlay: Path | None) -> dict:
    ct = Volume.read(CT)
    heart, pa = (
        reference("ts_thorax_heart_mask_pred.nii.gz", ct),
        reference("ts_thorax_pulmonary_artery_mask_pred.nii.gz", ct),
    )
    t0 = time.perf_counter()
    seg = segment(ct, preset="valve")
    seconds = time.perf_counter() - t0
    s = seg.array
    # the reference `heart` holds the chambers, myocardium and pulmonary trunk, not the aorta: compare
    # like with like (valve-preset sub-regions of the LV/LA/RV count as those chambers)
    sub = (21, 22, 23)  # LVOT, mitral annulus region, RVOT
    unions = {
        "chambers + walls + PA (as the reference)": np.isin(s, CHAMBERS_WALLS + (7,) + sub),
        "same without the atrial wall shell": np.isin(s, (1, 2, 3, 4, 5, 10, 17, 7) + sub),
        "chambers + walls + PA + aortic root": np.isin(s, CHAMBERS_WALLS + (7, 19, 20) + sub),
        "everything incl. whole aorta and veins": s > 0,
    }
    out = {
        "seconds": round(seconds, 1),
        "heart_union_dice": {k: round(dice(v, heart), 3) for k, v in unions.items()},
        "pa_dice": round(dice(s == 7, pa), 3),
        "reference_ml": round(heart.sum() * np.prod(ct.spacing) / 1000, 1),
        "ours_ml": round(
            unions["chambers + walls + PA (as the reference)"].sum() * np.prod(ct.spacing) / 1000, 1
        ),
    }
    best = unions["chambers + walls + PA (as the reference)"]
    out["outside_reference_ml"] = round((best & ~heart).sum() * np.prod(ct.spacing) / 1000, 1)
    out["missed_reference_ml"] = round((heart & ~best).sum() * np.prod(ct.spacing) / 1000, 1)
    if overlay is not None:
        draw_overlay(ct.array, s, heart, pa, overlay)
    print(json.dumps(out), flush=True)
    return out


def draw_overlay(ct: np.ndarray, seg: np.ndarray, heart: np.ndarray, pa: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    colours = np.zeros((256, 4))
    for lab in lbl.label_table():
        colours[lab.value] = [*lab.color_float, 0.45]
    cmap = ListedColormap(colours)
    zs = np.linspace(20, ct.shape[0] - 14, 6).astype(int)
    fig, axes = plt.subplots(2, 4, figsize=(16, 8.5))
    views = [("axial", z) for z in zs] + [("sagittal", ct.shape[2] // 2), ("coronal", ct.shape[1] // 2)]
    for ax, (kind, k) in zip(axes.flat, views):
        if kind == "axial":
            img, lab, h, p = ct[k], seg[k], heart[k], pa[k]
        elif kind == "sagittal":
            img, lab, h, p = ct[::-1, :, k], seg[::-1, :, k], heart[::-1, :, k], pa[::-1, :, k]
        else:
            img, lab, h, p = ct[::-1, k, :], seg[::-1, k, :], heart[::-1, k, :], pa[::-1, k, :]
        ax.imshow(img, cmap="gray", vmin=-200, vmax=800)
        ax.imshow(lab, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
        ax.contour(h, [0.5], colors="yellow", linewidths=1.0)
        ax.contour(p, [0.5], colors="cyan", linewidths=1.0)
        ax.set_title(f"{kind} {k}")
        ax.axis("off")
    fig.suptitle(
        "classical engine (colour fill) vs TotalSegmentator heart (yellow) and pulmonary artery (cyan)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


SPEED_CHILD = """
import sys, time, resource, json
sys.path.insert(0, {lib!r})
import numpy as np, SimpleITK as sitk
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.heart import segment
src = sitk.ReadImage({ct!r})
ref = sitk.Image([512, 512, 300], sitk.sitkInt16)
ref.SetSpacing([0.5, 0.5, 0.5])
centre = np.array(src.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in src.GetSize()]))
ref.SetOrigin(tuple(centre - 0.5 * np.array([511, 511, 299]) / 2))
big = Volume.from_sitk(sitk.Resample(src, ref, sitk.Transform(), sitk.sitkLinear, -1000, sitk.sitkInt16))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
seg = segment(big)
print(json.dumps({{"seconds": round(time.perf_counter() - t0, 1), "shape": list(big.shape),
    "input_mb": round(big.array.nbytes / 2**20), "labels": sorted(int(v) for v in np.unique(seg.array))}}))
"""


def speed() -> dict:
    code = SPEED_CHILD.format(lib=str(ROOT / "CardiacPlanning"), ct=str(CT))
    env = dict(os.environ, OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    print(json.dumps(out), flush=True)
    return out


def markdown(phantom: list[dict], real: dict, fast: dict | None) -> str:
    lines = [
        "## Heart",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on 2 CPU cores shared with other jobs. Reproduce: "
        "`.venv/bin/python benchmarks/heart_bench.py --update-docs`. Engine: `classical` (no weights).",
        "",
    ]
    if phantom:
        names = list(SCORED)
        lines += [
            "Phantom cases never used for tuning (end-diastolic phase; Dice / mean surface distance mm):",
            "",
            "| case | " + " | ".join(names) + " | mean Dice | time |",
            "|---" * (len(names) + 3) + "|",
        ]
        for row in phantom:
            c = row["case"]
            cells = [
                f"{row['dice'][n]:.3f} / {row['msd_mm'][n] if row['msd_mm'][n] is not None else '-'}"
                for n in names
            ]
            mean = np.mean([row["dice"][n] for n in names])
            lines.append(
                f"| seed {c['seed']}, {c['spacing_mm']} mm, noise {c['noise_hu']:.0f} HU | "
                + " | ".join(cells)
                + f" | {mean:.3f} | {row['seconds']} s |"
            )
        all_dice = [row["dice"][n] for row in phantom for n in names]
        all_msd = [row["msd_mm"][n] for row in phantom for n in names if row["msd_mm"][n] is not None]
        lines += [
            "",
            f"Mean over cases and the 7 structures: Dice {np.mean(all_dice):.3f} (target >= 0.93), "
            f"mean surface distance {np.mean(all_msd):.2f} mm (target <= 0.7 mm).",
            "",
        ]
    lines += [
        "Real CTA (`ts_thorax_cta_crop_pulm_1p5mm`, early arterial phase) against TotalSegmentator masks "
        "(another model's output, not ground truth):",
        "",
        "| measure | result | target |",
        "|---|---|---|",
    ]
    for k, v in real["heart_union_dice"].items():
        target = ">= 0.90" if k.startswith("chambers + walls + PA (as") else ""
        lines.append(f"| heart-union Dice, ours = {k} | {v:.3f} | {target} |")
    lines += [
        f"| pulmonary artery Dice | {real['pa_dice']:.3f} | >= 0.80 |",
        f"| volume: reference heart / ours | {real['reference_ml']} ml / {real['ours_ml']} ml | |",
        f"| ours outside the reference / reference we miss | {real['outside_reference_ml']} ml / "
        f"{real['missed_reference_ml']} ml | |",
        f"| run time (122x102x112, 1.5 mm, valve preset) | {real['seconds']} s | |",
        "",
        "Overlay: `docs/heart_realcta_overlay.png`. Where we disagree with the reference (read from the "
        "overlay): (1) it leaves out the atrial walls and most of the RV free wall, drawing those borders "
        "on the blood pool, where our fixed 2.5-3 mm soft-tissue shells lie (the walls exist; we count "
        "them); (2) it excludes the aorta from the root up but includes the pulmonary trunk, so the union "
        "above leaves our aorta out; (3) at the inferior wall near the apex our LV myocardium runs into "
        "the diaphragm/liver (similar HU) where the reference stops: that part is our error; (4) our LA "
        "body still holds the vein ostia that the reference cuts closer to the atrium.",
        "",
    ]
    if fast:
        lines += [
            f"Speed: a 512x512x300, 0.5 mm volume (the real CTA resampled): {fast['seconds']} s, peak "
            f"memory {fast['peak_rss_mb']} MiB for the whole child process (targets <= 60 s, <= 8 GB).",
            "",
        ]
    return "\n".join(lines)


def update_docs(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text(encoding="utf-8")
    start = doc.find("\n## Heart\n")
    if start >= 0:
        end = doc.find("\n## ", start + 5)
        doc = doc[:start] + "\n" + text + (doc[end:] if end >= 0 else "\n")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--skip-phantom", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    real = real_scores(ROOT / "docs" / "heart_realcta_overlay.png")
    fast = None if args.skip_speed else speed()
    phantom = [] if args.skip_phantom else phantom_scores()
    text = markdown(phantom, real, fast)
    print(text)
    if args.update_docs:
        update_docs(text)


if __name__ == "__main__":
    main()
