"""Train the small phantom heart model shipped with the package (``phantom-tiny-unet``).

A tiny 3D U-Net (PyTorch, CPU) learns the seven scored heart structures from downsampled phantom
cases whose seeds no benchmark uses (1001 and up; the heart benchmark scores seeds 21-23, the test
seed 1201), and is exported to ONNX (shipped in ``CardiacPlanningLib/heart/weights/``, registered in
``heart/models.json`` with its SHA-256) and TorchScript (written next to it under ``--out``, not
shipped). Labels follow TotalSegmentator's ``heartchambers_highres`` order (1 myocardium, 2 LA, 3 LV,
4 RA, 5 RV, 6 aorta, 7 pulmonary artery), so that the engine's label mapping is exercised for real.

Needs ``torch`` and ``onnx`` (not project dependencies):

    .venv/bin/pip install torch==2.13.0 onnx
    .venv/bin/python benchmarks/heart_train_tiny.py [--cases 8] [--iterations 120] [--install]

Deterministic for a given torch build and thread count (seeded data, crops and initialisation).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CardiacPlanning"))

from CardiacPlanningLib import labels as lbl  # noqa: E402

SPACING_MM = 2.5
SIZE = (80, 80, 56)  # x, y, z voxels: the phantom's 200 x 200 x 140 mm field of view
HU_WINDOW = (-200.0, 800.0)
TRAIN_SEEDS_FROM = 1001
VALIDATION_SEED = 1101
PHASES = (0.0, 0.3, 0.6)
# our label value -> class index in TotalSegmentator heartchambers_highres order
CLASS_OF = {
    lbl.LV_MYOCARDIUM: 1,
    lbl.LA: 2,
    lbl.LV_BLOOD_POOL: 3,
    lbl.RA: 4,
    lbl.RV: 5,
    lbl.AORTA: 6,
    lbl.PULMONARY_ARTERY: 7,
}
N_CLASSES = 8
WEIGHTS_DIR = ROOT / "CardiacPlanning" / "CardiacPlanningLib" / "heart" / "weights"
MODEL_ID, MODEL_VERSION, MODEL_FILE = "phantom-tiny-unet", "1.0.0", "phantom_tiny_unet.onnx"
logger = logging.getLogger("heart_train_tiny")


def to_classes(labels: np.ndarray) -> np.ndarray:
    lut = np.zeros(256, np.uint8)
    for value, cls in CLASS_OF.items():
        lut[value] = cls
    return lut[labels]


def make_case(seed: int, phases=PHASES) -> list[tuple[np.ndarray, np.ndarray]]:
    """(CT int16 HU, class map) pairs [z, y, x] of phantom ``seed`` at SPACING_MM, one per phase;
    noise, PSF and ejection fraction drawn from the seed."""
    from CardiacPlanningLib.phantom.generate import PhantomParameters, build_case, render_phase

    rng = np.random.default_rng([seed, 77])
    params = PhantomParameters(
        seed=seed,
        phases=4,
        dicom=False,
        spacing_mm=SPACING_MM,
        size=SIZE,
        noise_hu=float(rng.uniform(10, 40)),
        psf_fwhm_mm=float(rng.uniform(0.8, 1.8)),
        ef=float(rng.uniform(0.4, 0.65)),
    )
    case = build_case(params)
    out = []
    for f in phases:
        ct, truth = render_phase(case, f, np.random.default_rng([seed, 9, int(f * 100)]))
        out.append((ct.array.astype(np.int16), to_classes(truth.array)))
    return out


def load_cases(cache: Path, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """All training pairs, generated once and kept in ``cache`` (npz per seed)."""
    cache.mkdir(parents=True, exist_ok=True)
    cts, ys = [], []
    for seed in seeds:
        path = cache / f"seed{seed}.npz"
        if not path.exists():
            t0 = time.perf_counter()
            pairs = make_case(seed)
            np.savez_compressed(path, ct=np.stack([p[0] for p in pairs]), y=np.stack([p[1] for p in pairs]))
            logger.info("generated seed %d in %.1f s", seed, time.perf_counter() - t0)
        data = np.load(path)
        cts.append(data["ct"])
        ys.append(data["y"])
    return np.concatenate(cts), np.concatenate(ys)


def normalise(ct: np.ndarray) -> np.ndarray:
    lo, hi = HU_WINDOW
    return ((np.clip(ct.astype(np.float32), lo, hi) - lo) / (hi - lo)).astype(np.float32)


def build_model(torch):
    nn = torch.nn

    def conv(i: int, o: int) -> list:
        return [nn.Conv3d(i, o, 3, padding=1), nn.InstanceNorm3d(o, affine=True), nn.LeakyReLU(0.1)]

    class TinyUNet(nn.Module):
        """3 poolings (input sizes divisible by 8). Full resolution holds only a 3x3x3 stem on the
        intensities and a 1x1x1 fusion before the head: most of the work runs at 1/2 to 1/8 (CPU)."""

        def __init__(self, ch=(8, 16, 32, 32), n_classes: int = N_CLASSES):
            super().__init__()
            self.enc0 = nn.Sequential(*conv(1, ch[0]))
            self.enc1 = nn.Sequential(*conv(ch[0], ch[1]), *conv(ch[1], ch[1]))
            self.enc2 = nn.Sequential(*conv(ch[1], ch[2]), *conv(ch[2], ch[2]))
            self.bottom = nn.Sequential(*conv(ch[2], ch[3]), *conv(ch[3], ch[3]))
            self.up2 = nn.ConvTranspose3d(ch[3], ch[2], 2, stride=2)
            self.dec2 = nn.Sequential(*conv(2 * ch[2], ch[2]))
            self.up1 = nn.ConvTranspose3d(ch[2], ch[1], 2, stride=2)
            self.dec1 = nn.Sequential(*conv(2 * ch[1], ch[1]))
            self.up0 = nn.ConvTranspose3d(ch[1], ch[0], 2, stride=2)
            self.dec0 = nn.Sequential(nn.Conv3d(2 * ch[0], ch[0], 1), nn.LeakyReLU(0.1))
            self.head = nn.Conv3d(ch[0], n_classes, 1)

        def forward(self, x):
            pool = nn.functional.max_pool3d
            e0 = self.enc0(x)
            e1 = self.enc1(pool(e0, 2))
            e2 = self.enc2(pool(e1, 2))
            b = self.bottom(pool(e2, 2))
            d2 = self.dec2(torch.cat([self.up2(b), e2], 1))
            d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
            d0 = self.dec0(torch.cat([self.up0(d1), e0], 1))
            return self.head(d0)

    return TinyUNet()


def augment(ct: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast level (HU above 100 scaled by 0.6-1.3: blood pools of ~270-590 HU), a small global
    HU offset and extra noise, so that the model does not learn the phantom's fixed 450 HU."""
    x = ct.astype(np.float32)
    bright = x > 100.0
    x[bright] = 100.0 + (x[bright] - 100.0) * rng.uniform(0.6, 1.3)
    x += rng.uniform(-30, 30)
    x += rng.normal(0.0, rng.uniform(0, 20), x.shape).astype(np.float32)
    return x


