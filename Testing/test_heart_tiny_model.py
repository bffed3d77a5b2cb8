"""The shipped phantom-trained heart model (``phantom-tiny-unet``, ONNX) run for real with onnxruntime:
registry entry, checksum verification, inference, label mapping and accuracy on an unseen phantom case.
Trained by benchmarks/heart_train_tiny.py (seeds 1001-1008; validation seed 1101; this test: 1201)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart import engines, models, segment
from CardiacPlanningLib.heart.models import load_registry, model_path, sha256_file

pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")

MODEL = "phantom-tiny-unet"
SCORED = (
    lbl.LV_BLOOD_POOL,
    lbl.LV_MYOCARDIUM,
    lbl.RV,
    lbl.LA,
    lbl.RA,
    lbl.AORTA,
    lbl.PULMONARY_ARTERY,
)
# measured 0.210 on this case (RV 0.67, LA 0.42, RA 0.18, myocardium 0.15, LV 0.05, aorta and PA 0):
# a weak model (120 CPU iterations), see docs/heart.md; an empty or shuffled output scores ~0
MIN_MEAN_DICE = 0.18


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    """No hospital cache: the shipped weights are used."""
    monkeypatch.setenv("CARDIAC_PLANNING_MODEL_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def phantom_case():
    from CardiacPlanningLib.phantom.generate import PhantomParameters, build_case, render_phase

    params = PhantomParameters(seed=1201, phases=4, dicom=False, spacing_mm=2.5, size=(80, 80, 56), ef=0.55)
    ct, truth = render_phase(build_case(params), 0.0, np.random.default_rng([1201, 9]))
    return ct, truth


def test_shipped_model_is_registered_small_and_intact():
    entry = load_registry()[MODEL]
    path = model_path(entry)
    assert path.parent == models.SHIPPED_WEIGHTS and path.name == entry.file == "phantom_tiny_unet.onnx"
    assert entry.format == "onnx" and entry.license == "Apache-2.0" and entry.version == "1.0.0"
    assert entry.spacing_mm == 2.5 and entry.label_set == "totalsegmentator_heartchambers_highres"
    assert path.stat().st_size < 2 * 2**20
    assert sha256_file(path) == entry.sha256
    assert MODEL in engines()


def test_onnx_model_segments_an_unseen_phantom_case(phantom_case):
    ct, truth = phantom_case
    seg = segment(ct, engine=MODEL)
    assert seg.same_geometry(ct)
    assert seg.metadata["engine"] == MODEL and seg.metadata["model_version"] == "1.0.0"
    # the model's TotalSegmentator-ordered classes came back as our label values
    assert set(np.unique(seg.array)) <= {0, *SCORED}
    scores = {}
    for value in SCORED:
        a, b = truth.array == value, seg.array == value
        scores[lbl.by_value(value).key] = 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)
    assert np.mean(list(scores.values())) >= MIN_MEAN_DICE, scores
    assert scores["rv"] >= 0.6 and scores["la"] >= 0.35, scores
    # scope filtering applies to model results like to the classical engine's
    left = segment(ct, engine=MODEL, scope="left")
    assert set(np.unique(left.array)) - {0} <= {lbl.LV_BLOOD_POOL, lbl.LV_MYOCARDIUM, lbl.LA, lbl.AORTA}


def test_damaged_shipped_weights_are_refused(tmp_path, monkeypatch, phantom_case):
    entry = load_registry()[MODEL]
    damaged = tmp_path / "weights"
    damaged.mkdir()
    shutil.copyfile(model_path(entry), damaged / entry.file)
    data = bytearray((damaged / entry.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / entry.file).write_bytes(bytes(data))
    monkeypatch.setattr(models, "SHIPPED_WEIGHTS", damaged)
    with pytest.raises(CardiacInputError, match="phantom-tiny-unet.*checksum mismatch"):
        segment(phantom_case[0], engine=MODEL)
