"""Shared parts of the browser-review tests: a small synthetic beating-heart 4D case with known answers,
a review store holding it, the review server as a subprocess on a free 127.0.0.1 port, and helpers
that drive Debian's chromium through Playwright (no browser download).

The case: 4 phases (0, 25, 50, 75 % R-R) of 40 x 40 x 24 voxels at 2 mm; an LV blood pool sphere
(label 1, 350 HU) of radius 14, 12, 9, 12 mm at the centre of the grid in a myocardium shell
(label 2, 120 HU, 4 mm thick) and an aorta (label 6, 350 HU), body -50 HU: end-diastole is phase 0
and end-systole phase 2.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from CardiacPlanningLib.imaging.volume import Volume

CHROMIUM = "/usr/bin/chromium"
PERCENTS = [0.0, 25.0, 50.0, 75.0]
LV_RADII_MM = [14.0, 12.0, 9.0, 12.0]
SPACING = 2.0
SHAPE = (24, 40, 40)  # z, y, x
LOCKOUT_USER = ("doc_lock", "clinician", "Lock-Test-Passw0rd7")


def synthetic_phase(k: int) -> tuple[Volume, Volume]:
    """(CT in HU, label map) of phase ``k``."""
    z, y, x = np.indices(SHAPE).astype(float) * SPACING
    cz, cy, cx = (np.array(SHAPE) - 1) * SPACING / 2
    r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2)
    body = ((x - cx) / 38) ** 2 + ((y - cy) / 36) ** 2 <= 1
    ct = np.where(body, -50.0, -1000.0)
    lab = np.zeros(SHAPE, np.uint8)
    rad = LV_RADII_MM[k]
    lab[r <= rad + 4.0] = 2
    lab[r <= rad] = 1
    aorta = (x - cx - 22) ** 2 + (y - cy + 4) ** 2 <= 6.0**2
    lab[aorta & (lab == 0)] = 6
    ct[lab == 2] = 120.0
    ct[(lab == 1) | (lab == 6)] = 350.0
    geometry = {"spacing": (SPACING,) * 3, "origin": (-cx, -cy, -cz)}
    return Volume(ct.astype(np.int16), **geometry), Volume(lab, **geometry)


def write_synthetic_case(folder: Path) -> dict:
    """Write the phases as NIfTI files; returns phantom-style metadata (``files.phases``)."""
    folder.mkdir(parents=True, exist_ok=True)
    phases = []
    for k, p in enumerate(PERCENTS):
        ct, lab = synthetic_phase(k)
        phases.append(
            {
                "index": k,
                "percent": p,
                "ct": str(ct.write(folder / f"ct_{k:02d}.nii.gz")),
                "labels": str(lab.write(folder / f"labels_{k:02d}.nii.gz")),
            }
        )
    return {"files": {"phases": phases}}


def make_store(root: Path) -> Path:
    """A review store with one user per role, the lockout test's user and the synthetic case."""
    from CardiacPlanningLib.security.workstation import Workstation
    from CardiacPlanningLib.web import sample

    meta = write_synthetic_case(root / "case")
    store = root / "store"
    sample.make_review_store(store, meta)
    ws = Workstation.open(store, sample.PASSPHRASE, hash_iterations=2000)
    try:
        admin = ws.login("sys", sample.USERS["sys"][1])
        name, role, password = LOCKOUT_USER
        ws.users.add_user(admin, name, role, "Temporary-Passw0rd-1")
        ws.users.change_password(ws.login(name, "Temporary-Passw0rd-1"), "Temporary-Passw0rd-1", password)
    finally:
        ws.close()
    return store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory (MB) of process ``pid`` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


class ReviewServer:
    """``cardiac-planning serve`` on a free port of 127.0.0.1, started as a subprocess."""

    def __init__(self, store: Path, log: Path, extra: list[str] | None = None) -> None:
        from CardiacPlanningLib.web import sample

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, CARDIAC_PLANNING_PASSPHRASE=sample.PASSPHRASE)
        cmd = [sys.executable, "-m", "CardiacPlanningLib.cli.main", "serve", "--store", str(store)]
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            cmd + ["--port", str(self.port)] + (extra or []),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"review server exited: {self.log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/login", timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.5)
        raise RuntimeError(f"review server not up after {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


def _descendants(root: int) -> list[int]:
    """Process ids below ``root`` (read from /proc; no psutil here)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@contextlib.contextmanager
def kill_chromium_after(seconds: float):
    """Run the block; if it has not returned after ``seconds``, SIGKILL this process's chromium
    processes. Debian's chromium (not Playwright's own build) now and then never answers Playwright's
    close (seen once in a full clean-clone run: BrowserContext.close blocked for 15 minutes); killing
    it lets the close return instead of hanging the suite."""
    done = threading.Event()

    def watch() -> None:
        if done.wait(seconds):
            return
        for pid in _descendants(os.getpid()):
            with contextlib.suppress(OSError):
                if "chromium" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode():
                    os.kill(pid, signal.SIGKILL)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()


@contextlib.contextmanager
def launch_browser():
    """Debian's chromium, headless, driven by Playwright (no browser download); closed with a
    watchdog (:func:`kill_chromium_after`)."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            with kill_chromium_after(30), contextlib.suppress(Error):
                browser.close()


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


def trigger(page, name: str, *args) -> None:
    """Call the server's trame trigger ``name`` from the page (does not wait for its answer)."""
    page.evaluate("([n, a]) => { window.trame.trigger(n, a); }", [name, list(args)])


def login(page, url: str, user: str, password: str):
    for attempt in range(3):  # the page may be redirecting itself after a logout
        try:
            page.goto(url + "/login")
            break
        except Exception:
            if attempt == 2:
                raise
            page.wait_for_timeout(1000)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-button")


def logout(page, url: str) -> None:
    """Log out with the page's cookie (a request, not a navigation: the page may be redirecting)."""
    page.request.get(url + "/logout", max_redirects=0)


def wait_views(page, count: int, timeout_ms: int = 90_000) -> None:
    """Wait until ``count`` streamed view images have arrived (images come over the websocket)."""
    page.wait_for_function(
        "n => Array.from(document.querySelectorAll('img')).filter(i => i.naturalWidth > 50 "
        "&& i.getBoundingClientRect().width > 50).length >= n",
        arg=count,
        timeout=timeout_ms,
    )


def view_image(page, tag: str) -> np.ndarray:
    """Screenshot (RGB array) of the streamed image of view ``tag`` (Phase1.., ThreeD)."""
    import io

    from PIL import Image

    marker = page.locator(f"#view-{tag}")
    image = marker.locator("xpath=..").locator("img").first
    return np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("RGB"))
