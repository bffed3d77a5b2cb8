"""Deformable registration of a reference cardiac phase to another phase (SimpleITK, CPU).

Method: symmetric-forces demons (Thirion, "Image matching as a diffusion process", Med Image Anal
2(3), 1998; ITK's ``FastSymmetricForcesDemonsRegistrationFilter``) in a coarse-to-fine pyramid, the
field of each level starting from the upsampled field of the previous one. Phases of one CT study
share the HU scale, so a sum-of-squared-differences criterion fits. Intensities are clipped to a HU
window (blood, myocardium, fat; bone and metal saturate) and scaled to 0..1.

Regularisation: Gaussian smoothing of the whole field after each iteration (``field_sigma_voxels``
1 voxel, elastic-like). On its own (:meth:`RegistrationSettings.elastic_only`, the default until
2026-11-28) it holds a strongly contracting endocardium back: at the steady state the demons force
must undo each smoothing step, so at EF 70 % the end-systolic LV stays a few per cent too large.
The default therefore adds one *checked* residual pass (``refine_passes`` 1,
``refine_check_iterations`` 1): the reference warped by the field so far is registered to the phase
again from a zero field, so the smoothing acts on the residual only, and the two fields are composed
(as in greedy / compositive registration, e.g. Vercauteren et al., "Diffeomorphic demons",
NeuroImage 45, 2009). After every iteration of the pass the reference is pulled back through the
*composed* field and compared with the phase (mean squared difference, the demons' criterion, of
both images smoothed by ``refine_check_sigma_mm`` 1.5 mm, so that the image noise, which the pass
also follows, does not outweigh the match of the edges); the pass stops when that mismatch rises and
keeps its best field. Unchecked (:meth:`RegistrationSettings.large_contraction`, the opt-in until
2026-11-28) the pass runs all its 20 iterations: the demons optimise the match of the *warped copy*
(interpolated twice), not of the reference through the composed field, and on a textureless
contracting sphere (the Cardiac4D self-test, 6.5 mm radius on 1 mm voxels) each iteration after the
first shrank it further (the composed field's mismatch rose), ending 5.5 % below the voxel count of
the image. Also available and measured in docs/benchmarks.md: a fluid-like smoothing of each update
(``update_sigma_voxels``; Cachier et al., CVIU 89, 2003) with a demons noise threshold
(``difference_threshold_hu``); with a small field sigma its field diverged at the registration box
face on one EF 70 % case.

Curvature-regularised coarse levels (``curvature_levels`` 2, ``curvature_alpha`` 1; default since
2026-11-29, sixth pass; :mod:`.curvature`): the first two pyramid levels (6 and 3 mm voxels) replace
the Gaussian smoothing by an implicit bending (bi-Laplacian) step, which leaves affine fields
unpenalised; the finest level and the residual pass keep the elastic smoothing. Where the image gives
no force (the valve planes between the LV, LA and aorta, the walls parallel to the long axis) the
elastic field tends to the harmonic interpolation of its surroundings and fell 1.5-2 mm short of the
descent of the base at end-systole; the curvature levels halve that. The elastic smoothing is capped
at ``field_sigma_max_mm`` per level (3 mm since the fifth pass, 4.5 mm in the fourth, uncapped before;
never below 0.5 voxel of a level). Blood-pool fill (``pool_fill_mm`` 3 mm, fifth pass): :mod:`.pool`.
History and measurements: docs/benchmarks.md, "4D propagation".

Where the labels are cut by the scan's edge (an apex or a great vessel leaving the field of view) the
registration grid goes ``edge_pad_mm`` beyond the scan, the image continuing its edge voxels: the
demons get no force where they sample outside the image, so a structure moving through the edge was
not followed in the edge slices.

Convention: the result is a displacement field ``u`` on the *phase* grid (the fixed image): the
point ``y`` (LPS mm) of the phase corresponds to ``x = y + u(y)`` in the reference. This is the
field that pulls reference labels onto the phase (ITK resampling convention).

Registration runs on a crop around the structures of interest (:func:`crop_grid`), resampled to an
isotropic grid of ``RegistrationSettings.spacing_mm``, so its cost does not grow with the scan size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from .curvature import curvature_demons
from .fields import compose_fields, resample_field, shrink_image, warp_image, zero_field
from .pool import fill_blood_pool, to_unit

logger = logging.getLogger(__name__)


@dataclass
class RegistrationSettings:
    """Parameters of :func:`register_phase` (mm, HU, iterations per pyramid level)."""

    spacing_mm: float = 1.5  # isotropic registration grid
    margin_mm: float = 12.0  # around the labels' bounding box (must exceed the largest motion)
    # where the labels are cut by the scan's edge, the grid goes on this far beyond it, the image there
    # continuing its edge voxels (as the label warp continues labels cut by the edge)
    edge_pad_mm: float = 6.0
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    iterations: tuple[int, ...] = (60, 40, 20)
    # Defaults: elastic smoothing plus one checked residual pass (module docstring); elastic_only()
    # and large_contraction() give the earlier default and the earlier opt-in.
    field_sigma_voxels: float | tuple[float, ...] = 1.0  # field smoothing after each iteration (per level)
    # ... but at most this wide in mm at any level (0: no cap): 1 voxel of the coarsest level (6 mm)
    # spreads the still surroundings' zero field into the base of the heart, where the long-axis
    # descent is largest and bends (valve planes); see register_phase
    field_sigma_max_mm: float = 3.0
    update_sigma_voxels: float = 0.0  # Gaussian smoothing of each update (fluid-like); 0: off
    difference_threshold_hu: float = 0.0  # no demons force where |fixed - moving| is below (noise)
    hu_window: tuple[float, float] = (-200.0, 700.0)
    image_sigma_mm: float = 0.6  # pre-smoothing against noise
    method: str = "symmetric"  # "symmetric" (fast symmetric forces) or "diffeomorphic" demons
    match_histograms: bool = False  # ITK histogram matching of each phase to the reference
    match_contrast: bool = True  # scale each phase's contrast blood to the reference's (contrast timing)
    contrast_hu: tuple[float, float] = (40.0, 150.0)  # soft-tissue anchor, lower bound of contrast blood
    # residual passes: the reference warped so far registered again from a zero field (a pyramid of
    # its own: shrink factors and iterations per level), composed with the field; see register_phase
    refine_passes: int = 1
    refine_shrink_factors: tuple[int, ...] = (1,)
    refine_iterations: tuple[int, ...] = (20,)
    refine_field_sigma_voxels: float | None = None  # field smoothing of the passes (None: finest level's)
    # every this many iterations of a pass, the reference pulled back through the composed field is
    # compared with the phase; the pass stops when that mismatch rises and keeps its best field
    # (0: no check, every iteration kept)
    refine_check_iterations: int = 1
    # the check compares both images smoothed by this Gaussian (mm): the image noise that the pass
    # also follows would otherwise outweigh the better match of the edges
    refine_check_sigma_mm: float = 1.5
    # after the registration, the field inside the contrast-filled blood pool of the phase (farther
    # than pool_fill_mm from anything that is not blood) is replaced by the harmonic interpolation of
    # the field around it (fill_blood_pool); 0: off. Blood: above pool_fill_level of the way from the
    # soft-tissue anchor contrast_hu[0] to the phase's median contrast blood
    pool_fill_mm: float = 3.0
    pool_fill_level: float = 0.5
    # the first curvature_levels pyramid levels regularise with an implicit bending step of weight
    # curvature_alpha * h^4 (h: the level's voxel size) instead of the Gaussian field smoothing
    # (curvature.curvature_demons; 0: all levels elastic, as before the sixth pass)
    curvature_levels: int = 2
    curvature_alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in ("symmetric", "diffeomorphic"):
            raise CardiacInputError(
                f"unknown registration method {self.method!r}: symmetric or diffeomorphic"
            )
        if len(self.shrink_factors) != len(self.iterations):
            raise CardiacInputError("shrink_factors and iterations must have one entry per pyramid level")
        sigmas = self.field_sigma_voxels
        if not isinstance(sigmas, (int, float)) and len(sigmas) != len(self.shrink_factors):
            raise CardiacInputError("field_sigma_voxels needs one value or one per pyramid level")
        if (
            min(np.atleast_1d(sigmas)) <= 0
            or self.update_sigma_voxels < 0
            or self.difference_threshold_hu < 0
            or self.field_sigma_max_mm < 0
        ):
            raise CardiacInputError(
                f"invalid demons regularisation: field sigma {sigmas}, update sigma "
                f"{self.update_sigma_voxels}, difference threshold {self.difference_threshold_hu} HU"
            )
        if (
            self.refine_passes < 0
            or len(self.refine_shrink_factors) != len(self.refine_iterations)
            or min((*self.refine_shrink_factors, *self.refine_iterations), default=1) < 1
            or self.refine_check_iterations < 0
            or self.refine_check_sigma_mm < 0
        ):
            raise CardiacInputError(
                f"invalid refinement: {self.refine_passes} passes, shrink factors "
                f"{self.refine_shrink_factors}, iterations {self.refine_iterations}, check every "
                f"{self.refine_check_iterations}"
            )
        if self.curvature_levels < 0 or (self.curvature_levels and self.curvature_alpha <= 0):
            raise CardiacInputError(
                f"invalid curvature regularisation: {self.curvature_levels} levels, "
                f"weight {self.curvature_alpha} (must be positive)"
            )
        if self.pool_fill_mm < 0 or not 0.0 < self.pool_fill_level < 1.0:
            raise CardiacInputError(
                f"invalid blood-pool fill: distance {self.pool_fill_mm} mm, level {self.pool_fill_level} "
                "(between 0 and 1)"
            )
        if self.spacing_mm <= 0 or self.margin_mm < 0 or self.edge_pad_mm < 0:
            raise CardiacInputError(
                f"invalid registration grid: spacing {self.spacing_mm} mm, margin {self.margin_mm} mm, "
                f"edge pad {self.edge_pad_mm} mm"
            )

    @classmethod
    def elastic_only(cls, **changes) -> RegistrationSettings:
        """The default until 2026-11-28: the pyramid without the residual pass (``refine_passes=0``).
        Cheaper (about 3/4 of the registration time); the end-systolic LV of a strong contraction (EF
        ~70 %) stays a few per cent too large (docs/benchmarks.md, "4D propagation")."""
        return cls(
            **{
                "refine_passes": 0,
                "field_sigma_max_mm": 0.0,
                "pool_fill_mm": 0.0,
                "curvature_levels": 0,
                **changes,
            }
        )

    @classmethod
    def large_contraction(cls, **changes) -> RegistrationSettings:
        """The opt-in until 2026-11-28: the residual pass *unchecked* (``refine_check_iterations=0``:
        all 20 iterations kept). It shrinks a textureless contracting sphere below the volume its
        image shows (module docstring); kept to reproduce earlier results. The fluid-like settings
        measured under this name before that (field sigma 0.5, update sigma 1, 10 HU threshold) are
        the explicit fields ``field_sigma_voxels``, ``update_sigma_voxels``,
        ``difference_threshold_hu``."""
        return cls(
            **{
                "refine_passes": 1,
                "refine_check_iterations": 0,
                "field_sigma_max_mm": 0.0,
                "pool_fill_mm": 0.0,
                "curvature_levels": 0,
                **changes,
            }
        )

    def level_value(self, value: float | tuple[float, ...], level: int) -> float:
        """``value`` at pyramid ``level``: a number for all levels or one entry per level."""
        if isinstance(value, (int, float)):
            return float(value)
        return float(value[level])

    def level_field_sigma(self, level: int) -> float:
        """Field smoothing (voxels of the level) at pyramid ``level``: ``field_sigma_voxels`` capped
        at ``field_sigma_max_mm`` on that level's voxel size (``shrink * spacing_mm``)."""
        sigma = self.level_value(self.field_sigma_voxels, level)
        if self.field_sigma_max_mm > 0:
            # never below 0.75 voxel: a narrower Gaussian hardly regularises on that level's grid and
            # the field runs away (a 3 mm registration grid, 12 mm coarsest voxels, capped at 0.375
            # voxel: phantom LV MSD 2.0 mm, surface up to 45 mm off, in Testing/test_motion_phantom.py)
            cap = self.field_sigma_max_mm / (self.shrink_factors[level] * self.spacing_mm)
            sigma = min(sigma, max(cap, 0.5))
        return sigma


