"""Locate the real four-chamber heart mesh the phantom starts from (Rodero et al. 2021, case 01).

Search order: the ``CARDIAC_PLANNING_GEOMETRY`` environment variable (a folder), ``../shared/data/
geometry`` next to the repository, ``/work/shared/data/geometry``, then the user cache folder that
:func:`fetch_from_wheel` fills from the PyPI wheel ``ansys-health-heart==0.16.2`` (an explicit setup
step, run by ``make venv``; never at import time). Upstream data: CC BY 4.0, cite Rodero C. et al.,
"Linking statistical shape models and simulated function in the healthy adult human heart",
PLoS Comput Biol 2021.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

MESH_STEM = "rodero_01_fullheart_2.0mm"
MESH_FILES = (f"{MESH_STEM}.vtu", f"{MESH_STEM}.partinfo.json", f"{MESH_STEM}.namemap.json")
WHEEL_REQUIREMENT = "ansys-health-heart==0.16.2"
WHEEL_DATA_DIR = "ansys/health/heart/data_examples/"
ENV_VAR = "CARDIAC_PLANNING_GEOMETRY"


def cache_dir() -> Path:
    """The per-user cache folder for the heart mesh (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cardiac-planning" / "geometry"


def candidate_dirs() -> list[Path]:
    """Folders searched for the mesh, in order."""
    dirs: list[Path] = []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]).expanduser())
    repo = Path(__file__).resolve().parents[3]
    dirs += [repo.parent / "shared" / "data" / "geometry", Path("/work/shared/data/geometry"), cache_dir()]
    return dirs


def locate_geometry() -> Path:
    """The folder holding the heart mesh files; raises :class:`CardiacInputError` if none has them."""
    for folder in candidate_dirs():
        if all((folder / name).is_file() for name in MESH_FILES):
            return folder
    searched = ", ".join(str(d) for d in candidate_dirs())
    raise CardiacInputError(
        f"the phantom's heart mesh {MESH_FILES[0]} was not found (searched {searched}); set {ENV_VAR} "
        "to a folder holding it, or run `python -m CardiacPlanningLib.phantom.assets` once to fetch it "
        f"from the {WHEEL_REQUIREMENT} wheel"
    )


def mesh_path() -> Path:
    """Path of the ``.vtu`` heart mesh."""
    return locate_geometry() / MESH_FILES[0]


def fetch_from_wheel(target: Path | None = None, wheel: Path | None = None) -> Path:
    """Unpack the mesh files from the ``ansys-health-heart`` wheel into ``target`` (default: cache).

    ``wheel`` is a local wheel file; without it ``pip download --no-deps`` fetches the wheel (this is
    the only network use of the project and runs only when called explicitly as a setup step).
    """
    target = Path(target) if target else cache_dir()
    if all((target / name).is_file() for name in MESH_FILES):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_REQUIREMENT, "-d", tmp]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            wheels = sorted(Path(tmp).glob("*.whl"))
            if result.returncode != 0 or not wheels:
                raise CardiacInputError(
                    f"could not download {WHEEL_REQUIREMENT}: {result.stderr.strip()[-300:]}"
                )
            wheel = wheels[0]
        try:
            with zipfile.ZipFile(wheel) as archive:
                target.mkdir(parents=True, exist_ok=True)
                for name in MESH_FILES:
                    with archive.open(WHEEL_DATA_DIR + name) as src, open(target / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise CardiacInputError(f"{wheel}: not an ansys-health-heart wheel with {MESH_FILES[0]}") from exc
    logger.info("heart mesh unpacked into %s", target)
    return target


def ensure_geometry() -> Path:
    """Setup step: the mesh folder, fetched from the wheel into the cache if no copy is found."""
    try:
        return locate_geometry()
    except CardiacInputError:
        return fetch_from_wheel()


if __name__ == "__main__":  # pragma: no cover - setup step run by the Makefile
    logging.basicConfig(level=logging.INFO)
    sys.stdout.write(f"heart mesh: {ensure_geometry()}\n")
