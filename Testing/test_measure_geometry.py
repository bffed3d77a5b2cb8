"""Measurement core on analytic shapes: planes, sections of masks and surfaces, projection angles."""

import numpy as np
import pytest
import vtk
from scipy.spatial.transform import Rotation

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure import (
    Plane,
    angles_of_view,
    coplanar_cra,
    coplanar_curve,
    feret_diameters,
    format_angles,
    height_above_plane,
    outline_metrics,
    perpendicular_view,
    plane_from_points,
    section_of_labelmap,
    section_of_surface,
    view_vector,
)


def _rot(axis_deg=(25.0, -15.0, 10.0)) -> np.ndarray:
    return Rotation.from_euler("xyz", axis_deg, degrees=True).as_matrix()


def test_plane_from_three_hinge_points_and_heights():
    normal = _rot()[:, 2]
    u = _rot()[:, 0]
    v = _rot()[:, 1]
    c = np.array([10.0, -20.0, 35.0])
    hinges = [c + 12 * (np.cos(a) * u + np.sin(a) * v) for a in (0.3, 2.4, 4.4)]
    plane = plane_from_points(*hinges, toward=c + 30 * normal)
    assert np.allclose(plane.normal, normal, atol=1e-9)
    assert abs(plane.signed_distance(c)) < 1e-9
    ostium = c + 14.2 * normal + 15 * u
    assert height_above_plane(ostium, plane) == pytest.approx(14.2, abs=1e-9)
    flipped = plane_from_points(*hinges, toward=c - 30 * normal)
    assert height_above_plane(ostium, flipped) == pytest.approx(-14.2, abs=1e-9)
    with pytest.raises(CardiacInputError, match="collinear"):
        plane_from_points(c, c + u, c + 2 * u)


def test_outline_metrics_of_an_exact_ellipse():
    t = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    a, b = 14.0, 11.0
    plane = Plane([1.0, 2.0, 3.0], [0.0, 0.0, 1.0])
    sec = outline_metrics(np.stack([a * np.cos(t), b * np.sin(t)], 1), plane)
    assert sec.area_mm2 == pytest.approx(np.pi * a * b, rel=1e-4)
    h = ((a - b) / (a + b)) ** 2
    ramanujan = np.pi * (a + b) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h)))
    assert sec.perimeter_mm == pytest.approx(ramanujan, rel=1e-4)
    assert sec.max_diameter_mm == pytest.approx(2 * a, abs=1e-3)
    assert sec.min_diameter_mm == pytest.approx(2 * b, abs=1e-3)
    assert sec.area_diameter_mm == pytest.approx(2 * np.sqrt(a * b), rel=1e-4)
    assert np.allclose(sec.centroid, [1.0, 2.0, 3.0], atol=1e-6)
    # a square: min Feret = side, max Feret = diagonal
    assert feret_diameters(np.array([[0, 0], [3, 0], [3, 3], [0, 3.0]])) == pytest.approx(
        (3.0, 3 * np.sqrt(2))
    )


def _oblique_elliptic_cylinder(a=13.0, b=10.5, spacing=(0.5, 0.5, 0.6)):
    """Label map of an elliptic cylinder (semi-axes a, b mm) whose axis is tilted in LPS."""
    rot = _rot()
    center = np.array([2.0, -3.0, 1.0])
    n = 90
    direction = Rotation.from_euler("z", 20, degrees=True).as_matrix()  # non-identity image axes
    origin = center - direction @ (np.array(spacing) * n / 2)
    vol = Volume(np.zeros((n, n, n), np.uint8), spacing, origin, direction)
    kk, jj, ii = np.indices(vol.shape)
    p = vol.index_to_lps(np.stack([ii, jj, kk], -1).astype(float)) - center
    local = p @ rot  # coordinates along rot's columns (u, v, axis)
    inside = (local[..., 0] / a) ** 2 + (local[..., 1] / b) ** 2 <= 1.0
    vol.array[inside] = 6
    return vol, center, rot