def crop(shape, patch, rng) -> tuple[slice, ...]:
    return tuple(
        slice(s, s + p) for s, p in ((int(rng.integers(0, n - p + 1)), p) for n, p in zip(shape, patch))
    )


def dice_scores(pred: np.ndarray, y: np.ndarray) -> dict[int, float]:
    out = {}
    for c in range(1, N_CLASSES):
        a, b = pred == c, y == c
        out[c] = float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))
    return out


def train(model, torch, cts, ys, iterations: int, patch, batch: int, seed: int, log_every: int = 25):
    """AdamW with a cosine learning-rate decay; loss = cross-entropy + soft Dice over the classes."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=iterations, pct_start=0.1)
    model.train()
    t0 = time.perf_counter()
    for it in range(iterations):
        xs, ts = [], []
        for _ in range(batch):
            i = int(rng.integers(len(cts)))
            sl = crop(cts[i].shape, patch, rng)
            xs.append(normalise(augment(cts[i][sl], rng))[None])
            ts.append(ys[i][sl].astype(np.int64))
        x = torch.from_numpy(np.stack(xs)).to(memory_format=torch.channels_last_3d)
        t = torch.from_numpy(np.stack(ts))
        logits = model(x)
        ce = torch.nn.functional.cross_entropy(logits, t)
        prob = torch.softmax(logits, 1)
        onehot = torch.nn.functional.one_hot(t, N_CLASSES).permute(0, 4, 1, 2, 3).float()
        inter = (prob * onehot).sum((0, 2, 3, 4))
        denom = prob.sum((0, 2, 3, 4)) + onehot.sum((0, 2, 3, 4))
        soft_dice = 1.0 - ((2 * inter + 1.0) / (denom + 1.0))[1:].mean()
        loss = ce + soft_dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (it + 1) % log_every == 0 or it == 0:
            logger.info(
                "iteration %d/%d: loss %.3f (ce %.3f, dice %.3f), %.0f s",
                it + 1,
                iterations,
                float(loss),
                float(ce),
                float(soft_dice),
                time.perf_counter() - t0,
            )
    model.eval()
    return time.perf_counter() - t0


def export(model, torch, out_dir: Path) -> tuple[Path, Path]:
    """ONNX (opset 17, dynamic z/y/x) and TorchScript (traced) files of ``model``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.to(memory_format=torch.contiguous_format).eval()
    example = torch.zeros(1, 1, 32, 32, 32)
    onnx_path, ts_path = out_dir / MODEL_FILE, out_dir / "phantom_tiny_unet.pt"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(onnx_path),
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {2: "z", 3: "y", 4: "x"}, "logits": {2: "z", 3: "y", 4: "x"}},
        )
        torch.jit.trace(model, example).save(str(ts_path))
    return onnx_path, ts_path