def crop_grid(
    reference: Volume, mask: np.ndarray, spacing_mm: float, margin_mm: float, edge_pad_mm: float = 0.0
) -> sitk.Image:
    """An empty float image on an isotropic ``spacing_mm`` grid, axis-aligned with ``reference``,
    covering the bounding box of ``mask`` (same shape as ``reference``) plus ``margin_mm``, clipped
    to the scan; where ``mask`` touches a face of the scan, the grid goes ``edge_pad_mm`` beyond it."""
    idx = np.argwhere(mask)
    if idx.size == 0:
        raise CardiacInputError("the reference segmentation is empty: nothing to propagate")
    lo = idx.min(axis=0)[::-1].astype(float)  # (i, j, k)
    hi = idx.max(axis=0)[::-1].astype(float)
    sp = np.asarray(reference.spacing)
    shape_xyz = np.array(reference.shape[::-1], dtype=float)
    # the grid goes beyond the scan only at faces that the labels touch (a structure cut by the edge)
    lo_mm = np.maximum(lo * sp - margin_mm, -0.5 * sp - edge_pad_mm * (lo == 0))
    hi_mm = np.minimum(hi * sp + margin_mm, (shape_xyz - 0.5) * sp + edge_pad_mm * (hi == shape_xyz - 1))
    size = np.maximum(np.ceil((hi_mm - lo_mm) / spacing_mm).astype(int), 1)
    start_mm = lo_mm + 0.5 * spacing_mm
    grid = sitk.Image([int(s) for s in size], sitk.sitkFloat32)
    grid.SetSpacing([spacing_mm] * 3)
    grid.SetOrigin(tuple(reference.direction @ start_mm + np.asarray(reference.origin)))
    grid.SetDirection(tuple(reference.direction.flatten()))
    return grid


