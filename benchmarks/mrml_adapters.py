"""Speed and memory of the MRML adapters (CardiacPlanningLib.mrml) on full-size cardiac CT data.

Usage: .venv/bin/python benchmarks/mrml_adapters.py [--slices 160] [--phases 10]

Headless, on slicer-core: a 512 x 512 x N int16 CT to a volume node and back, a label map with the
nine fixed structures (spheres) to a segmentation node and back (checked equal), and ``--phases``
512 x 512 x 32 phases to a sequence whose every phase is then shown through the browser.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from CardiacPlanningLib import mrml
from CardiacPlanningLib.imaging import Volume


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def _spheres(shape: tuple[int, int, int]) -> np.ndarray:
    """Labels 1-9 as spheres of radius 30 voxels along a diagonal (overlaps go to the higher label)."""
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    labels = np.zeros(shape, np.uint8)
    for value in range(1, 10):
        c = (shape[0] * value / 10, 60 + 40 * value, 80 + 35 * value)
        labels[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 < 30**2] = value
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=160)
    parser.add_argument("--phases", type=int, default=10)
    args = parser.parse_args()
    scene = mrml.new_scene()
    rng = np.random.default_rng(0)
    spacing, origin = (0.39, 0.39, 0.5), (-100.0, -100.0, 50.0)
    ct = Volume(rng.integers(-1024, 1500, size=(args.slices, 512, 512), dtype=np.int16), spacing, origin)
    node, t_to_node = _timed(lambda: mrml.volume_to_node(ct, scene, name="CT"))
    back, t_from_node = _timed(lambda: mrml.node_to_volume(node))
    assert np.array_equal(back.array, ct.array) and back.same_geometry(ct, tol=0)

    label_map = Volume(_spheres(ct.shape), spacing, origin)
    segmentation, t_to_seg = _timed(lambda: mrml.labelmap_to_segmentation(label_map, scene))
    exported, t_from_seg = _timed(lambda: mrml.segmentation_to_labelmap(segmentation))
    assert np.array_equal(exported.array, label_map.array)

    phases = [Volume(ct.array[:32] + 10 * k, spacing, origin) for k in range(args.phases)]
    (_sequence, browser), t_sequence = _timed(lambda: mrml.phases_to_sequence(phases, scene))
    t0 = time.perf_counter()
    for k in range(args.phases):
        shown = mrml.node_to_volume(mrml.select_phase(browser, k))
        assert shown.array[0, 0, 0] == phases[k].array[0, 0, 0]
    t_browse = (time.perf_counter() - t0) / args.phases

    mib = ct.array.nbytes / 2**20
    print(f"CT 512x512x{args.slices} int16 ({mib:.0f} MiB):")
    print(f"  volume_to_node            {t_to_node:6.2f} s")
    print(f"  node_to_volume            {t_from_node:6.2f} s")
    print("label map, 9 structures (same grid, uint8):")
    print(f"  labelmap_to_segmentation  {t_to_seg:6.2f} s")
    print(f"  segmentation_to_labelmap  {t_from_seg:6.2f} s  (equal to the input)")
    print(f"{args.phases} phases of 512x512x32:")
    print(f"  phases_to_sequence        {t_sequence:6.2f} s")
    print(f"  select_phase + read back  {t_browse:6.2f} s per phase")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
