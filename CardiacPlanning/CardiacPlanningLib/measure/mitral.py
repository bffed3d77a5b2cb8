"""The mitral annulus (TEER planning) from a label map, LPS mm.

Definition: the mitral orifice is the part of the LV blood pool's boundary that faces the left
atrium: LV boundary voxels (6-connected) that touch the LA or unlabelled tissue (the valve and the
fibrous annulus between the chambers are not labelled; the LV walls are myocardium) and lie within
``reach_mm`` (default 10 mm) of the LA. The annulus plane is the least-squares plane through those
face points (the saddle-shaped annulus), found by projecting them onto the LV-LA interface plane
(:func:`.valves.interface_plane`), keeping the largest piece and refitting (three times; each fit
drops points more than max(3 mm, 2.5 x rms) off the plane and fits again): the interface plane
of a thick, uneven wall can be tilted by 10-40 degrees, the refitted plane was within 2.5 degrees
of the phantom's (saddle-shaped) valve cap on the 12 seeds measured. The face points are projected
onto that plane,
rasterised at 0.25 mm, closed over 2.5 mm and filled; the outline of the largest piece, grown by
half a voxel (voxel centres lie half a voxel inside the boundary), is the annulus. Sizes as in
:mod:`.section`; the anteroposterior (septal-lateral, AP) diameter is the outline's width towards
the aortic annulus centre (the anterior horn of the "D" lies at the aorto-mitral continuity), the
intercommissural (IC) diameter its width perpendicular to AP.

Limit: where the LV blood pool continues into the LVOT beside the anterior leaflet, a blood-pool
label has no boundary at the anterior annulus (the leaflet is not labelled), so the AP diameter can
come out short (docs/benchmarks.md, Report).

This needs the LV myocardium labelled (as the heart module and the phantom do): without it every LV
boundary voxel near the LA would count.
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

PIXEL_MM = 0.25
REFITS = 3  # plane refits (projection -> largest piece -> trimmed plane fit)
TRIM_MM = 3.0  # face points farther than max(TRIM_MM, 2.5 x rms) from a fit are left out of the next


def offset_outline(xy: np.ndarray, distance_mm: float) -> np.ndarray:
    """A closed 2D outline moved ``distance_mm`` along its outward normals (mm)."""
    tangent = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    x, y = xy[:, 0], xy[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) < 0:  # clockwise: flip to outward
        normal = -normal
    return xy + distance_mm * normal


def _face_points(labelmap: Volume, reach_mm: float) -> np.ndarray:
    """LPS centres (mm) of the LV boundary voxels that face the LA or unlabelled tissue within
    ``reach_mm`` of the LA (module docstring)."""
    a = labelmap.array
    lv = a == labels.LV_BLOOD_POOL
    la = a == labels.LA
    if not lv.any() or not la.any():
        raise CardiacInputError(
            "the label map lacks the LV blood pool or the LA; place the mitral points by hand"
        )
    box = ndimage.find_objects(la.astype(np.uint8))[0]
    pad = [int(np.ceil(reach_mm / s)) + 2 for s in labelmap.spacing[::-1]]
    box = tuple(slice(max(sl.start - p, 0), sl.stop + p) for sl, p in zip(box, pad))
    lv, la, sub = lv[box], la[box], a[box]
    near = ndimage.distance_transform_edt(~la, sampling=labelmap.spacing[::-1]) <= reach_mm
    cross = ndimage.generate_binary_structure(3, 1)
    face = lv & ~ndimage.binary_erosion(lv, cross, border_value=1)
    open_side = ndimage.binary_dilation((sub == 0) | la, cross)
    idx = np.argwhere(face & open_side & near)
    if len(idx) < 20:
        raise CardiacInputError("the LV blood pool does not face the LA (no mitral orifice found)")
    idx += np.array([sl.start for sl in box])
    return labelmap.index_to_lps(idx[:, ::-1].astype(float))


def _largest_projection(points: np.ndarray, plane: Plane) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(filled largest piece of the points projected onto ``plane`` at PIXEL_MM, its uv origin,
    which points fall in it)."""
    uv = plane.to_plane_coords(points)
    lo = uv.min(axis=0) - 5.0
    ij = np.round((uv - lo) / PIXEL_MM).astype(int)
    img = np.zeros(tuple(ij.max(axis=0) + 11), bool)
    img[ij[:, 0], ij[:, 1]] = True
    img = ndimage.binary_fill_holes(ndimage.binary_closing(img, iterations=int(2.5 / PIXEL_MM)))
    pieces, n = ndimage.label(img)
    if n == 0:
        raise CardiacInputError("no mitral orifice outline")
    largest = pieces == 1 + int(np.argmax(ndimage.sum(img, pieces, range(1, n + 1))))
    return largest, lo, largest[ij[:, 0], ij[:, 1]]


def mitral_annulus(labelmap: Volume, plane: Plane, reach_mm: float = 10.0) -> tuple[Plane, Section]:
    """(annulus plane, annulus outline) starting from ``plane`` (the LV-LA interface plane, normal
    towards the LA, LPS mm); see the module docstring. The plane is refitted (least squares) to the
    face points of the orifice, so it is the plane of the saddle-shaped annulus itself even where the
    interface plane of a thick, uneven wall is tilted. Raises :class:`CardiacInputError` when the LV
    does not face the LA."""
    pts = _face_points(labelmap, reach_mm)
    toward = plane.origin + plane.normal
    for _ in range(REFITS):
        _, _, inside = _largest_projection(pts, plane)
        use = inside.copy()
        for _ in range(3):  # trimmed least squares: drop face points far off the plane (outliers)
            if use.sum() < 20:
                break
            fitted = fit_plane(pts[use], toward=toward)
            d = np.abs(fitted.signed_distance(pts))
            rms = float(np.sqrt(np.mean(d[use] ** 2)))
            use = inside & (d <= max(TRIM_MM, 2.5 * rms))
        if inside.sum() >= 20:
            plane = Plane(fitted.origin, fitted.normal)
    largest, lo, _ = _largest_projection(pts, plane)
    contour = max(skmeasure.find_contours(np.pad(largest, 1).astype(float), 0.5), key=len) - 1
    outline = smooth_outline(contour * PIXEL_MM + lo, window_mm=1.5 * max(labelmap.spacing))
    # the iso-line lies half a pixel outside the outermost centres; the boundary half a voxel
    grow = 0.5 * float(np.mean(labelmap.spacing)) - 0.5 * PIXEL_MM
    return plane, outline_metrics(offset_outline(outline, grow), plane)


def mitral_orifice(labelmap: Volume, plane: Plane, reach_mm: float = 10.0) -> Section:
    """The mitral annulus outline in its refitted plane (see :func:`mitral_annulus`)."""
    return mitral_annulus(labelmap, plane, reach_mm)[1]
