"""`Volume`: a voxel array indexed ``[z, y, x]`` with its geometry in LPS millimetres.

Geometry follows DICOM/ITK: ``origin`` is the LPS position (mm) of voxel (0, 0, 0); ``spacing`` is
(sx, sy, sz) in mm along the i (x), j (y), k (z) index axes; ``direction`` is a 3x3 matrix whose
*columns* are the LPS unit vectors of the i, j, k axes. Conversion to Slicer's RAS happens only in
``CardiacPlanningLib.mrml`` and in markups file I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import CardiacInputError

logger = logging.getLogger(__name__)

READABLE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass
class Volume:
    """A 3D image: ``array[z, y, x]`` plus spacing/origin/direction in LPS mm."""

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise CardiacInputError(f"a Volume needs a 3D array [z, y, x], got shape {self.array.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if any(s <= 0 for s in self.spacing):
            raise CardiacInputError(f"voxel spacing must be positive, got {self.spacing} mm")

    # --- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    def index_to_lps_matrix(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous (i, j, k, 1) voxel indices to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction @ np.diag(self.spacing)
        m[:3, 3] = self.origin
        return m

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Voxel indices ``(..., 3)`` in (i, j, k) = (x, y, z) order -> LPS points in mm."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ (self.direction @ np.diag(self.spacing)).T + np.asarray(self.origin)

    def lps_to_index(self, points: np.ndarray) -> np.ndarray:
        """LPS points in mm ``(..., 3)`` -> continuous voxel indices (i, j, k) = (x, y, z)."""
        points = np.asarray(points, dtype=float)
        inv = np.linalg.inv(self.direction @ np.diag(self.spacing))
        return (points - np.asarray(self.origin)) @ inv.T

    def contains(self, points: np.ndarray, margin_voxels: float = 0.5) -> np.ndarray:
        """True for LPS points (mm) inside the image extent (voxel centres +- ``margin_voxels``)."""
        ijk = self.lps_to_index(points)
        size = np.array(self.shape[::-1], dtype=float)
        return np.all((ijk >= -margin_voxels) & (ijk <= size - 1 + margin_voxels), axis=-1)

    def require_inside(self, points: np.ndarray, what: str = "point") -> None:
        """Raise :class:`CardiacInputError` naming the first LPS point outside the image."""
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        inside = self.contains(pts)
        if not np.all(inside):
            bad = pts[int(np.argmin(inside))]
            raise CardiacInputError(
                f"{what} at LPS ({bad[0]:.1f}, {bad[1]:.1f}, {bad[2]:.1f}) mm lies outside the image "
                f"(extent {self.physical_bounds()}); place it inside the volume"
            )

    def physical_bounds(self) -> list[tuple[float, float]]:
        """(min, max) LPS mm per axis over the voxel centres."""
        corners = np.array(
            [
                [i, j, k]
                for i in (0, self.shape[2] - 1)
                for j in (0, self.shape[1] - 1)
                for k in (0, self.shape[0] - 1)
            ],
            dtype=float,
        )
        lps = self.index_to_lps(corners)
        return [(round(float(lps[:, a].min()), 2), round(float(lps[:, a].max()), 2)) for a in range(3)]

    def same_geometry(self, other: Volume, tol: float = 1e-4) -> bool:
        """True if shape, spacing, origin and direction agree (within ``tol`` mm / cosine)."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.origin, other.origin, atol=tol)
            and np.allclose(self.direction, other.direction, atol=tol)
        )

    def with_array(self, array: np.ndarray) -> Volume:
        """A new Volume with the same geometry and another array of the same shape."""
        if array.shape != self.array.shape:
            raise ValueError(f"array shape {array.shape} differs from volume shape {self.array.shape}")
        return Volume(array, self.spacing, self.origin, self.direction.copy(), dict(self.metadata))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    # --- SimpleITK bridge ------------------------------------------------------------------------
    def to_sitk(self) -> sitk.Image:
        """The volume as a SimpleITK image (same geometry)."""
        img = sitk.GetImageFromArray(self.array)
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(tuple(self.direction.flatten()))
        return img

    @classmethod
    def from_sitk(cls, image: sitk.Image, metadata: dict | None = None) -> Volume:
        """A Volume from a 3D SimpleITK image."""
        if image.GetDimension() != 3:
            raise CardiacInputError(f"expected a 3D image, got {image.GetDimension()}D")
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise CardiacInputError("expected a scalar image, got a multi-component (e.g. RGB) image")
        return cls(
            sitk.GetArrayFromImage(image),
            image.GetSpacing(),
            image.GetOrigin(),
            np.array(image.GetDirection()).reshape(3, 3),
            dict(metadata or {}),
        )

    # --- files -----------------------------------------------------------------------------------
    @classmethod
    def read(cls, path: str | Path) -> Volume:
        """Read NIfTI, NRRD or MHA (a DICOM folder: use :func:`imaging.dicom.read_dicom_series`)."""
        path = Path(path)
        if not path.exists():
            raise CardiacInputError(f"{path}: no such file")
        if path.is_dir():
            from .dicom import read_dicom_series

            return read_dicom_series(path)
        if not str(path).lower().endswith(READABLE_SUFFIXES):
            raise CardiacInputError(f"{path}: unsupported image format (use {', '.join(READABLE_SUFFIXES)})")
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise CardiacInputError(f"{path}: cannot read the image ({_first_line(exc)})") from exc
        vol = cls.from_sitk(image, {"source": str(path)})
        logger.info("read %s: shape %s spacing %s", path, vol.shape, vol.spacing)
        return vol

    def write(self, path: str | Path, compress: bool = True) -> Path:
        """Write NIfTI/NRRD/MHA (by suffix); the folder is created if needed."""
        path = Path(path)
        if not str(path).lower().endswith(READABLE_SUFFIXES):
            raise CardiacInputError(f"{path}: unsupported output format (use {', '.join(READABLE_SUFFIXES)})")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            sitk.WriteImage(self.to_sitk(), str(path), useCompression=compress)
        except RuntimeError as exc:
            raise CardiacInputError(f"{path}: cannot write the image ({_first_line(exc)})") from exc
        return path


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__
