"""Cross-sections of a label map or a surface by a plane, and the size of a closed outline.

Definitions (all in the section plane, mm):
- area: enclosed area of the outline (shoelace formula); perimeter: its length.
- Feret (caliper) diameters: max = the largest distance between two outline points; min = the
  smallest width between two parallel support lines (rotating calipers on the convex hull).
- Ellipse diameters: the major and minor axes of the least-squares ellipse through the outline
  (Halir & Flusser's direct fit, ``skimage.measure.EllipseModel``).
- min / max diameter: the ellipse axes (``method="ellipse"``) or the Feret diameters
  (``method="feret"``, the default), as ``Section.diameter_method`` says; both pairs are kept. The
  extremes of a traced outline pick up its largest excursions (the voxel staircase, noise: on the
  phantom's 23 mm annulus circle at 1.25 mm voxels the Feret max is 0.4-0.6 mm too large), while the
  ellipse uses every outline point; so near-elliptical sections (annulus, LVOT, STJ, tubular aorta,
  RVOT / pulmonary trunk) report the ellipse axes and the trilobed sinus section the Feret diameters.
  For an ellipse both pairs are its axes.
- area-derived diameter: ``2 * sqrt(area / pi)``; perimeter-derived diameter: ``perimeter / pi``
  (the usual CT annulus-sizing diameters, e.g. Blanke et al., JACC Cardiovasc Imaging 2019).

A label-map section resamples a lightly smoothed binary mask (Gaussian, sigma 0.6 voxel) on a fine
grid in the plane (trilinear), takes the 0.5 iso-line (marching squares) and averages the outline
over 1.5 voxels of arc length, so it follows the true boundary instead of the voxel staircase.
Both smoothings pull a curved outline towards its centre of curvature: the 0.5 level of a Gaussian-
blurred edge of curvature k moves by ``sigma^2 k / 2`` (second-order expansion of the blurred step;
out-of-plane curvature left out), a moving average over an arc of length w by ``w^2 k / 24``. On a
1.25 mm grid that is 0.037 mm on a 23 mm circle, -0.65 % of its area (measured on painted cylinders
of radius 7 / 11.5 / 14 mm: -2.0 / -0.7 / -0.6 %, predicted -1.7 / -0.65 / -0.44 %), so the outline is
moved back along its normals by that amount at each point (:func:`unbias_outline`); the integral of
the curvature of a closed outline is 2 pi, so the area gains ``2 pi (sigma^2 / 2 + w^2 / 24)`` for
any shape, and concave stretches move inwards.
A surface section cuts the mesh with VTK.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from skimage import measure as skmeasure
from skimage.measure import EllipseModel

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from .plane import Plane

logger = logging.getLogger(__name__)


@dataclass
class Section:
    """Size of one closed outline in a plane (mm, mm^2); ``contour`` and ``centroid`` in LPS mm."""

    area_mm2: float
    perimeter_mm: float
    min_diameter_mm: float
    max_diameter_mm: float
    area_diameter_mm: float
    perimeter_diameter_mm: float
    centroid: np.ndarray
    contour: np.ndarray
    diameter_method: str = "feret"
    feret_min_mm: float = float("nan")
    feret_max_mm: float = float("nan")
    ellipse_minor_mm: float = float("nan")
    ellipse_major_mm: float = float("nan")

    def to_dict(self) -> dict:
        """JSON-friendly values (contour left out)."""
        return {
            "area_mm2": self.area_mm2,
            "perimeter_mm": self.perimeter_mm,
            "min_diameter_mm": self.min_diameter_mm,
            "max_diameter_mm": self.max_diameter_mm,
            "diameter_method": self.diameter_method,
            "feret_min_diameter_mm": self.feret_min_mm,
            "feret_max_diameter_mm": self.feret_max_mm,
            "ellipse_minor_diameter_mm": self.ellipse_minor_mm,
            "ellipse_major_diameter_mm": self.ellipse_major_mm,
            "area_derived_diameter_mm": self.area_diameter_mm,
            "perimeter_derived_diameter_mm": self.perimeter_diameter_mm,
            "centroid_lps": [float(c) for c in self.centroid],
        }


def _polygon_area_centroid(xy: np.ndarray) -> tuple[float, np.ndarray]:
    x, y = xy[:, 0], xy[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = 0.5 * cross.sum()
    if abs(area) < 1e-12:
        return 0.0, xy.mean(axis=0)
    cx = ((x + xn) * cross).sum() / (6 * area)
    cy = ((y + yn) * cross).sum() / (6 * area)
    return abs(float(area)), np.array([cx, cy])


def feret_diameters(xy: np.ndarray) -> tuple[float, float]:
    """(min, max) Feret diameters (mm) of a 2D point set, by rotating calipers on its convex hull."""
    hull = xy[ConvexHull(xy).vertices]
    diff = hull[:, None, :] - hull[None, :, :]
    max_d = float(np.sqrt((diff**2).sum(-1)).max())
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.linalg.norm(edges, axis=1)
    keep = lengths > 1e-12
    normals = np.stack([-edges[keep, 1], edges[keep, 0]], axis=1) / lengths[keep, None]
    # width across each hull edge = farthest hull vertex from the edge's line
    rel = hull[None, :, :] - hull[keep][:, None, :]
    widths = np.abs(np.einsum("eij,ej->ei", rel, normals)).max(axis=1)
    return float(widths.min()), max_d


def ellipse_diameters(xy: np.ndarray) -> tuple[float, float]:
    """(minor, major) axis lengths (mm) of the least-squares ellipse through a 2D outline (points
    spread evenly along it); NaN when no ellipse fits (e.g. collinear points)."""
    with np.errstate(invalid="ignore", divide="ignore"):  # a circle: the axis angle is undefined
        model = EllipseModel.from_estimate(np.asarray(xy, dtype=float))
    if not model:
        return float("nan"), float("nan")
    a, b = sorted(2.0 * float(v) for v in model.axis_lengths)
    return a, b


DIAMETER_METHODS = ("feret", "ellipse")


def outline_metrics(
    contour_uv: np.ndarray, plane: Plane, diameters: bool = True, method: str = "feret"
) -> Section:
    """Measure a closed outline given as in-plane coordinates (N, 2) of ``plane`` (mm); ``method``
    picks the reported min / max diameters (module docstring); with ``diameters=False`` the
    diameters are left NaN (faster, for searches over many levels)."""
    if method not in DIAMETER_METHODS:
        raise CardiacInputError(f"unknown diameter method {method!r}; choose feret or ellipse")
    xy = np.asarray(contour_uv, dtype=float)
    if np.allclose(xy[0], xy[-1]):
        xy = xy[:-1]
    if len(xy) < 3:
        raise CardiacInputError("an outline needs at least three points")
    area, c2 = _polygon_area_centroid(xy)
    perimeter = float(np.linalg.norm(np.roll(xy, -1, axis=0) - xy, axis=1).sum())
    nan = float("nan")
    fmin, fmax = feret_diameters(xy) if diameters else (nan, nan)
    emin, emax = ellipse_diameters(xy) if diameters else (nan, nan)
    dmin, dmax = (emin, emax) if method == "ellipse" and np.isfinite(emax) else (fmin, fmax)
    return Section(
        area_mm2=area,
        perimeter_mm=perimeter,
        min_diameter_mm=dmin,
        max_diameter_mm=dmax,
        area_diameter_mm=float(2 * np.sqrt(area / np.pi)),
        perimeter_diameter_mm=perimeter / np.pi,
        centroid=plane.from_plane_coords(c2),
        contour=plane.from_plane_coords(xy),
        diameter_method=method if method == "ellipse" and np.isfinite(emax) else "feret",
        feret_min_mm=fmin,
        feret_max_mm=fmax,
        ellipse_minor_mm=emin,
        ellipse_major_mm=emax,
    )


def smooth_outline(xy: np.ndarray, window_mm: float, step_mm: float = 0.1) -> np.ndarray:
    """Resample a closed 2D outline every ``step_mm`` of arc length and average it over a circular
    window of ``window_mm`` arc length (removes the voxel staircase that inflates perimeters; a
    circle of radius R shrinks by about ``window^2 / (24 R)``)."""
    closed = np.vstack([xy, xy[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(int(s[-1] / step_mm), 8)
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    res = np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], 1)
    k = int(round(window_mm / (s[-1] / n)))
    if k < 2:
        return res
    kernel = np.ones(k) / k
    padded = np.vstack([res[-k:], res, res[:k]])
    out = np.stack([np.convolve(padded[:, i], kernel, mode="same") for i in range(2)], 1)
    return out[k:-k]


def outline_curvature(xy: np.ndarray, window_mm: float = 1.0) -> np.ndarray:
    """Signed curvature (1/mm) at each point of a closed 2D outline sampled evenly along its arc
    (positive where it turns counter-clockwise), averaged over ``window_mm`` of arc length."""
    seg = np.linalg.norm(np.roll(xy, -1, axis=0) - xy, axis=1)
    step = max(float(seg.mean()), 1e-9)
    d = np.roll(xy, -1, axis=0) - xy
    heading = np.arctan2(d[:, 1], d[:, 0])
    turn = np.angle(np.exp(1j * (heading - np.roll(heading, 1))))  # turn at each point, wrapped
    k = max(int(round(window_mm / step)), 1)
    kernel = np.ones(k) / k
    padded = np.concatenate([turn[-k:], turn, turn[:k]])
    return np.convolve(padded, kernel, mode="same")[k:-k] / step


def unbias_outline(xy: np.ndarray, shift_per_curvature_mm2: float, curvature_window_mm: float) -> np.ndarray:
    """Move each point of a closed outline (evenly sampled) outwards by ``c * curvature`` (``c`` =
    ``shift_per_curvature_mm2``): undoes the pull of smoothing towards the centre of curvature (see
    the module docstring); concave stretches move inwards. The curvature is averaged over
    ``curvature_window_mm`` of arc: a short window lets the staircase's residual wiggle through
    (on painted circles at 1.25 mm a 1 mm window added 1.1 % to the perimeter, 5.6 mm 0.05 %)."""
    if shift_per_curvature_mm2 <= 0 or len(xy) < 8:
        return xy
    x, y = xy[:, 0], xy[:, 1]
    ccw = np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)) > 0
    pts = xy if ccw else xy[::-1]
    kappa = outline_curvature(pts, curvature_window_mm)
    tangent = np.roll(pts, -1, axis=0) - np.roll(pts, 1, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    outward = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)  # right of a counter-clockwise walk
    out = pts + (shift_per_curvature_mm2 * kappa)[:, None] * outward
    return out if ccw else out[::-1]


def _pick_loop(loops: list[np.ndarray], what: str) -> np.ndarray:
    """The smallest closed loop (in-plane coords) that contains the plane origin (0, 0)."""
    best, best_area = None, np.inf
    for loop in loops:
        if len(loop) < 4:
            continue
        if skmeasure.points_in_poly(np.zeros((1, 2)), loop)[0]:
            area, _ = _polygon_area_centroid(loop)
            if area < best_area:
                best, best_area = loop, area
    if best is None:
        raise CardiacInputError(f"no closed outline of {what} surrounds the plane origin")
    return best


def _mask_of(labelmap: Volume, labels: int | Iterable[int] | None) -> np.ndarray:
    arr = labelmap.array
    if labels is None:
        return arr > 0
    values = [int(labels)] if np.isscalar(labels) else [int(v) for v in labels]
    return np.isin(arr, values)


def _closing(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Binary closing of a [z, y, x] mask by a ball of ``radius_mm`` (anisotropic ``spacing`` x, y, z
    mm), via distance transforms (exact for any radius)."""
    sampling = np.asarray(spacing, dtype=float)[::-1]
    pad = int(np.ceil(radius_mm / sampling.min())) + 1
    grown = ndimage.distance_transform_edt(~np.pad(mask, pad), sampling=sampling) <= radius_mm
    closed = ndimage.distance_transform_edt(grown, sampling=sampling) > radius_mm
    return closed[pad:-pad, pad:-pad, pad:-pad]


