"""Browser review: server memory and time to first image, and the 4D layout screenshot.

A phantom case (``--size``/``--spacing``/``--phases``) goes into a review store (accounts of
``web.sample``); ``--clinical`` instead makes a small phantom (1.5 mm) and resamples every phase to
512 x 512 x 300 at 0.5 mm (linear for the CT, nearest for the labels): generating the phantom
itself at that size takes ~13 min, and the review's cost depends on the grid, not on the detail.
``cardiac-planning serve`` runs on a free 127.0.0.1 port; Playwright drives Debian's chromium: log
in, open the case and time until both default phase views (ED, ES) show the case's pixels.
Memory: the server's resident set before the login, after the case opened, and its peak.

    .venv/bin/python benchmarks/web_bench.py --phases 10 --screenshot docs/web_4d_layout.png
    .venv/bin/python benchmarks/web_bench.py --clinical
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb(pid: int) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = round(int(line.split()[1]) / 1024.0, 1)
    return out


def _resampled(meta: dict, work: Path, shape_xyz=(512, 512, 300), spacing=0.5) -> dict:
    """Every phase resampled to ``shape_xyz`` at ``spacing`` mm around the phantom's centre."""
    import SimpleITK as sitk

    from CardiacPlanningLib.imaging.volume import Volume

    phases = []
    for p in meta["files"]["phases"]:
        entry = dict(p)
        for key, interp, default in (("ct", sitk.sitkLinear, -1000), ("labels", sitk.sitkNearestNeighbor, 0)):
            path = work / "clinical" / key / Path(p[key]).name
            entry[key] = str(path)
            if path.exists():  # made by an earlier run
                continue
            src = Volume.read(p[key]).to_sitk()
            size = np.array(src.GetSize()) * np.array(src.GetSpacing())
            centre = np.array(src.GetOrigin()) + size / 2 - spacing * np.array(shape_xyz) / 2
            out = sitk.Resample(
                src, list(shape_xyz), sitk.Transform(), interp, centre.tolist(), [spacing] * 3,
                src.GetDirection(), default, src.GetPixelID(),
            )  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(out, str(path) + ".part.nii", False)  # uncompressed: fast to read back
            os.replace(str(path) + ".part.nii", path)
        phases.append(entry)
    return {"files": {"phases": phases}}


def prepare(work: Path, args) -> Path:
    from CardiacPlanningLib.phantom.generate import PhantomParameters, generate_case
    from CardiacPlanningLib.web import sample

    params = PhantomParameters(
        seed=args.seed,
        phases=args.phases,
        spacing_mm=1.5 if args.clinical else args.spacing,
        size=(128, 128, 96) if args.clinical else tuple(args.size),
        dicom=False,
    )
    t0 = time.perf_counter()
    existing = work / "phantom" / "phantom.json"
    if args.reuse and existing.exists():
        meta = json.loads(existing.read_text(encoding="utf-8"))
    else:
        meta = generate_case(params, work / "phantom")
    if args.clinical:
        meta = _resampled(meta, work)
    print(f"case made in {time.perf_counter() - t0:.0f} s", flush=True)
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)  # a fresh store each run (synthetic data only)
    t0 = time.perf_counter()
    sample.make_review_store(store, meta, deidentified_copy=False)
    print(f"stored in {time.perf_counter() - t0:.0f} s", flush=True)
    return store


def _image_ok(page, tag: str) -> bool:
    from PIL import Image

    marker = page.locator(f"#view-{tag}")
    if marker.count() == 0:
        return False
    img = marker.locator("xpath=..").locator("img").first
    if img.count() == 0 or not img.evaluate("i => i.naturalWidth > 50"):
        return False
    pixels = np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("L"), dtype=float)
    return pixels.std() > 10


def measure(store: Path, args) -> dict:
    from playwright.sync_api import sync_playwright

    from CardiacPlanningLib.web import sample

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CARDIAC_PLANNING_PASSPHRASE=sample.PASSPHRASE)
    log = open(store.parent / "server.log", "wb")  # noqa: SIM115
    cmd = [sys.executable, "-m", "CardiacPlanningLib.cli.main", "serve", "--store", str(store)]
    proc = subprocess.Popen(
        cmd + ["--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    result: dict = {}
    try:
        t0 = time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(url + "/login", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 300:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.5)
        result["server_start_s"] = round(time.perf_counter() - t0, 1)
        time.sleep(20)  # the default views are made in the background after start-up
        result["memory_idle_mb"] = _mem_mb(proc.pid)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(url + "/login")
            page.fill("#username", "doc")
            page.fill("#password", sample.USERS["doc"][1])
            page.click("#login-button")
            page.wait_for_selector(f"#open-{sample.IDENTIFIED_CASE}", timeout=60_000)
            t0 = time.perf_counter()
            page.click(f"#open-{sample.IDENTIFIED_CASE}")
            while not (_image_ok(page, "Phase1") and _image_ok(page, "Phase2")):
                if time.perf_counter() - t0 > 1200:
                    raise RuntimeError("no image after 20 minutes")
                time.sleep(0.25)
            result["first_image_s"] = round(time.perf_counter() - t0, 1)
            result["memory_open_mb"] = _mem_mb(proc.pid)
            result["shown"] = page.inner_text("#shown-phases")
            if args.screenshot:
                _screenshot(page, args)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
    return result


def _screenshot(page, args) -> None:
    """Four phases (ED, ES and two more spread over the cycle), then the screenshot."""
    from CardiacPlanningLib.motion.views import choose_view_phases

    titles = [c["title"] for c in page.evaluate("window.trame.state.get('phase_choices')")]
    ed = next(k for k, t in enumerate(titles) if "ED" in t.split())
    es = next(k for k, t in enumerate(titles) if "ES" in t.split())
    phases = choose_view_phases(len(titles), ed, es, min(4, len(titles)))
    page.evaluate("p => window.trame.state.set('view_phases', p)", phases)
    page.wait_for_timeout(500)
    page.click("#apply-phases")
    page.wait_for_function(
        "n => document.querySelector('#shown-phases').innerText.split(',').length === n",
        arg=len(phases),
        timeout=300_000,
    )
    while not all(_image_ok(page, f"Phase{k + 1}") for k in range(len(phases))):
        time.sleep(0.5)
    page.wait_for_timeout(3000)
    page.click("#reset-3d")
    page.wait_for_timeout(4000)
    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=args.screenshot)
    print(f"screenshot {args.screenshot}: {page.inner_text('#shown-phases')}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "web_bench")
    ap.add_argument("--phases", type=int, default=10)
    ap.add_argument("--spacing", type=float, default=1.5)
    ap.add_argument("--size", type=int, nargs=3, default=(128, 128, 96), help="x y z voxels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clinical", action="store_true", help="512x512x300 at 0.5 mm (resampled phantom)")
    ap.add_argument("--screenshot", default=None, help="PNG of the 4D layout (four phases)")
    ap.add_argument("--reuse", action="store_true", help="reuse the phantom already in --work")
    ap.add_argument("--stored", action="store_true", help="reuse the review store already in --work")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.work / "store" if args.stored else prepare(args.work, args)
    result = measure(store, args)
    result["case"] = (
        "512x512x300 @ 0.5 mm (resampled)" if args.clinical else f"{args.size} @ {args.spacing} mm"
    )
    result["phases"] = args.phases
    print(json.dumps(result, indent=2))
    name = "web_bench_clinical.json" if args.clinical else "web_bench.json"
    (Path("benchmarks/results") / name).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
