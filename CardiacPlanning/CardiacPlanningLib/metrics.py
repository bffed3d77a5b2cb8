"""Evaluation helpers used by every benchmark: overlap, surface distances, centerline scores.

Masks are boolean (or label) arrays indexed ``[z, y, x]``; ``spacing`` is (sx, sy, sz) in mm, the
same order as :class:`~CardiacPlanningLib.imaging.volume.Volume`. Points are LPS millimetres.

Definitions
-----------
* Dice: ``2 |A ∩ B| / (|A| + |B|)``; 1.0 when both masks are empty.
* Surface of a mask: its voxels that have a 6-neighbour outside the mask (image border counts as
  outside). Directed distances ``d(A->B)``: for every surface voxel of A, the Euclidean distance (mm,
  anisotropic spacing honoured) to the nearest surface voxel centre of B.
  Mean symmetric surface distance (ASSD) = mean of ``d(A->B) ∪ d(B->A)``;
  HD95 = max of the two directed 95th percentiles; max = Hausdorff distance.
* Centerline scores follow Schaap et al., "Standardized evaluation methodology and reference database
  for evaluating coronary artery centerline extraction algorithms", Med Image Anal 13(5), 2009 (the
  Rotterdam framework), see :func:`centerline_scores`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .errors import CardiacInputError

logger = logging.getLogger(__name__)


# --- overlap -------------------------------------------------------------------------------------
def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks of the same shape (1.0 if both are empty)."""
    a, b = _pair(a, b, "dice")
    a, b = a.astype(bool), b.astype(bool)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / total


def dice_per_label(reference: np.ndarray, test: np.ndarray, labels=None) -> dict[int, float]:
    """Dice per label value of two label maps; ``labels`` defaults to the non-zero values of either."""
    reference, test = _pair(reference, test, "dice_per_label")
    if labels is None:
        labels = sorted((set(np.unique(reference).tolist()) | set(np.unique(test).tolist())) - {0})
    return {int(v): dice(reference == v, test == v) for v in labels}


# --- surface distances ----------------------------------------------------------------------------
@dataclass
class SurfaceDistances:
    """Surface distances between two masks, mm. ``inf`` when exactly one mask is empty."""

    mean_mm: float
    hd95_mm: float
    max_mm: float
    a_to_b_mm: np.ndarray
    b_to_a_mm: np.ndarray

    def as_dict(self) -> dict:
        return {"mean_mm": self.mean_mm, "hd95_mm": self.hd95_mm, "max_mm": self.max_mm}


def surface_distances(a: np.ndarray, b: np.ndarray, spacing=None) -> SurfaceDistances:
    """Mean symmetric, 95 % Hausdorff and maximum surface distance (mm) between masks ``a``, ``b``.

    ``a``/``b`` are arrays [z, y, x] or Volumes; ``spacing`` is (sx, sy, sz) mm (default: the
    spacing of ``a`` if it is a Volume, else 1 mm). Anisotropic spacing is honoured.
    """
    spacing = _spacing(spacing if spacing is not None else getattr(a, "spacing", (1.0, 1.0, 1.0)))
    a, b = _pair(a, b, "surface_distances")
    a, b = a.astype(bool), b.astype(bool)
    na, nb = bool(a.any()), bool(b.any())
    if not na and not nb:
        empty = np.zeros(0)
        return SurfaceDistances(0.0, 0.0, 0.0, empty, empty)
    if not na or not nb:
        logger.warning("surface distance with an empty mask (%s empty): infinite", "a" if not na else "b")
        inf = float("inf")
        return SurfaceDistances(inf, inf, inf, np.zeros(0), np.zeros(0))
    # Crop to the union bounding box with one voxel of padding so erosion sees an outside border.
    box = ndimage.find_objects((a | b).astype(np.uint8))[0]
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
    a = np.pad(a[box], 1)
    b = np.pad(b[box], 1)
    sampling = np.asarray(spacing[::-1])  # [z, y, x] order
    pa = np.argwhere(_surface(a)) * sampling  # surface voxel centres in mm
    pb = np.argwhere(_surface(b)) * sampling
    # nearest surface voxel by k-d tree: the same distances as an EDT, without a full-box transform
    d_ab = cKDTree(pb).query(pa, workers=-1)[0]
    d_ba = cKDTree(pa).query(pb, workers=-1)[0]
    both = np.concatenate([d_ab, d_ba])
    return SurfaceDistances(
        mean_mm=float(both.mean()),
        hd95_mm=float(max(np.percentile(d_ab, 95), np.percentile(d_ba, 95))),
        max_mm=float(both.max()),
        a_to_b_mm=d_ab,
        b_to_a_mm=d_ba,
    )


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, ndimage.generate_binary_structure(3, 1), border_value=0)


