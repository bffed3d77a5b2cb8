"""Local deep-model engines: a registry (id, version, file, SHA-256, licence), a cache folder that
hospital IT fills from a local file, checksum verification before every use, TorchScript and ONNX
loaders (only when ``torch`` / ``onnxruntime`` are installed) and label mapping onto our table.

Nothing is ever downloaded. Registry files are JSON: ``{"models": [{"id", "version", "file", "sha256",
"license", "format": "torchscript"|"onnx", "label_set", "spacing_mm", "hu_window": [lo, hi],
"divisor", "description"}]}``; the shipped ``models.json`` next to this file and the ``models.json``
of the cache folder are merged (the cache's entries win). Weights of a shipped entry may lie in
``weights/`` next to this file (the small phantom-trained ``phantom-tiny-unet``); a copy installed in
the cache takes precedence.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, as_progress
from .labelsets import map_labels

logger = logging.getLogger(__name__)

SHIPPED_REGISTRY = Path(__file__).with_name("models.json")
SHIPPED_WEIGHTS = Path(__file__).with_name("weights")
CACHE_ENV = "CARDIAC_PLANNING_MODEL_DIR"
FORMATS = ("torchscript", "onnx")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model; ``label_set`` names a foreign label set or maps index -> name."""

    model_id: str
    version: str
    file: str
    sha256: str
    license: str
    format: str
    label_set: str | dict = "cardiac_planning"
    spacing_mm: float = 1.5
    hu_window: tuple[float, float] = (-200.0, 800.0)
    divisor: int = 8
    description: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict, source: str = "registry") -> ModelEntry:
        missing = [k for k in ("id", "version", "file", "sha256", "license", "format") if not d.get(k)]
        if missing:
            raise CardiacInputError(f"{source}: model entry lacks {', '.join(missing)}")
        if d["format"] not in FORMATS:
            raise CardiacInputError(
                f"{source}: model {d['id']!r} has format {d['format']!r} (use {', '.join(FORMATS)})"
            )
        sha = str(d["sha256"]).lower()
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise CardiacInputError(f"{source}: model {d['id']!r} sha256 is not 64 hex digits")
        return cls(
            str(d["id"]),
            str(d["version"]),
            str(d["file"]),
            sha,
            str(d["license"]),
            str(d["format"]),
            d.get("label_set", "cardiac_planning"),
            float(d.get("spacing_mm", 1.5)),
            tuple(float(v) for v in d.get("hu_window", (-200.0, 800.0))),  # type: ignore[arg-type]
            int(d.get("divisor", 8)),
            str(d.get("description", "")),
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["id"] = d.pop("model_id")
        d.pop("extra")
        d["hu_window"] = list(self.hu_window)
        return d


def cache_dir(cache: str | Path | None = None) -> Path:
    """The model cache folder: ``cache``, else $CARDIAC_PLANNING_MODEL_DIR, else
    ``~/.cache/cardiac-planning/models``."""
    if cache is not None:
        return Path(cache)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "cardiac-planning" / "models"


def _read_registry(path: Path) -> list[ModelEntry]:
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardiacInputError(f"{path}: not a valid model registry ({exc})") from exc
    return [ModelEntry.from_dict(d, str(path)) for d in doc.get("models", [])]


def load_registry(cache: str | Path | None = None) -> dict[str, ModelEntry]:
    """Registered models by id: the shipped registry merged with the cache folder's."""
    out: dict[str, ModelEntry] = {}
    for path in (SHIPPED_REGISTRY, cache_dir(cache) / "models.json"):
        for entry in _read_registry(path):
            out[entry.model_id] = entry
    return out


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_model(entry: ModelEntry, path: str | Path) -> None:
    """Raise :class:`CardiacInputError` unless ``path`` exists and has the registered SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise CardiacInputError(
            f"model {entry.model_id!r} {entry.version}: weights file {path} is missing; install it with "
            "install_model() from the hospital's copy"
        )
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise CardiacInputError(
            f"model {entry.model_id!r} {entry.version}: checksum mismatch for {path} (sha256 {actual}, "
            f"registered {entry.sha256}); the file is damaged or not the registered model, reinstall it"
        )


def model_path(entry: ModelEntry, cache: str | Path | None = None) -> Path:
    """Weights file of ``entry``: the cache's copy, else one shipped in ``weights/``, else the cache
    path (missing: :func:`verify_model` says so)."""
    cached = cache_dir(cache) / entry.model_id / entry.version / entry.file
    shipped = SHIPPED_WEIGHTS / entry.file
    if not cached.is_file() and shipped.is_file():
        return shipped
    return cached


def install_model(source: str | Path, entry: ModelEntry | dict, cache: str | Path | None = None) -> Path:
    """Verify ``source`` against ``entry`` and copy it into the cache; register it there."""
    if isinstance(entry, dict):
        entry = ModelEntry.from_dict(entry, "install_model")
    verify_model(entry, source)
    target = cache_dir(cache) / entry.model_id / entry.version / entry.file
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    reg = cache_dir(cache) / "models.json"
    entries = {e.model_id: e for e in _read_registry(reg)}
    entries[entry.model_id] = entry
    reg.write_text(
        json.dumps({"models": [e.to_dict() for e in entries.values()]}, indent=2), encoding="utf-8"
    )
    logger.info("installed model %s %s into %s", entry.model_id, entry.version, target)
    return target


def installed_models(cache: str | Path | None = None) -> list[ModelEntry]:
    """Registered models whose weights file is present in the cache (not yet verified)."""
    return [e for e in load_registry(cache).values() if model_path(e, cache).is_file()]


def load_runner(entry: ModelEntry, path: Path):
    """A function ``run(x: float32 [1, 1, z, y, x]) -> logits [1, C, z, y, x]`` for the model."""
    if entry.format == "torchscript":
        try:
            import torch
        except ImportError as exc:
            raise CardiacInputError(
                f"model {entry.model_id!r} is TorchScript: install torch to use it"
            ) from exc
        module = torch.jit.load(str(path), map_location="cpu").eval()

        def run_torch(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.from_numpy(x)).numpy()

        return run_torch
    try:
        import onnxruntime
    except ImportError as exc:
        raise CardiacInputError(f"model {entry.model_id!r} is ONNX: install onnxruntime to use it") from exc
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run_onnx(x: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: x})[0]

    return run_onnx


def predict(entry: ModelEntry, runner, volume: Volume) -> Volume:
    """Foreign-label prediction of ``runner`` on ``volume`` (HU), on the input grid.

    The model runs on its own isotropic grid; when that differs from the input's, each class's
    softmax probability is resampled linearly onto the input grid before the argmax, so that a model
    coarser than the image still draws sub-voxel borders (one class at a time: memory stays at two
    input-sized float arrays)."""
    from .classical import resample

    same = np.allclose(volume.spacing, entry.spacing_mm)
    work = volume if same else resample(volume, entry.spacing_mm)
    lo, hi = entry.hu_window
    x = (np.clip(work.array.astype(np.float32), lo, hi) - lo) / (hi - lo)
    pad = [(0, (-s) % entry.divisor) for s in x.shape]
    x = np.pad(x, pad, mode="edge")[None, None].astype(np.float32)
    logits = runner(x)
    if logits.ndim != 5 or logits.shape[2:] != x.shape[2:]:
        raise CardiacInputError(f"model {entry.model_id!r} returned shape {logits.shape} for input {x.shape}")
    z, y, xx = work.shape
    logits = logits[0, :, :z, :y, :xx]
    if same:
        return work.with_array(np.argmax(logits, axis=0).astype(np.uint8))
    prob = np.exp(logits - logits.max(axis=0, keepdims=True))
    prob /= prob.sum(axis=0, keepdims=True)
    best = np.full(volume.shape, -1.0, np.float32)
    label = np.zeros(volume.shape, np.uint8)
    for c in range(prob.shape[0]):
        p = resample(work.with_array(prob[c].astype(np.float32)), entry.spacing_mm, reference=volume).array
        better = p > best
        best[better] = p[better]
        label[better] = c
    return volume.with_array(label)


def segment_with_model(
    volume: Volume, model_id: str, progress: Progress | None = None, name: str = "image", cache=None
) -> tuple[Volume, dict]:
    """Run the installed, verified model ``model_id`` on ``volume`` (HU); labels on the input grid."""
    progress = as_progress(progress)
    registry = load_registry(cache)
    if model_id not in registry:
        raise CardiacInputError(
            f"unknown heart engine {model_id!r}: use 'classical' or a registered model id "
            f"({', '.join(registry) or 'none registered'})"
        )
    entry = registry[model_id]
    path = model_path(entry, cache)
    progress(0.05, f"verifying {model_id}")
    verify_model(entry, path)
    runner = load_runner(entry, path)
    progress(0.2, f"running {model_id}")
    pred = predict(entry, runner, volume)
    seg = pred.with_array(map_labels(pred.array, entry.label_set))
    progress(1.0, "model done")
    return seg, {"model": entry.model_id, "model_version": entry.version, "license": entry.license}
