"""Propagation of a reference segmentation across phases: exact warps, a known smooth deformation
recovered within a voxel, volume curves and ejection fraction, the propagate command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner
from scipy import ndimage

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging import Volume
from CardiacPlanningLib.metrics import surface_distances
from CardiacPlanningLib.motion.curves import VolumeCurves, ed_es_phases, ejection_fraction, label_volumes_ml
from CardiacPlanningLib.motion.phase_io import open_phases
from CardiacPlanningLib.motion.propagate import propagate_labels, visiting_order
from CardiacPlanningLib.motion.warp import warp_labels, warp_points

SP = 1.5  # mm
HU = np.array([0, 400, 120, 0, 380, 0, 420], dtype=float)


def _labels_at(p: np.ndarray) -> np.ndarray:
    """Reference anatomy at LPS points (N,3): LV blood 1 in myocardium 2, LA 4, aorta 6."""
    lab = np.zeros(len(p), np.uint8)
    lab[np.linalg.norm(p / [20.0, 20.0, 26.0], axis=1) < 1] = 2
    lab[np.linalg.norm(p / [14.0, 14.0, 20.0], axis=1) < 1] = 1
    lab[np.linalg.norm(p - [0, 22, 28], axis=1) < 12] = 4
    q = p - [-18, -5, 0]
    lab[(np.hypot(q[:, 0], q[:, 1]) < 7) & (q[:, 2] > -5) & (q[:, 2] < 40)] = 6
    return lab


def _pull_back(y: np.ndarray, s: float) -> np.ndarray:
    """u(y): the reference point of phase point y is y + u(y) (contraction s about 0 + descent)."""
    w = np.exp(-np.sum(y**2, axis=1) / (2 * 25.0**2))
    return (s * w)[:, None] * y + np.array([0.0, 0.0, 15.0 * s]) * w[:, None]


def _case(s: float, seed: int, shape=(44, 56, 56)):
    """(CT, truth labels) of the phase with contraction ``s`` (0 = reference), 1.5 mm grid."""
    geom = Volume(np.zeros(shape, np.int16), (SP,) * 3, (-40.0, -42.0, -30.0))
    zz, yy, xx = np.indices(shape)
    y = geom.index_to_lps(np.stack([xx, yy, zz], -1).reshape(-1, 3))
    lab = _labels_at(y + _pull_back(y, s)).reshape(shape)
    ct = ndimage.gaussian_filter(HU[lab], 0.7) + np.random.default_rng(seed).normal(0, 8, shape)
    return geom.with_array(ct.astype(np.int16)), geom.with_array(lab)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Three phases (0 %, 40 % contracted, 70 % half-way) written as a folder of NIfTI volumes."""
    folder = tmp_path_factory.mktemp("phases")
    truth = {}
    for pct, s in ((0, 0.0), (40, 0.12), (70, 0.06)):
        ct, lab = _case(s, seed=pct)
        ct.write(folder / f"ct_{pct}%.nii.gz")
        lab.write(folder.parent / f"truth_{pct}.nii.gz")
        truth[pct] = lab
    truth[0].write(folder.parent / "seg_ref.nii.gz")
    return folder, truth


def test_visiting_order_walks_both_ways_from_the_reference():
    assert visiting_order(5, 2) == [(3, 2), (1, 2), (4, 3), (0, 1)]
    assert visiting_order(4, 0) == [(1, 0), (3, 0), (2, 1)]


def test_zero_and_translation_fields_warp_labels_exactly():
    lab = np.zeros((12, 12, 12), np.uint8)
    lab[3:7, 4:8, 2:6] = 4
    lab[7:9, 4:8, 2:6] = 6
    vol = Volume(lab, (1.0, 2.0, 0.5))
    field = sitk.Image([12, 12, 12], sitk.sitkVectorFloat64, 3)
    field.CopyInformation(vol.to_sitk())
    assert np.array_equal(warp_labels(vol, field).labels.array, lab)
    arr = sitk.GetArrayFromImage(field)
    arr[..., 0] = -2.0  # pull from 2 mm to the left (x): the labels move +2 mm = +2 voxels in x
    shifted = sitk.GetImageFromArray(arr, isVector=True)
    shifted.CopyInformation(field)
    out = warp_labels(vol, shifted)
    expected = np.zeros_like(lab)
    expected[:, :, 2:] = lab[:, :, :-2]
    assert np.array_equal(out.labels.array, expected)
    assert out.volumes_ml == pytest.approx({4: 64 * 1e-3, 6: 32 * 1e-3})
    pts = np.array([[3.0, 9.0, 2.0], [5.5, 4.0, 3.0]])
    assert np.allclose(warp_points(shifted, pts), pts + [2.0, 0, 0], atol=1e-6)


