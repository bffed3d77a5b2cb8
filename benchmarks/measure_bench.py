"""Planning measurements on phantom cases against their known geometry (several seeds).

Usage: .venv/bin/python benchmarks/measure_bench.py [--seeds 3 4 5 6] [--work /tmp/measure_bench]
[--json benchmarks/results/measure_SEEDS.json]

For each seed a one-phase phantom case (demo size, 160 x 160 x 112 at 1.25 mm, no DICOM) is generated
into ``WORK/case<seed>`` unless it is already there, measured with ``measure_case`` (TAVR with the
automatic annulus plane, PPVI, TEER) and compared with the phantom's truth: the aortic root of
``phantom.json`` (annulus circle continuous with the LVOT, STJ ridge, ostia) and, from the same seed's
anatomy (built on the case's own reference grid), the root's lumen (sinus: the analytic root less
the heart chambers the phantom paints over it, ``phantom.anatomy.root_section_truth``), the pulmonary
trunk and arteries (crotch of the bifurcation) and the mitral annulus (the LA opening of the mesh).
The MPA length is also measured on a taller scan of the same seed (``WORK/tall<seed>``, 136 slices:
the demo-size scan ends at or below the pulmonary bifurcation on most seeds, where the measurement
reports "not measured", n/m in the table; the "within" column counts only measured cases). Prints
one Markdown table (rows = quantities, columns = seeds) and the limits of issue 9 (lengths 0.5 mm,
areas 2 %, coronary heights 0.5 mm, projection angles 2 deg).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from CardiacPlanningLib.measure import Plane, coplanar_cra, outline_metrics, perpendicular_view, view_vector
from CardiacPlanningLib.measure.case import measure_case
from CardiacPlanningLib.phantom.anatomy import build_anatomy, root_section_truth
from CardiacPlanningLib.phantom.generate import PhantomParameters, generate_case
from CardiacPlanningLib.phantom.shapes import Grid

TALL_SIZE = (160, 160, 136)  # the demo size with 24 more slices: the pulmonary bifurcation in view


def _truth_section(root, h: float):
    theta = np.linspace(-np.pi, np.pi, 1440, endpoint=False)
    r = root.radius(np.full_like(theta, h), theta)
    return outline_metrics(np.stack([r * np.cos(theta), r * np.sin(theta)], 1), Plane(root.center, root.axis))


def _overpainted_mm2(case: Path, root, h: float) -> float:
    """Area (mm^2) inside the true root outline at height ``h`` that the phantom painted as LA (4) or
    atrial wall (18) (the chambers are painted after the root), by nearest-voxel lookup every 0.1 mm."""
    from matplotlib.path import Path as MplPath

    from CardiacPlanningLib.imaging.volume import Volume

    lab = Volume.read(sorted((case / "labels").glob("*.nii*"))[0])
    theta = np.linspace(-np.pi, np.pi, 1440, endpoint=False)
    r = root.radius(np.full_like(theta, h), theta)
    ring = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    g = np.arange(-30.0, 30.0, 0.1)
    uv = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    uv = uv[MplPath(ring).contains_points(uv)]
    pts = root.center + h * root.axis + uv[:, :1] * root.e1 + uv[:, 1:] * root.e2
    ijk = np.round(lab.lps_to_index(pts)).astype(int)
    vals = lab.array[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    return float(np.isin(vals, (4, 18)).sum() * 0.01)


def sampled_cylinder(labelmap, center, axis, radius_mm: float, half_length_mm: float = 20.0):
    """The truth's LVOT cylinder alone (``radius_mm`` about the line through ``center`` along ``axis``,
    LPS mm, ``half_length_mm`` either side of ``center``) point-sampled on ``labelmap``'s grid as the
    phantom samples its tissue (a voxel is 1 when its centre is inside, ``phantom.ctsim``): a uint8
    Volume of the same geometry."""
    from CardiacPlanningLib.imaging.volume import Volume

    c, n = np.asarray(center, float), np.asarray(axis, float) / np.linalg.norm(axis)
    reach = half_length_mm + radius_mm + 2.0
    corners = np.array([[a, b, d] for a in (-1, 1) for b in (-1, 1) for d in (-1, 1)], float) * reach
    ijk = labelmap.lps_to_index(c + corners)
    shape = np.array(labelmap.shape[::-1])
    lo = np.clip(np.floor(ijk.min(0)).astype(int), 0, shape - 1)
    hi = np.clip(np.ceil(ijk.max(0)).astype(int), 0, shape - 1)
    kk, jj, ii = np.meshgrid(*(np.arange(lo[a], hi[a] + 1) for a in (2, 1, 0)), indexing="ij")
    q = labelmap.index_to_lps(np.stack([ii, jj, kk], -1).reshape(-1, 3).astype(float)) - c
    h = q @ n
    inside = ((q * q).sum(1) - h * h <= radius_mm**2) & (np.abs(h) <= half_length_mm)
    arr = np.zeros(labelmap.shape, np.uint8)
    arr[kk.ravel(), jj.ravel(), ii.ravel()] = inside
    return Volume(arr, labelmap.spacing, labelmap.origin, labelmap.direction)


def lvot_sampling_floor(labelmap, root, plane: Plane) -> float:
    """Area (mm^2) of the section by ``plane`` of the root's LVOT cylinder (annulus radius, true axis)
    point-sampled on ``labelmap``'s grid, measured as ``tavr`` measures the LVOT (the 1.25 mm
    label map's own floor for the LVOT row; nothing else of the anatomy in it)."""
    from CardiacPlanningLib.measure.section import MaskSampler

    cyl = sampled_cylinder(labelmap, root.center, root.axis, root.annulus_radius)
    sampler = MaskSampler(cyl, 1, plane.origin, 40.0)
    return sampler.section(plane, radius_mm=45.0, step_mm=0.3, diameters=False).area_mm2


