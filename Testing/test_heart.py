"""Heart segmentation (classical engine): scopes, accuracy on a synthetic heart, clear input errors."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart import LEFT, RIGHT, apply_scope, segment
from CardiacPlanningLib.heart.contrast import estimate_contrast
from CardiacPlanningLib.heart.synthetic import toy_heart
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.progress import Progress


@pytest.fixture(scope="module")
def toy():
    image, truth = toy_heart(spacing_mm=2.0, scale=1.0, seed=3)
    seg = segment(image)
    return image, truth, seg


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)


def test_chambers_found_on_the_synthetic_heart(toy):
    _, truth, seg = toy
    for lab in (lbl.LV_BLOOD_POOL, lbl.RV, lbl.LA, lbl.RA):
        assert dice(seg.array == lab, truth.array == lab) > 0.9, lbl.by_value(lab).key
    assert dice(seg.array == lbl.LV_MYOCARDIUM, truth.array == lbl.LV_MYOCARDIUM) > 0.8
    assert (seg.array == lbl.AORTA).sum() > 0.5 * (truth.array == lbl.AORTA).sum()
    assert seg.same_geometry(truth)
    assert seg.metadata["engine"] == "classical"


def test_each_scope_returns_only_its_structures(toy):
    image, _, seg = toy
    whole = set(np.unique(seg.array)) - {0}
    assert {1, 2, 3, 4, 5, 6, 7} <= whole
    left = set(np.unique(apply_scope(seg.array, "left"))) - {0}
    right = set(np.unique(apply_scope(seg.array, "right"))) - {0}
    assert left == {lbl.LV_BLOOD_POOL, lbl.LV_MYOCARDIUM, lbl.LA, lbl.AORTA}
    assert right == {lbl.RV, lbl.RA, lbl.PULMONARY_ARTERY, lbl.value_of("rv_myocardium")}
    assert left <= set(LEFT) and right <= set(RIGHT)
    # the public call with a scope gives the same voxels as filtering the whole result
    seg_right = segment(image, scope="right")
    np.testing.assert_array_equal(seg_right.array, apply_scope(seg.array, "right"))


def test_progress_reaches_one_and_reports_in_order(toy):
    image, _, _ = toy
    seen: list[float] = []
    segment(image, scope="left", progress=Progress(lambda f, m: seen.append(f)))
    assert seen[-1] == 1.0
    assert seen == sorted(seen)


def test_non_contrast_scan_is_refused_clearly():
    image, _ = toy_heart(spacing_mm=3.0, contrast=False)
    with pytest.raises(CardiacInputError, match="no contrast-enhanced blood pool"):
        segment(image, name="plain.nii.gz")
    with pytest.raises(CardiacInputError, match="plain.nii.gz"):
        segment(image, name="plain.nii.gz")


def test_image_without_a_heart_is_refused_clearly():
    # a limb-like field of view: soft tissue with six opacified vessels (6 mm radius, 120 ml in all)
    n, sp = 90, 2.0
    zz, yy, xx = np.indices((n, n, n))
    ct = np.where((xx - 45) ** 2 + (yy - 45) ** 2 < 42**2, 50.0, -1000.0)
    for cx, cy in ((20, 30), (30, 60), (45, 45), (60, 25), (65, 65), (40, 20)):
        ct[(xx - cx) ** 2 + (yy - cy) ** 2 <= 3**2] = 420.0
    image = Volume(ct.astype(np.int16), (sp, sp, sp))
    with pytest.raises(CardiacInputError, match="leg.nrrd: no heart found"):
        segment(image, name="leg.nrrd")


def test_contrast_model_places_threshold_between_tissue_and_blood(toy):
    image, _, _ = toy
    model = estimate_contrast(image.array.astype(np.float32), 0.008)
    assert abs(model.blood_hu - 420) <= 10
    assert abs(model.myocardium_hu - 110) <= 10 or model.myocardium_hu < 10
    assert model.myocardium_hu < model.threshold_hu < model.blood_hu


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scope": "middle"}, "unknown scope 'middle'"),
        ({"preset": "sports"}, "unknown preset 'sports'"),
        ({"engine": "no-such-model"}, "no-such-model"),
    ],
)
def test_bad_options_name_themselves(toy, kwargs, message):
    image, _, _ = toy
    with pytest.raises(CardiacInputError, match=message):
        segment(image, **kwargs)


def test_cli_writes_label_map_of_the_scope(toy, tmp_path):
    from CardiacPlanningLib.cli.main import cli

    image, _, _ = toy
    path = tmp_path / "toy.nii.gz"
    image.write(path)
    out = tmp_path / "seg.nii.gz"
    result = CliRunner().invoke(cli, ["heart", str(path), "--out", str(out), "--scope", "left", "--quiet"])
    assert result.exit_code == 0, result.output
    seg = Volume.read(out)
    assert set(np.unique(seg.array)) - {0} == {lbl.LV_BLOOD_POOL, lbl.LV_MYOCARDIUM, lbl.LA, lbl.AORTA}
    assert "Left ventricle blood pool" in result.output
    bad = CliRunner().invoke(cli, ["heart", str(tmp_path / "missing.nii.gz"), "--out", str(out)])
    assert bad.exit_code != 0 and "missing.nii.gz" in bad.output


def test_demo_stage_segments_the_phantom_case_and_scores_it(toy, tmp_path):
    from CardiacPlanningLib.heart.demo_stage import run

    image, truth, _ = toy
    context = {
        "phantom": {
            "ct": [str(image.write(tmp_path / "ct.nii.gz"))],
            "labels": [str(truth.write(tmp_path / "l.nii.gz"))],
        }
    }
    result = run(tmp_path / "heart", Progress(), context)
    assert Volume.read(result["labels"]).same_geometry(image)
    assert context["heart"]["dice"]["lv_blood_pool"] > 0.9
    assert "aortic_annulus_centre" in context["heart"]["landmarks_lps"]
    with pytest.raises(CardiacInputError, match="phantom stage"):
        run(tmp_path / "x", Progress(), {})
