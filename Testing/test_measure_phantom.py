"""TAVR measurements on the phantom's real-heart anatomy (seed 0), rasterised at 0.6 mm around the
aortic root, against the phantom's known aortic root geometry."""

import numpy as np
import pytest

from CardiacPlanningLib import labels
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure import Plane, outline_metrics, tavr_measurements
from CardiacPlanningLib.measure.section import MaskSampler
from CardiacPlanningLib.measure.valves import interface_plane
from CardiacPlanningLib.phantom.anatomy import build_anatomy
from CardiacPlanningLib.phantom.shapes import Grid

SPACING = 0.6
LUMEN = (labels.AORTA, labels.LV_BLOOD_POOL)


@pytest.fixture(scope="module")
def phantom_root():
    center, n = np.array([15.0, 9.0, 22.0]), 110  # a 66 mm cube around the seed-0 aortic root
    grid = Grid(center - SPACING * n / 2, SPACING, (n, n, n))
    anatomy = build_anatomy(grid, 0)
    lab = Volume(anatomy.tissue.astype(np.uint8), (SPACING,) * 3, grid.origin)
    root = anatomy.root
    hinges = [root.point(0.0, a) for a in root.sinus_angles.values()]  # cusp nadirs on the annulus
    res = tavr_measurements(lab, hinges, anatomy.aortic_root["ostia"])
    return lab, root, res


def _truth(root, h: float):
    theta = np.linspace(-np.pi, np.pi, 1440, endpoint=False)
    r = root.radius(np.full_like(theta, h), theta)
    return outline_metrics(np.stack([r * np.cos(theta), r * np.sin(theta)], 1), Plane(root.center, root.axis))


def test_annulus_plane_and_coronary_heights(phantom_root):
    lab, root, res = phantom_root
    normal = np.asarray(res["annulus_plane"]["normal_lps"])
    assert np.degrees(np.arccos(min(1.0, normal @ root.axis))) < 0.1
    for side in ("left", "right"):
        assert res["coronary_heights_mm"][side] == pytest.approx(0.6 * root.height, abs=0.5)
    # found automatically from the LV-aorta interface instead of the hinge points
    auto = interface_plane(lab, labels.LV_BLOOD_POOL, labels.AORTA)
    assert np.degrees(np.arccos(min(1.0, abs(auto.normal @ root.axis)))) < 2.0
    assert abs(auto.signed_distance(root.center)) < 0.5


def test_root_sections_against_the_phantom_shape(phantom_root):
    lab, root, res = phantom_root
    plane = Plane(root.center, root.axis)
    sampler = MaskSampler(lab, LUMEN, root.center + 10 * root.axis, 40.0)
    for h in (3.0, 0.5 * root.height):
        sec, truth = sampler.section(plane.shifted(h)), _truth(root, h)
        assert sec.area_mm2 == pytest.approx(truth.area_mm2, rel=0.02), h
        assert sec.perimeter_mm == pytest.approx(truth.perimeter_mm, rel=0.02), h
        assert sec.max_diameter_mm == pytest.approx(truth.max_diameter_mm, abs=0.5), h
        assert sec.min_diameter_mm == pytest.approx(truth.min_diameter_mm, abs=0.5), h
    sinus = res["sinus"]
    truth = _truth(root, sinus["height_mm"])
    assert sinus["area_mm2"] == pytest.approx(truth.area_mm2, rel=0.02)
    assert sinus["max_diameter_mm"] == pytest.approx(truth.max_diameter_mm, abs=0.5)
    assert res["stj"]["area_derived_diameter_mm"] == pytest.approx(2 * root.stj_radius, abs=0.5)
    assert res["stj"]["height_mm"] == pytest.approx(root.height, abs=0.5)


def test_annulus_and_lvot_against_the_phantom_circle(phantom_root):
    """The phantom's LVOT is continuous with its annulus circle, so the lumen in the hinge plane
    and 5 mm below it is that circle."""
    _, root, res = phantom_root
    r = root.annulus_radius
    for key in ("annulus", "lvot"):
        assert res[key]["area_mm2"] == pytest.approx(np.pi * r * r, rel=0.02), key
        assert res[key]["perimeter_mm"] == pytest.approx(2 * np.pi * r, rel=0.02), key
        assert res[key]["max_diameter_mm"] == pytest.approx(2 * r, abs=0.5), key
        assert res[key]["min_diameter_mm"] == pytest.approx(2 * r, abs=0.5), key
