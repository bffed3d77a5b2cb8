"""Long soak run for the hospital's trial (e.g. 72 hours): repeats the store + audit + backup cycle
of ``CardiacPlanningLib.security.soak`` and logs, per cycle, the time, resident memory, open files
and case-folder size to a CSV file; exits 1 if anything grew or failed.

    .venv/bin/python benchmarks/soak_trial.py --hours 72 --out trial --log trial/soak.csv

The full clinical workflow (import -> segment -> propagate -> stent -> report) is not in the cycle yet.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from CardiacPlanningLib.security.soak import SoakReport, run_soak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=72.0)
    ap.add_argument("--out", type=Path, required=True, help="Working folder (a new store is made inside).")
    ap.add_argument("--log", type=Path, required=True, help="CSV log, one line per cycle.")
    ap.add_argument("--voxels", default="64,256,256", help="z,y,x of the volume saved each cycle.")
    args = ap.parse_args()
    args.log.parent.mkdir(parents=True, exist_ok=True)
    voxels = tuple(int(v) for v in args.voxels.split(","))
    start = time.time()
    with args.log.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cycle", "elapsed_s", "rss_mb", "open_fds", "case_bytes", "problems"])

        def log(c: int, rep: SoakReport) -> None:
            writer.writerow([c, round(time.time() - start, 1), round(rep.rss_mb[-1], 1), rep.fds[-1],
                             rep.case_bytes[-1], len(rep.problems)])  # fmt: skip
            f.flush()

        rep = run_soak(args.out, cycles=10**9, voxels=voxels, log=log, stop_after_s=args.hours * 3600)
    print(f"{rep.cycles} cycles in {(time.time() - start) / 3600:.2f} h; growth {rep.growth()}")
    for p in rep.problems:
        print("PROBLEM", p)
    return 1 if rep.problems else 0


if __name__ == "__main__":
    sys.exit(main())
