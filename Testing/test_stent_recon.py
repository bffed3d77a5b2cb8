"""Stent / valve-frame reconstruction on a small synthetic valve frame (phantom struts, PSF, blooming,
noise): accuracy of every algorithm against the true envelope, no-metal errors, writers and CLI."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from stent_fixtures import coronary_case, envelope_distance, tube_envelope_distance, valve_case

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.markups import Markups, write_markups
from CardiacPlanningLib.stent import algorithms, pipeline, region
from CardiacPlanningLib.stent.geometry import triangle_samples
from CardiacPlanningLib.stent.score import lateral_triangles

logger = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def case():
    return valve_case(seed=1)


@pytest.fixture(scope="module")
def results(case):
    ct, lab, dev = case
    reg = region.region_from_label(ct, lab, 6)
    return pipeline.reconstruct_all(ct, reg, "valve")


def test_metal_threshold_adapts_to_blood(case):
    ct, lab, _ = case
    m = region.detect_metal(region.region_from_label(ct, lab, 6))
    assert m.blood_median_hu == pytest.approx(350.0, abs=20.0)
    assert m.threshold_hu >= 700.0
    assert m.mask.sum() > 1000


def test_every_algorithm_is_close_to_the_true_envelope(case, results):
    _, _, dev = case
    recs, _ = results
    assert sorted(r.name for r, _ in recs) == sorted(algorithms.ALGORITHMS)
    mean = {}
    for rec, _ in recs:
        c, a, _ = triangle_samples(rec.mesh)
        mean[rec.name] = float((envelope_distance(c, dev) * a).sum() / a.sum())
        assert abs(np.median(rec.radius_profile) - dev.radius_profile.mean()) < 0.5, rec.name
    logger.warning("mean area-weighted distance to the true envelope (mm): %s", mean)
    # measured: tube_fit 0.048, deformable_cylinder 0.050, threshold_surface 0.21 mm (target 0.25 mm)
    assert min(mean.values()) < 0.15
    assert max(mean.values()) < 0.35


def test_scores_are_ranked_and_high_on_an_apposed_frame(results):
    recs, _ = results
    totals = [s.total for _, s in recs]
    assert totals == sorted(totals, reverse=True)
    best = recs[0][1]
    assert best.apposition > 90.0 and best.completeness > 90.0


def test_no_metal_region_gives_no_device_found(case):
    ct, lab, _ = case
    blank = ct.with_array(np.where(lab.array == 16, 350, ct.array).astype(np.int16))
    blank = blank.with_array(np.minimum(blank.array, 450).astype(np.int16))
    with pytest.raises(region.NoDeviceFoundError, match="no device found in .*label 6"):
        pipeline.reconstruct_all(blank, region.region_from_label(blank, lab, 6), "valve")
    assert issubclass(region.NoDeviceFoundError, CardiacInputError)


def test_bad_inputs_name_the_input(case):
    ct, lab, _ = case
    with pytest.raises(CardiacInputError, match="no voxel has label 9"):
        region.region_from_label(ct, lab, 9)
    with pytest.raises(CardiacInputError, match="kind"):
        pipeline.reconstruct_all(ct, region.region_from_label(ct, lab, 6), "pacemaker")


def test_cli_writes_meshes_scores_and_ranking(case, tmp_path):
    ct, _, _ = case
    image = ct.write(tmp_path / "ct.nrrd")
    bounds = np.array(ct.physical_bounds())  # the whole image, corners 1 mm inside
    box = np.array([bounds[:, 0] + 1.0, bounds[:, 1] - 1.0])
    write_markups(Markups.from_points(box, name="box"), tmp_path / "box.mrk.json")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["stent", str(image), "--region", str(tmp_path / "box.mrk.json"), "--out", str(out), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    ranking = json.loads((out / "ranking.json").read_text())
    assert len(ranking["ranking"]) == 3
    for name in algorithms.ALGORITHMS:
        assert (out / f"{name}.vtp").stat().st_size > 1000 and (out / f"{name}.stl").stat().st_size > 1000
        axis = json.loads((out / f"{name}_axis.json").read_text())
        assert len(axis["axis"]) == len(axis["radiusProfileMm"])
        sc = json.loads((out / f"{name}_score.json").read_text())
        assert sc["apposition"] is None and 0 <= sc["total"] <= 100
    res = CliRunner().invoke(cli, ["stent", str(image), "--region", str(image), "--out", str(out)])
    assert res.exit_code != 0 and "--label" in res.output


def test_curved_coronary_stent_within_a_quarter_millimetre():
    # a parabolic bend of 12 mm over the 30 mm vessel: the stent's ends are 4.3 mm off its chord,
    # radius of curvature 9.4 mm at the apex (a straight PCA axis gave 0.20 mm, the curved one 0.14)
    ct, lab, dev = coronary_case(bend_mm=12.0)
    recs, metal = pipeline.reconstruct_all(ct, region.region_from_label(ct, lab, 8), "coronary")
    assert metal.threshold_hu < 700.0  # thin struts: the adaptive term, not the valve floor
    mean = {}
    for rec, _ in recs:
        c, a, n = triangle_samples(rec.mesh)
        _, lateral = lateral_triangles(rec, c, n)
        mean[rec.name] = float(
            (tube_envelope_distance(c[lateral], dev) * a[lateral]).sum() / a[lateral].sum()
        )
    logger.warning("coronary: mean lateral distance to the true envelope (mm): %s", mean)
    # measured: tube_fit 0.150, deformable_cylinder 0.142, threshold_surface 0.21 mm
    assert min(mean.values()) < 0.18
    chord = dev.axis[-1] - dev.axis[0]
    sag = np.linalg.norm(np.cross(dev.axis - dev.axis[0], chord / np.linalg.norm(chord)), axis=1).max()
    assert sag > 3.0  # the constructed stent is really curved
    best = recs[0][0]
    off = tube_envelope_distance(
        best.axis, SimpleNamespace(axis=dev.axis, radius_profile=0 * dev.radius_profile)
    )
    assert np.median(off) < 0.2  # the reconstructed axis follows the curve
    assert recs[0][0].name != "threshold_surface"  # the score ranks a more accurate one first


def test_calcium_against_the_struts_does_not_derail_the_fit():
    ct, lab, dev = valve_case(seed=3, calcium=3)
    recs, _ = pipeline.reconstruct_all(ct, region.region_from_label(ct, lab, 6), "valve")
    mean = {}
    for rec, _ in recs:
        c, a, _ = triangle_samples(rec.mesh)
        mean[rec.name] = float((envelope_distance(c, dev) * a).sum() / a.sum())
    logger.warning("valve with calcium: mean distance to the true envelope (mm): %s", mean)
    assert min(mean.values()) < 0.2  # measured ~0.13 (tube_fit / deformable_cylinder); 0.05 without
