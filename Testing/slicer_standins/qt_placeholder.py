"""Placeholder ``qt``/``ctk`` modules (our own code): they let module files import, nothing more.

Headless tests never build Widgets. Any class taken from these modules raises a clear error when
instantiated, so a test that reaches Qt by accident fails loudly instead of passing silently.
"""

from __future__ import annotations

import types


class QtUnavailableError(RuntimeError):
    """Raised when code under a headless test tries to create a Qt object."""


def _placeholder_class(module: str, name: str) -> type:
    def refuse(self, *args, **kwargs):
        raise QtUnavailableError(f"{module}.{name} is not available headless (slicer-core has no Qt)")

    return type(name, (), {"__init__": refuse, "__module__": module})


def placeholder_module(name: str) -> types.ModuleType:
    """A module whose every attribute is a class that cannot be instantiated."""
    module = types.ModuleType(name, f"headless placeholder for {name} (see Testing/slicer_standins)")
    cache: dict[str, type] = {}

    def module_getattr(attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if attribute not in cache:
            cache[attribute] = _placeholder_class(name, attribute)
        return cache[attribute]

    module.__getattr__ = module_getattr  # type: ignore[method-assign]
    return module
