"""The mitral annulus (TEER planning) from a label map, LPS mm.

Definition (as CT shows the annulus: the hinge line of the leaflets, where the LA blood pool meets
the LV blood pool across the valve and the atrial wall meets the ventricle): the mitral orifice is
the set of lines along the annulus plane's normal (columns, every 0.25 mm in the plane, sampled
every 0.5 mm up to ``reach_mm`` either side) that leave the LV blood pool through its roof and enter
the LA through its floor (each surface's normal within FACE_DEG = 60 deg of the plane normal, so a
column climbing the LA's side wall beside the orifice does not count), with at most ``gap_mm`` of
unlabelled tissue (the valve and the fibrous annulus, which are not labelled) and no labelled
tissue (myocardium, atrial wall, aorta, ...) in between. The masks are smoothed like the section
masks (Gaussian, sigma 0.6 voxel) and sampled trilinearly: LV and LA at the 0.5 level (the sub-voxel
boundary). Blocking tissue is tissue the column *crosses*: tissue whose smoothed mask reaches 0.5 on
the column (the column enters a wall), or a thinner layer whose smoothed mask rises from the LV side
to a peak of at least CROSSED_LEVEL = 0.25 and falls again, each by at least CROSSED_FALL = 0.1 (the
fall looked for up to CROSSED_PAST_MM = 1.5 mm past the LA entry) (a wall thinner than a voxel - the
wedge of atrial wall where it meets the annulus, the shelf of wall under the LA where it widens
above its opening - whose blurred peak stays under 0.5). The flat halo of a thick wall running
*beside* the column (the posterior atrial wall) does not block below 0.5, nor does the fading halo
above the end of a wall beside the LV (no rise): until 2026-11-29 all blocking tissue was read at
0.3, whose level lies 0.52 sigma = 0.39 mm (at 1.25 mm voxels) off a thick wall's face, so the
orifice ended 0.35-0.43 mm short of the posterior wall (phantom seeds 1, 5), while a thin layer
peaking under 0.3 let columns through. Where the LA lies directly against LV blood with no labelled
tissue between (the aorto-mitral curtain: the anterior lip of the LA opening sits beside and over
the LVOT, and the curtain itself is not labelled), the LA is read at LA_AT_LV = 0.3 wherever the
smoothed LV mask is at least LV_NEAR = 0.2: there the thin LA lip shares its partial volume with LV
blood rather than with tissue, and its 0.5 level lay 0.35-0.6 mm inside the painted opening
(phantom seeds 1 and 5), which made the anteroposterior width short. The outline of the largest
filled piece of orifice columns is the annulus: posteriorly and laterally it ends where the atrial
wall / LV myocardium begin; anteriorly, where the LV blood pool continues into the LVOT, it ends
where the LA does (the aorto-mitral curtain), which a face of the LV label alone would miss. Past the
leaflets' end the LA floor climbs along the LVOT right on LV blood (the curtain between them is
thinner than a voxel, so not labelled), and that sloping floor passed the 60-deg face test, so until
2026-11-29 the outline bulged 0.5-1 mm past the ring there (phantom seeds 0, 11, 25, 32: area up to
+2.5 %). So where the label map shows the leaflets (the orifice columns' median LV-LA gap at least
LEAFLET_MM = 1 mm of unlabelled tissue), a column with no gap at all (the LA right on LV blood)
counts only where the LA floor faces the LV within DIRECT_FACE_DEG = 40 deg; a label map that shows
no leaflets (LV and LA touching across the valve) keeps the 60-deg test everywhere.

The plane: starting from the LV-LA interface plane (:func:`.valves.interface_plane`), it is refitted
(least squares) to the midpoints of the columns' LV-LA crossings (without the roof / floor test,
which a tilted start plane would fail), up to three times, so the plane is the valve's even where
the interface plane of a thick, uneven wall is tilted. The annulus plane is then the least-squares
plane of the ring itself (each outline point at the LA floor of its nearest orifice column: the
hinge line), refitted up to ``ring_refits`` times: the valve's midpoints lean towards the LV side of
the valve (until 2026-11-29 the plane leaned 1.9 deg on average from the phantom's ring, seeds 0-47;
0.4 deg since).

Sizes as in :mod:`.section` (ellipse axes as min / max diameters); the anteroposterior
(septal-lateral, AP) diameter is the outline's width along the in-plane direction towards the
aortic annulus centre (the anterior horn of the "D" lies at the aorto-mitral continuity), the
intercommissural (IC) diameter its width perpendicular to AP.

This needs the LV myocardium and atrial walls labelled or left as a gap of unlabelled tissue
thicker than ``gap_mm`` (as the heart module and the phantom do).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage
from skimage import measure as skmeasure

from .. import labels
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from .plane import Plane, fit_plane
from .section import Section, outline_metrics, smooth_outline

logger = logging.getLogger(__name__)

PIXEL_MM = 0.25  # column spacing in the plane
STEP_MM = 0.5  # sample spacing along a column
FACE_DEG = 60.0  # a chamber surface faces the valve when its normal is within this of the plane normal
LEVELS = (0.5, 0.5, 0.5)  # LV, LA, blocking tissue: levels of the smoothed masks (see docstring)
CROSSED_LEVEL = 0.25  # a thinner layer of tissue blocks a column that crosses it at this level ...
CROSSED_FALL = 0.1  # ... i.e. the smoothed tissue mask rises and falls by this much ...
CROSSED_PAST_MM = 1.5  # ... within this far past the LA entry (see docstring)
LA_AT_LV = 0.3  # LA level where LV blood is next to it (see docstring)
LV_NEAR = 0.2  # smoothed LV mask level that counts as "LV blood next to the LA"
LEAFLET_MM = 1.0  # the label map shows the leaflets when the orifice columns' median LV-LA gap is this
DIRECT_FACE_DEG = 40.0  # ... and then a column with no gap needs the LA floor facing within this
RING_STEP_MM = 0.05  # the annulus ring's height (LA floor at the outline) is refined to this
MAX_RING_TILT_DEG = 10.0  # a ring plane further than this from the valve's plane is not trusted
OUTLINE_WINDOW_VOXELS = 0.75  # the outline is averaged over this much arc (see smooth_orifice_outline)


def offset_outline(xy: np.ndarray, distance_mm: float) -> np.ndarray:
    """A closed 2D outline moved ``distance_mm`` along its outward normals (mm)."""
    tangent = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    x, y = xy[:, 0], xy[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) < 0:  # clockwise: flip to outward
        normal = -normal
    return xy + distance_mm * normal


class _Masks:
    """Smoothed LV, LA and blocking-tissue masks cropped around the LA (sampled in LPS mm)."""

    def __init__(self, labelmap: Volume, reach_mm: float) -> None:
        a = labelmap.array
        la = a == labels.LA
        if not la.any() or not (a == labels.LV_BLOOD_POOL).any():
            raise CardiacInputError(
                "the label map lacks the LV blood pool or the LA; place the mitral points by hand"
            )
        box = ndimage.find_objects(la.astype(np.uint8))[0]
        pad = [int(np.ceil(2 * reach_mm / s)) + 3 for s in labelmap.spacing[::-1]]
        box = tuple(slice(max(sl.start - p, 0), sl.stop + p) for sl, p in zip(box, pad))
        self.lo = np.array([sl.start for sl in box])[::-1]  # x, y, z index of the crop origin
        sub = a[box]
        self.labelmap = labelmap
        blocking = (sub != 0) & (sub != labels.LV_BLOOD_POOL) & (sub != labels.LA)
        self.maps = [
            ndimage.gaussian_filter(m.astype(np.float32), sigma=0.6, mode="nearest")
            for m in (sub == labels.LV_BLOOD_POOL, sub == labels.LA, blocking)
        ]
        # gradients (per index step, x y z) of the smoothed LV and LA masks: their surfaces' normals
        self.grads = [np.stack(np.gradient(m)[::-1], axis=-1) for m in self.maps[:2]]
        self.lv_near_la = np.argwhere(
            (sub == labels.LV_BLOOD_POOL)
            & (ndimage.distance_transform_edt(~la[box], sampling=labelmap.spacing[::-1]) <= reach_mm)
        )

    def sample(self, pts: np.ndarray) -> list[np.ndarray]:
        idx = self.labelmap.lps_to_index(pts) - self.lo
        coords = [idx[..., 2], idx[..., 1], idx[..., 0]]
        lv, la, block = (ndimage.map_coordinates(m, coords, order=1, cval=0.0) for m in self.maps)
        la_in = (la >= LEVELS[1]) | ((la >= LA_AT_LV) & (lv >= LV_NEAR))
        return [lv >= LEVELS[0], la_in, block]  # block: the smoothed mask's value (0-1)

    def facing(self, pts: np.ndarray, which: int, direction: np.ndarray, face_deg=FACE_DEG) -> np.ndarray:
        """Whether the surface of mask ``which`` (0 LV, 1 LA) at ``pts`` (LPS mm, N x 3) faces
        ``direction``: its outward normal (minus the smoothed mask's gradient) lies within
        ``face_deg`` (one value or one per point) of it."""
        idx = self.labelmap.lps_to_index(pts) - self.lo
        coords = [idx[:, 2], idx[:, 1], idx[:, 0]]
        g = np.stack(
            [ndimage.map_coordinates(self.grads[which][..., c], coords, order=1) for c in range(3)], axis=1
        )
        g_lps = (g / np.asarray(self.labelmap.spacing)) @ np.asarray(self.labelmap.direction).T
        norm = np.maximum(np.linalg.norm(g_lps, axis=1), 1e-9)
        return -(g_lps @ direction) / norm >= np.cos(np.radians(face_deg))

    def lv_points(self) -> np.ndarray:
        """LPS centres of the LV voxels within reach of the LA."""
        return self.labelmap.index_to_lps((self.lv_near_la[:, ::-1] + self.lo).astype(float))


def _columns(masks: _Masks, plane: Plane, reach_mm: float, gap_mm: float, facing: bool = True):
    """(orifice mask on the in-plane grid, grid origin uv (mm), LPS midpoints of the crossings)."""
    uv = plane.to_plane_coords(masks.lv_points())
    if len(uv) < 20:
        raise CardiacInputError("the LV blood pool does not reach the LA (no mitral orifice found)")
    lo = uv.min(axis=0) - 5.0
    n_uv = np.ceil((uv.max(axis=0) + 5.0 - lo) / PIXEL_MM).astype(int) + 1
    t = np.arange(-reach_mm, reach_mm + 1e-9, STEP_MM)
    gu = lo[0] + PIXEL_MM * np.arange(n_uv[0])
    gv = lo[1] + PIXEL_MM * np.arange(n_uv[1])
    grid = np.stack(np.meshgrid(gu, gv, indexing="ij"), axis=-1)
    pts = plane.from_plane_coords(grid)[:, :, None, :] + t[None, None, :, None] * plane.normal
    lv, la, block = masks.sample(pts)
    nt = len(t)
    k = np.arange(nt)
    first_la = np.where(la.any(axis=2), np.argmax(la, axis=2), nt)
    lv_below = lv & (k < first_la[..., None])
    has_lv = lv_below.any(axis=2)
    last_lv = nt - 1 - np.argmax(lv_below[..., ::-1], axis=2)
    fl = np.minimum(first_la, nt - 1)
    between = np.where((k > last_lv[..., None]) & (k < first_la[..., None]), block, 0.0)
    peak_at = np.argmax(between, axis=2)
    peak = np.take_along_axis(between, peak_at[..., None], 2)[..., 0]
    # tissue the column crosses: entered (>= LEVELS[2]), or a thinner layer whose smoothed mask rises
    # from the LV side to CROSSED_LEVEL and falls again past it - not the flat halo of a wall beside
    # the column, nor the fading halo above the end of a wall that runs beside the LV (a fall, no rise)
    on_lv_side = (k >= last_lv[..., None]) & (k <= peak_at[..., None])
    last = np.minimum(fl + round(CROSSED_PAST_MM / STEP_MM), nt - 1)
    past = (k >= peak_at[..., None]) & (k <= last[..., None])
    rise = peak - np.where(on_lv_side, block, np.inf).min(axis=2)
    fall = peak - np.where(past, block, np.inf).min(axis=2)
    crossed = (peak >= CROSSED_LEVEL) & (rise >= CROSSED_FALL) & (fall >= CROSSED_FALL)
    blocked = (peak >= LEVELS[2]) | crossed
    gap = (first_la - last_lv - 1) * STEP_MM
    ok = has_lv & (first_la < nt) & ~blocked & (gap <= gap_mm)
    mid_t = t[0] + 0.5 * (first_la + last_lv) * STEP_MM
    if not facing:  # while the plane is refitted (a tilted start plane would see no roof / floor)
        return ok, lo, plane.from_plane_coords(grid[ok]) + mid_t[ok][:, None] * plane.normal, None
    # the column must leave the LV through its roof and enter the LA through its floor (surfaces
    # facing each other across the valve), not through the side of a chamber beside the orifice
    cols = np.argwhere(ok)
    base = plane.from_plane_coords(grid[ok])
    t_lv = t[0] + (last_lv[ok] + 0.5) * STEP_MM
    t_la = t[0] + (first_la[ok] - 0.5) * STEP_MM
    roof = masks.facing(base + t_lv[:, None] * plane.normal, 0, plane.normal)
    # where the label map shows the leaflets (unlabelled valve tissue between LV and LA on most
    # columns), a column with none - the LA right on LV blood - is past the valve's end: the
    # aorto-mitral curtain, too thin to be labelled, where the LA floor climbs along the LVOT; it
    # counts only where the LA floor faces the LV nearly head-on (see the docstring)
    face = np.full(len(cols), FACE_DEG)
    if ok.any() and np.median(gap[ok]) >= LEAFLET_MM:
        face[gap[ok] <= 0] = DIRECT_FACE_DEG
    floor = masks.facing(base + t_la[:, None] * plane.normal, 1, -plane.normal, face)
    ok[tuple(cols[~(roof & floor)].T)] = False
    mids = plane.from_plane_coords(grid[ok]) + mid_t[ok][:, None] * plane.normal
    return ok, lo, mids, t[0] + (first_la - 0.5) * STEP_MM


def _largest_piece(mask: np.ndarray) -> np.ndarray:
    pieces, n = ndimage.label(mask)
    if n == 0:
        raise CardiacInputError("the LV blood pool does not face the LA (no mitral orifice found)")
    keep = pieces == 1 + int(np.argmax(ndimage.sum(mask, pieces, range(1, n + 1))))
    return ndimage.binary_fill_holes(keep)


def mitral_annulus(
    labelmap: Volume,
    plane: Plane,
    reach_mm: float = 10.0,
    gap_mm: float = 6.0,
    refits: int = 2,
    ring_refits: int = 2,
) -> tuple[Plane, Section]:
    """(annulus plane, annulus outline) from a label map, starting from ``plane`` (e.g. the LV-LA
    interface plane, normal towards the LA, LPS mm); see the module docstring. Raises
    :class:`CardiacInputError` when the LV does not face the LA."""
    masks = _Masks(labelmap, reach_mm)
    for _ in range(refits + 1):
        ok, lo, mids, _ = _columns(masks, plane, reach_mm, gap_mm, facing=False)
        keep = _largest_piece(ok)
        if keep.sum() * PIXEL_MM**2 < 20.0:
            raise CardiacInputError("the LV blood pool does not face the LA (no mitral orifice found)")
        sel = keep[ok]
        fitted = fit_plane(mids[sel])
        normal = fitted.normal if fitted.normal @ plane.normal >= 0 else -fitted.normal  # keep LV -> LA
        moved = np.degrees(np.arccos(min(1.0, float(normal @ plane.normal))))
        plane = Plane(fitted.origin, normal)
        if moved < 0.25:
            break
    # the annulus plane: the least-squares plane of the ring (the hinge line), as CT annulus planes
    # are defined (the saddle-shaped annulus projected onto its least-squares plane: Blanke et al.,
    # JACC Cardiovasc Imaging 2015, mitral annular evaluation with CT for TMVR), not of the valve
    # between the LV roof and the LA floor, which leans towards the LV side of the valve (on the
    # phantom the LV's cap leans ~5 deg to the LA opening; this plane leaned 1.9 deg, seeds 0-47)
    valve = plane
    valve_outline, ring = _outline(masks, plane, reach_mm, gap_mm)
    outline = valve_outline
    for _ in range(ring_refits):
        fitted = fit_plane(ring)
        normal = fitted.normal if fitted.normal @ plane.normal >= 0 else -fitted.normal
        if np.degrees(np.arccos(min(1.0, float(normal @ valve.normal)))) > MAX_RING_TILT_DEG:
            logger.warning(
                "the mitral ring's plane leans > %g deg to the valve's; valve plane kept", MAX_RING_TILT_DEG
            )
            plane, outline = valve, valve_outline
            break
        moved = np.degrees(np.arccos(min(1.0, float(normal @ plane.normal))))
        if moved < 0.1:
            break
        plane = Plane(plane.origin, normal)  # the orifice's centre kept: the AP direction's origin
        outline, ring = _outline(masks, plane, reach_mm, gap_mm)
    return plane, outline_metrics(outline, plane, method="ellipse")


def smooth_orifice_outline(xy: np.ndarray, voxel_mm: float) -> np.ndarray:
    """The orifice outline (in-plane mm, traced on the 0.25 mm column grid) averaged over
    OUTLINE_WINDOW_VOXELS of arc: enough for the column grid's staircase (the masks are already
    smoothed), while the 1.5 voxels of the label-map sections (used here until 2026-11-29) pulled
    the annulus's pointed ends in: on the phantom's exact rings (seeds 0-47, rasterised at 0.25 mm)
    AP and IC came out 0.17 mm short with 1.5 voxels at 1.25 mm, 0.07 / 0.08 mm with 0.75 voxel
    (a corner of angle a recedes by about w cos(a/2) / 4 under a window w)."""
    return smooth_outline(xy, window_mm=OUTLINE_WINDOW_VOXELS * voxel_mm)


def _outline(masks: _Masks, plane: Plane, reach_mm: float, gap_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(the orifice outline in ``plane`` (in-plane mm, evenly sampled), the annulus ring: each
    outline point lifted along the normal to the LA floor of its nearest orifice column (LPS mm))."""
    ok, lo, _, t_la = _columns(masks, plane, reach_mm, gap_mm)
    keep = _largest_piece(ok)
    contour = max(skmeasure.find_contours(np.pad(keep, 1).astype(float), 0.5), key=len) - 1
    outline = smooth_orifice_outline(contour * PIXEL_MM + lo, max(masks.labelmap.spacing))
    # nearest orifice column of every outline point, and its LA floor refined to RING_STEP_MM
    _, (iu, iv) = ndimage.distance_transform_edt(~keep, return_indices=True)
    pix = np.clip(np.rint((outline - lo) / PIXEL_MM).astype(int), 0, np.array(keep.shape) - 1)
    cu, cv = iu[pix[:, 0], pix[:, 1]], iv[pix[:, 0], pix[:, 1]]
    col = plane.from_plane_coords(lo + PIXEL_MM * np.stack([cu, cv], 1))
    fine = t_la[cu, cv][:, None] + np.arange(-STEP_MM, STEP_MM + 1e-9, RING_STEP_MM)[None, :]
    la = masks.sample(col[:, None, :] + fine[..., None] * plane.normal)[1]
    k = np.where(la.any(axis=1), np.argmax(la, axis=1), la.shape[1] - 1)
    height = np.take_along_axis(fine, k[:, None], 1)[:, 0] - 0.5 * RING_STEP_MM
    return outline, plane.from_plane_coords(outline) + height[:, None] * plane.normal


def mitral_orifice(labelmap: Volume, plane: Plane, reach_mm: float = 10.0) -> Section:
    """The mitral annulus outline (see :func:`mitral_annulus`), in its refitted plane."""
    return mitral_annulus(labelmap, plane, reach_mm)[1]
