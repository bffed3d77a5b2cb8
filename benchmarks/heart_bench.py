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


DEEP_MODEL = (
    "Deep-model path: the shipped `phantom-tiny-unet` (ONNX, 0.77 MB, trained by\n"
    "`benchmarks/heart_train_tiny.py` in 120 iterations, 5.6 min of CPU) reaches a mean Dice of only "
    "0.210 on unseen\nphantom seed 1201 at 2.5 mm (RV 0.67, LA 0.42, RA 0.18, myocardium 0.15, LV 0.05, "
    "aorta and PA 0;\nvalidation seed 1101: 0.23). It exists to test the model path for real "
    "(`Testing/test_heart_tiny_model.py`),\nnot for use; it was not run on the real CTA."
)
ENGINE_CHANGES = (
    "Engine changes of 2026-11-28 (second round), each checked on the real CTA after it was made: "
    "(1) the LV myocardium is grown from the LV blood through the image's myocardium band (half-way "
    "between myocardium and fat .. blood threshold) up to 15 mm, and where the band runs on into "
    "liver or diaphragm it is cut at the thickness this heart shows where fat bounds it "
    "(`heart/myocardium.py`); band tissue further than a thin atrial/aortic wall (3 mm) from those "
    "cavities is ventricular muscle; (2) the pulmonary valve is put where the wall around the "
    "outflow lumen turns from muscle (infundibulum) to fat, not at the watershed neck "
    "(`heart/valves.py`); (3) the bright undiluted caval inflow at the RA roof is SVC "
    "(`circulation.split_caval_inflow`); (4) left-heart-enhanced blood in a pulmonary-artery piece "
    "touching the aorta goes back to the aorta (`circulation.reclaim_aorta`); (5) unnamed "
    "right-heart-enhanced blood-pool pieces left touching the pulmonary artery after (4) are "
    "pulmonary artery "
    "(`circulation.adopt_pulmonary_branches`). Tuned on seeds 11 and 13 (11: 1.25 mm, 20 HU; 13: "
    "1.5 mm, 15 HU) and looked at on 21-23: mean Dice 0.926 -> 0.939 on 11+13 and 0.917 -> 0.936 on "
    "21-23 (MSD 1.25 -> 0.94 mm). After (1)-(4), seeds 24-26 (1.25/1.0/1.5 mm, noise 25/30/18 HU) "
    "scored 0.9299 / 1.09 mm; their PA misses showed fault (5), which raised them to 0.935 / 0.98 mm "
    "(no longer held out). Seeds 27-29 were then run once: Dice 0.938, MSD 0.88 mm."
)
ENGINE_CHANGES_3 = (
    "Engine changes of 2026-11-28 (third round, for the surface distance), each checked on the real "
    "CTA after it was made: (6) the LA appendage is cut off where it hangs next to the mitral funnel "
    "at its neck: inside the piece the LA body's 9 mm ball opening leaves next to the LV, a watershed "
    "of the distance map puts borders at the narrowest cross-sections, and lobes touching neither the "
    "LV nor the body are branches; pieces the naming step already called pulmonary vein are "
    "appendage candidates too, the appendage being the most anterior branch anterior-left of the "
    "body (`heart/atrium.py`); (7) the aortic valve plane moves from the watershed neck inside the LV "
    "outflow tract up to the foot of the sinuses of Valsalva (cross-sectional area profile along the "
    "root's axis: the last level before the area rises towards the sinuses' largest), unless the "
    "root already widens right above the cut (`heart/aortic.py`; on the real CTA it does, and the "
    "unguarded rule moved the valve 4.5 mm into the sinuses' bowl, union 0.903 -> 0.900); (8) the "
    "aorta and pulmonary artery are re-split into fine watershed basins of the blood pool's distance "
    "map; basins joined to the label's main lumen only through a neck narrower than half their "
    "radius or enhanced differently (interior HU apart by more than 4 % of the blood-myocardium "
    "contrast: one vessel carries one blood) are another vessel fused to it by partial volume (the "
    "SVC beside the ascending aorta, pulmonary veins beside the descending aorta or under a "
    "pulmonary artery branch) and go to the label they open widely onto and are enhanced like (onto "
    "the RA: SVC or IVC), or stay unnamed (`heart/necks.py`). Tuned on seeds 11, 13 and 31-33 "
    "(31: 1.25 mm, 20 HU; 32: 1.0 mm, 26 HU; 33: 1.5 mm, 17 HU): mean Dice 0.938 -> 0.947, mean "
    "surface distance 0.890 -> 0.693 mm (LA 1.41 -> 0.88, aorta 1.13 -> 0.63, LV 0.65 -> 0.48, PA "
    "1.07 -> 0.90); real CTA heart union 0.902 -> 0.903, pulmonary artery 0.851 -> 0.864. Tried and "
    "dropped: a larger body ball to cut the flared vein vestibules (moved the appendage and body "
    "rim too), and vessel borders at half-way to their own fat surroundings (MSD worse)."
)