# --- points to surfaces ---------------------------------------------------------------------------
def point_to_surface_distances(points: np.ndarray, surface, signed: bool = False) -> np.ndarray:
    """Distance (mm) from each LPS point ``(N, 3)`` to a surface.

    ``surface`` is a ``vtkPolyData`` in LPS mm or a binary-mask
    :class:`~CardiacPlanningLib.imaging.volume.Volume` (its 0.5 iso-surface by marching cubes is
    used, so voxelisation is interpolated, not stair-cased). With ``signed`` the distance is negative
    inside a closed surface with outward normals (vtkImplicitPolyDataDistance).
    """
    import vtk  # local: VTK import is slow and only this function needs it

    pts = np.atleast_2d(np.asarray(points, dtype=float))
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise CardiacInputError(f"points must be an (N, 3) LPS array, got shape {pts.shape}")
    poly = surface if isinstance(surface, vtk.vtkPolyData) else mask_to_polydata(surface)
    if poly.GetNumberOfCells() == 0:
        raise CardiacInputError("the surface to measure against is empty (no cells)")
    if signed:
        implicit = vtk.vtkImplicitPolyDataDistance()
        implicit.SetInput(poly)
        return np.array([implicit.EvaluateFunction(p) for p in pts])
    locator = vtk.vtkStaticCellLocator()
    locator.SetDataSet(poly)
    locator.BuildLocator()
    closest = [0.0, 0.0, 0.0]
    cell_id, sub_id, dist2 = vtk.reference(0), vtk.reference(0), vtk.reference(0.0)
    out = np.empty(len(pts))
    for n, p in enumerate(pts):
        locator.FindClosestPoint(p, closest, cell_id, sub_id, dist2)
        out[n] = np.sqrt(float(dist2))
    return out


def mask_to_polydata(mask_volume):
    """The 0.5 iso-surface of a binary-mask Volume as a triangle ``vtkPolyData`` in LPS mm."""
    import vtk
    from skimage.measure import marching_cubes
    from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

    arr = np.asarray(getattr(mask_volume, "array", None))
    if arr.ndim != 3:
        raise CardiacInputError("surface must be a vtkPolyData or a mask Volume (array [z, y, x])")
    if not arr.any():
        raise CardiacInputError("the mask to measure against is empty")
    verts, faces, _, _ = marching_cubes(np.pad(arr.astype(np.float32) > 0, 1).astype(np.float32), 0.5)
    ijk = verts[:, ::-1] - 1.0  # (z, y, x) -> (i, j, k), undo the padding
    lps = mask_volume.index_to_lps(ijk)
    poly = vtk.vtkPolyData()
    vpts = vtk.vtkPoints()
    vpts.SetData(numpy_to_vtk(np.ascontiguousarray(lps), deep=True))
    poly.SetPoints(vpts)
    cells = np.hstack([np.full((len(faces), 1), 3), faces]).astype(np.int64).ravel()
    ca = vtk.vtkCellArray()
    ca.ImportLegacyFormat(numpy_to_vtkIdTypeArray(cells, deep=True))
    poly.SetPolys(ca)
    return poly


# --- centerlines (Rotterdam framework) ------------------------------------------------------------
@dataclass
class CenterlineScores:
    """Schaap et al. 2009 centerline scores (fractions 0..1, accuracy in mm)."""

    ov: float  # overlap
    of: float  # overlap until first error
    ot: float  # overlap with the clinically relevant part (reference diameter >= 1.5 mm)
    ai_mm: float  # average distance inside (over hit connections)
    n_tpr: int
    n_fn: int
    n_tpm: int
    n_fp: int

    def as_dict(self) -> dict:
        return {"OV": self.ov, "OF": self.of, "OT": self.ot, "AI_mm": self.ai_mm}


