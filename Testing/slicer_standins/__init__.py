"""Stand-ins for the parts of the Slicer application that ``slicer-core`` (headless) lacks.

OUR OWN small code, written for the tests; NOT Slicer's implementation. ``slicer-core`` from PyPI is
the real Slicer C++ core (MRML scene, nodes, module logics) without Qt and without the application,
so it has no ``slicer.app``, ``slicer.mrmlScene``, ``slicer.ScriptedLoadableModule``,
``slicer.parameterNodeWrapper``, ``qt`` or ``ctk``. :func:`install` adds minimal versions of exactly
those, and only where the real one is missing, so that each module file imports and its Logic and Test
classes run under pytest. Widgets are not exercised (they need Qt).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types

logger = logging.getLogger(__name__)

_installed: dict[str, object] = {}


def _missing_module(name: str) -> bool:
    if name in sys.modules:
        return False
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def install() -> types.ModuleType:
    """Install the stand-ins (idempotent) and return the ``slicer`` module."""
    import slicer

    if _installed:
        return slicer
    from . import app, parameter_node_wrapper, qt_placeholder, scripted_loadable_module

    if getattr(slicer, "app", None) is None:
        slicer.app = app.Application()
        _installed["slicer.app"] = slicer.app
    if getattr(slicer, "mrmlScene", None) is None:
        slicer.mrmlScene = app.new_application_scene()
        _installed["slicer.mrmlScene"] = slicer.mrmlScene
    for name, module in (
        ("slicer.ScriptedLoadableModule", scripted_loadable_module),
        ("slicer.parameterNodeWrapper", parameter_node_wrapper),
    ):
        attribute = name.split(".", 1)[1]
        if _missing_module(name):
            sys.modules[name] = module
            setattr(slicer, attribute, module)
            _installed[name] = module
    for name in ("qt", "ctk"):
        if _missing_module(name):
            sys.modules[name] = qt_placeholder.placeholder_module(name)
            _installed[name] = sys.modules[name]
    logger.info("slicer stand-ins installed: %s", ", ".join(_installed))
    return slicer


def installed() -> list[str]:
    """Names of the stand-ins :func:`install` put in place (the real ones were missing)."""
    return list(_installed)
