"""Split the left atrium into its body, the appendage and the pulmonary veins.

The veins and the appendage are narrower than the atrial body: the body is the LA opened by a ball
of ``LA_BODY_RADIUS_MM``, and what the ball cannot reach are vein stubs, the appendage and the rim of
the mitral funnel. The appendage opens onto the LA through a narrow ostium (its neck) and is often
wider beyond it (a lobe); where it hangs next to the mitral funnel, the two are cut apart at the
neck, found as the saddle of the distance map between their inscribed-sphere centres (watershed).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .. import labels as lbl
from .necks import distance_basins

LA_BODY_RADIUS_MM = 9.0
RIM_ML = 0.3  # removed pieces smaller than this are the rim of the body: kept LA
LOBE_MIN_ML = 1.0  # a lobe beyond a neck holds at least this much blood
NECK_GAP_MM = 5.0  # inscribed-sphere centres of separate lobes lie at least this far apart
TUBE_CORE_MM = 3.0  # a vessel off the funnel's rim is wider than this ball; the rim shell is not
TUBE_REACH_MM = 10.0  # and reaches at least this far out from the body
VESSEL_REACH_MM = 2 * LA_BODY_RADIUS_MM  # a funnel basin reaching this far out from the body is a vessel


def _ball(radius_mm: float, spacing_mm: float) -> np.ndarray:
    r = max(1, int(round(radius_mm / spacing_mm)))
    zz, yy, xx = np.ogrid[-r : r + 1, -r : r + 1, -r : r + 1]
    return zz**2 + yy**2 + xx**2 <= r * r


def split_left_atrium(seg: np.ndarray, spacing_mm: float, to_lps) -> np.ndarray:
    """Separate the pulmonary veins and the appendage from the LA body (in place).

    Each piece removed by the opening (see the module text) that touches the body is a branch; a
    piece touching the LV (the mitral funnel) stays LA except for lobes beyond a neck that touch
    neither the LV nor the body (:func:`_lobes_beyond_necks`). Of the branches (and the pieces
    already named pulmonary vein that open onto the LA), the one lying most
    anterior among those anterior-left of the body's centre (LPS: +x left, -y anterior) is the
    appendage; the others are pulmonary veins. ``to_lps`` maps (N, 3) (x, y, z) indices to LPS mm."""
    la = seg == lbl.LA
    if not la.any():
        return seg
    body = ndi.binary_opening(la, _ball(LA_BODY_RADIUS_MM, spacing_mm))
    if not body.any():
        return seg
    lab, _ = ndi.label(body)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    body = lab == int(np.argmax(sizes))
    centre = to_lps(np.argwhere(body)[:, ::-1].mean(0, keepdims=True))[0]
    rest, n = ndi.label(la & ~body)
    lv_near = ndi.binary_dilation(seg == lbl.LV_BLOOD_POOL)
    voxel_ml = spacing_mm**3 / 1000.0
    dist = None
    branches: list[np.ndarray] = []
    for i in range(1, n + 1):
        piece = rest == i
        if piece.sum() * voxel_ml < RIM_ML:
            continue
        if (lv_near & piece).any():
            # the mitral funnel: a narrow part of the LA next to the LV, not a vessel
            if dist is None:
                dist = ndi.distance_transform_edt(la) * spacing_mm
            tubes = [
                tube
                for tube in _tubes_off_the_rim(piece, body, lv_near, spacing_mm)
                # the pulmonary veins join the posterior wall (LPS +y): an anterior piece is body
                if to_lps(np.argwhere(tube)[:, ::-1].mean(0, keepdims=True))[0][1] > centre[1]
            ]
            branches.extend(tubes)
            for tube in tubes:
                piece &= ~tube
            branches.extend(_lobes_beyond_necks(piece, body, lv_near, dist, spacing_mm))
            continue
        branches.append(piece)
    pv, laa = lbl.value_of("pulmonary_veins"), lbl.value_of("la_appendage")
    # pieces the naming step already called pulmonary vein (a separate watershed piece opening onto
    # the LA) are candidates for the appendage too
    named, _ = ndi.label(seg == pv)
    for c in np.unique(named[ndi.binary_dilation(la) & (named > 0)]):
        piece = named == c
        if piece.sum() * voxel_ml >= LOBE_MIN_ML:
            branches.append(piece)
    offsets = [to_lps(np.argwhere(b)[:, ::-1].mean(0, keepdims=True))[0] - centre for b in branches]
    front = [k for k, c in enumerate(offsets) if c[0] > 0 and c[1] < 0]
    appendage = min(front, key=lambda k: offsets[k][1]) if front else -1
    for k, piece in enumerate(branches):
        seg[piece] = laa if k == appendage else pv
    return seg


def _tubes_off_the_rim(
    piece: np.ndarray, body: np.ndarray, lv_near: np.ndarray, spacing_mm: float
) -> list[np.ndarray]:
    """Vessels leaving the body that the thin rim of the mitral funnel joins to the funnel's piece.

    The rim left by the body's opening is a thin shell (a few mm) around the body; a pulmonary vein
    is a tube wider than that (radius 4-8 mm). Opening ``piece`` with a ball of TUBE_CORE_MM cuts
    the shell away; what remains apart from the LV is a vessel when it reaches at least
    TUBE_REACH_MM out from the body and holds LOBE_MIN_ML (a corner of the body lies closer)."""
    box = ndi.find_objects(piece.astype(np.uint8))[0]
    box = tuple(slice(max(s.start - 2, 0), s.stop + 2) for s in box)
    p = piece[box]
    core = ndi.binary_opening(p, _ball(TUBE_CORE_MM, spacing_mm))
    if not core.any():
        return []
    comp, n = ndi.label(core)
    away = ndi.distance_transform_edt(~body[box]) * spacing_mm
    near_lv = ndi.binary_dilation(lv_near[box], iterations=2)
    out = []
    for c in range(1, n + 1):
        tube = comp == c
        if (tube & near_lv).any() or tube.sum() * spacing_mm**3 / 1000.0 < LOBE_MIN_ML:
            continue
        if away[tube].max() < TUBE_REACH_MM:
            continue
        full = np.zeros(piece.shape, bool)
        full[box] = tube
        out.append(full)
    return out


def _lobes_beyond_necks(
    piece: np.ndarray, body: np.ndarray, lv_near: np.ndarray, dist: np.ndarray, spacing_mm: float
) -> list[np.ndarray]:
    """Parts of a mitral-funnel ``piece`` that lie beyond a neck: watershed basins of the distance
    map ``dist`` (mm) around inscribed-sphere centres at least NECK_GAP_MM apart (their borders are
    the narrowest cross-sections), joined where they touch each other, that touch neither the body
    nor the LV and hold at least LOBE_MIN_ML; and, each on its own, basins that open onto the body
    but not the LV and run on VESSEL_REACH_MM or more beyond the body (a vein's first part, which
    the body's ball cannot enter, in one basin with the vein)."""
    box = ndi.find_objects(piece.astype(np.uint8))[0]
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
    p, d = piece[box], dist[box]
    basins = distance_basins(p, d, NECK_GAP_MM, spacing_mm)
    if basins is None:
        return []
    at_lv = np.unique(basins[lv_near[box] & p])
    at_body = np.setdiff1d(np.unique(basins[ndi.binary_dilation(body[box]) & p]), at_lv)
    # a basin opening onto the body that runs on far beyond it is a vessel leaving the atrium (a
    # pulmonary vein whose first part the body's ball cannot enter): its own branch
    away = ndi.distance_transform_edt(~body[box]) * spacing_mm
    reach = ndi.maximum(away, basins, at_body) if len(at_body) else np.zeros(0)
    vessels = at_body[np.asarray(reach) >= VESSEL_REACH_MM]
    anchored = np.concatenate([at_lv, np.setdiff1d(at_body, vessels)])
    free = p & ~np.isin(basins, anchored) & ~np.isin(basins, vessels)
    comp, n = ndi.label(free)
    out = []
    pieces = [comp == c for c in range(1, n + 1)]
    for v in vessels:
        pieces.append((basins == v) & p)
    for lobe in pieces:
        if lobe.sum() * spacing_mm**3 / 1000.0 >= LOBE_MIN_ML:
            full = np.zeros(piece.shape, bool)
            full[box] = lobe
            out.append(full)
    return out
