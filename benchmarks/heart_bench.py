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
# phantom cases never used while building or tuning the engine: tuning used seeds 11-15 and the toy
# heart; seeds 21-23 (the earlier held-out set) were looked at while tuning the wall, valve, caval
# inflow and aorta/PA rules of 2026-11-28, and 24-26 were scored once and then used to find the
# unnamed-branch fault; 27-29 were the held-out set of that round. The third round (appendage neck,
# aortic valve at the sinuses, vessels detached by neck/enhancement) was tuned on 11, 13 and 31-33;
# its held-out set was 34-36. The fourth round (LV wall at the scan's edge, veins fused into the
# pulmonary artery) was tuned on 11, 13 and 31-33 again (34-36 and 27-29 not run, though no longer
# fresh); its held-out set is 37-39, chosen (seeds, voxel sizes, noise) before any was run and run
# once after the tuning ended. 34-36 are scored again as a second check.
# The fifth round (PA basin split by enhancement, veins joined to the mitral funnel's piece) was
# tuned on 11, 13 and 31-39 (37-39 seen after the fourth round); its held-out set 40-42 (chosen
# before any was run) was run once after (11)-(12) and showed fault (13) on seed 40, which was then
# fixed: 40-42 are no longer fresh and are scored again as a second check. 43-45 were chosen after
# (13) was made (before any of them was run) and run once; seed 44 then showed an aortic root fused
# to the LA piece, fixed by (14) (the LV without an aortic outlet: the root carved out of the LA
# piece), tuned on 44 alone (11, 13, 31-45 unchanged). 46-48 were chosen after (14) (before any of
# them was run) and run once; seed 48 then showed the aortic valve plane left low (the guard against
# the sinuses' bowl fired on the partial slabs above an oblique cut), fixed by (15) on 48 and 35.
# 49-51 were chosen after (15) (before any of them was run) and run once; 46-48 are scored again.
CASES = [
    {"seed": 49, "noise_hu": 25.0, "spacing_mm": 1.25, "size": (160, 160, 112)},
    {"seed": 50, "noise_hu": 21.0, "spacing_mm": 1.0, "size": (200, 200, 140)},
    {"seed": 51, "noise_hu": 27.0, "spacing_mm": 1.5, "size": (134, 134, 94)},
]
PREVIOUS_HELD_OUT = [
    {"seed": 46, "noise_hu": 24.0, "spacing_mm": 1.25, "size": (160, 160, 112)},
    {"seed": 47, "noise_hu": 26.0, "spacing_mm": 1.0, "size": (200, 200, 140)},
    {"seed": 48, "noise_hu": 22.0, "spacing_mm": 1.5, "size": (134, 134, 94)},
]
CHAMBERS_WALLS = (1, 2, 3, 4, 5, 10, 17, 18)


def phantom_scores(cases: list[dict]) -> list[dict]:
    from CardiacPlanningLib.phantom.generate import PhantomParameters, build_case, render_phase

    rows = []
    for spec in cases:
        params = PhantomParameters(phases=10, dicom=False, ef=0.5, **spec)
        case = build_case(params)
        ct, truth = render_phase(case, 0.0, np.random.default_rng([spec["seed"], 9]))
        t0 = time.process_time()
        seg = segment(ct)
        seconds = time.process_time() - t0
        row = {"case": spec, "cpu_seconds": round(seconds, 1), "dice": {}, "msd_mm": {}}
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
c0 = time.process_time()
seg = segment(big)
print(json.dumps({{"seconds": round(time.perf_counter() - t0, 1),
    "cpu_seconds": round(time.process_time() - c0, 1), "shape": list(big.shape),
    "input_mb": round(big.array.nbytes / 2**20), "labels": sorted(int(v) for v in np.unique(seg.array))}}))
