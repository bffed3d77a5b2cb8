"""Stand-in for ``slicer.parameterNodeWrapper`` (our own minimal code, for headless tests).

``@parameterNodeWrapper`` turns a class with annotated attributes into a typed view of a
``vtkMRMLScriptedModuleNode``: ``bool``, ``int``, ``float``, ``str`` and ``pathlib.Path`` attributes are
stored as node parameters (strings), MRML node attributes as node references. Class attribute values
are the defaults, written into the node when it lacks the parameter. ``Annotated[T, WithinRange(a,
b)]`` checks the range on assignment. GUI binding (``connectGui``) is a no-op headless.
"""

from __future__ import annotations

import logging
import pathlib
import typing

logger = logging.getLogger(__name__)

_SCALARS = (bool, int, float, str, pathlib.Path)


class WithinRange:
    """Annotation: the value must lie in [minimum, maximum]."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def check(self, name: str, value) -> None:
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"{name}={value} is outside [{self.minimum}, {self.maximum}]")


class Default:
    """Annotation: the default value (alternative to a class attribute)."""

    def __init__(self, value) -> None:
        self.value = value


def _unwrap(annotation):
    """(base type, validators, default from Default(...) or None, optional?)"""
    validators, default, optional = [], None, False
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extras = typing.get_args(annotation)
        validators = [e for e in extras if isinstance(e, WithinRange)]
        defaults = [e.value for e in extras if isinstance(e, Default)]
        default = defaults[0] if defaults else None
    args = typing.get_args(annotation)
    if args and type(None) in args:
        optional = True
        annotation = next(a for a in args if a is not type(None))
    return annotation, validators, default, optional


def _is_node_type(kind) -> bool:
    return isinstance(kind, type) and hasattr(kind, "IsA") and kind.__name__.startswith("vtkMRML")


def _serialize(kind, value) -> str:
    if kind is bool:
        return "true" if value else "false"
    return str(value)


def _deserialize(kind, text: str):
    if kind is bool:
        return text.lower() in ("true", "1")
    return kind(text)


def _make_property(name: str, kind, validators, optional: bool) -> property:
    if _is_node_type(kind):

        def get_node(self):
            return self.parameterNode.GetNodeReference(name)

        def set_node(self, node) -> None:
            if node is not None and not node.IsA(kind.__name__):
                raise TypeError(f"{name} must be a {kind.__name__}, got {node.GetClassName()}")
            self.parameterNode.SetNodeReferenceID(name, node.GetID() if node is not None else None)

        return property(get_node, set_node)

    def get_value(self):
        if name not in (self.parameterNode.GetParameterNames() or ()):
            return None
        text = self.parameterNode.GetParameter(name)
        if optional and text == "":
            return None
        return _deserialize(kind, text)

    def set_value(self, value) -> None:
        if value is None and optional:
            self.parameterNode.SetParameter(name, "")
            return
        value = _deserialize(kind, _serialize(kind, value)) if not isinstance(value, kind) else value
        for validator in validators:
            validator.check(name, value)
        self.parameterNode.SetParameter(name, _serialize(kind, value))

    return property(get_value, set_value)


def parameterNodeWrapper(cls):
    """Class decorator: a typed wrapper around a ``vtkMRMLScriptedModuleNode`` (see module doc)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {}
    for name, annotation in hints.items():
        kind, validators, default, optional = _unwrap(annotation)
        if not (_is_node_type(kind) or kind in _SCALARS):
            raise TypeError(f"{cls.__name__}.{name}: type {kind!r} is not supported by the stand-in wrapper")
        if name in cls.__dict__:
            default = cls.__dict__[name]
        elif default is None and kind in _SCALARS and not optional:
            default = kind() if kind is not pathlib.Path else pathlib.Path()
        fields[name] = (kind, default)
        setattr(cls, name, _make_property(name, kind, validators, optional))

    def wrapper_init(self, parameterNode) -> None:
        if parameterNode is None or not parameterNode.IsA("vtkMRMLScriptedModuleNode"):
            raise TypeError(f"{cls.__name__} wraps a vtkMRMLScriptedModuleNode, got {parameterNode!r}")
        self.parameterNode = parameterNode
        names = parameterNode.GetParameterNames() or ()
        for field, (kind, default) in fields.items():
            if not _is_node_type(kind) and field not in names and default is not None:
                setattr(self, field, default)

    def connectGui(self, gui) -> int:
        """GUI binding needs Qt: nothing to bind headless."""
        return 0

    def disconnectGui(self, tag) -> None:
        """Nothing was bound."""

    cls.__init__ = wrapper_init
    cls.connectGui = connectGui
    cls.disconnectGui = disconnectGui
    cls.allParameters = dict(fields)
    return cls
