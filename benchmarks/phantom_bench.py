"""Phantom generation time and peak memory (demo case and a clinical-size case), the docs montage.

    .venv/bin/python benchmarks/phantom_bench.py demo       # 160x160x112 @ 1.25 mm, 10 phases
    .venv/bin/python benchmarks/phantom_bench.py clinical   # 512x512x300 @ 0.5 mm, 10 phases
    .venv/bin/python benchmarks/phantom_bench.py montage    # docs/phantom_montage.png (demo geometry,
                                                            # balloon-expandable valve frame, phase 0)

Each case runs in this process; peak memory is the process's maximum resident set size
(``resource.getrusage``), CPU time is user + system. Results are appended as JSON lines to
``benchmarks/results/phantom.jsonl`` and printed.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CardiacPlanning"))

from CardiacPlanningLib.imaging.volume import Volume  # noqa: E402
from CardiacPlanningLib.phantom.generate import PhantomParameters, generate_case  # noqa: E402

CASES = {
    "demo": PhantomParameters(),
    "clinical": PhantomParameters(spacing_mm=0.5, size=(512, 512, 300), supersample=2),
}


def run(name: str, out_dir: Path, dicom: bool = True) -> dict:
    params = CASES[name]
    params.dicom = dicom
    t0, c0 = time.perf_counter(), time.process_time()
    meta = generate_case(params, out_dir)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file()) / 2**20
    result = {
        "case": name,
        "size_xyz": list(params.size),
        "spacing_mm": params.spacing_mm,
        "phases": params.phases,
        "dicom": dicom,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(peak),
        "output_mb": round(size),
        "ef_requested": params.ef,
        "ef_measured": round(meta["ejectionFraction"]["measured"], 4),
    }
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    with open(results / "phantom.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result) + "\n")
    return result


def montage(out_dir: Path) -> Path:
    from CardiacPlanningLib.phantom.montage import make_montage

    meta = json.loads((out_dir / "phantom.json").read_text())
    i = 0
    ct = Volume.read(meta["files"]["phases"][i]["ct"])
    lab = Volume.read(meta["files"]["phases"][i]["labels"])
    return make_montage(ct, lab, ROOT / "docs" / "phantom_montage.png", root=meta["aorticRoot"])


def main(argv: list[str]) -> None:
    what = argv[1] if len(argv) > 1 else "demo"
    keep = Path(argv[2]) if len(argv) > 2 else None
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp) / what
        if what == "montage":
            params = CASES["demo"]
            params.stent, params.phases, params.dicom = "valve", 2, False
            generate_case(params, out)
            sys.stdout.write(f"{montage(out)}\n")
            return
        sys.stdout.write(json.dumps(run(what, out, dicom="--no-dicom" not in argv)) + "\n")


if __name__ == "__main__":
    main(sys.argv)
