"""Stand-in phantom anatomy for the coronary and device tests: an ellipsoidal epicardium and a
cylindrical aortic root with the interface of ``phantom.anatomy.Anatomy`` (LPS mm)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

LONG_AXIS = np.array([0.55, -0.35, -0.76]) / np.linalg.norm([0.55, -0.35, -0.76])  # base -> apex


def ellipsoid(center, axes, semi, resolution: int = 96) -> vtk.vtkPolyData:
    """Triangulated ellipsoid (outward normals); ``axes`` rows are the unit semi-axis directions."""
    src = vtk.vtkSphereSource()
    src.SetRadius(1.0)
    src.SetThetaResolution(resolution)
    src.SetPhiResolution(resolution)
    src.Update()
    poly = vtk.vtkPolyData()
    poly.DeepCopy(src.GetOutput())
    p = vtk_to_numpy(poly.GetPoints().GetData()).astype(float)
    q = np.asarray(center) + sum(p[:, k : k + 1] * semi[k] * np.asarray(axes[k]) for k in range(3))
    poly.GetPoints().SetData(numpy_to_vtk(q, deep=True))
    return poly


def fixture_anatomy(semi=(42.0, 40.0, 58.0)) -> SimpleNamespace:
    """Ellipsoid heart (semi-axes mm; the last along the long axis) and an aortic root on its base."""
    u = LONG_AXIS
    center = np.array([10.0, 0.0, 0.0])
    a = np.cross(u, [0.0, 0.0, 1.0])
    a /= np.linalg.norm(a)
    b = np.cross(u, a)
    epi = ellipsoid(center, (a, b, u), semi)
    annulus = center - 50.0 * u
    n = -0.8 * u + np.array([0.3, -0.4, 0.4])
    n /= np.linalg.norm(n)
    e = np.cross(n, [0.0, 1.0, 0.0])
    e /= np.linalg.norm(e)
    f = np.cross(n, e)
    left = np.array([0.8, 0.4, 0.0]) / np.linalg.norm([0.8, 0.4, 0.0])
    right = np.array([-0.5, -0.85, 0.0]) / np.linalg.norm([-0.5, -0.85, 0.0])
    root = {
        "annulus_center": annulus,
        "annulus_normal": n,
        "annulus_radius_mm": 12.0,
        "sinus_centers": {
            "left": annulus + 10 * n + 8 * e,
            "right": annulus + 10 * n - 8 * e,
            "noncoronary": annulus + 10 * n + 8 * f,
        },
        "stj_center": annulus + 22.0 * n,
        "stj_radius_mm": 13.0,
        "ostia": {"left": annulus + 14 * n + 13 * left, "right": annulus + 14 * n + 13 * right},
    }
    return SimpleNamespace(epicardium=epi, aortic_root=root)
