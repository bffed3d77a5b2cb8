"""Which tissue stops a mitral orifice column (`measure.mitral`): tissue the column crosses, not the
partial-volume halo of a wall that runs beside it. Constructed label maps at a clinical voxel size
(1.25 mm); the answers are known from the construction."""

import numpy as np
import pytest

from CardiacPlanningLib import labels
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure import mitral
from CardiacPlanningLib.measure.plane import Plane

SP = 1.25
N = 32
ATRIAL_WALL = labels.by_key("atrial_wall").value


def _chambers() -> tuple[Volume, np.ndarray]:
    """(label map, voxel centres x y z in mm): LV blood below z = -1.5, LA above z = 1.5 for x < 4,
    unlabelled valve tissue between; LPS = index * 1.25 - 20."""
    idx = np.stack(np.meshgrid(*[np.arange(N)] * 3, indexing="ij"), -1)
    p = idx[..., ::-1] * SP - 20.0
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    lab = np.zeros((N, N, N), np.uint8)
    inside = (np.abs(y) < 12) & (x > -12)
    lab[inside & (z < -1.5) & (z > -10) & (x < 10)] = labels.LV_BLOOD_POOL
    lab[inside & (z > 1.5) & (z < 10) & (x < 4)] = labels.LA
    return Volume(lab, spacing=(SP,) * 3, origin=(-20.0,) * 3, direction=np.eye(3)), p


def _orifice_row(masks: mitral._Masks) -> tuple[np.ndarray, np.ndarray]:
    """(x of the in-plane columns along y = 0, whether each is an orifice column); plane z = 0."""
    plane = Plane(np.zeros(3), np.array([0.0, 0.0, 1.0]))
    ok, lo = mitral._columns(masks, plane, 10.0, 6.0, facing=False)[:2]
    gx = lo[0] + mitral.PIXEL_MM * np.arange(ok.shape[0])
    gy = lo[1] + mitral.PIXEL_MM * np.arange(ok.shape[1])
    return gx, ok[:, int(np.argmin(np.abs(gy)))]


def test_thick_wall_beside_the_orifice_ends_it_at_its_face():
    """A thick atrial wall (5 mm) beside the LA, reaching down into the valve gap: the orifice ends
    at the wall's face (midway between the last LA and the first wall voxel centre, x = 4.375), not
    at the 0.3 level of the wall's smoothed mask 0.4-0.5 mm inside it, as before 2026-11-29."""
    vol, p = _chambers()
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    vol.array[(np.abs(y) < 12) & (z > -1.5) & (z < 10) & (x >= 4) & (x < 9)] = ATRIAL_WALL
    gx, row = _orifice_row(mitral._Masks(vol, 10.0))
    edge = gx[row].max() + 0.5 * mitral.PIXEL_MM  # the outline runs midway to the next column
    assert edge == pytest.approx(4.375, abs=0.15)


def test_crossed_thin_layer_blocks_a_flat_halo_does_not():
    """The rule itself, on prescribed smoothed tissue values along the columns (z in mm): for x < 0 a
    thin layer in the valve gap whose smoothed profile peaks at 0.27 (a wall thinner than a voxel,
    under 0.5 everywhere) - crossed, so it blocks; for x > 0 a flat 0.4 along the whole column (the
    halo of a wall running beside it) - not crossed, so it does not. Until 2026-11-29 both were read
    at one level (0.3): the layer let the column through and the halo stopped it."""
    vol, _ = _chambers()
    masks = mitral._Masks(vol, 10.0)
    shape = masks.maps[2].shape
    kk, jj, ii = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    lps = vol.index_to_lps(np.stack([ii, jj, kk], -1).reshape(-1, 3) + masks.lo).reshape(shape + (3,))
    x, z = lps[..., 0], lps[..., 2]
    layer = 0.27 * np.exp(-0.5 * (z / 0.75) ** 2)
    masks.maps[2] = np.where(x < 0, layer, 0.4).astype(np.float32)
    gx, row = _orifice_row(masks)
    assert not row[(gx > -8) & (gx < -1)].any()  # the crossed layer blocks
    assert row[(gx > 1) & (gx < 3)].all()  # the flat halo does not
