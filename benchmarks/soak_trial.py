"""The hospital's long trial run (e.g. 72 hours) of the encrypted store and the clinical workflow.

    # the whole workflow through the store (import -> heart -> propagate -> stent -> report -> backup):
    .venv/bin/python benchmarks/soak_trial.py --workflow --hours 72 --out trial --log trial/soak.csv
    # only the store + audit + backup cycle (larger volumes):
    .venv/bin/python benchmarks/soak_trial.py --hours 72 --out trial --log trial/soak.jsonl

Each cycle appends one record to the log (CSV, or JSON lines when the name ends in .jsonl) as soon as
it ends, flushed and fsynced, so the log survives a crash of the run: time, elapsed seconds, resident
memory (MB), open file descriptors, bytes of the case folders, of the kept backup sets and of the
audit log, RAM working folders left, seconds per stage, and problems so far. At the end it prints the
growth between the middle and the last third of the run and exits 1 if anything grew or failed
(docs/emergency.md, "72-hour trial run").
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

from CardiacPlanningLib.security.soak import SoakReport, run_soak
from CardiacPlanningLib.security.workflow_soak import STAGES, workflow_soak

COLUMNS = ["cycle", "time", "elapsed_s", "rss_mb", "open_fds", "case_bytes", "backup_bytes", "audit_bytes",
           "stage_dirs", *[f"{s}_s" for s in STAGES], "problems"]  # fmt: skip


class CycleLog:
    """Append-only CSV or JSON-lines log, one durable line per cycle."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.jsonl = path.suffix.lower() == ".jsonl"
        self.file = path.open("w", newline="", encoding="utf-8")
        self.writer = None if self.jsonl else csv.DictWriter(self.file, COLUMNS, extrasaction="ignore")
        if self.writer:
            self.writer.writeheader()

    def write(self, row: dict) -> None:
        if self.jsonl:
            self.file.write(json.dumps(row) + "\n")
        else:
            self.writer.writerow(row)
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--hours", type=float, default=72.0, help="Duration (the run stops after the cycle in progress)."
    )
    ap.add_argument("--cycles", type=int, default=10**9, help="At most this many cycles.")
    ap.add_argument("--out", type=Path, required=True, help="Working folder (a new store is made inside).")
    ap.add_argument("--log", type=Path, required=True, help="Per-cycle log: .csv or .jsonl.")
    ap.add_argument("--workflow", action="store_true", help="Run the whole clinical workflow each cycle.")
    ap.add_argument("--voxels", default="64,256,256", help="Store-only cycle: z,y,x of the volume saved.")
    ap.add_argument("--max-rss-growth-mb", type=float, default=30.0)
    args = ap.parse_args()
    log = CycleLog(args.log)
    start = time.time()

    def record(c: int, rep: SoakReport) -> None:
        row = {
            "cycle": c,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "elapsed_s": round(time.time() - start, 1),
            "rss_mb": round(rep.rss_mb[-1], 1),
            "open_fds": rep.fds[-1],
            "case_bytes": rep.case_bytes[-1],
            "problems": len(rep.problems),
        }
        for name in ("backup_bytes", "audit_bytes", "stage_dirs"):
            if getattr(rep, name, None):
                row[name] = getattr(rep, name)[-1]
        for stage, seconds in (rep.seconds[-1] if getattr(rep, "seconds", None) else {}).items():
            row[f"{stage}_s"] = seconds
        log.write(row)

    seconds = args.hours * 3600
    try:
        if args.workflow:
            rep = workflow_soak(args.out, args.cycles, args.max_rss_growth_mb, record, stop_after_s=seconds)
        else:
            voxels = tuple(int(v) for v in args.voxels.split(","))
            rep = run_soak(
                args.out, args.cycles, voxels, args.max_rss_growth_mb, record, stop_after_s=seconds
            )
    finally:
        log.close()
    growth = rep.growth() if rep.cycles >= 3 else {}
    hours = (time.time() - start) / 3600
    print(f"{rep.cycles} cycles in {hours:.2f} h; growth (last third - middle third): {growth}")
    for p in rep.problems:
        print("PROBLEM", p)
    return 1 if rep.problems else 0


if __name__ == "__main__":
    sys.exit(main())