def register(onnx_path: Path, val: dict) -> dict:
    """Copy the ONNX file into the package and write its registry entry (heart/models.json)."""
    from CardiacPlanningLib.heart.models import SHIPPED_REGISTRY, sha256_file

    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    target = WEIGHTS_DIR / MODEL_FILE
    target.write_bytes(onnx_path.read_bytes())
    entry = {
        "id": MODEL_ID,
        "version": MODEL_VERSION,
        "file": MODEL_FILE,
        "sha256": sha256_file(target),
        "license": "Apache-2.0",
        "format": "onnx",
        "label_set": "totalsegmentator_heartchambers_highres",
        "spacing_mm": SPACING_MM,
        "hu_window": list(HU_WINDOW),
        "divisor": 8,
        "description": (
            "Tiny 3D U-Net trained on CPU on synthetic phantom cases only (benchmarks/heart_train_tiny.py); "
            f"validation Dice (seed {VALIDATION_SEED}, 2.5 mm) {val['mean']:.3f}. A test and "
            "demonstration model of the deep-model path, not for clinical use."
        ),
    }
    doc = json.loads(SHIPPED_REGISTRY.read_text(encoding="utf-8"))
    doc["models"] = [m for m in doc.get("models", []) if m.get("id") != MODEL_ID] + [entry]
    SHIPPED_REGISTRY.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8, help="training phantom seeds (from 1001)")
    parser.add_argument("--iterations", type=int, default=120)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--patch", type=int, nargs=3, default=(32, 48, 48), help="z y x voxels")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "heart_train_cache")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "heart_train_out")
    parser.add_argument("--install", action="store_true", help="ship the ONNX file and register it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    cts, ys = load_cases(args.cache, list(range(TRAIN_SEEDS_FROM, TRAIN_SEEDS_FROM + args.cases)))
    val_ct, val_y = load_cases(args.cache, [VALIDATION_SEED])
    t_data = time.perf_counter() - t0
    logger.info("%d training volumes %s in %.0f s", len(cts), cts.shape[1:], t_data)
    model = build_model(torch).to(memory_format=torch.channels_last_3d)
    logger.info("parameters: %d", sum(p.numel() for p in model.parameters()))
    t_train = train(model, torch, cts, ys, args.iterations, tuple(args.patch), args.batch, seed=1)
    onnx_path, ts_path = export(model, torch, args.out)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    scores = []
    for ct, y in zip(val_ct, val_y):
        x = normalise(ct)[None, None]
        logits = session.run(None, {"image": x})[0]
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        logger.info("ONNX vs torch max |logit difference| %.2e", float(np.abs(logits - ref).max()))
        scores.append(dice_scores(np.argmax(logits[0], 0), y))
    val = {c: float(np.mean([s[c] for s in scores])) for c in scores[0]}
    val["mean"] = float(np.mean([val[c] for c in range(1, N_CLASSES)]))
    summary = {
        "data_seconds": round(t_data),
        "train_seconds": round(t_train),
        "iterations": args.iterations,
        "volumes": len(cts),
        "validation_dice": {k: round(v, 3) for k, v in val.items()},
        "onnx_bytes": onnx_path.stat().st_size,
        "torchscript": str(ts_path),
    }
    if args.install:
        summary["entry"] = register(onnx_path, val)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