def resample_polyline(points: np.ndarray, values: np.ndarray | None = None, step_mm: float = 0.25):
    """Resample a polyline (N, 3) at equal arc-length steps (mm); ``values`` (N,) interpolated too."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2:
        raise CardiacInputError(f"a centerline needs >= 2 points of shape (N, 3), got {pts.shape}")
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    n = max(int(np.ceil(s[-1] / step_mm)), 1) + 1
    t = np.linspace(0.0, s[-1], n)
    out = np.stack([np.interp(t, s, pts[:, a]) for a in range(3)], axis=1)
    if values is None:
        return out, None
    return out, np.interp(t, s, np.asarray(values, dtype=float))


def centerline_correspondence(ref: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """Monotone correspondence (K, 2) of index pairs between two ordered point sets (LPS mm).

    Both curves start together and end together; among all monotone matchings the one with the
    minimal sum of Euclidean connection lengths is returned (Schaap et al. 2009, section 3.4;
    computed as dynamic time warping, each row solved in closed form with a running minimum).
    """
    c = np.linalg.norm(ref[:, None, :] - ev[None, :, :], axis=2)
    n, m = c.shape
    d = np.empty((n, m))
    inf = np.inf
    a = np.full(m, inf)
    a[0] = 0.0
    for i in range(n):
        if i > 0:
            prev = d[i - 1]
            a = np.minimum(prev, np.concatenate([[inf], prev[:-1]]))
        s = np.cumsum(c[i])
        d[i] = s + np.minimum.accumulate(a - (s - c[i]))
    i, j = n - 1, m - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        cands = []
        if i > 0 and j > 0:
            cands.append((d[i - 1, j - 1], i - 1, j - 1))
        if i > 0:
            cands.append((d[i - 1, j], i - 1, j))
        if j > 0:
            cands.append((d[i, j - 1], i, j - 1))
        _, i, j = min(cands)
        path.append((i, j))
    return np.array(path[::-1], dtype=int)


def centerline_hits(
    ref_points: np.ndarray,
    ref_radii: np.ndarray,
    eval_points: np.ndarray,
    step_mm: float = 0.25,
    max_cells: int = 20_000_000,
) -> tuple:
    """The matching behind :func:`centerline_scores` (Schaap et al. 2009): both lines resampled every
    ``step_mm`` (coarser where ``max_cells`` would be exceeded), matched by
    :func:`centerline_correspondence`; a connection is a hit when shorter than the reference radius.
    Returns (ref, ref radii, ev, pairs, connection lengths, hit per pair, ref_hit, ev_hit)."""
    length = lambda p: float(np.linalg.norm(np.diff(np.asarray(p, float), axis=0), axis=1).sum())  # noqa: E731
    step = max(step_mm, np.sqrt(length(ref_points) * length(eval_points) / max_cells))
    ref, r = resample_polyline(ref_points, np.asarray(ref_radii, dtype=float), step)
    ev, _ = resample_polyline(eval_points, None, step)
    pairs = centerline_correspondence(ref, ev)
    dist = np.linalg.norm(ref[pairs[:, 0]] - ev[pairs[:, 1]], axis=1)
    hit = dist < r[pairs[:, 0]]
    ref_hit = np.zeros(len(ref), bool)
    ev_hit = np.zeros(len(ev), bool)
    np.logical_or.at(ref_hit, pairs[hit, 0], True)
    np.logical_or.at(ev_hit, pairs[hit, 1], True)
    return ref, r, ev, pairs, dist, hit, ref_hit, ev_hit


def centerline_scores(
    ref_points: np.ndarray,
    ref_radii: np.ndarray,
    eval_points: np.ndarray,
    step_mm: float = 0.25,
    min_diameter_mm: float = 1.5,
    max_cells: int = 20_000_000,
) -> CenterlineScores:
    """Overlap (OV, OF, OT) and accuracy (AI) of an evaluated centerline against a reference one.

    Both centerlines are LPS mm polylines from the ostium (start) distally; the reference carries a
    lumen radius (mm) per point. Both are resampled every ``step_mm`` and matched by
    :func:`centerline_correspondence`. A connection is a *hit* when its length is below the
    reference radius at its reference point. Then (Schaap et al. 2009):

    * TPR / FN: reference points with / without a hit connection; TPM / FP: evaluated points with /
      without a hit connection.
    * OV = (TPM + TPR) / (TPM + TPR + FN + FP) (equal-step counts, i.e. lengths).
    * OF = TPR before the first FN (from the start) / all reference points.
    * OT = OV restricted to reference points up to the most distal one with diameter
      >= ``min_diameter_mm`` and the evaluated points connected to them.
    * AI = mean length (mm) of the hit connections.

    Example: an evaluated line that stops at a fraction f of the reference gives OF ~ f and
    OV ~ 2f / (1 + f); one shifted sideways by less than the radius gives OV = 1 and AI = the shift.
    """
    ref_r = np.asarray(ref_radii, dtype=float)
    if ref_r.shape != (len(np.atleast_2d(ref_points)),) or np.any(ref_r <= 0):
        raise CardiacInputError("ref_radii must give one positive radius (mm) per reference point")
    ref, r, ev, pairs, dist, hit, ref_hit, ev_hit = centerline_hits(
        ref_points, ref_r, eval_points, step_mm, max_cells
    )
    tpr, fn = int(ref_hit.sum()), int((~ref_hit).sum())
    tpm, fp = int(ev_hit.sum()), int((~ev_hit).sum())
    ov = (tpm + tpr) / (tpm + tpr + fn + fp)
    first_fn = int(np.argmin(ref_hit)) if fn else len(ref)
    of = first_fn / len(ref)
    wide = np.nonzero(2.0 * r >= min_diameter_mm)[0]
    if len(wide):
        ref_sel = np.zeros(len(ref), bool)
        ref_sel[: wide[-1] + 1] = True
        ev_sel = np.zeros(len(ev), bool)
        ev_sel[pairs[ref_sel[pairs[:, 0]], 1]] = True
        ot_num = int(ref_hit[ref_sel].sum() + ev_hit[ev_sel].sum())
        ot = ot_num / int(ref_sel.sum() + ev_sel.sum())
    else:
        ot = float("nan")
    ai = float(dist[hit].mean()) if hit.any() else float("nan")
    return CenterlineScores(ov, of, ot, ai, tpr, fn, tpm, fp)


def best_centerline_scores(
    ref_points: np.ndarray, ref_radii: np.ndarray, candidates: list[np.ndarray], **kwargs
) -> tuple[int, CenterlineScores]:
    """(index, scores) of the evaluated centerline among ``candidates`` with the highest OV against
    the reference (ties: lower AI); for methods that return several unnamed paths."""
    if not candidates:
        raise CardiacInputError("no evaluated centerlines to score")
    scored = [centerline_scores(ref_points, ref_radii, c, **kwargs) for c in candidates]
    best = max(range(len(scored)), key=lambda i: (scored[i].ov, -np.nan_to_num(scored[i].ai_mm, nan=1e9)))
    return best, scored[best]


# --- helpers -------------------------------------------------------------------------------------
def _pair(a: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(a, "same_geometry") and hasattr(b, "same_geometry") and a.shape == b.shape:
        if not a.same_geometry(b):
            raise CardiacInputError(f"{what}: the two volumes lie on different grids; resample first")
    a, b = np.asarray(getattr(a, "array", a)), np.asarray(getattr(b, "array", b))
    if a.shape != b.shape:
        raise CardiacInputError(f"{what}: masks differ in shape {a.shape} vs {b.shape}; resample first")
    return a, b


def _spacing(spacing) -> tuple[float, float, float]:
    sp = tuple(float(s) for s in getattr(spacing, "spacing", spacing))
    if len(sp) != 3 or any(s <= 0 for s in sp):
        raise CardiacInputError(f"spacing must be three positive mm values (sx, sy, sz), got {spacing}")
    return sp  # type: ignore[return-value]
