"""Shared pytest fixtures.

``slicer_app``: the real Slicer core (slicer-core) plus our stand-ins for what it lacks (see
``Testing/slicer_standins``); tests of module files and anything touching ``slicer.mrmlScene`` use it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
MODULE_NAMES = ("CardiacPlanning", "CoronarySeg", "Cardiac4D", "StentRecon", "SurgicalReport")


@pytest.fixture(scope="session")
def slicer_app():
    """The ``slicer`` module with ``slicer.app``, ``slicer.mrmlScene`` and the module base classes."""
    pytest.importorskip("slicer")
    import slicer_standins

    return slicer_standins.install()


def load_module_file(name: str):
    """Import ``<name>/<name>.py`` from its module folder (as Slicer does) and return the module."""
    path = REPOSITORY / name / f"{name}.py"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
