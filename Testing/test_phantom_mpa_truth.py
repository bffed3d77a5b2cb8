"""The phantom's main pulmonary artery length truth (valve to the carina level) on a T-shaped trunk
with a known answer."""

import numpy as np
import pytest

from CardiacPlanningLib.phantom.vessels import mpa_length_truth


def test_mpa_length_truth_on_a_t_junction():
    # trunk: radius 12 mm along +z from the valve at the origin to the branch point at z = 30 (rounded
    # end); branches: radius 8 mm along -x and +x from the branch point
    z = np.linspace(0.0, 30.0, 21)
    trunk = (np.stack([0 * z, 0 * z, z], 1), np.full(21, 12.0))
    x = np.linspace(0.0, 40.0, 21)
    left = (np.stack([x, 0 * x, 0 * x + 30.0], 1), np.full(21, 8.0))
    right = (np.stack([-x, 0 * x, 0 * x + 30.0], 1), np.full(21, 8.0))
    truth = mpa_length_truth(
        {"pulmonary_trunk": trunk, "left_pulmonary_artery": left, "right_pulmonary_artery": right}
    )
    assert truth["branch_point_distance_mm"] == pytest.approx(30.0)
    assert truth["axis"] == pytest.approx([0.0, 0.0, 1.0])
    # the branches reach z = 38; above them only the trunk's dome is cut, until its section falls under
    # 5 % of the 18 mm disc: radius^2 = 0.05 * 18^2 -> z = 30 + sqrt(144 - 16.2)
    assert truth["mpa_length_mm"] == pytest.approx(30.0 + np.sqrt(144.0 - 0.05 * 18.0**2), abs=0.1)