ENGINE_CHANGES_4 = (
    "Engine changes of 2026-11-28 (fourth round, to widen the surface-distance margin), each checked "
    "on the real CTA after it was made: (9) LV wall band that runs into the edge of the scan (an apex "
    "resting on the diaphragm at the lowest slices) is not bounded by fat and is cut at this heart's "
    "typical fat-bounded thickness like band running into liver or diaphragm, that typical "
    "thickness is the upper quartile (was the 90th percentile) of the fat-bounded thickness, and "
    "the small-gap filling of the wall takes muscle-level tissue only, not epicardial fat in dents "
    "of the outer surface (`heart/myocardium.py`, `heart/walls.py`); (10) where the left heart is "
    "clearly brighter than the right, left-heart-enhanced blood inside the pulmonary artery that "
    "touches the LA or a pulmonary vein is a vein fused to the artery by partial volume (a vein "
    "running under a branch, too thin for a core or a basin of its own): hysteresis on the "
    "left/right gap (cores nearer the left heart's HU, grown through voxels a quarter of the gap "
    "above the artery's), its partial-volume border following its nearest core "
    "(`circulation.release_pulmonary_veins`). Tuned on seeds 11, 13 and 31-33: mean Dice 0.9472 -> "
    "0.9493, mean surface distance 0.693 -> 0.670 mm (myocardium 0.81 -> 0.74, PA 0.90 -> 0.82; "
    "the other structures unchanged); real CTA heart union 0.903 -> 0.903 (ours 762.6 -> 751.9 ml, "
    "outside the reference 116.2 -> 110.3 ml), pulmonary artery 0.864 -> 0.864. Tried and dropped: "
    "(a) cutting vein ostia along the vein's centreline (skeleton) where the inscribed radius grows "
    "past 1.25 times the tube's (the phantom's veins taper towards the atrium and have no flare at "
    "the truth's cap, and short vein pieces gave wrong tube radii: LA worse); (b) a distance-map "
    "watershed between the LA body core and each vein (LA worse); (c) re-opening the body with a "
    "ball 1.5 times a wide vein's radius next to veins >= 7.2 mm in radius (LA MSD on the "
    "working grid 1.22 -> 0.86 mm on seed 31 but 0.93 -> 1.41 on seed 11 and 0.87 -> 1.43 on "
    "seed 32, where the larger ball no "
    "longer fits the flatter atrium; +5 s CPU); (d) releasing the fused veins before the neck "
    "detachment instead of after it (seeds 31/33 better, 32 worse: a lung-vessel branch then stays "
    "pulmonary artery; neutral overall); (e) keeping the voxels of a detached basin that are "
    "enhanced like the main lumen with it (neutral)."
)