def test_propagation_recovers_a_known_deformation_within_a_voxel(study, tmp_path):
    folder, truth = study
    series = open_phases(folder)
    result = propagate_labels(series, 0, truth[0], tmp_path / "out")
    for pct, p in ((40, 1), (70, 2)):
        out = Volume.read(result.label_files[p])
        assert set(np.unique(out.array)) == {0, 1, 2, 4, 6}
        for v in (1, 2, 4, 6):
            before = surface_distances(truth[0].array == v, truth[pct].array == v, (SP,) * 3)
            after = surface_distances(out.array == v, truth[pct].array == v, (SP,) * 3)
            assert after.mean_mm < 0.5 * SP, (pct, v, after.as_dict())
            assert after.hd95_mm <= SP + 1e-6, (pct, v, after.as_dict())
            if pct == 40 and v in (1, 2):
                assert before.mean_mm > 1.0  # the motion is real: unwarped labels are off by > 1 mm
    true_lv = [label_volumes_ml(truth[pct].array, (SP,) * 3, [1])[1] for pct in (0, 40, 70)]
    got_lv = result.curves.curve(1)
    assert got_lv[0] == pytest.approx(true_lv[0])
    assert np.allclose(got_lv, true_lv, rtol=0.04), (got_lv, true_lv)
    s = result.summary
    assert s["end_diastole_phase"] == 0 and s["end_systole_phase"] == 1
    assert s["lv_ef_percent"] == pytest.approx(ejection_fraction(true_lv), abs=3.0)
    field = sitk.ReadImage(str(result.field_files[1]))
    assert field.GetNumberOfComponentsPerPixel() == 3 and result.field_files[0] is None


def test_ejection_fraction_and_ed_es_from_curves(tmp_path):
    assert ejection_fraction([120.0, 90.0, 48.0, 70.0, 110.0]) == pytest.approx(60.0)
    assert ed_es_phases([120.0, 90.0, 48.0, 70.0, 110.0]) == (0, 2, "LV volume curve")
    assert ed_es_phases(None, [0, 20, 40, 60, 80]) == (0, 2, "nominal percent")
    assert ed_es_phases(None, [10, 35, 55, 95]) == (3, 1, "nominal percent")
    with pytest.raises(CardiacInputError, match="at least two phases"):
        ejection_fraction([50.0])
    curves = VolumeCurves(["0%", "40%"], [0.0, 40.0], {1: [150.0, 60.0], 4: [50.0, 80.0]})
    summary = curves.summary()
    assert summary["lv_ef_percent"] == 60.0 and summary["lv_stroke_volume_ml"] == 90.0
    assert summary["la_max_ml"] == 80.0 and summary["la_ef_percent"] == 37.5
    js, cs = curves.write(tmp_path)
    assert json.loads(js.read_text())["volumes_ml"]["lv_blood_pool"] == [150.0, 60.0]
    assert cs.read_text().splitlines()[2].split(",")[-2:] == ["60.000", "80.000"]


def test_propagate_command(study, tmp_path):
    folder, truth = study
    seg = folder.parent / "seg_ref.nii.gz"
    args = ["propagate", str(folder), "--reference", "0%", "--seg", str(seg), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(cli, [*args, "--quiet", "--spacing", "2.0", "--elastic-only"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").glob("labels_phase_*.nii.gz")) == [
        f"labels_phase_0{i}.nii.gz" for i in range(3)
    ]
    summary = json.loads((tmp_path / "o" / "propagation.json").read_text())
    assert summary["labels"] == [1, 2, 4, 6] and summary["end_systole_label"] == "40%"
    assert summary["settings"]["refine_passes"] == 0 and summary["settings"]["spacing_mm"] == 2.0
    both = CliRunner().invoke(cli, [*args, "--quiet", "--elastic-only", "--large-contraction"])
    assert both.exit_code == 1 and "choose one of --elastic-only and --large-contraction" in both.output
    wrong = Volume(truth[0].array[:, :, :-1].copy(), truth[0].spacing, truth[0].origin)
    wrong.write(tmp_path / "small.nii.gz")
    args = ["propagate", str(folder), "--reference", "1", "--seg", str(tmp_path / "small.nii.gz")]
    bad = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "p"), "--quiet"])
    assert bad.exit_code == 1 and "not on the grid of phase 40%" in bad.output


def test_demo_stage_propagates_the_phantom_context(study, tmp_path):
    from CardiacPlanningLib.motion import demo_stage
    from CardiacPlanningLib.progress import Progress

    folder, truth = study
    context = {
        "phantom": {
            "ct": [str(folder / f"ct_{pct}%.nii.gz") for pct in (0, 40, 70)],
            "labels": [str(folder.parent / f"truth_{pct}.nii.gz") for pct in (0, 40, 70)],
            "percent": [0.0, 40.0, 70.0],
        }
    }
    summary = demo_stage.run(tmp_path / "demo", Progress(), context)
    true_lv = [float((truth[p].array == 1).sum()) * SP**3 / 1000 for p in (0, 40, 70)]
    assert summary["true_lv_ef_percent"] == pytest.approx(ejection_fraction(true_lv), abs=0.01)
    assert summary["lv_ef_percent"] == pytest.approx(summary["true_lv_ef_percent"], abs=3.0)
    assert summary["end_systole"] == "40%" and context["propagate"]["end_systole_phase"] == 1
    with pytest.raises(CardiacInputError, match="phantom stage"):
        demo_stage.run(tmp_path / "x", Progress(), {})