def to_registration_image(
    volume: Volume | sitk.Image, grid: sitk.Image, settings: RegistrationSettings
) -> sitk.Image:
    """The phase resampled onto ``grid`` (linear; the nearest edge voxel beyond the image), windowed
    to ``settings.hu_window`` and scaled to 0..1.

    A scan finer than the grid is first averaged in blocks of whole voxels (``BinShrink``: cheap
    anti-aliasing, and the Gaussian pre-smoothing then runs on the smaller image, only for the part
    of ``image_sigma_mm`` that the block average does not already give)."""
    image = volume.to_sitk() if isinstance(volume, Volume) else volume
    image = sitk.Cast(image, sitk.sitkFloat32)
    sigma2 = settings.image_sigma_mm**2
    factors = [max(1, int(g / s + 1e-6)) for g, s in zip(grid.GetSpacing(), image.GetSpacing())]
    if max(factors) > 1:
        # a box of f voxels of spacing s has the variance s^2 (f^2 - 1) / 12
        box = min(s * s * (f * f - 1) / 12.0 for s, f in zip(image.GetSpacing(), factors))
        image = sitk.BinShrink(image, factors)
        sigma2 -= box
    if sigma2 > (0.25 * min(image.GetSpacing())) ** 2:
        image = sitk.SmoothingRecursiveGaussian(image, float(np.sqrt(sigma2)))
    # beyond the scan's edge (see RegistrationSettings.edge_pad_mm) the edge voxels continue: a
    # constant fill would put a false edge there, and the demons get no force where they sample
    # outside the image, so the motion through the edge (an apex or vessel cut by it) would be lost
    out = sitk.Resample(
        image, grid, sitk.Transform(), sitk.sitkLinear, settings.hu_window[0], sitk.sitkFloat32, True
    )
    lo, hi = settings.hu_window
    out = sitk.Clamp(out, sitk.sitkFloat32, lo, hi)
    return sitk.ShiftScale(out, -lo, 1.0 / (hi - lo))