def _fill_dents(mask: np.ndarray, dents: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """``mask`` plus the ``dents`` voxels covered by its closing (ball of ``radius_mm``), computed
    only in the box around the dent voxels that touch the mask."""
    touching = dents & ndimage.binary_dilation(mask)
    if not touching.any():
        return mask
    reach = np.ceil(2.0 * radius_mm / np.asarray(spacing, dtype=float)[::-1]).astype(int) + 2
    idx = np.argwhere(touching)
    lo, hi = np.maximum(idx.min(0) - reach, 0), idx.max(0) + reach + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    out = mask.copy()
    out[box] |= dents[box] & _closing(mask[box], radius_mm, spacing)
    return out


class MaskSampler:
    """A smoothed binary mask of ``labels`` cropped to an LPS box, reused for many section planes
    (e.g. a search along the aortic root). ``center`` (LPS mm) and ``half_size_mm`` bound the box.

    ``dent_labels`` / ``dent_radius_mm``: voxels of these labels (e.g. the coronary arteries, whose
    segmentation starts at the ostium and reaches into the root by its radius) count as part of the
    mask where a morphological closing of the mask (ball of ``dent_radius_mm``) covers them: the
    dents they leave in the lumen wall are filled, the vessel beyond the wall is not taken in. A
    ball of radius R still enters an opening of radius r by ``R - sqrt(R^2 - r^2)``: 0.4 mm for a
    2.5 mm left main at the default 8 mm.
    """

    def __init__(
        self,
        labelmap: Volume,
        labels: int | Iterable[int] | None,
        center,
        half_size_mm: float,
        dent_labels: Iterable[int] = (),
        dent_radius_mm: float = 8.0,
    ) -> None:
        self.labelmap = labelmap
        self.what = f"label(s) {labels}" if labels is not None else "the mask"
        c = np.asarray(center, dtype=float)
        offsets = np.array([[a, b, d] for a in (-1, 1) for b in (-1, 1) for d in (-1, 1)], float)
        ijk = labelmap.lps_to_index(c + half_size_mm * offsets)
        shape = np.array(labelmap.shape[::-1])
        self.lo = np.clip(np.floor(ijk.min(axis=0)).astype(int) - 3, 0, shape)
        hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 4, 0, shape)
        box = (slice(self.lo[2], hi[2]), slice(self.lo[1], hi[1]), slice(self.lo[0], hi[0]))
        crop = _mask_of(labelmap, labels)[box]
        if crop.size == 0 or not crop.any():
            raise CardiacInputError(f"{self.what} is empty near {c.round(2).tolist()} mm")
        if dent_labels:
            crop = _fill_dents(
                crop, np.isin(labelmap.array[box], list(dent_labels)), dent_radius_mm, labelmap.spacing
            )
        self.sigma_vox = 0.6
        self.smooth = ndimage.gaussian_filter(crop.astype(np.float32), sigma=self.sigma_vox, mode="constant")

    def smoothing_shift(self, plane: Plane, window_mm: float) -> float:
        """``c`` of :func:`unbias_outline` for a section by ``plane``: ``sigma^2 / 2 + w^2 / 24`` (mm^2),
        with sigma^2 the Gaussian's variance averaged over the in-plane directions (voxels may be
        anisotropic) and ``w`` the outline-averaging window."""
        axes = np.asarray(self.labelmap.direction, dtype=float).T @ plane.normal  # normal in voxel axes
        var = (self.sigma_vox * np.asarray(self.labelmap.spacing, dtype=float)) ** 2
        inplane = float((var * (1.0 - axes**2)).sum() / 2.0)
        return 0.5 * inplane + window_mm**2 / 24.0

    def section(
        self,
        plane: Plane,
        radius_mm: float = 40.0,
        step_mm: float = 0.25,
        diameters: bool = True,
        method: str = "feret",
    ) -> Section:
        """Section by ``plane`` (see :func:`section_of_labelmap`; ``diameters`` and ``method`` see
        :func:`outline_metrics`)."""
        what = self.what
        self.labelmap.require_inside(plane.origin[None, :], "section plane origin")
        n = int(np.ceil(radius_mm / step_mm))
        grid = np.arange(-n, n + 1) * step_mm
        gu, gv = np.meshgrid(grid, grid, indexing="ij")
        pts = plane.from_plane_coords(np.stack([gu, gv], axis=-1))
        idx = self.labelmap.lps_to_index(pts) - self.lo
        sampled = ndimage.map_coordinates(
            self.smooth, [idx[..., 2], idx[..., 1], idx[..., 0]], order=1, cval=0.0
        )
        if sampled[n, n] < 0.5:
            raise CardiacInputError(
                f"the section plane origin {plane.origin.round(2).tolist()} mm is not inside {what}"
            )
        # pad with zeros so that every iso-line closes; an outline touching the pad reached the radius
        padded = np.pad(sampled, 1)
        loops = [(c - 1) * step_mm - radius_mm for c in skmeasure.find_contours(padded, 0.5)]
        loop = _pick_loop(loops, what)
        if np.abs(loop).max() >= radius_mm:
            raise CardiacInputError(
                f"the section of {what} reaches the {radius_mm} mm search radius; increase radius_mm"
            )
        window = 1.5 * max(self.labelmap.spacing)
        outline = unbias_outline(
            smooth_outline(loop, window), self.smoothing_shift(plane, window), 3.0 * window
        )
        return outline_metrics(outline, plane, diameters, method)