ENGINE_CHANGES_5 = (
    "Engine changes of 2026-11-29 (fifth round, for the surface distance), each checked on the real "
    "CTA after it was made: (11) a part of the pulmonary artery detached by rule (8) that opens onto "
    "no chamber or vessel of its blood and holds two bloods (upper and lower tenth of its interior "
    "HU apart by more than 4 tolerances: a basin straddling a branch and a vein near the top of the "
    "scan) is split half-way between the main lumen's HU and the other blood's; the artery-like "
    "voxels joined to the main lumen stay pulmonary artery (`heart/necks.py`; only for the pulmonary "
    "artery: the SVC beside the aorta carries mixing inflow of spread HU, and the split cut it apart, "
    "aorta MSD 0.64 -> 1.00 mm over those seeds; parts that open onto a chamber, like the real "
    "CTA's upper RVOT, are not split, else its PA Dice fell 0.864 -> 0.827); (12) in the LA piece "
    "next to the mitral "
    "funnel, a vein joined to it only through the thin rim shell that the body's opening leaves "
    "(opening the piece with a 3 mm ball leaves the vein apart from the LV, reaching >= 10 mm out "
    "from the body, posterior of the body's centre where the veins join) is a pulmonary vein; and a "
    "watershed basin of that piece that opens onto the body but not the LV and runs >= 18 mm "
    "(two body-ball radii) beyond the body is a vessel, its own branch (`heart/atrium.py`). Tuned on "
    "seeds 11, 13, 31-39 (all earlier held-out sets): mean Dice 0.9483 -> 0.9506, mean surface "
    "distance 0.700 -> 0.660 mm over 11, 13, 31-33, 37-39 (seed 39 LA 2.18 -> 1.04 mm, seed 38 LA "
    "1.23 -> 0.70, PA 31/37/38 0.98/1.06/0.94 -> 0.87/1.01/0.80); 34-36 unchanged (0.665 mm); real "
    "CTA heart union 0.903 and pulmonary artery 0.864, unchanged. Tried and dropped: carrying each "
    "vein on along its own axis into the LA (cross-section marched along the vein's principal axis "
    "until the lumen grows past 1.3-1.5 times the vein's own cross-section, or its fitted widening "
    "cone): the phantom's veins widen steadily into the atrium with no step at the truth's cap, and "
    "the march either stopped at once or overran (LA MSD 1.12 -> 1.28 mm on seed 31; mean 0.661 -> "
    "0.665 mm over 11 seeds). The held-out seeds 40-42 (1.25/1.0/1.5 mm, noise 22/28/20 HU, chosen "
    "before any was run) were then run once: Dice 0.9509, mean surface distance 0.710 mm (seed 40 "
    "0.82, 41 0.63, 42 0.68): the target missed by 0.01 mm; seed 40's aorta (1.58 mm) held a 2.3 ml "
    "pulmonary vein near the top of the scan, a separate piece the naming step called aorta, which "
    "rule (8) kept as its own piece's main lumen. Hence (13): a separate piece of the aorta or "
    "pulmonary artery label whose main lumen carries other blood than the largest piece's (interior "
    "HU apart by more than rule (8)'s tolerance) is measured against the largest lumen like any "
    "other part (`heart/necks.py`): seed 40 aorta 1.58 -> 0.80 mm; the tuning seeds and the real "
    "CTA unchanged. Seeds 43-45 were chosen after (13) and run once."
    " The fourth round's held-out seeds 37-39 (used for tuning here) went from Dice 0.9468 / "
    "mean surface distance 0.75 mm to 0.9503 / 0.66 mm. (14) Where no piece next to the LV was named "
    "aorta but an LA piece was, the aortic root lies fused inside that LA piece (the root touches "
    "the LA across the aorto-mitral curtain; partial volume can join them with no neck and no HU "
    "step): the piece is re-split into fine basins of the distance map, the basins nearer the line "
    "from the LV to the aorta's prior than the line to the LA's prior that open onto the LV (and "
    "those joined to them) become a piece of their own, and the pieces are named again "
    "(`heart/assign.py`); found on seed 44 (0.884 / 2.54 mm -> 0.940 / 0.74 mm); it does not fire "
    "on seeds 11, 13, 31-43, 45 or the real CTA (unchanged)."
)


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
    lines += [DEEP_MODEL, "", ENGINE_CHANGES, "", ENGINE_CHANGES_3, "", ENGINE_CHANGES_4, ""]
    lines += [ENGINE_CHANGES_5, ""]
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
