"""Ground truth of a generated phantom case (coarse 2.5 mm grid, 3 phases): volumes, EF, motion
consistency of the label maps, DICOM geometry, ostia/coronaries in place."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from CardiacPlanningLib import labels
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.metrics import surface_distances
from CardiacPlanningLib.phantom.generate import PhantomParameters, build_case, generate_case

# ref_factor=1: the phase-0 label map is the reference tissue grid itself, so warping it with the
# published motion must reproduce every phase (with ref_factor 2 the finer truth adds the nearest-
# neighbour resampling error of a 2 mm map, ~0.3 voxel).
PARAMS = PhantomParameters(
    seed=3, phases=3, spacing_mm=2.5, size=(80, 80, 60), ef=0.55, noise_hu=15.0, ref_factor=1
)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    built = build_case(PARAMS)
    meta = generate_case(PARAMS, out, case=built)
    return built, meta, out


def _labels(meta, i):
    return Volume.read(meta["files"]["phases"][i]["labels"])


def test_cavity_label_volumes_match_the_mesh_within_2_percent(case):
    built, meta, _ = case
    lab = _labels(meta, 0)
    ml = lab.voxel_volume_mm3 / 1000.0
    for key, value in (("lv", 1), ("rv", 3), ("la", 4), ("ra", 5)):
        measured = float((lab.array == value).sum()) * ml
        expected = built.anatomy.mesh_volumes_ml[key]
        assert abs(measured / expected - 1) < 0.02, (key, measured, expected)
    assert 80 < built.anatomy.mesh_volumes_ml["lv"] < 220  # realistic adult LV EDV (mL)


def test_ejection_fraction_over_the_phases_matches_the_request(case):
    _, meta, _ = case
    lv = np.array([(_labels(meta, i).array == labels.LV_BLOOD_POOL).sum() for i in range(PARAMS.phases)])
    ef = 1 - lv.min() / lv.max()
    assert abs(ef - PARAMS.ef) < 0.02
    assert np.argmax(lv) == 0  # end-diastole at 0 % R-R
    assert abs(meta["ejectionFraction"]["measured"] - ef) < 1e-9


def test_warping_phase0_labels_with_the_known_motion_gives_each_phase(case):
    built, meta, _ = case
    lab0 = _labels(meta, 0)
    nz, ny, nx = lab0.shape
    kk, jj, ii = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    centres = lab0.index_to_lps(np.stack([ii, jj, kk], -1).reshape(-1, 3))
    for i in range(1, PARAMS.phases):
        f = i / PARAMS.phases
        ref = built.motion.backward(centres, f, tol_mm=1e-4)
        idx = np.rint(lab0.lps_to_index(ref)).astype(int)
        for a, n in enumerate((nx, ny, nz)):
            idx[:, a] = np.clip(idx[:, a], 0, n - 1)
        warped = lab0.array[idx[:, 2], idx[:, 1], idx[:, 0]].reshape(lab0.shape)
        target = _labels(meta, i).array
        for value in (labels.LV_BLOOD_POOL, labels.LV_MYOCARDIUM, labels.LA, labels.AORTA):
            d = surface_distances(warped == value, target == value, lab0.spacing)
            assert d.mean_mm < 0.2, (i, value, d.mean_mm)


def test_motion_is_invertible_and_moves_the_heart(case):
    built, _, _ = case
    rng = np.random.default_rng(0)
    pts = rng.uniform(-70, 70, (5000, 3))
    for f in (0.33, 0.5, 0.75):
        back = built.motion.backward(pts, f, tol_mm=1e-7)
        assert np.abs(built.motion.forward(back, f) - pts).max() < 1e-3
    apex = built.anatomy.landmarks["lv_apex"][None]
    base = built.anatomy.root.center[None]
    shift = np.linalg.norm(built.motion.forward(base, 0.33) - base)
    assert 3.0 < shift < 20.0  # the base/aortic root descends towards the apex in systole (mm)
    assert np.linalg.norm(built.motion.forward(apex, 0.33) - apex) < shift


def test_motion_is_rebuilt_exactly_from_the_metadata(case):
    from CardiacPlanningLib.phantom.motion import motion_from_json

    built, _, out = case
    saved = json.loads((out / "phantom.json").read_text())["motion"]
    motion = motion_from_json(saved)
    pts = np.random.default_rng(1).uniform(-60, 60, (2000, 3))
    for f in (0.33, 0.9):
        assert np.abs(motion.forward(pts, f) - built.motion.forward(pts, f)).max() < 1e-6


def test_dicom_series_has_the_nifti_geometry(case):
    _, meta, _ = case
    entry = meta["files"]["phases"][1]
    nii = Volume.read(entry["ct"])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(entry["dicom"]))
    img = reader.Execute()
    assert img.GetSize() == nii.shape[::-1]
    assert np.allclose(img.GetOrigin(), nii.origin, atol=0.01)
    assert np.allclose(img.GetSpacing(), nii.spacing, atol=0.01)
    assert np.allclose(np.array(img.GetDirection()).reshape(3, 3), nii.direction, atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(img), nii.array)
    files = sorted(__import__("pathlib").Path(entry["dicom"]).glob("*.dcm"))
    positions = sorted(
        float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in files
    )
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert abs(positions[0] - nii.origin[2]) < 0.01
    assert abs(float(ds.PixelSpacing[0]) - nii.spacing[1]) < 0.01
    assert float(ds.NominalPercentageOfCardiacPhase) == pytest.approx(entry["percent"])
    assert float(ds.TriggerTime) == pytest.approx(entry["triggerTimeMs"], abs=0.01)


def test_ct_numbers_are_those_of_a_contrast_cta(case):
    _, meta, _ = case
    ct = Volume.read(meta["files"]["phases"][0]["ct"]).array
    lab = _labels(meta, 0).array
    inner = lambda v: np.median(ct[lab == v])  # noqa: E731
    assert 350 < inner(labels.LV_BLOOD_POOL) < 550
    assert 60 < inner(labels.LV_MYOCARDIUM) < 160
    assert 350 < inner(labels.AORTA) < 550
    assert ct.min() < -800 and ct.max() > 700  # lungs and bone present


def test_coronary_centerlines_lie_inside_their_labels_at_every_phase(case):
    built, meta, _ = case
    for i, f in enumerate(PARAMS.phase_fractions):
        lab = _labels(meta, i)
        moved = built.tree.transformed(lambda p, f=f: built.motion.forward(p, f))
        for branch in moved.branches:
            ijk = np.rint(lab.lps_to_index(branch.points)).astype(int)
            inside = lab.array[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
            value = labels.LEFT_CORONARY if branch.tree == "left" else labels.RIGHT_CORONARY
            assert np.all(inside == value), (f, branch.name, np.unique(inside))


def test_ostia_sit_on_the_aortic_wall_and_files_are_complete(case):
    built, meta, out = case
    root = built.anatomy.aortic_root
    lab = _labels(meta, 0)
    for key in ("left", "right"):
        ostium = root["ostia"][key]
        axis_point = root["annulus_center"] + root["annulus_normal"] * np.dot(
            ostium - root["annulus_center"], root["annulus_normal"]
        )
        inward = ostium + 3.0 * (axis_point - ostium) / np.linalg.norm(axis_point - ostium)
        ijk = np.rint(lab.lps_to_index(inward)).astype(int)
        assert lab.array[ijk[2], ijk[1], ijk[0]] == labels.AORTA
    assert root["sinus_radius_mm"] > root["stj_radius_mm"] > root["annulus_radius_mm"] > 9
    mrk = json.loads((out / "ostia.mrk.json").read_text())
    assert len(mrk["markups"][0]["controlPoints"]) == 2
    data = json.loads((out / "phantom.json").read_text())
    assert len(data["volumesMl"]["lv_blood_pool"]) == PARAMS.phases
    if built.tree is not None:
        lines = json.loads((out / "coronary_centerlines.json").read_text())
        assert lines["coordinateSystem"] == "LPS" and len(lines["branches"]) >= 6
        assert (lab.array == labels.LEFT_CORONARY).sum() > 0 and (
            lab.array == labels.RIGHT_CORONARY
        ).sum() > 0
