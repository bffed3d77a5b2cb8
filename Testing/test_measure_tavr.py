"""TAVR measurements on the phantom's analytic aortic root (phantom.shapes.AorticRoot), rasterised
with an LVOT below and a straight ascending aorta above, against its exact geometry."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from CardiacPlanningLib import labels
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure import outline_metrics, tavr_measurements, view_vector
from CardiacPlanningLib.measure.plane import Plane
from CardiacPlanningLib.measure.projection import coplanar_cra, perpendicular_view
from CardiacPlanningLib.phantom.shapes import AorticRoot

SPACING = 0.6


@pytest.fixture(scope="module")
def root_case():
    rot = Rotation.from_euler("xyz", [-35.0, 25.0, 15.0], degrees=True).as_matrix()
    axis, e1, e2 = rot[:, 2], rot[:, 0], rot[:, 1]
    center = np.array([3.0, -4.0, 2.0])
    root = AorticRoot(
        center=center,
        axis=axis,
        e1=e1,
        e2=e2,
        annulus_radius=11.5,
        sinus_radius=16.5,
        stj_radius=13.0,
        height=20.0,
        sinus_angles={"right": 0.2, "left": 0.2 + 2 * np.pi / 3, "noncoronary": 0.2 - 2 * np.pi / 3},
    )
    # grid covering h in [-12, 62] mm around the axis
    ends = np.stack([center - 12 * axis, center + 62 * axis])
    lo, hi = ends.min(0) - 19, ends.max(0) + 19
    shape = np.ceil((hi - lo) / SPACING).astype(int)[::-1]
    vol = Volume(np.zeros(shape, np.uint8), (SPACING,) * 3, lo)
    kk, jj, ii = np.indices(vol.shape, dtype=np.float32)
    p = vol.index_to_lps(np.stack([ii, jj, kk], -1)) - center
    h, u, v = p @ axis, p @ e1, p @ e2
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    in_root = (h >= 0) & (h <= root.height) & (rho <= root.radius(h, theta))
    vol.array[(h >= -12) & (h < 0) & (rho <= root.annulus_radius)] = labels.LV_BLOOD_POOL
    vol.array[in_root] = labels.AORTA
    vol.array[(h > root.height) & (h <= 62) & (rho <= root.stj_radius)] = labels.AORTA
    # calcium: a nodule at a cusp (counted) and one in the ascending aorta wall (outside the root)
    nodule = root.point(2.0, 1.2, radial=9.0)
    vol.array[np.linalg.norm(p + center - nodule, axis=-1) <= 2.0] = 14
    far = root.point(50.0, 0.0, radial=10.0)
    vol.array[np.linalg.norm(p + center - far, axis=-1) <= 2.0] = 14
    counted = int((np.linalg.norm(p + center - nodule, axis=-1) <= 2.0).sum())
    hinges = [root.point(0.0, a) for a in root.sinus_angles.values()]
    ostia = {"left": root.point(14.0, root.sinus_angles["left"]), "right": root.point(11.0, 0.2)}
    res = tavr_measurements(vol, hinges, ostia)
    return root, res, counted * SPACING**3


def _analytic_section(root: AorticRoot, h: float):
    theta = np.linspace(-np.pi, np.pi, 2000, endpoint=False)
    r = root.radius(np.full_like(theta, h), theta)
    return outline_metrics(np.stack([r * np.cos(theta), r * np.sin(theta)], 1), Plane(root.center, root.axis))


def test_annulus_lvot_and_heights(root_case):
    root, res, _ = root_case
    a = res["annulus"]
    r = root.annulus_radius
    assert a["area_mm2"] == pytest.approx(np.pi * r * r, rel=0.02)
    assert a["perimeter_mm"] == pytest.approx(2 * np.pi * r, rel=0.02)
    for key in (
        "min_diameter_mm",
        "max_diameter_mm",
        "area_derived_diameter_mm",
        "perimeter_derived_diameter_mm",
    ):
        assert a[key] == pytest.approx(2 * r, abs=0.5), key
    assert np.allclose(res["annulus_plane"]["normal_lps"], root.axis, atol=1e-6)
    assert res["lvot"]["area_derived_diameter_mm"] == pytest.approx(2 * r, abs=0.5)
    assert res["coronary_heights_mm"]["left"] == pytest.approx(14.0, abs=0.5)
    assert res["coronary_heights_mm"]["right"] == pytest.approx(11.0, abs=0.5)


def test_sinus_stj_and_ascending_aorta(root_case):
    root, res, _ = root_case
    hs = np.arange(0.0, root.height, 0.05)
    theta = np.linspace(-np.pi, np.pi, 2000, endpoint=False)
    areas = [0.5 * np.mean(root.radius(np.full_like(theta, h), theta) ** 2) * 2 * np.pi for h in hs]
    h_max = float(hs[int(np.argmax(areas))])
    truth = _analytic_section(root, h_max)
    s = res["sinus"]
    assert s["height_mm"] == pytest.approx(h_max, abs=1.0)
    assert s["area_mm2"] == pytest.approx(truth.area_mm2, rel=0.02)
    assert s["max_diameter_mm"] == pytest.approx(truth.max_diameter_mm, abs=0.5)
    stj = res["stj"]
    assert stj["height_mm"] == pytest.approx(root.height, abs=0.5)  # the ridge, not the blurred minimum
    assert stj["section_height_mm"] > stj["height_mm"]
    assert stj["area_derived_diameter_mm"] == pytest.approx(2 * root.stj_radius, abs=0.5)
    assert res["ascending_aorta"]["area_derived_diameter_mm"] == pytest.approx(2 * root.stj_radius, abs=0.5)
    assert res["ascending_aorta"]["max_diameter_mm"] == pytest.approx(2 * root.stj_radius, abs=0.5)


def test_calcium_and_projection(root_case):
    root, res, counted_mm3 = root_case
    assert res["calcium_volume_mm3"] == pytest.approx(counted_mm3, rel=1e-9)
    assert counted_mm3 == pytest.approx(4 / 3 * np.pi * 8, rel=0.1)
    proj = res["projection"]
    assert proj["coplanar_lao0"]["cra_deg"] == pytest.approx(float(coplanar_cra(root.axis, 0.0)), abs=2.0)
    for lao, cra in proj["coplanar_curve"]:
        assert abs(np.dot(view_vector(lao, cra), root.axis)) < np.sin(np.radians(2.0))
    assert proj["perpendicular"]["lao_deg"] == pytest.approx(perpendicular_view(root.axis)[0], abs=2.0)
    assert proj["perpendicular"]["cra_deg"] == pytest.approx(perpendicular_view(root.axis)[1], abs=2.0)
