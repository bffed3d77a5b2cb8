"""Review and correct a :func:`~.case.measure_case` result before it goes into the report (what the
SurgicalReport module shows in its table).

A measurement is named by its dotted path in the result, e.g. ``tavr.annulus.area_mm2`` or
``pci.lesions.0.stenosis_percent``. Corrections overwrite the value in place (the report tables read
it from there) and are recorded in ``result["user_corrections"]`` with the measured value, so the
report can say which numbers the operator changed.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

CORRECTIONS = "user_corrections"
# geometry kept for drawing, not numbers a user reviews
SKIPPED_KEYS = {"annulus_plane", "hinge_points_lps", "coplanar_curve", "contour", "contour_lps", "points_lps"}
# both diameter pairs of a section are kept in the JSON; the review shows the reported min/max only
SKIPPED_KEYS |= {"feret_min_diameter_mm", "feret_max_diameter_mm"}
SKIPPED_KEYS |= {"ellipse_minor_diameter_mm", "ellipse_major_diameter_mm"}


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _walk(node, prefix: str, rows: list[tuple[str, float]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in SKIPPED_KEYS:
                _walk(value, f"{prefix}.{key}" if prefix else str(key), rows)
    elif isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        for index, value in enumerate(node):
            _walk(value, f"{prefix}.{index}", rows)
    elif _is_number(node) and math.isfinite(float(node)):
        rows.append((prefix, float(node)))


def measurement_rows(result: dict) -> list[tuple[str, float]]:
    """(path, value) of every reviewable number of ``result``: the procedure's measurements (mm,
    mm^2, mm^3, degrees, %) and the LV ejection fraction, in the result's order."""
    procedure = result.get("procedure")
    if procedure not in result:
        raise CardiacInputError(f"the measurement result has no {procedure!r} section")
    rows: list[tuple[str, float]] = []
    _walk(result[procedure], procedure, rows)
    if "lv_ejection_fraction" in result:
        _walk(result["lv_ejection_fraction"], "lv_ejection_fraction", rows)
    return rows


def _parent(result: dict, path: str):
    parts = path.split(".")
    node = result
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise CardiacInputError(f"measurement {path!r} is not in the result")
    return node, parts[-1]


def set_measurement(result: dict, path: str, value: float) -> float:
    """Replace the measurement at ``path`` by the operator's ``value`` (same unit); returns the
    value it replaced. Only numbers listed by :func:`measurement_rows` can be corrected."""
    if path not in dict(measurement_rows(result)):
        raise CardiacInputError(f"measurement {path!r} is not a reviewable number of this result")
    value = float(value)
    if not math.isfinite(value):
        raise CardiacInputError(f"measurement {path!r}: the corrected value must be a finite number")
    parent, key = _parent(result, path)
    old = float(parent[key])
    parent[key] = value
    record = result.setdefault(CORRECTIONS, {})
    measured = record.get(path, {}).get("measured", old)
    if value == measured:
        record.pop(path, None)
    else:
        record[path] = {"measured": measured, "corrected": value}
    logger.info("measurement %s: %s -> %s (operator)", path, old, value)
    return old


def correction_settings(result: dict) -> dict[str, str]:
    """Report settings lines naming each corrected measurement and its measured value."""
    return {
        f"Corrected by operator / 操作者修正: {path}": f"{c['corrected']:g} (measured {c['measured']:g})"
        for path, c in result.get(CORRECTIONS, {}).items()
    }