def test_section_of_an_oblique_label_map_cylinder():
    a, b = 13.0, 10.5
    vol, center, rot = _oblique_elliptic_cylinder(a, b)
    sec = section_of_labelmap(vol, Plane(center, rot[:, 2]), labels=6)
    assert sec.area_mm2 == pytest.approx(np.pi * a * b, rel=0.02)
    assert sec.max_diameter_mm == pytest.approx(2 * a, abs=0.5)
    assert sec.min_diameter_mm == pytest.approx(2 * b, abs=0.5)
    h = ((a - b) / (a + b)) ** 2
    assert sec.perimeter_mm == pytest.approx(
        np.pi * (a + b) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h))), rel=0.02
    )
    assert np.linalg.norm(sec.centroid - center) < 0.5
    # a plane tilted by 30 deg about the minor axis cuts an ellipse with major axis a / cos 30
    tilt = Rotation.from_rotvec(np.radians(30) * rot[:, 1]).as_matrix() @ rot[:, 2]
    sec2 = section_of_labelmap(vol, Plane(center, tilt), labels=[6])
    assert sec2.max_diameter_mm == pytest.approx(2 * a / np.cos(np.radians(30)), abs=0.5)
    assert sec2.area_mm2 == pytest.approx(np.pi * a * b / np.cos(np.radians(30)), rel=0.02)
    with pytest.raises(CardiacInputError, match="not inside"):
        section_of_labelmap(vol, Plane(center + 14.0 * rot[:, 0], rot[:, 2]), labels=6)
    with pytest.raises(CardiacInputError, match="search radius"):
        section_of_labelmap(vol, Plane(center, rot[:, 2]), labels=6, radius_mm=8.0)


def test_section_of_a_vtk_surface():
    src = vtk.vtkCylinderSource()
    src.SetRadius(12.0)
    src.SetHeight(40.0)
    src.SetResolution(720)
    src.CappingOn()
    tri = vtk.vtkTriangleFilter()
    tri.SetInputConnection(src.GetOutputPort())
    tri.Update()
    # vtkCylinderSource's axis is y
    sec = section_of_surface(tri.GetOutput(), Plane([0.0, 3.0, 0.0], [0.0, 1.0, 0.0]))
    assert sec.area_mm2 == pytest.approx(np.pi * 144, rel=1e-3)
    assert sec.perimeter_diameter_mm == pytest.approx(24.0, abs=0.05)
    oblique = Plane([0.0, 0.0, 0.0], [0.0, np.cos(np.radians(40)), np.sin(np.radians(40))])
    sec2 = section_of_surface(tri.GetOutput(), oblique)
    assert sec2.max_diameter_mm == pytest.approx(24 / np.cos(np.radians(40)), abs=0.05)
    assert sec2.min_diameter_mm == pytest.approx(24.0, abs=0.05)


def test_view_vector_convention_and_inverse():
    assert np.allclose(view_vector(0, 0), [0, -1, 0])  # AP: detector anterior
    assert np.allclose(view_vector(90, 0), [1, 0, 0])  # LAO 90: patient's left
    assert np.allclose(view_vector(0, 90), [0, 0, 1])  # CRA 90: head
    assert np.allclose(view_vector(-90, 0), [-1, 0, 0])  # RAO 90
    for lao, cra in [(-30, 20), (45, -25), (10, 0)]:
        assert angles_of_view(view_vector(lao, cra)) == pytest.approx((lao, cra), abs=1e-9)
    assert format_angles(-12.3, 20) == "RAO 12 / CRA 20"
    assert format_angles(5, -7.6) == "LAO 5 / CAU 8"


def test_coplanar_curve_on_known_planes():
    # axial annulus plane: every LAO/RAO view with no cranial/caudal tilt is coplanar
    assert np.allclose(coplanar_curve([0, 0, 1])[:, 1], 0.0, atol=1e-9)
    # plane tilted anteriorly by alpha about the LPS x axis: at AP the view must be CAU alpha
    alpha = 25.0
    n = [0.0, -np.sin(np.radians(alpha)), np.cos(np.radians(alpha))]
    assert coplanar_cra(n, 0.0) == pytest.approx(-alpha, abs=1e-9)
    # a plane whose normal lies in the sagittal-coronal... LAO 90 looks along x: tilt about x is invisible
    assert coplanar_cra(n, 90.0) == pytest.approx(0.0, abs=1e-9)
    # independent check: the three hinge points project onto one line on the detector
    rot = _rot((10, -35, 20))
    c = np.array([5.0, 8.0, -4.0])
    hinges = np.array([c + 12 * (np.cos(a) * rot[:, 0] + np.sin(a) * rot[:, 1]) for a in (0.1, 2.2, 4.3)])
    normal = plane_from_points(*hinges).normal
    for lao in (-40.0, -10.0, 0.0, 25.0, 60.0):
        v = view_vector(lao, coplanar_cra(normal, lao))
        e1 = np.cross(v, [0, 0, 1.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(v, e1)
        proj = np.stack([hinges @ e1, hinges @ e2], 1)
        proj -= proj.mean(0)
        assert np.linalg.svd(proj, compute_uv=False)[1] < 1e-9  # collinear on the detector
    lao, cra = perpendicular_view(normal)
    assert abs(np.dot(view_vector(lao, cra), normal)) == pytest.approx(1.0, abs=1e-9)
