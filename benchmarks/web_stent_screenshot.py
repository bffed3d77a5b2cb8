"""Screenshot of the browser review's stent comparison (docs/web_stent_compare.png).

A phantom case with a balloon-expandable valve frame (seed 5, 0.6 mm, 2 phases; or ``--phantom DIR``
of an existing case) goes into a review store with the accounts of ``web.sample``; every stent
algorithm reconstructs the frame on phase 0 and the ranked results are stored with the case; the
planning report is stored too. ``cardiac-planning serve`` runs on a free 127.0.0.1 port and
Playwright drives Debian's chromium: log in as the clinician, open the case, show the best
reconstruction in the 3D view (the anatomy translucent) and open the comparison table.

    .venv/bin/python benchmarks/web_stent_screenshot.py --out docs/web_stent_compare.png
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work: Path, phantom: Path | None) -> tuple[Path, list]:
    from CardiacPlanningLib.phantom.generate import PhantomParameters, generate_case
    from CardiacPlanningLib.security.workstation import Workstation
    from CardiacPlanningLib.web import sample
    from CardiacPlanningLib.web.features.sample_plans import store_phantom_report, store_phantom_stents

    if phantom is None:
        phantom = work / "phantom"
        params = PhantomParameters(seed=5, phases=2, stent="valve", spacing_mm=0.6, size=(160, 160, 112))
        generate_case(params, phantom)
    meta = json.loads((phantom / "phantom.json").read_text(encoding="utf-8"))
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)  # a fresh store each run (synthetic data only)
    sample.make_review_store(store, meta)
    ws = Workstation.open(store, sample.PASSPHRASE, hash_iterations=2000)
    try:
        doc = ws.store(ws.login("doc", sample.USERS["doc"][1]))
        ranked = store_phantom_stents(doc, [sample.IDENTIFIED_CASE, sample.DEID_CASE], meta)
        store_phantom_report(doc, sample.IDENTIFIED_CASE, phantom, "tavr")
    finally:
        ws.close()
    return store, ranked


def _wait_views(page, count: int = 3) -> None:
    """Until ``count`` streamed view images are shown (they arrive over the websocket)."""
    page.wait_for_function(
        "n => Array.from(document.querySelectorAll('.remote-controlled-area img')).filter(i => "
        "i.naturalWidth > 50 && i.getBoundingClientRect().width > 50).length >= n",
        arg=count,
        timeout=180_000,
    )
    page.wait_for_timeout(2000)


def screenshot(store: Path, out: Path, width: int = 1600, height: int = 1000) -> None:
    from playwright.sync_api import sync_playwright

    from CardiacPlanningLib.web import sample

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CARDIAC_PLANNING_PASSPHRASE=sample.PASSPHRASE)
    cmd = [sys.executable, "-m", "CardiacPlanningLib.cli.main", "serve", "--store", str(store)]
    log = (store.parent / "server.log").open("wb")
    proc = subprocess.Popen(
        cmd + ["--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        for _ in range(400):
            try:
                urllib.request.urlopen(url + "/login", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            page.goto(url + "/login")
            page.fill("#username", "doc")
            page.fill("#password", sample.USERS["doc"][1])
            page.click("#login-button")
            page.click(f"#open-{sample.IDENTIFIED_CASE}", timeout=60_000)
            page.wait_for_selector("#close-case", state="visible", timeout=180_000)
            _wait_views(page)
            page.click("#reset-3d")
            try:
                page.click("#stent-open")
            except Exception:
                page.screenshot(path=str(store.parent / "failed.png"))
                raise
            page.wait_for_selector("#stent-table", state="visible")
            page.wait_for_timeout(10_000)  # the last renders reach the page
            _wait_views(page)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            page.goto(url + "/logout")
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/web_stent_compare.png"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/web_stent_screenshot"))
    ap.add_argument("--phantom", type=Path, default=None, help="existing phantom case folder (with a device)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store, ranked = prepare(args.work, args.phantom)
    print("stored reconstructions (best first):", ranked, f"{time.perf_counter() - t0:.0f} s")
    screenshot(store, args.out)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