"""


def speed() -> dict:
    code = SPEED_CHILD.format(lib=str(ROOT / "CardiacPlanning"), ct=str(CT))
    env = dict(os.environ, OMP_NUM_THREADS="2", ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="2")
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    out["child_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    out["load_before_after"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    print(json.dumps(out), flush=True)
    return out


HISTORY = ROOT / "docs" / "heart_engine_history.md"


def engine_history() -> list[str]:
    """The deep-model note and the engine-change paragraphs (kept as prose in docs/, not in code)."""
    text = HISTORY.read_text(encoding="utf-8")
    text = text[text.index("-->") + 3 :] if text.lstrip().startswith("<!--") else text
    return [p.strip("\n") for p in text.split("\n\n") if p.strip()]


def phantom_table(rows: list[dict], title: str) -> list[str]:
    """Markdown lines: per-case Dice / MSD table, per-structure means and the overall means."""
    names = list(SCORED)
    lines = [
        f"{title} (end-diastolic phase; Dice / mean surface distance mm):",
        "",
        "| case | " + " | ".join(names) + " | mean Dice | mean MSD | CPU time |",
        "|---" * (len(names) + 4) + "|",
    ]
    for row in rows:
        c = row["case"]
        cells = [
            f"{row['dice'][n]:.3f} / {row['msd_mm'][n] if row['msd_mm'][n] is not None else '-'}"
            for n in names
        ]
        mean = np.mean([row["dice"][n] for n in names])
        msd = np.mean([row["msd_mm"][n] for n in names if row["msd_mm"][n] is not None])
        lines.append(
            f"| seed {c['seed']}, {c['spacing_mm']} mm, noise {c['noise_hu']:.0f} HU | "
            + " | ".join(cells)
            + f" | {mean:.3f} | {msd:.2f} | {row['cpu_seconds']} s |"
        )
    per = [
        f"{np.mean([r['dice'][n] for r in rows]):.3f} / "
        f"{np.mean([r['msd_mm'][n] for r in rows if r['msd_mm'][n] is not None]):.2f}"
        for n in names
    ]
    lines.append("| mean per structure | " + " | ".join(per) + " | | | |")
    all_dice = [row["dice"][n] for row in rows for n in names]
    all_msd = [row["msd_mm"][n] for row in rows for n in names if row["msd_mm"][n] is not None]
    lines += [
        "",
        f"Mean over cases and the 7 structures: Dice {np.mean(all_dice):.4f} (target >= 0.93), "
        f"mean surface distance {np.mean(all_msd):.2f} mm (target <= 0.7 mm).",
        "",
    ]
    return lines


def markdown(phantom: list[dict], real: dict, fast: dict | None, previous: list[dict] | None = None) -> str:
    lines = [
        "## Heart",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on 2 CPU cores shared with other jobs. Reproduce: "
        "`.venv/bin/python benchmarks/heart_bench.py --update-docs`. Engine: `classical` (no weights).",
        "",
    ]
    for paragraph in engine_history():
        lines += [paragraph, ""]
    if phantom:
        lines += phantom_table(
            phantom,
            "Phantom cases never used for tuning: seeds 49-51 (chosen after change (15), run once after it)",
        )
    if previous:
        lines += phantom_table(
            previous,
            "Second check: seeds 46-48 (held out after (14), run once; seed 48 then showed fault "
            "(15), found and fixed on it)",
        )
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
        "the diaphragm/liver (similar HU) where the reference stops; since 2026-11-28 the wall is cut "
        "there at this heart's own fat-bounded thickness, but at the lowest slices a few ml of our wall "
        "still lie below the reference's apex, next to the liver; (4) our LA "
        "body still holds the vein ostia that the reference cuts closer to the atrium; (5) our pulmonary "
        "valve sits where the muscular infundibulum ends (15 mm above the watershed neck on this scan), "
        "which raised the PA Dice from 0.804 to 0.851 against the reference (0.864 since veins fused to "
        "it are detached); (6) our aortic valve stays at the watershed cut here: the root widens "
        "right above it, and where the valve was moved 4.5 mm higher the reference left that lumen out.",
        "",
    ]
    if fast:
        busy = max(fast["load_before_after"]) > 1.5  # more runnable jobs than 2 cores can hide
        lines += [
            f"Speed: a 512x512x300, 0.5 mm volume (the real CTA resampled), 2 threads: segmentation "
            f"{fast['cpu_seconds']} s of CPU ({fast['seconds']} s wall, 1-min load average "
            f"{fast['load_before_after'][0]} before / {fast['load_before_after'][1]} after"
            + (", so the wall time is inflated by other jobs" if busy else ", a quiet machine")
            + f"), peak memory {fast['peak_rss_mb']} MiB for the whole child "
            f"process (targets <= 60 s, <= 8 GB); the child process in all (reading, resampling the "
            f"volume up, segmenting) used {fast['child_cpu_seconds']} s of CPU.",
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
    phantom = [] if args.skip_phantom else phantom_scores(CASES)
    previous = [] if args.skip_phantom else phantom_scores(PREVIOUS_HELD_OUT)
    text = markdown(phantom, real, fast, previous)
    print(text)
    if args.update_docs:
        update_docs(text)


if __name__ == "__main__":
    main()
