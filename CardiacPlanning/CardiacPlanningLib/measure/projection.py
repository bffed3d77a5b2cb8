"""Fluoroscopic (C-arm) angles and the coplanar projection curve of a plane (e.g. the aortic annulus).

Angle convention (the usual angiography one, angles in degrees):
- ``lao`` is the primary angle: positive = LAO (detector rotated towards the patient's left),
  negative = RAO. ``cra`` is the secondary angle: positive = CRA (detector tilted towards the head),
  negative = CAU.
- The view vector points from the patient (isocentre) to the detector (image intensifier). In LPS
  (x = patient left, y = posterior, z = superior) it is
  ``v = (sin(lao) cos(cra), -cos(lao) cos(cra), sin(cra))``: AP 0/0 is anterior (0, -1, 0),
  LAO 90 is the patient's left (1, 0, 0), CRA 90 is the head (0, 0, 1).

A plane is seen edge-on ("coplanar" view: the three cusps of the annulus on one line) when the view
vector is perpendicular to its normal n: ``v . n = 0``, which for each primary angle gives the
secondary angle in closed form: ``tan(cra) = (n_y cos(lao) - n_x sin(lao)) / n_z``. The set of these
pairs is the optimal projection curve (Kurra et al., JACC Cardiovasc Interv 2010; Tops et al. 2008).
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)


def view_vector(lao_deg: float, cra_deg: float) -> np.ndarray:
    """Unit LPS vector from the patient to the detector for C-arm angles (LAO+/RAO-, CRA+/CAU-)."""
    a, b = np.radians(lao_deg), np.radians(cra_deg)
    return np.array([np.sin(a) * np.cos(b), -np.cos(a) * np.cos(b), np.sin(b)])


def angles_of_view(vector) -> tuple[float, float]:
    """(lao, cra) degrees of a view vector (LPS, patient -> detector); inverse of :func:`view_vector`
    for views with a detector in front of the patient (|lao| <= 90)."""
    v = np.asarray(vector, dtype=float)
    v = v / np.linalg.norm(v)
    cra = np.degrees(np.arcsin(np.clip(v[2], -1, 1)))
    lao = np.degrees(np.arctan2(v[0], -v[1]))
    return float(lao), float(cra)


def coplanar_cra(normal, lao_deg) -> np.ndarray | float:
    """Secondary angle(s) (CRA+/CAU-, degrees) at primary angle(s) ``lao_deg`` (LAO+/RAO-) that show the
    plane with LPS ``normal`` edge-on."""
    n = np.asarray(normal, dtype=float)
    if n.shape != (3,) or np.linalg.norm(n) < 1e-9:
        raise CardiacInputError(f"plane normal must be a non-zero 3D vector, got {normal!r}")
    n = n / np.linalg.norm(n)
    a = np.radians(np.asarray(lao_deg, dtype=float))
    num = n[1] * np.cos(a) - n[0] * np.sin(a)
    cra = np.degrees(np.arctan2(num, n[2]))
    # arctan2 picks the branch with cos(cra) >= 0 only when n_z >= 0; fold into [-90, 90]
    cra = np.where(cra > 90, cra - 180, np.where(cra < -90, cra + 180, cra))
    return float(cra) if np.ndim(cra) == 0 else cra


def coplanar_curve(normal, lao_range=(-90.0, 90.0), step_deg: float = 1.0) -> np.ndarray:
    """The optimal projection curve: an (N, 2) array of (lao, cra) degree pairs that view the plane
    with LPS ``normal`` edge-on."""
    lao = np.arange(lao_range[0], lao_range[1] + 1e-9, step_deg)
    return np.stack([lao, coplanar_cra(normal, lao)], axis=1)


def perpendicular_view(normal) -> tuple[float, float]:
    """(lao, cra) degrees of the view looking along the plane normal (en-face view of the annulus),
    with the detector in front of the patient."""
    n = np.asarray(normal, dtype=float)
    if n[1] > 0:  # detector posterior: take the opposite direction
        n = -n
    return angles_of_view(n)


def coplanar_view_at(normal, lao_deg: float) -> dict:
    """One recommended coplanar view: the curve's point at ``lao_deg`` as a dict of degrees and text
    such as ``"LAO 10 / CAU 12"``."""
    cra = float(coplanar_cra(normal, lao_deg))
    return {"lao_deg": float(lao_deg), "cra_deg": cra, "label": format_angles(lao_deg, cra)}


def format_angles(lao_deg: float, cra_deg: float) -> str:
    """E.g. ``format_angles(-12.3, 20) == "RAO 12 / CRA 20"`` (rounded to whole degrees)."""
    p = f"{'LAO' if lao_deg >= 0 else 'RAO'} {abs(lao_deg):.0f}"
    s = f"{'CRA' if cra_deg >= 0 else 'CAU'} {abs(cra_deg):.0f}"
    return f"{p} / {s}"
