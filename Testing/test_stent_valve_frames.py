"""Valve frames (wide devices): a straight axis fitted robustly through the slab circle centres, and
the background outside the aortic label taken from the nearest metal-free voxel (a balloon frame's
inflow on the LV outflow tract's blood/wall step)."""

from __future__ import annotations

import numpy as np
import pytest
from stent_fixtures import tube_envelope_distance, valve_case

from CardiacPlanningLib.stent import algorithms
from CardiacPlanningLib.stent.axis import CurvedAxis
from CardiacPlanningLib.stent.geometry import triangle_samples
from CardiacPlanningLib.stent.region import detect_metal, region_from_label
from CardiacPlanningLib.stent.score import lateral_triangles


def test_valve_axis_is_the_robust_line_through_the_slab_centres():
    """Slab centres on a line tilted 6 degrees from the start axis (the weighted metal's principal
    axis is tilted by a lattice's uneven weight), three neighbouring slabs pulled 2 mm aside (calcium
    against the struts): the line through the centres ignores the three and recovers the frame's
    axis within 0.05 mm and 0.2 degrees; a curve through the centres (the coronary rule) would bend
    towards them."""
    start = CurvedAxis(np.array([[0.0, 0.0, -3.0], [0.0, 0.0, 48.0]]))
    s = np.arange(0.0, 45.0 + 1e-6, 0.5)
    tilt = np.tan(np.deg2rad(6.0))
    x = 1.0 + tilt * (s - 20.0)
    y = np.full_like(s, -0.5)
    x[40:43] += 2.0
    fits = np.stack([s + 3.0, x, y, np.full_like(s, 12.0)], 1)
    model = algorithms.TubeModel(start, fits)
    line = algorithms._line_through_centres(model)
    true_dir = np.array([tilt, 0.0, 1.0]) / np.hypot(tilt, 1.0)
    t = line.points[-1] - line.points[0]
    t /= np.linalg.norm(t)
    assert np.degrees(np.arccos(min(abs(t @ true_dir), 1.0))) < 0.2
    on_true = start.to_world(s + 3.0, 1.0 + tilt * (s - 20.0), -0.5 * np.ones_like(s))
    d = np.linalg.norm(np.cross(on_true - line.points[0], t), axis=1)
    assert d.max() < 0.05


@pytest.fixture(scope="module")
def lvot_case():
    """A balloon-expandable frame whose lowest 30 % sits below the aortic label, in blood (350 HU)
    inside a wall (60 HU) that the label does not cover: the LV outflow tract under an aortic-root
    label, the struts on its blood/wall step."""
    ct, lab, dev = valve_case(seed=1)
    t = dev.axis[-1] - dev.axis[0]
    height = float(np.linalg.norm(t))
    kji = np.indices(ct.shape).reshape(3, -1).T
    z = ((ct.index_to_lps(kji[:, ::-1].astype(float)) - dev.axis[0]) @ (t / height)).reshape(ct.shape)
    labels = np.asarray(lab.array).copy()
    labels[(z < 0.3 * height) & (labels == 6)] = 0
    return ct, lab.with_array(labels), dev


def test_balloon_frame_inflow_below_the_label_keeps_its_radius(lvot_case):
    """Outside the label the background of a voxel near the struts is its nearest metal-free voxel's
    level (blood inside, wall outside: the step under the struts), for every valve frame. With the
    Gaussian mixture of blood and wall the blood just inside the inflow struts stood above its
    background and pulled the fitted inflow radius 0.40 mm inwards (mean distance 0.180 mm);
    measured with the nearest-voxel background: 0.10 mm short, mean distance 0.105 mm."""
    ct, lab, dev = lvot_case
    region = region_from_label(ct, lab, 6)
    rec = algorithms.tube_fit(region.ct, detect_metal(region, "valve"))
    true_r = float(dev.radius_profile.mean())
    assert abs(rec.radius_profile[0] - true_r) < 0.2 and rec.radius_profile.min() > true_r - 0.2
    c, a, n = triangle_samples(rec.mesh)
    _, lat = lateral_triangles(rec, c, n)
    d = tube_envelope_distance(c[lat], dev)
    assert float((d * a[lat]).sum() / a[lat].sum()) < 0.14
