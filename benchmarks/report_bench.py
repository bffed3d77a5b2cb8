"""Report generation time and TAVR measurement accuracy on the demo phantom case.

Usage: .venv/bin/python benchmarks/report_bench.py [--case DIR] [--out /tmp/report_bench]

``--case`` is a phantom case folder (``cardiac-planning phantom`` / the demo's ``phantom`` stage);
without it the demo case is generated first (not timed). Times ``generate_report`` for TAVR (all
outputs) and PCI (PDF + CDA), and compares the automatic TAVR measurements with the phantom's
aortic root (annulus plane, coronary heights, STJ). Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from CardiacPlanningLib.progress import Progress
from CardiacPlanningLib.report.build import generate_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/report_bench"))
    args = parser.parse_args()
    case = args.case
    if case is None:
        from CardiacPlanningLib.phantom import demo_stage

        case = args.out / "case"
        demo_stage.run(case, Progress(), {})
    meta = json.loads((case / "phantom.json").read_text())
    root = meta["aorticRoot"]
    load_before = os.getloadavg()[0]
    runs = {}
    for procedure, formats in (("tavr", ("pdf", "cda", "dicom", "stl")), ("pci", ("pdf", "cda"))):
        t0 = time.perf_counter()
        res = generate_report(case, procedure, args.out / procedure, formats=formats)
        runs[procedure] = (time.perf_counter() - t0, res["seconds"])
    load_after = os.getloadavg()[0]
    measured = json.loads((args.out / "tavr" / "measurements.json").read_text())["tavr"]
    n_true = np.asarray(root["annulus_normal"])
    c_true = np.asarray(root["annulus_center"])
    n = np.asarray(measured["annulus_plane"]["normal_lps"])
    tilt = np.degrees(np.arccos(min(1.0, abs(float(n @ n_true)))))
    offset = abs(float((c_true - np.asarray(measured["annulus_plane"]["origin_lps"])) @ n))
    print("## Report\n")
    print(
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPU cores shared "
        f"with other jobs (1-min load average {load_before:.1f} before, {load_after:.1f} after), demo case "
        f"({case}). Reproduce: `.venv/bin/python benchmarks/report_bench.py`.\n"
    )
    print("| Report | total (wall) | CPU time | measure | surfaces | pictures | PDF | CDA | DICOM |")
    print("|---|---|---|---|---|---|---|---|---|")
    for procedure, (total, sec) in runs.items():
        cells = [
            f"{sec.get(k, 0):.1f} s" if k in sec else "-"
            for k in ("measure", "surfaces", "pictures", "pdf", "cda", "dicom")
        ]
        cpu = sec.get("cpu_total", float("nan"))
        print(f"| {procedure.upper()} | {total:.1f} s | {cpu:.1f} s | " + " | ".join(cells) + " |")
    print("\n| TAVR on the phantom (automatic annulus plane) | measured | phantom | error |")
    print("|---|---|---|---|")
    print(f"| annulus plane tilt | {tilt:.2f} deg | 0 | {tilt:.2f} deg |")
    print(f"| annulus centre distance from the plane | {offset:.2f} mm | 0 | {offset:.2f} mm |")
    for side, p in root["ostia"].items():
        true_h = float((np.asarray(p) - c_true) @ n_true)
        h = measured["coronary_heights_mm"][side]
        print(f"| {side} coronary height | {h:.2f} mm | {true_h:.2f} mm | {h - true_h:+.2f} mm |")
    stj = measured["stj"]
    print(
        f"| STJ area-derived diameter | {stj['area_derived_diameter_mm']:.2f} mm | "
        f"{2 * root['stj_radius_mm']:.2f} mm | "
        f"{stj['area_derived_diameter_mm'] - 2 * root['stj_radius_mm']:+.2f} mm |"
    )
    print(
        f"| STJ height (ridge) | {stj['height_mm']:.2f} mm | {root['root_height_mm']:.2f} mm | "
        f"{stj['height_mm'] - root['root_height_mm']:+.2f} mm |"
    )
    a = measured["annulus"]
    circle = np.pi * root["annulus_radius_mm"] ** 2
    print(
        f"| annulus area | {a['area_mm2']:.1f} mm2 | {circle:.1f} mm2 (annulus circle) | "
        f"{100 * (a['area_mm2'] / circle - 1):+.1f} % |"
    )
    print(f"\nPeak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.")


if __name__ == "__main__":
    main()
