"""Slicer markups JSON files (``.mrk.json``): point lists and curves, read and written without Slicer.

Follows the fields of Slicer's markups schema (v1.0.3): a top-level ``@schema`` and ``markups`` list;
each markup has ``type`` ("Fiducial" point list, "Curve", "ClosedCurve", "Line"), ``name``,
``coordinateSystem`` ("LPS" or "RAS"; LPS when absent, as Slicer does), ``coordinateUnits`` and
``controlPoints`` with ``id``, ``label``, ``description``, ``position`` and ``positionStatus``
("defined", "preview" or "undefined").

In this library points are always LPS millimetres: reading converts RAS files to LPS
(RAS = diag(-1, -1, 1) LPS), writing uses LPS by default. Undefined points (placeholders such as an
ostium not placed yet) keep their label and read as NaN positions.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CardiacInputError

logger = logging.getLogger(__name__)

SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/"
    "markups-schema-v1.0.3.json#"
)
KINDS = ("Fiducial", "Curve", "ClosedCurve", "Line")
COORDINATE_SYSTEMS = ("LPS", "RAS")
POSITION_STATUSES = ("defined", "preview", "undefined")
# LPS <-> RAS flips the first two axes; the matrix is its own inverse.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass
class Markups:
    """One markups node: ``kind`` in :data:`KINDS`, ``points_lps`` (N, 3) in LPS mm (NaN rows for
    undefined points), one label per point, optional descriptions/ids/position statuses."""

    kind: str
    name: str
    labels: list[str]
    points_lps: np.ndarray
    descriptions: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    position_status: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise CardiacInputError(
                f"markups '{self.name}': unsupported type {self.kind!r} (use {', '.join(KINDS)})"
            )
        self.points_lps = np.asarray(self.points_lps, dtype=float).reshape(-1, 3)
        n = len(self.points_lps)
        self.labels = (
            [str(v) for v in self.labels] if self.labels else [f"{self.name}-{i + 1}" for i in range(n)]
        )
        self.descriptions = list(self.descriptions) or [""] * n
        self.ids = [str(v) for v in self.ids] or [str(i + 1) for i in range(n)]
        if not self.position_status:
            self.position_status = ["undefined" if np.isnan(p).any() else "defined" for p in self.points_lps]
        for what, values in (
            ("labels", self.labels),
            ("descriptions", self.descriptions),
            ("ids", self.ids),
            ("position statuses", self.position_status),
        ):
            if len(values) != n:
                raise CardiacInputError(f"markups '{self.name}': {len(values)} {what} for {n} points")
        bad = [s for s in self.position_status if s not in POSITION_STATUSES]
        if bad:
            raise CardiacInputError(f"markups '{self.name}': unknown positionStatus {bad[0]!r}")

    @classmethod
    def from_points(
        cls, points_lps: np.ndarray, labels: list[str] | None = None, name: str = "P", kind: str = "Fiducial"
    ) -> Markups:
        """A markups object from an (N, 3) array of LPS points (mm)."""
        return cls(kind, name, list(labels or []), np.asarray(points_lps, dtype=float))

    @property
    def defined_mask(self) -> np.ndarray:
        """True for points whose position is set (status defined/preview and finite)."""
        status = np.array([s != "undefined" for s in self.position_status], dtype=bool)
        return status & np.isfinite(self.points_lps).all(axis=1) if len(status) else status

    @property
    def points_ras(self) -> np.ndarray:
        """The points in RAS mm (Slicer's world frame)."""
        return self.points_lps @ LPS_TO_RAS

    def point(self, label: str) -> np.ndarray:
        """The LPS position (mm) of the point called ``label``; errors name the label and markups."""
        matches = [i for i, lab in enumerate(self.labels) if lab == label]
        if not matches:
            raise CardiacInputError(
                f"markups '{self.name}' has no point labelled {label!r} (labels: {', '.join(self.labels)})"
            )
        if len(matches) > 1:
            raise CardiacInputError(f"markups '{self.name}' has {len(matches)} points labelled {label!r}")
        i = matches[0]
        if not self.defined_mask[i]:
            raise CardiacInputError(f"markups '{self.name}': point {label!r} has not been placed")
        return self.points_lps[i].copy()

    def to_dict(self, coordinate_system: str = "LPS") -> dict:
        """The markup as a schema ``markups[]`` item, positions in ``coordinate_system`` (LPS/RAS)."""
        if coordinate_system not in COORDINATE_SYSTEMS:
            raise CardiacInputError(f"coordinate system must be LPS or RAS, got {coordinate_system!r}")
        pts = self.points_lps if coordinate_system == "LPS" else self.points_ras
        control_points = []
        for i in range(len(pts)):
            cp = {
                "id": self.ids[i],
                "label": self.labels[i],
                "description": self.descriptions[i],
                "associatedNodeID": "",
                "position": [float(v) for v in pts[i]] if self.defined_mask[i] else [0.0, 0.0, 0.0],
                "selected": True,
                "locked": False,
                "visibility": True,
                "positionStatus": self.position_status[i] if self.defined_mask[i] else "undefined",
            }
            control_points.append(cp)
        return {
            "type": self.kind,
            "name": self.name,
            "coordinateSystem": coordinate_system,
            "coordinateUnits": "mm",
            "locked": False,
            "fixedNumberOfControlPoints": False,
            "labelFormat": "%N-%d",
            "lastUsedControlPointNumber": len(pts),
            "controlPoints": control_points,
        }

    @classmethod
    def from_dict(cls, item: dict, source: str = "markups") -> Markups:
        """Parse one schema ``markups[]`` item; positions are converted to LPS. ``source`` names it."""
        if not isinstance(item, dict):
            raise CardiacInputError(f"{source}: a markups item must be a JSON object")
        kind = item.get("type")
        if kind not in KINDS:
            raise CardiacInputError(f"{source}: unsupported markups type {kind!r} (use {', '.join(KINDS)})")
        name = str(item.get("name", "") or kind)
        system = str(item.get("coordinateSystem", "LPS") or "LPS").upper()
        if system not in COORDINATE_SYSTEMS:
            raise CardiacInputError(f"{source}: coordinateSystem must be LPS or RAS, got {system!r}")
        units = item.get("coordinateUnits", "mm")
        unit_value = units.get("CodeValue", units.get("codeValue")) if isinstance(units, dict) else units
        if unit_value not in (None, "", "mm"):
            raise CardiacInputError(f"{source}: coordinateUnits {unit_value!r} are not supported (use mm)")
        cps = item.get("controlPoints", [])
        if not isinstance(cps, list):
            raise CardiacInputError(f"{source}: controlPoints must be a list")
        labels, descriptions, ids, status, points = [], [], [], [], []
        for n, cp in enumerate(cps):
            label = str(cp.get("label", f"{name}-{n + 1}")) if isinstance(cp, dict) else f"#{n + 1}"
            if not isinstance(cp, dict):
                raise CardiacInputError(f"{source}: control point {label} is not a JSON object")
            st = str(cp.get("positionStatus", "defined"))
            if st not in POSITION_STATUSES:
                raise CardiacInputError(
                    f"{source}: control point {label!r} has unknown positionStatus {st!r}"
                )
            pos = cp.get("position")
            if st == "undefined":
                xyz = [math.nan] * 3
            else:
                if not (isinstance(pos, list) and len(pos) == 3 and all(_is_number(v) for v in pos)):
                    raise CardiacInputError(
                        f"{source}: control point {label!r} needs a position of 3 numbers"
                    )
                xyz = [float(v) for v in pos]
                if not all(math.isfinite(v) for v in xyz):
                    raise CardiacInputError(f"{source}: control point {label!r} has a non-finite position")
            labels.append(label)
            descriptions.append(str(cp.get("description", "")))
            ids.append(str(cp.get("id", n + 1)))
            status.append(st)
            points.append(xyz)
        pts = np.array(points, dtype=float).reshape(-1, 3)
        if system == "RAS":
            pts = pts @ LPS_TO_RAS
        return cls(kind, name, labels, pts, descriptions, ids, status)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_all_markups(path: str | Path) -> list[Markups]:
    """Every markup of a ``.mrk.json`` file, points in LPS mm."""
    path = Path(path)
    if not path.is_file():
        raise CardiacInputError(f"{path}: no such markups file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CardiacInputError(f"{path}: not a valid markups JSON file ({exc})") from exc
    items = doc.get("markups") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise CardiacInputError(f"{path}: not a Slicer markups file (no 'markups' list)")
    schema = str(doc.get("@schema", ""))
    if schema and "markups-schema-v1." not in schema:
        logger.warning("%s: unexpected markups schema %s", path, schema)
    return [Markups.from_dict(item, f"{path} markup {n}") for n, item in enumerate(items)]


def read_markups(path: str | Path, kind: str | None = None) -> Markups:
    """The one markup of a ``.mrk.json`` file (the first of ``kind`` if the file holds several).

    ``kind`` ("Fiducial", "Curve", ...) also checks the type: an error names the file and the type.
    """
    items = read_all_markups(path)
    if kind is not None:
        if kind not in KINDS:
            raise CardiacInputError(f"unsupported markups type {kind!r} (use {', '.join(KINDS)})")
        items = [m for m in items if m.kind == kind]
        if not items:
            raise CardiacInputError(f"{path}: holds no {kind} markups")
    if len(items) > 1:
        logger.warning("%s: %d markups, using the first (%s)", path, len(items), items[0].name)
    return items[0]


def write_markups(markups: Markups | list[Markups], path: str | Path, coordinate_system: str = "LPS") -> Path:
    """Write one or several markups to a ``.mrk.json`` file (positions in LPS by default, or RAS)."""
    path = Path(path)
    items = [markups] if isinstance(markups, Markups) else list(markups)
    doc = {"@schema": SCHEMA_URL, "markups": [m.to_dict(coordinate_system) for m in items]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    tmp.replace(path)  # atomic: an existing file is never left half-written
    logger.info("wrote %d markups to %s (%s)", len(items), path, coordinate_system)
    return path
