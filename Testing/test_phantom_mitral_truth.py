"""The phantom's mitral annulus truth is the LA-LV contact ring (the LA cavity's mitral opening),
not the larger LV cap: checked on a constructed mesh with known caps."""

import numpy as np
import pytest

from CardiacPlanningLib.phantom.anatomy import mitral_annulus_truth
from CardiacPlanningLib.phantom.heartmesh import HeartMesh

N = 48  # ring vertices


def _fan(center: np.ndarray, ring: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (centre + ring) and fan triangles of a closed polygon, point ids from ``first``."""
    pts = np.vstack([center, ring])
    tri = np.array([[first, first + 1 + i, first + 1 + (i + 1) % len(ring)] for i in range(len(ring))])
    return pts, tri


def _mesh() -> HeartMesh:
    """LA opening: ellipse IC 30 (x) x AP 20 (y) mm at z = 0; LV cap: ellipse 40 x 34 mm at z = -2;
    LV cavity: a cone down to z = -60."""
    a = np.linspace(0.0, 2 * np.pi, N, endpoint=False)
    la_ring = np.stack([15.0 * np.cos(a), 10.0 * np.sin(a), np.zeros(N)], 1)
    lv_ring = np.stack([20.0 * np.cos(a), 17.0 * np.sin(a), np.full(N, -2.0)], 1)
    p1, t1 = _fan(np.zeros(3), la_ring, 0)
    p2, t2 = _fan(np.array([0.0, 0.0, -2.0]), lv_ring, N + 1)
    p3, t3 = _fan(np.array([0.0, 0.0, -60.0]), lv_ring, 2 * (N + 1))
    points = np.vstack([p1, p2, p3])
    tris = np.vstack([t1, t2, t3, t2])
    surface = np.concatenate([np.full(N, 1005), np.full(N, 1001), np.full(N, 1), np.full(N, 1)])
    names = {1005: "mitral-valve-atrium", 1001: "mitral-valve", 1: "Left ventricle cavity"}
    return HeartMesh(points, np.zeros((0, 4), int), np.zeros(0, int), tris, surface, names)


def test_truth_is_the_la_opening():
    truth = mitral_annulus_truth(_mesh(), aortic_center=np.array([0.0, -40.0, 0.0]))  # aorta anterior
    assert np.allclose(np.abs(truth["normal"]), [0.0, 0.0, 1.0])
    assert truth["normal"][2] > 0  # from the LV (below) into the LA
    assert truth["ap_diameter_mm"] == pytest.approx(20.0, abs=1e-6)  # towards the aorta (y)
    assert truth["intercommissural_diameter_mm"] == pytest.approx(30.0, abs=1e-6)
    assert truth["area_mm2"] == pytest.approx(0.5 * N * np.sin(2 * np.pi / N) * 15.0 * 10.0, rel=1e-9)
    assert truth["lv_cap_ap_diameter_mm"] == pytest.approx(34.0, abs=1e-6)
    assert truth["lv_cap_intercommissural_diameter_mm"] == pytest.approx(40.0, abs=1e-6)