def section_of_labelmap(
    labelmap: Volume,
    plane: Plane,
    labels: int | Iterable[int] | None = None,
    radius_mm: float = 40.0,
    step_mm: float = 0.25,
    method: str = "feret",
) -> Section:
    """Cross-section of the structure ``labels`` (value(s) of ``labelmap``; None = every non-zero
    voxel) by ``plane`` (LPS mm), keeping the connected outline that surrounds the plane origin.

    ``radius_mm`` bounds the in-plane search square; an outline reaching it raises an error naming
    the radius. Raises :class:`CardiacInputError` when the origin is outside the structure.
    """
    labelmap.require_inside(plane.origin[None, :], "section plane origin")
    sampler = MaskSampler(labelmap, labels, plane.origin, radius_mm * np.sqrt(2))
    return sampler.section(plane, radius_mm, step_mm, method=method)


def section_of_surface(polydata, plane: Plane) -> Section:
    """Cross-section of a closed VTK surface (points in LPS mm) by ``plane``: the cut loop that
    surrounds the plane origin."""
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkIdList
    from vtkmodules.vtkCommonDataModel import vtkPlane
    from vtkmodules.vtkFiltersCore import vtkCutter, vtkStripper

    vplane = vtkPlane()
    vplane.SetOrigin(*plane.origin)
    vplane.SetNormal(*plane.normal)
    cutter = vtkCutter()
    cutter.SetInputData(polydata)
    cutter.SetCutFunction(vplane)
    stripper = vtkStripper()
    stripper.SetInputConnection(cutter.GetOutputPort())
    stripper.JoinContiguousSegmentsOn()
    stripper.Update()
    out = stripper.GetOutput()
    if out.GetNumberOfPoints() == 0:
        raise CardiacInputError(f"the surface does not meet the plane at {plane.origin.round(2).tolist()} mm")
    pts = vtk_to_numpy(out.GetPoints().GetData()).astype(float)
    lines = out.GetLines()
    lines.InitTraversal()
    ids = vtkIdList()
    loops = []
    while lines.GetNextCell(ids):
        idx = [ids.GetId(i) for i in range(ids.GetNumberOfIds())]
        loops.append(plane.to_plane_coords(pts[idx]))
    return outline_metrics(_pick_loop(loops, "the surface"), plane)
