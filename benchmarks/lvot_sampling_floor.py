"""The LVOT row's sampling floor over many seeds, cheaply (no case generated): each seed's LVOT
cylinder (annulus radius, true axis) alone, point-sampled on the demo case grid and cut 5 mm below the
annulus by the true plane (``measure_bench.lvot_sampling_floor``). Only the aortic root is built, by
repeating ``phantom.anatomy.build_anatomy``'s first random draws (checked against the phantom.json of
seeds 43, 45, 48: same floor as on the generated cases' grids).

Usage: .venv/bin/python benchmarks/lvot_sampling_floor.py --seeds 0 1 2 [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from measure_bench import lvot_sampling_floor

from CardiacPlanningLib.measure import Plane
from CardiacPlanningLib.phantom import anatomy as an
from CardiacPlanningLib.phantom.ctsim import make_output_geometry
from CardiacPlanningLib.phantom.generate import FOV_CENTER_LPS, PhantomParameters


def root_of(seed: int):
    """The seed's AorticRoot, drawn as ``build_anatomy`` draws it (same rng order)."""
    rng = np.random.default_rng(seed)
    base = an.load_heart_mesh()
    heart = base.part_points([1, 2, 3, 4, 7])
    lo, hi = heart.min(0), heart.max(0)
    offset = np.array([lo[0] + (hi[0] - lo[0]) / 3.0, 0.5 * (lo[1] + hi[1]), 0.5 * (lo[2] + hi[2])])
    scale = float(rng.uniform(0.93, 1.07))
    deform = an._seed_deformation(rng, 0.5 * (lo + hi), scale)
    return an._aortic_root(base.transformed(lambda p: deform(p) - offset), rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = {}
    for seed in args.seeds:
        root = root_of(seed)
        p = PhantomParameters(seed=seed, phases=1, dicom=False)
        geom = make_output_geometry(p.spacing_mm, p.size, FOV_CENTER_LPS)
        area = lvot_sampling_floor(geom, root, Plane(root.center - 5.0 * root.axis, root.axis))
        out[str(seed)] = round(100.0 * (area / (np.pi * root.annulus_radius**2) - 1.0), 3)
        print(seed, out[str(seed)], flush=True)
    e = np.array(list(out.values()))
    print(f"mean {e.mean():+.2f} %, sd {e.std(ddof=1):.2f}, min {e.min():+.2f}, max {e.max():+.2f}")
    if args.json:
        args.json.write_text(json.dumps({"what": __doc__.splitlines()[0], "floor_pct": out}, indent=1))


if __name__ == "__main__":
    main()
