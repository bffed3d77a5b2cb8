"""Where the mitral orifice ends at the aorto-mitral curtain (`measure.mitral`): past the leaflets'
end the LA floor climbs along the LVOT, right on LV blood (the curtain between them is thinner than
a voxel and not labelled). Constructed label maps at a clinical voxel size (1.25 mm); the answers are
known from the construction."""

import numpy as np

from CardiacPlanningLib import labels
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.measure import mitral
from CardiacPlanningLib.measure.plane import Plane

SP = 1.25
N = 32
SLOPE_DEG = 50.0  # the curtain's LA floor: steeper than DIRECT_FACE_DEG, within FACE_DEG
END = 1.0 + 3.0 / np.tan(np.radians(35.0))  # x where the leaflets end (5.28 mm)


def _curtain(leaflets: bool) -> Volume:
    """LV blood below, LA above (LPS = index * 1.25 - 20, mm). With ``leaflets``, 3 mm of unlabelled
    leaflet tissue lies between them (LA floor z = 1.5, LV roof z = -1.5); from x = 1 the LV roof
    climbs at 35 deg and meets the LA floor at x = END (the leaflets' end); from there the LA floor
    climbs at SLOPE_DEG right on LV blood (the curtain). Without, LV and LA touch at z = 0 and the
    LA floor climbs from x = END."""
    idx = np.stack(np.meshgrid(*[np.arange(N)] * 3, indexing="ij"), -1)
    p = idx[..., ::-1] * SP - 20.0
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    lab = np.zeros((N, N, N), np.uint8)
    inside = (np.abs(y) < 12) & (x > -12) & (x < 10) & (z > -10) & (z < 10)
    base = 1.5 if leaflets else 0.0
    floor = base + np.clip(x - END, 0, None) * np.tan(np.radians(SLOPE_DEG))
    roof = -base + np.clip(x - 1.0, 0, None) * np.tan(np.radians(35.0)) if leaflets else floor
    lab[inside & (z < np.where(x < END, roof, floor))] = labels.LV_BLOOD_POOL
    lab[inside & (z >= floor)] = labels.LA
    return Volume(lab, spacing=(SP,) * 3, origin=(-20.0,) * 3, direction=np.eye(3))


def _row_end(vol: Volume) -> float:
    """x where the orifice run through x = 0 ends along y = 0 (plane z = 0, with the roof / floor
    tests; as in the measurement, only the piece holding the valve counts, not columns cut off
    from it)."""
    masks = mitral._Masks(vol, 10.0)
    plane = Plane(np.zeros(3), np.array([0.0, 0.0, 1.0]))
    ok, lo = mitral._columns(masks, plane, 10.0, 6.0)[:2]
    gx = lo[0] + mitral.PIXEL_MM * np.arange(ok.shape[0])
    gy = lo[1] + mitral.PIXEL_MM * np.arange(ok.shape[1])
    row = ok[:, int(np.argmin(np.abs(gy)))]
    i = int(np.argmin(np.abs(gx)))
    assert row[i]
    while i + 1 < len(row) and row[i + 1]:
        i += 1
    return float(gx[i] + 0.5 * mitral.PIXEL_MM)


def test_orifice_ends_where_the_leaflets_end_not_up_the_curtain():
    """With the leaflets shown (a 3 mm unlabelled gap), the orifice ends near where they end (END =
    5.28 mm; 5.9 at 1.25 mm voxels); until 2026-11-29 the columns climbed the 50-deg curtain, whose
    LA floor passed the 60-deg face test, to the end of the constructed LA (x = 9.1)."""
    end = _row_end(_curtain(leaflets=True))
    assert END - 0.5 < end < END + 1.0


def test_without_leaflets_in_the_labels_the_face_test_is_unchanged(monkeypatch):
    """Where the label map shows no leaflets (LV and LA touch across the valve), the stricter test
    is off: the orifice ends where the 60-deg face test alone ends it."""
    vol = _curtain(leaflets=False)
    end = _row_end(vol)
    monkeypatch.setattr(mitral, "DIRECT_FACE_DEG", mitral.FACE_DEG)
    assert end == _row_end(vol)
    assert end > END + 1.0  # the 50-deg face passes the 60-deg test for a while
