"""Local deep-model engines: registry, cache install, checksum verification, label mapping, and a
real TorchScript model run end to end (when torch is installed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from CardiacPlanningLib import labels as lbl
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.heart import engines, segment
from CardiacPlanningLib.heart.labelsets import map_labels
from CardiacPlanningLib.heart.models import (
    ModelEntry,
    install_model,
    installed_models,
    load_registry,
    model_path,
    segment_with_model,
    sha256_file,
)
from CardiacPlanningLib.heart.synthetic import toy_heart


def entry_for(path, **kw) -> dict:
    d = {
        "id": "toy-net",
        "version": "1.0",
        "file": "toy.pt",
        "sha256": sha256_file(path),
        "license": "Apache-2.0",
        "format": "torchscript",
        "label_set": "totalsegmentator_heartchambers_highres",
        "spacing_mm": 2.0,
        "hu_window": [-200, 800],
        "divisor": 4,
    }
    d.update(kw)
    return d


def test_totalsegmentator_and_monai_labels_map_onto_our_table():
    ts = np.arange(9)
    np.testing.assert_array_equal(
        map_labels(ts, "totalsegmentator_heartchambers_highres"),
        [0, lbl.LV_MYOCARDIUM, lbl.LA, lbl.LV_BLOOD_POOL, lbl.RA, lbl.RV, lbl.AORTA, lbl.PULMONARY_ARTERY, 0],
    )
    monai = np.array([0, 5, 7, 8, 44, 45, 46, 47, 48, 49, 50, 104])
    np.testing.assert_array_equal(
        map_labels(monai, "monai_wholebody_ct_segmentation"),
        [0, 0, lbl.AORTA, 13, lbl.LV_MYOCARDIUM, lbl.LA, lbl.LV_BLOOD_POOL, lbl.RA, lbl.RV, 7, 0, 0],
    )
    np.testing.assert_array_equal(
        map_labels(np.array([1, 2, 3]), {"2": "heart_ventricle_right", "3": "la"}), [0, 3, 4]
    )
    with pytest.raises(CardiacInputError, match="unknown label set 'nnunet'"):
        map_labels(ts, "nnunet")


def test_install_verifies_and_registers_in_the_cache(tmp_path):
    weights = tmp_path / "toy.pt"
    weights.write_bytes(b"not really weights" * 100)
    cache = tmp_path / "cache"
    target = install_model(weights, entry_for(weights), cache)
    assert target == model_path(load_registry(cache)["toy-net"], cache)
    assert target.read_bytes() == weights.read_bytes()
    # the installed model, next to the one shipped with the package (weights in heart/weights/)
    assert sorted(m.model_id for m in installed_models(cache)) == ["phantom-tiny-unet", "toy-net"]
    doc = json.loads((cache / "models.json").read_text())
    assert doc["models"][0]["sha256"] == sha256_file(weights)


def test_a_wrong_checksum_is_refused_with_a_clear_error(tmp_path):
    weights = tmp_path / "toy.pt"
    weights.write_bytes(b"abc")
    bad = entry_for(weights, sha256="0" * 64)
    with pytest.raises(CardiacInputError, match="toy-net.*checksum mismatch"):
        install_model(weights, bad, tmp_path / "cache")
    # a file damaged after installation is caught before use
    cache = tmp_path / "cache2"
    target = install_model(weights, entry_for(weights), cache)
    target.write_bytes(b"abd")
    image, _ = toy_heart(spacing_mm=4.0)
    with pytest.raises(CardiacInputError, match="checksum mismatch"):
        segment_with_model(image, "toy-net", cache=cache)


def test_registry_entries_are_validated(tmp_path):
    with pytest.raises(CardiacInputError, match="lacks sha256"):
        ModelEntry.from_dict({"id": "x", "version": "1", "file": "f", "license": "MIT", "format": "onnx"})
    with pytest.raises(CardiacInputError, match="format 'pickle'"):
        ModelEntry.from_dict(
            {"id": "x", "version": "1", "file": "f", "license": "MIT", "format": "pickle", "sha256": "a" * 64}
        )
    with pytest.raises(CardiacInputError, match="unknown heart engine 'ghost'"):
        segment_with_model(toy_heart(spacing_mm=4.0)[0], "ghost", cache=tmp_path)


def test_engines_lists_classical_first():
    assert engines()[0] == "classical"


def test_torchscript_model_runs_end_to_end(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional dependency)")

    class Nearest(torch.nn.Module):
        """Per-voxel classifier: class = nearest intensity centre (normalised HU)."""

        def __init__(self):
            super().__init__()
            # TotalSegmentator heartchambers_highres indices 0..7: background, myocardium, LA, LV, ...
            self.register_buffer("centres", torch.tensor([0.0, 0.31, 9.0, 0.62, 9.0, 9.0, 9.0, 9.0]))

        def forward(self, x):
            return -((x - self.centres.view(1, -1, 1, 1, 1)) ** 2)

    weights = tmp_path / "toy.pt"
    torch.jit.script(Nearest()).save(str(weights))
    cache = tmp_path / "cache"
    install_model(weights, entry_for(weights), cache)
    monkeypatch.setenv("CARDIAC_PLANNING_MODEL_DIR", str(cache))
    image, _ = toy_heart(spacing_mm=2.0, seed=2)
    seg = segment(image, engine="toy-net", scope="left")
    assert seg.metadata["engine"] == "toy-net" and seg.metadata["license"] == "Apache-2.0"
    x = (np.clip(image.array.astype(np.float32), -200, 800) + 200) / 1000
    d = np.stack([(x - c) ** 2 for c in (0.0, 0.31, 0.62)])
    expected = np.array([0, lbl.LV_MYOCARDIUM, lbl.LV_BLOOD_POOL], np.uint8)[np.argmin(d, axis=0)]
    np.testing.assert_array_equal(seg.array, expected)
    assert "toy-net" in engines()