def reference_anatomy(seed: int):
    """The seed's anatomy painted on the reference grid the case generator uses for a demo-size
    one-phase case (the grid of ``generate.build_case``; the image is rendered from its tissue)."""
    from CardiacPlanningLib.phantom.ctsim import make_output_geometry
    from CardiacPlanningLib.phantom.generate import FOV_CENTER_LPS

    params = PhantomParameters(seed=seed, phases=1, dicom=False)
    geom = make_output_geometry(params.spacing_mm, params.size, FOV_CENTER_LPS)
    factor = params.ref_factor or (2 if params.spacing_mm > 0.7 else 1)
    ref = params.spacing_mm / factor
    margin = np.ceil(6.0 / ref) * ref
    lo = np.asarray(geom.origin) - margin
    extent = (np.array(params.size) - 1) * params.spacing_mm + 2 * margin
    grid = Grid(lo, ref, tuple(int(np.ceil(e / ref)) + 1 for e in extent[::-1]))
    return build_anatomy(grid, seed)


def compare(case: Path, seed: int) -> dict[str, tuple[float, str, float]]:
    """{quantity: (error, unit, limit)} of one case."""
    meta = json.loads((case / "phantom.json").read_text())
    truth = meta["aorticRoot"]
    anatomy = reference_anatomy(seed)
    root = anatomy.root
    t = measure_case(case, "tavr")["tavr"]
    n_true = np.asarray(truth["annulus_normal"])
    c_true = np.asarray(truth["annulus_center"])
    n = np.asarray(t["annulus_plane"]["normal_lps"])
    out: dict[str, tuple[float, str, float]] = {}
    out["annulus plane tilt"] = (float(np.degrees(np.arccos(min(1.0, abs(n @ n_true))))), "deg", 2.0)
    out["annulus centre to plane"] = (
        abs(float((c_true - np.asarray(t["annulus_plane"]["origin_lps"])) @ n)),
        "mm",
        0.5,
    )
    a = t["annulus"]
    out["annulus area"] = (100 * (a["area_mm2"] / truth["annulus_area_mm2"] - 1), "%", 2.0)
    out["annulus perimeter"] = (100 * (a["perimeter_mm"] / truth["annulus_perimeter_mm"] - 1), "%", 2.0)
    out["annulus area-derived diameter"] = (
        a["area_derived_diameter_mm"] - 2 * truth["annulus_radius_mm"],
        "mm",
        0.5,
    )
    out["annulus min / max diameter (ellipse axes), larger error"] = (
        max(abs(a[k] - 2 * truth["annulus_radius_mm"]) for k in ("min_diameter_mm", "max_diameter_mm")),
        "mm",
        0.5,
    )
    out["annulus Feret min / max, larger error (not reported)"] = (
        max(
            abs(a[k] - 2 * truth["annulus_radius_mm"])
            for k in ("feret_min_diameter_mm", "feret_max_diameter_mm")
        ),
        "mm",
        0.5,
    )
    lvot = t["lvot"]
    out["LVOT area (5 mm below)"] = (100 * (lvot["area_mm2"] / truth["annulus_area_mm2"] - 1), "%", 2.0)
    # diagnostic split of that row: the truth cylinder alone point-sampled on the case's grid and cut
    # by the measured LVOT plane (the label map's own floor, set by where the 1.25 mm voxel centres fall
    # on the circle: seed 48 -1.9 %, the same cylinder 0.6 mm further along y 0.0 %), and the
    # measurement against that (the rest: the LV beyond the cylinder's end 1.5 mm below the plane)
    from CardiacPlanningLib.imaging.volume import Volume

    lab = Volume.read(sorted((case / "labels").glob("*.nii*"))[0])
    floor = lvot_sampling_floor(lab, root, Plane(np.asarray(t["annulus_plane"]["origin_lps"]) - 5.0 * n, n))
    out["LVOT: truth cylinder sampled on the case grid (diagnostic)"] = (
        100 * (floor / truth["annulus_area_mm2"] - 1),
        "%",
        2.0,
    )
    out["LVOT area vs the sampled truth cylinder (diagnostic)"] = (
        100 * (lvot["area_mm2"] / floor - 1),
        "%",
        2.0,
    )
    sinus = t["sinus"]
    ts = _truth_section(root, sinus["height_mm"])
    # truth: the root's lumen as the phantom's anatomy has it (analytic root less the chambers
    # painted over the non-coronary sinus, phantom.anatomy.root_section_truth)
    lumen = root_section_truth(anatomy, sinus["height_mm"])
    out["sinus area"] = (100 * (sinus["area_mm2"] / lumen["area_mm2"] - 1), "%", 2.0)
    out["sinus area vs analytic root (old truth, diagnostic)"] = (
        100 * (sinus["area_mm2"] / ts.area_mm2 - 1),
        "%",
        2.0,
    )
    painted = ts.area_mm2 - _overpainted_mm2(case, root, sinus["height_mm"])
    out["sinus area vs painted labels (diagnostic)"] = (100 * (sinus["area_mm2"] / painted - 1), "%", 2.0)
    out["sinus max diameter"] = (sinus["max_diameter_mm"] - ts.max_diameter_mm, "mm", 0.5)
    stj = t["stj"]
    out["STJ height"] = (stj["height_mm"] - truth["stj_height_mm"], "mm", 0.5)
    out["STJ area-derived diameter"] = (
        stj["area_derived_diameter_mm"] - 2 * truth["stj_radius_mm"],
        "mm",
        0.5,
    )
    for side, p in truth["ostia"].items():
        h = float((np.asarray(p) - c_true) @ n_true)
        out[f"{side} coronary height"] = (t["coronary_heights_mm"][side] - h, "mm", 0.5)
    for lao in (-30.0, 0.0, 30.0):
        err = float(coplanar_cra(n, lao) - coplanar_cra(n_true, lao))
        out[f"coplanar CRA/CAU at {'RAO' if lao < 0 else 'LAO'} {abs(lao):.0f}"] = (err, "deg", 2.0)
    # en-face view: angle between the measured and the true viewing directions (either sign)
    v, v_true = (view_vector(*perpendicular_view(x)) for x in (n, n_true))
    out["en-face view direction"] = (
        float(np.degrees(np.arccos(min(1.0, abs(float(v @ v_true)))))),
        "deg",
        2.0,
    )
    # PPVI: the phantom's pulmonary trunk is a straight tube from the valve cap (open start)
    p = measure_case(case, "ppvi")["ppvi"]
    from CardiacPlanningLib.phantom.anatomy import mpa_length_truth

    mpa = mpa_length_truth(anatomy.centerlines)
    if p.get("mpa"):
        out["MPA area-derived diameter"] = (
            p["mpa"]["area_derived_diameter_mm"] - 2 * mpa["radius_mm"],
            "mm",
            0.5,
        )
    length = mpa["mpa_length_mm"]  # valve to the crotch of the bifurcation, as measured
    # on the demo-size scan (z up to 75.4 mm LPS) the bifurcation lies at or above the scan's top on
    # most seeds: the measurement then says "not measured" (nan here); a taller scan of the same
    # anatomy (136 slices instead of 112, 10 mm more at either end) shows it
    out["MPA length (valve to crotch), demo-size scan"] = (
        float("nan") if p["mpa_length_mm"] is None else p["mpa_length_mm"] - length,
        "mm",
        0.5,
    )
    tall = case.parent / f"tall{seed}"
    if not (tall / "phantom.json").is_file():
        generate_case(PhantomParameters(seed=seed, phases=1, dicom=False, size=TALL_SIZE), tall)
    pt = measure_case(tall, "ppvi")["ppvi"]
    out["MPA length (valve to crotch), 136-slice scan"] = (
        float("nan") if pt["mpa_length_mm"] is None else pt["mpa_length_mm"] - length,
        "mm",
        0.5,
    )
    # TEER: the mitral-valve cap of the heart mesh
    from CardiacPlanningLib.errors import CardiacInputError

    try:
        m = measure_case(case, "teer")["teer"]
    except CardiacInputError as exc:  # recorded as not measured
        print(f"seed {seed}: TEER failed: {exc}")
        return out
    mt = anatomy.mitral_annulus_dict()
    n_m = np.asarray(m["mitral_plane"]["normal_lps"])
    out["mitral plane tilt (diagnostic)"] = (
        float(np.degrees(np.arccos(min(1.0, abs(float(n_m @ mt["normal"])))))),
        "deg",
        2.0,
    )
    out["mitral AP diameter"] = (m["ap_diameter_mm"] - mt["ap_diameter_mm"], "mm", 0.5)
    out["mitral intercommissural diameter"] = (
        m["intercommissural_diameter_mm"] - mt["intercommissural_diameter_mm"],
        "mm",
        0.5,
    )
    # projected area of the LA opening in its plane (the truth's ring in loop order since 2026-11-29)
    out["mitral annulus area"] = (100 * (m["mitral_annulus"]["area_mm2"] / mt["area_mm2"] - 1), "%", 2.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6])
    parser.add_argument("--work", type=Path, default=Path("/tmp/measure_bench"))
    parser.add_argument("--json", type=Path, default=None, help="also write the errors to this JSON file")
    args = parser.parse_args()
    results = {}
    t0 = time.perf_counter()
    for seed in args.seeds:
        case = args.work / f"case{seed}"
        if not (case / "phantom.json").is_file():
            generate_case(PhantomParameters(seed=seed, phases=1, dicom=False), case)
        results[seed] = compare(case, seed)
    seeds = list(results)
    print(
        "| quantity (error = measured - truth) | limit | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " | within |"
    )
    print("|---|---|" + "---|" * len(seeds) + "---|")
    for key, (_, unit, limit) in results[seeds[0]].items():
        errs = [results[s][key][0] if key in results[s] else float("nan") for s in seeds]
        ok = sum(abs(e) <= limit for e in errs if np.isfinite(e))
        nm = sum(not np.isfinite(e) for e in errs)  # not measured (the measurement's own verdict)
        cells = " | ".join(f"{e:+.2f}" if np.isfinite(e) else "n/m" for e in errs)
        within = f"{ok}/{len(seeds) - nm}" + (f" ({nm} n/m)" if nm else "") if nm < len(seeds) else "n/m"
        print(f"| {key} ({unit}) | {limit:g} | {cells} | {within} |")
    print(f"\n{len(seeds)} cases in {time.perf_counter() - t0:.0f} s (including generation).")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        rows = {
            key: {
                "unit": unit,
                "limit": limit,
                "errors": {
                    str(s): (
                        None
                        if key not in results[s] or not np.isfinite(results[s][key][0])
                        else round(float(results[s][key][0]), 4)
                    )
                    for s in seeds
                },
            }
            for key, (_, unit, limit) in results[seeds[0]].items()
        }
        args.json.write_text(json.dumps({"seeds": seeds, "quantities": rows}, indent=1))


if __name__ == "__main__":
    main()
