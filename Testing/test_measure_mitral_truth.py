"""The mitral annulus truth of the phantom (the LA's mitral opening) on a kidney-shaped ring, which
is not star-shaped about its vertices' mean: the phantom's LA opening is concave at the aorto-mitral
curtain, and the truth ordered the ring by angle about that mean until 2026-11-29, which crossed the
polygon over itself (area and perimeter wrong). Its area and perimeter must follow the ring's own
loop."""

import numpy as np
import pytest

from CardiacPlanningLib.phantom.anatomy import mitral_annulus_truth
from CardiacPlanningLib.phantom.heartmesh import HeartMesh

M = 40  # vertices per arc


def _kidney_mesh() -> tuple[HeartMesh, float, float]:
    """(mesh, area mm^2, perimeter mm): an LA opening at z = 0 shaped as a thick arc (radii 8 and
    16 mm, 220 degrees, triangulated as a strip), an LV cap below it and a cone-shaped LV cavity."""
    a = np.radians(np.linspace(-110.0, 110.0, M))
    outer = np.stack([16.0 * np.cos(a), 16.0 * np.sin(a), np.zeros(M)], 1)
    inner = np.stack([8.0 * np.cos(a), 8.0 * np.sin(a), np.zeros(M)], 1)
    la_pts = np.vstack([outer, inner])  # ids 0..M-1 outer, M..2M-1 inner
    la_tri = []
    for i in range(M - 1):
        la_tri += [[i, i + 1, M + i], [i + 1, M + i + 1, M + i]]
    la_tri = np.array(la_tri)
    loop = np.vstack([outer, inner[::-1]])[:, :2]
    u, v = loop[:, 0], loop[:, 1]
    area = 0.5 * abs(np.dot(u, np.roll(v, -1)) - np.dot(v, np.roll(u, -1)))
    perimeter = float(np.linalg.norm(np.roll(loop, -1, axis=0) - loop, axis=1).sum())
    # LV cap (a disc of 48 points round (0, 0, -2)) and an LV cavity cone below it
    n = 48
    b = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    lv_ring = np.stack([20.0 * np.cos(b), 20.0 * np.sin(b), np.full(n, -2.0)], 1)
    first = len(la_pts)
    cap_pts = np.vstack([[0.0, 0.0, -2.0], lv_ring])
    cap_tri = np.array([[first, first + 1 + i, first + 1 + (i + 1) % n] for i in range(n)])
    first2 = first + n + 1
    cone_pts = np.vstack([[0.0, 0.0, -60.0], lv_ring])
    cone_tri = np.array([[first2, first2 + 1 + i, first2 + 1 + (i + 1) % n] for i in range(n)])
    points = np.vstack([la_pts, cap_pts, cone_pts])
    tris = np.vstack([la_tri, cap_tri, cone_tri, cap_tri])
    surface = np.concatenate([np.full(len(la_tri), 1005), np.full(n, 1001), np.full(n, 1), np.full(n, 1)])
    names = {1005: "mitral-valve-atrium", 1001: "mitral-valve", 1: "Left ventricle cavity"}
    mesh = HeartMesh(points, np.zeros((0, 4), int), np.zeros(0, int), tris, surface, names)
    return mesh, float(area), perimeter


def test_truth_area_and_perimeter_follow_the_ring_loop():
    mesh, area, perimeter = _kidney_mesh()
    # the strip's triangles cover the opening exactly once: their areas sum to the loop's area
    tri = mesh.triangles([mesh.surface_id("mitral-valve-atrium")])
    p = mesh.points
    cross = np.cross(p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]])
    tri_area = 0.5 * np.linalg.norm(cross, axis=1).sum()
    assert tri_area == pytest.approx(area, rel=1e-9)
    truth = mitral_annulus_truth(mesh, aortic_center=np.array([-40.0, 0.0, 0.0]))  # aorta on the concave side
    assert truth["area_mm2"] == pytest.approx(area, rel=1e-6)
    assert truth["perimeter_mm"] == pytest.approx(perimeter, rel=1e-6)
    # the widths do not depend on the order: AP along x (the aorta's side), IC along y
    x, y = mesh.points[: 2 * M, 0], mesh.points[: 2 * M, 1]
    assert truth["ap_diameter_mm"] == pytest.approx(np.ptp(x), abs=1e-6)
    assert truth["intercommissural_diameter_mm"] == pytest.approx(np.ptp(y), abs=1e-6)
