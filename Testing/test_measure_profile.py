"""The ridge of a blurred two-line profile (measure.profile.fit_ridge): exact on synthetic profiles
blurred with a known Gaussian, and clear errors where there is no waist."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.measure.profile import fit_ridge


def _blurred_kink(k, sigma, below=-0.8, above=0.05, step=0.05):
    x = np.arange(-20.0, 22.0, step)
    d = 25.0 + np.where(x < k, below * (x - k), above * (x - k))
    blurred = gaussian_filter1d(d, sigma / step, mode="nearest")
    keep = (x >= -5.0) & (x <= 7.0)
    return x[keep][::10], blurred[keep][::10]  # samples every 0.5 mm, as the STJ search takes them


@pytest.mark.parametrize(("k", "sigma"), [(1.3, 0.9), (0.0, 0.5), (2.1, 1.4), (-1.7, 0.7)])
def test_ridge_of_a_blurred_kink(k, sigma):
    x, d = _blurred_kink(k, sigma)
    assert x[np.argmin(d)] > k + 0.4  # the blurred minimum lies above the ridge
    r = fit_ridge(x, d)
    assert r.level == pytest.approx(k, abs=0.05)
    assert r.sigma_mm == pytest.approx(sigma, abs=0.1)
    assert r.value == pytest.approx(25.0, abs=0.01)
    assert r.slope_below == pytest.approx(-0.8, abs=0.01) and r.slope_above == pytest.approx(0.05, abs=0.01)


def test_flat_tube_above_the_ridge():
    x, d = _blurred_kink(0.5, 0.8, above=0.0)
    assert fit_ridge(x, d).level == pytest.approx(0.5, abs=0.05)


def test_no_waist_and_too_short():
    x = np.arange(0.0, 10.0, 0.5)
    with pytest.raises(CardiacInputError, match="no waist"):
        fit_ridge(x, 30.0 - np.abs(x - 5.0))  # a peak, not a waist
    with pytest.raises(CardiacInputError, match="at least 6"):
        fit_ridge(x[:4], x[:4])


def _blurred_arc(k, sigma, slope=-1.0, curvature=-0.08, above=0.05, step=0.05):
    """A concave steep side (falling fastest at the ridge, as a sinus wall meets the tube) and a
    straight shallow side, blurred, sampled every 0.5 mm on [k - 5, k + 6]."""
    x = np.arange(-25.0, 25.0, step)
    m = np.minimum(x - k, 0.0)
    d = 25.0 + slope * m + curvature * m**2 + above * np.maximum(x - k, 0.0)
    blurred = gaussian_filter1d(d, sigma / step, mode="nearest")
    keep = (x >= k - 5.0 - 1e-9) & (x <= k + 6.0 + 1e-9)
    return x[keep][::10], blurred[keep][::10]


@pytest.mark.parametrize(("k", "sigma"), [(0.0, 0.8), (1.2, 0.6), (-0.7, 1.2)])
def test_ridge_of_a_blurred_concave_side(k, sigma):
    """A straight steep side fitted to a concave one meets the shallow side above the ridge and takes
    too narrow a blur (the STJ read 0.1-0.65 mm high on the phantom); the curved side does not."""
    x, d = _blurred_arc(k, sigma)
    r = fit_ridge(x, d)
    assert r.level == pytest.approx(k, abs=0.05)
    assert r.sigma_mm == pytest.approx(sigma, abs=0.1)
    assert r.curvature_below == pytest.approx(-0.08, abs=0.01)
    assert r.slope_below == pytest.approx(-1.0, abs=0.03) and r.slope_above == pytest.approx(0.05, abs=0.02)


def test_convex_steep_side_is_fitted_straight():
    """The steep side's curvature is bounded (q <= 0): a side that flattens towards the ridge is a
    rounded ridge (blur), not a bend."""
    x, d = _blurred_arc(0.5, 0.8, slope=-0.4, curvature=0.06)
    assert fit_ridge(x, d).curvature_below == 0.0