def register_phase(
    reference: sitk.Image,
    phase: sitk.Image,
    settings: RegistrationSettings | None = None,
    initial_field: sitk.Image | None = None,
    progress: ProgressCallback | Progress | None = None,
) -> sitk.Image:
    """Displacement field (vector float64 image on ``phase``'s grid, mm) taking phase points to the
    reference: ``x = y + u(y)``. Both images come from :func:`to_registration_image` on one grid.
    ``initial_field`` (e.g. the result of the neighbouring phase) starts the coarsest level."""
    settings = settings or RegistrationSettings()
    prog = as_progress(progress)
    if reference.GetSize() != phase.GetSize():
        raise CardiacInputError("reference and phase registration images must share one grid")
    if settings.match_contrast:
        phase = match_contrast(phase, reference, settings)
    if settings.match_histograms:
        # contrast timing differs between phases: map the phase's intensity quantiles onto the
        # reference's (ITK's histogram matching; voxels below the mean, i.e. lung/fat, excluded)
        phase = sitk.HistogramMatching(phase, reference, 128, 7, True)
    field = None
    n_levels = len(settings.shrink_factors)
    n_steps = n_levels + settings.refine_passes
    for level, (shrink, iterations) in enumerate(zip(settings.shrink_factors, settings.iterations)):
        prog(level / n_steps, f"registration level {level + 1}/{n_levels}")
        fixed = shrink_image(phase, shrink)
        moving = shrink_image(reference, shrink)
        if field is None and initial_field is not None:
            field = initial_field
        init = resample_field(field, fixed) if field is not None else zero_field(fixed)
        if level < settings.curvature_levels:
            max_step = 0.5 * shrink * settings.spacing_mm  # as the elastic levels' demons
            field = curvature_demons(fixed, moving, init, iterations, settings.curvature_alpha, max_step)
        else:
            sigma = settings.level_field_sigma(level)
            field = _demons(fixed, moving, init, iterations, shrink, sigma, settings)
    field = resample_field(field, phase)
    for n in range(settings.refine_passes):
        # The elastic field smoothing penalises the whole displacement, so a large contraction is
        # followed only up to a steady-state bias (the force must undo each smoothing step). A new
        # pass from a zero field on the reference warped so far smooths only the residual; the
        # composition u(y) = r(y) + u_prev(y + r(y)) keeps the pull-back convention.
        prog((n_levels + n) / n_steps, f"registration refinement {n + 1}")
        warped = warp_image(reference, phase, field)  # nearest extrapolation: no false edge at the faces
        residual = None
        sigma = settings.refine_field_sigma_voxels
        if sigma is None:
            sigma = settings.level_field_sigma(n_levels - 1)
        check = settings.refine_check_iterations
        sigma_check = settings.refine_check_sigma_mm
        best, best_mismatch, kept = field, 0.0, 0
        if check:
            phase_check = sitk.SmoothingRecursiveGaussian(phase, sigma_check) if sigma_check > 0 else phase
            best_mismatch = _mismatch(reference, phase_check, field, sigma_check)
        for shrink, iterations in zip(settings.refine_shrink_factors, settings.refine_iterations):
            fixed = shrink_image(phase, shrink)
            moving = shrink_image(warped, shrink)
            init = resample_field(residual, fixed) if residual is not None else zero_field(fixed)
            # with checks the level runs in chunks of `check` iterations, and the pass keeps the
            # composed field through which the *reference* matches the phase best (module docstring)
            chunks = [check] * (iterations // check) + [iterations % check] if check else [iterations]
            for chunk in (c for c in chunks if c > 0):
                residual = _demons(fixed, moving, init, chunk, shrink, sigma, settings)
                init = residual
                if check:
                    candidate = compose_fields(field, resample_field(residual, phase))
                    mismatch = _mismatch(reference, phase_check, candidate, sigma_check)
                    if mismatch >= best_mismatch:
                        break
                    best, best_mismatch, kept = candidate, mismatch, kept + chunk
            else:
                continue
            break  # the mismatch rose: the finer levels would start from a field that is worse
        if check:
            logger.debug(
                "refinement %d: mismatch %.3g after %d checked iterations", n + 1, best_mismatch, kept
            )
        field = best if check else compose_fields(field, resample_field(residual, phase))
    if settings.pool_fill_mm > 0:
        field = fill_blood_pool(field, phase, settings)
    prog(1.0, "registration done")
    return field


def _mismatch(reference: sitk.Image, phase: sitk.Image, field: sitk.Image, sigma_mm: float = 0.0) -> float:
    """Mean squared intensity difference between ``phase`` and ``reference`` pulled back by ``field``
    (registration images, 0..1; the demons' criterion, evaluated through one interpolation), the
    warped reference smoothed by a Gaussian of ``sigma_mm`` (``phase`` already smoothed by it)."""
    warped = warp_image(reference, phase, field)
    if sigma_mm > 0:
        warped = sitk.SmoothingRecursiveGaussian(warped, sigma_mm)
    diff = sitk.GetArrayViewFromImage(warped) - sitk.GetArrayViewFromImage(phase)
    return float(np.mean(diff * diff))


def _demons(
    fixed: sitk.Image,
    moving: sitk.Image,
    init: sitk.Image,
    iterations: int,
    shrink: int,
    field_sigma_voxels: float,
    settings: RegistrationSettings,
) -> sitk.Image:
    """One run of the demons filter of ``settings`` from the field ``init`` (on ``fixed``'s grid)."""
    if settings.method == "diffeomorphic":
        demons = sitk.DiffeomorphicDemonsRegistrationFilter()
        demons.SetUseGradientType(demons.Symmetric)
    else:
        demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(int(iterations))
    demons.SetSmoothDisplacementField(True)
    demons.SetStandardDeviations(field_sigma_voxels)
    demons.SetSmoothUpdateField(settings.update_sigma_voxels > 0)
    if settings.update_sigma_voxels > 0:
        demons.SetUpdateFieldStandardDeviations(settings.update_sigma_voxels)
    demons.SetUseImageSpacing(True)
    if settings.difference_threshold_hu > 0:
        lo, hi = settings.hu_window
        demons.SetIntensityDifferenceThreshold(settings.difference_threshold_hu / (hi - lo))
    demons.SetMaximumUpdateStepLength(0.5 * shrink * settings.spacing_mm)
    field = demons.Execute(fixed, moving, init)
    logger.debug(
        "shrink %d, field sigma %.2f: metric %.5f after %d iterations",
        shrink,
        field_sigma_voxels,
        demons.GetMetric(),
        demons.GetElapsedIterations(),
    )
    return field


def match_contrast(phase: sitk.Image, reference: sitk.Image, settings: RegistrationSettings) -> sitk.Image:
    """``phase`` (a :func:`to_registration_image`) with its contrast-enhanced blood scaled to the
    reference's: intensities are stretched about the soft-tissue level ``contrast_hu[0]`` so that the
    median of the voxels above ``contrast_hu[1]`` (blood pool, contrast-filled vessels) matches the
    reference. The arrival of contrast differs between the phases of a real study (tens of HU); a
    median of the whole blood pool hardly changes with the chambers' volumes, unlike a histogram."""
    anchor = to_unit(settings.contrast_hu[0], settings)
    floor = to_unit(settings.contrast_hu[1], settings)
    medians = []
    for image in (phase, reference):
        values = sitk.GetArrayViewFromImage(image)
        blood = values[values > floor]
        medians.append(float(np.median(blood)) if blood.size > 100 else None)
    if medians[0] is None or medians[1] is None or medians[0] - anchor < 1e-3:
        return phase
    gain = (medians[1] - anchor) / (medians[0] - anchor)
    if not 0.5 <= gain <= 2.0:
        logger.warning("contrast of a phase differs from the reference by a factor %.2f: not matched", gain)
        return phase
    logger.debug("contrast matched: gain %.3f", gain)
    scaled = sitk.ShiftScale(phase, -anchor, gain)
    return sitk.Clamp(sitk.ShiftScale(scaled, anchor, 1.0), sitk.sitkFloat32, 0.0, 1.0)
