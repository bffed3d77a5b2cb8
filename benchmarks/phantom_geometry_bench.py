"""Speed and placement quality of the phantom coronary tree and devices, and speed of the metrics.

    .venv/bin/python benchmarks/phantom_geometry_bench.py --seeds 0 1 2 3 4

For each seed: the real-heart anatomy (phantom.anatomy, 1 mm grid) -> coronary tree build time and
the tissue under every centreline point (should be epicardial fat, not a chamber or myocardium);
then on a clinical-size 512x512x300 grid at 0.5 mm the partial-volume occupancy of the tree,
calcium, a coronary stent and both valve frames; then the metric helpers on 512x512x300 masks.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from CardiacPlanningLib import metrics
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.phantom.anatomy import build_anatomy
from CardiacPlanningLib.phantom.coronary import build_coronary_tree, calcium_occupancy, tree_occupancy
from CardiacPlanningLib.phantom.devices import coronary_stent, valve_frame, wire_occupancy
from CardiacPlanningLib.phantom.shapes import Grid

HEART_TISSUE = [1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 17, 18]  # chambers, vessels, myocardium, walls


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        anatomy = build_anatomy(Grid(np.array([-110.0, -110.0, -110.0]), 1.0, (220, 220, 220)), seed=seed)
        tree, t_tree = timed(
            build_coronary_tree,
            anatomy,
            seed,
            stenoses=[{"branch": "LAD", "position": 0.3, "percent": 70}],
            calcified=True,
        )
        g = anatomy.grid
        pts = np.vstack([b.points[b.arc_length > 2.0] for b in tree.branches])  # past the ostia
        ijk = np.rint((pts - g.origin) / g.spacing).astype(int)
        in_heart = np.isin(anatomy.tissue[ijk[:, 2], ijk[:, 1], ijk[:, 0]], HEART_TISSUE).mean()
        lengths = {b.name: b.length_mm for b in tree.branches}
        rows.append((seed, t_tree, in_heart, lengths["LAD"], lengths["LCX"], lengths["RCA"]))
        print(
            f"seed {seed}: tree {t_tree:.2f} s, {100 * in_heart:.1f} % of centreline points in heart tissue"
        )
    print("| seed | tree build | points in heart tissue | LAD / LCX / RCA length |")
    for seed, t, f, a, b, c in rows:
        print(f"| {seed} | {t:.2f} s | {100 * f:.1f} % | {a:.0f} / {b:.0f} / {c:.0f} mm |")

    pts = np.vstack([b.points for b in tree.branches])
    center = 0.5 * (pts.min(0) + pts.max(0))
    ref = Volume(
        np.zeros((300, 512, 512), np.uint8), (0.5, 0.5, 0.5), center - np.array([255.5, 255.5, 149.5]) * 0.5
    )
    (left, right), t_occ = timed(tree_occupancy, tree, ref)
    _, t_ca = timed(calcium_occupancy, tree, ref)
    stent = coronary_stent(tree.branch("LAD"), 0.2, 18.0, rng=0)
    occ_stent, t_stent = timed(wire_occupancy, stent, ref)
    out = [
        ("tree_occupancy (left + right)", t_occ),
        ("calcium_occupancy", t_ca),
        ("coronary stent 18 mm", t_stent),
    ]
    for style in ("balloon_expandable", "self_expanding"):
        dev = valve_frame(anatomy.aortic_root, style, rng=0)
        occ, t = timed(wire_occupancy, dev, ref)
        err = float(occ.sum()) * ref.voxel_volume_mm3 / dev.wire_volume_mm3 - 1.0
        out.append((f"valve frame {style} (volume error {100 * err:+.1f} %)", t))
    err = float(occ_stent.sum()) * ref.voxel_volume_mm3 / stent.wire_volume_mm3 - 1.0
    out[2] = (f"coronary stent 18 mm (volume error {100 * err:+.1f} %)", t_stent)
    tube = sum(float(np.sum(np.pi * b.radii[:-1] ** 2 * np.diff(b.arc_length))) for b in tree.branches)
    occupied = float(left.sum() + right.sum()) * ref.voxel_volume_mm3
    print(f"tree lumen volume {occupied:.0f} mm3 vs swept-tube integral {tube:.0f} mm3")
    print("| 512x512x300 at 0.5 mm, supersample 3 | time |")
    for name, t in out:
        print(f"| {name} | {t:.2f} s |")

    z, y, x = np.ogrid[:300, :512, :512]
    a = (x - 256.0) ** 2 + (y - 256.0) ** 2 + ((z - 150.0) * 1.0) ** 2 <= 100.0**2
    b = (x - 260.0) ** 2 + (y - 256.0) ** 2 + ((z - 150.0) * 1.0) ** 2 <= 100.0**2
    d, t_dice = timed(metrics.dice, a, b)
    sd, t_sd = timed(metrics.surface_distances, a, b, (0.5, 0.5, 0.5))
    print("| metric on 512x512x300 masks (spheres r 50 mm, 2 mm apart) | time | value |")
    print(f"| dice | {t_dice:.2f} s | {d:.4f} |")
    print(
        f"| surface_distances | {t_sd:.2f} s | mean {sd.mean_mm:.2f} / HD95 {sd.hd95_mm:.2f} / "
        f"max {sd.max_mm:.2f} mm |"
    )
    ref_line = tree.branch("LAD")
    ev = ref_line.points + np.array([0.5, 0.0, 0.0])
    sc, t_cl = timed(metrics.centerline_scores, ref_line.points, ref_line.radii, ev)
    print(
        f"| centerline_scores, LAD {ref_line.length_mm:.0f} mm shifted 0.5 mm | {t_cl:.2f} s | "
        f"OV {sc.ov:.3f} AI {sc.ai_mm:.2f} mm |"
    )
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
