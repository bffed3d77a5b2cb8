"""The atria, painted after the aorta, must not cut the aortic root or the ascending aorta (issue 9):
the lumen keeps its analytic shape and its wall separates it from the left atrium."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib import labels
from CardiacPlanningLib.phantom import tissues as tis
from CardiacPlanningLib.phantom.anatomy import build_anatomy
from CardiacPlanningLib.phantom.heartmesh import CAVITY
from CardiacPlanningLib.phantom.rasterize import surface_mask
from CardiacPlanningLib.phantom.shapes import Grid, keep_shapes, tube_sdf

SEED = 44  # a seed whose left atrium reaches into the root and the ascending aorta


def _local_anatomy(seed: int, spacing: float = 0.625):
    """The seed's anatomy on a grid around the aortic root and the first 40 mm of the aorta."""
    root = build_anatomy(Grid(np.array([-60.0, -60.0, -60.0]), 4.0, (30, 30, 30)), seed).root
    stj = root.center + root.height * root.axis
    lo = np.minimum(root.center, stj) - root.sinus_radius - 25.0
    hi = np.maximum(root.center, stj) + root.sinus_radius + 25.0
    shape = tuple(int(n) for n in np.ceil((hi - lo) / spacing)[::-1] + 1)
    return build_anatomy(Grid(lo, spacing, shape), seed)


def _cavity(anatomy, key: str) -> np.ndarray:
    full = np.zeros(anatomy.tissue.shape, bool)
    hit = surface_mask(anatomy.mesh.points, anatomy.mesh.triangles([CAVITY[key]]), anatomy.grid)
    if hit is not None:
        full[hit[0]] = hit[1]
    return full


def _inside(anatomy, box, sdf, limit: float) -> np.ndarray:
    full = np.zeros(anatomy.tissue.shape, bool)
    full[box] = sdf < limit
    return full


def test_left_atrium_stays_outside_the_aortic_wall():
    a = _local_anatomy(SEED)
    la = _cavity(a, "la")
    root_box, root_sdf = a.root.sdf(a.grid, margin=2.0)
    pts, rad = a.centerlines["aorta"]
    tube_box, t_sdf = tube_sdf(a.grid, pts, rad, margin=2.0, open_start=True)
    root_lumen = _inside(a, root_box, root_sdf, 0.0)
    tube_lumen = _inside(a, tube_box, t_sdf, 0.0)
    shell = _inside(a, root_box, root_sdf, 1.8) | _inside(a, tube_box, t_sdf, 1.6)
    # the seed's LA mesh does reach into both lumens (else this test checks nothing)
    assert (la & root_lumen).sum() > 500 and (la & tube_lumen).sum() > 2000
    # the root lumen is the analytic shape, voxel for voxel; the atria keep out of the aortic wall
    assert np.all(a.tissue[root_lumen] == labels.AORTA)
    assert not np.isin(a.tissue[tube_lumen], (labels.LA, labels.RA)).any()
    assert not np.isin(a.tissue[shell], (labels.LA, labels.RA)).any()
    assert np.all(np.isin(a.tissue[la & shell & ~root_lumen & ~tube_lumen], (tis.VESSEL_WALL, labels.AORTA)))
    # the LA is unchanged elsewhere (the RA is painted after it)
    rest = la & ~shell & ~_cavity(a, "ra")
    assert rest.sum() > 10000 and np.all(a.tissue[rest] == labels.LA)


def test_keep_shapes_gives_lumens_before_walls():
    tissue = np.full((1, 1, 6), labels.LA, dtype=np.uint8)
    box = (slice(0, 1), slice(0, 1), slice(0, 6))
    tube = np.array([[[-1.0, -0.5, 0.5, 1.0, 3.0, 3.0]]], dtype=np.float32)  # lumen, lumen, wall x2, out
    other = np.array([[[3.0, 3.0, 3.0, -1.0, 0.5, 3.0]]], dtype=np.float32)  # a lumen in tube's wall
    n = keep_shapes(tissue, [(box, tube, 1.6), (box, other, 1.6)], labels.AORTA, tis.VESSEL_WALL, {labels.LA})
    w, ao, la = tis.VESSEL_WALL, labels.AORTA, labels.LA
    assert tissue.ravel().tolist() == [ao, ao, w, ao, w, la] and n == 5
