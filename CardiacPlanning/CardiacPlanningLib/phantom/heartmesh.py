"""The real four-chamber heart mesh (tetrahedra by part, triangles by surface) as numpy arrays.

The Rodero case-01 mesh is already in an LPS-oriented frame (mm): +x patient left, +y posterior, +z
superior (checked: LV left of RV, RV anterior, atria superior-posterior, apex inferior). Parts: LV 1,
RV 2, LA 3, RA 4, aorta 5, pulmonary artery 6, septum 7. Cavity surfaces 1-4 are closed (endocardium
plus valve caps); caps have ids 1001-1013.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import vtk
from vtk.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy

from ..errors import CardiacInputError
from .assets import mesh_path

logger = logging.getLogger(__name__)

PART_LV, PART_RV, PART_LA, PART_RA, PART_AORTA, PART_PA, PART_SEPTUM = 1, 2, 3, 4, 5, 6, 7
CAVITY = {"lv": 1, "rv": 2, "la": 3, "ra": 4}
VTK_TRIANGLE, VTK_TETRA = 5, 10


@dataclass(frozen=True)
class Cap:
    """A planar valve/vessel cap: centre (LPS mm), unit normal, effective radius sqrt(area/pi) (mm)."""

    center: np.ndarray
    normal: np.ndarray
    radius: float


@dataclass
class HeartMesh:
    """Points (LPS mm), tetrahedra with part ids, triangles with surface ids and the id -> name map."""

    points: np.ndarray
    tets: np.ndarray
    tet_part: np.ndarray
    tris: np.ndarray
    tri_surface: np.ndarray
    surface_names: dict[int, str] = field(default_factory=dict)

    def surface_id(self, name: str) -> int:
        for sid, sname in self.surface_names.items():
            if sname == name:
                return sid
        raise CardiacInputError(f"heart mesh has no surface named {name!r}")

    def triangles(self, surface_ids) -> np.ndarray:
        return self.tris[np.isin(self.tri_surface, list(surface_ids))]

    def cap(self, name: str, away_from: np.ndarray | None = None) -> Cap:
        """Cap ``name``; its normal points away from ``away_from`` (LPS mm) if given."""
        tri = self.triangles([self.surface_id(name)])
        a, b, c = (self.points[tri[:, i]] for i in range(3))
        cross = np.cross(b - a, c - a)
        areas = 0.5 * np.linalg.norm(cross, axis=1)
        center = ((a + b + c) / 3 * areas[:, None]).sum(0) / areas.sum()
        normal = cross.sum(0)
        normal /= np.linalg.norm(normal)
        if away_from is not None and np.dot(normal, center - away_from) < 0:
            normal = -normal
        return Cap(center, normal, float(np.sqrt(areas.sum() / np.pi)))

    def part_boundary(self, parts) -> np.ndarray:
        """Triangles (point ids) bounding the union of the tetrahedra of ``parts``."""
        return _boundary(self.tets, self.tet_part, tuple(sorted(parts)))

    def part_points(self, parts) -> np.ndarray:
        ids = np.unique(self.tets[np.isin(self.tet_part, list(parts))])
        return self.points[ids]

    def polydata(self, triangles: np.ndarray) -> vtk.vtkPolyData:
        """A vtkPolyData of ``triangles`` (compacted to the used points)."""
        used, inverse = np.unique(triangles, return_inverse=True)
        return make_polydata(self.points[used], inverse.reshape(-1, 3))

    def transformed(self, fn) -> HeartMesh:
        """A copy with points mapped by ``fn(points (N,3)) -> (N,3)`` (LPS mm)."""
        return HeartMesh(
            np.asarray(fn(self.points), dtype=float),
            self.tets,
            self.tet_part,
            self.tris,
            self.tri_surface,
            self.surface_names,
        )


_BOUNDARY_CACHE: dict = {}


def _boundary(tets: np.ndarray, tet_part: np.ndarray, parts: tuple) -> np.ndarray:
    """Faces used by exactly one tetrahedron of ``parts`` (cached: the topology never changes)."""
    key = (id(tets), parts)
    if key not in _BOUNDARY_CACHE:
        sel = tets[np.isin(tet_part, parts)]
        faces = np.concatenate([sel[:, [0, 1, 2]], sel[:, [0, 1, 3]], sel[:, [0, 2, 3]], sel[:, [1, 2, 3]]])
        srt = np.sort(faces, axis=1).astype(np.int64)
        code = (srt[:, 0] << 42) | (srt[:, 1] << 21) | srt[:, 2]
        _, inv, counts = np.unique(code, return_inverse=True, return_counts=True)
        _BOUNDARY_CACHE[key] = faces[counts[inv] == 1]
    return _BOUNDARY_CACHE[key]


def make_polydata(points: np.ndarray, triangles: np.ndarray) -> vtk.vtkPolyData:
    """vtkPolyData from an (N,3) point array (LPS mm) and (M,3) triangle point ids."""
    pts = vtk.vtkPoints()
    pts.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=float), deep=True))
    tri = np.asarray(triangles, dtype=np.int64)
    cells = vtk.vtkCellArray()
    offsets = numpy_to_vtkIdTypeArray(np.arange(0, 3 * len(tri) + 1, 3, dtype=np.int64), deep=True)
    conn = numpy_to_vtkIdTypeArray(tri.ravel().copy(), deep=True)
    cells.SetData(offsets, conn)
    poly = vtk.vtkPolyData()
    poly.SetPoints(pts)
    poly.SetPolys(cells)
    return poly


def closed_volume_mm3(points: np.ndarray, triangles: np.ndarray) -> float:
    """Enclosed volume (mm^3) of a closed triangle surface by the divergence theorem (|signed sum|)."""
    a, b, c = (points[triangles[:, i]] for i in range(3))
    return float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)


@functools.lru_cache(maxsize=2)
def _read(path: str) -> HeartMesh:
    reader = vtk.vtkXMLUnstructuredGridReader()
    reader.SetFileName(path)
    reader.Update()
    grid = reader.GetOutput()
    if grid is None or grid.GetNumberOfCells() == 0:
        raise CardiacInputError(f"{path}: not a readable VTK unstructured grid")
    points = vtk_to_numpy(grid.GetPoints().GetData()).astype(float)
    types = _cell_types(grid)
    conn = vtk_to_numpy(grid.GetCells().GetConnectivityArray())
    offsets = vtk_to_numpy(grid.GetCells().GetOffsetsArray())
    surface = vtk_to_numpy(grid.GetCellData().GetArray("_surface-id")).astype(float)
    volume = vtk_to_numpy(grid.GetCellData().GetArray("_volume-id")).astype(float)
    tet_idx = np.where(types == VTK_TETRA)[0]
    tri_idx = np.where(types == VTK_TRIANGLE)[0]
    tets = conn[offsets[tet_idx][:, None] + np.arange(4)]
    tris = conn[offsets[tri_idx][:, None] + np.arange(3)]
    names_file = Path(path).with_name(Path(path).name.replace(".vtu", ".namemap.json"))
    names = json.loads(names_file.read_text(encoding="utf-8")).get("_surface_id_to_name", {})
    surface_names = {int(k): str(v) for k, v in names.items() if isinstance(v, str)}
    logger.info("heart mesh %s: %d points, %d tets, %d triangles", path, len(points), len(tets), len(tris))
    return HeartMesh(
        points,
        tets.astype(np.int64),
        np.nan_to_num(volume[tet_idx]).astype(int),
        tris.astype(np.int64),
        np.nan_to_num(surface[tri_idx]).astype(int),
        surface_names,
    )


def _cell_types(grid: vtk.vtkUnstructuredGrid) -> np.ndarray:
    """VTK cell type per cell (vtk >= 9.6: ``GetCellTypes()`` returns the array)."""
    types = grid.GetCellTypes()
    if isinstance(types, vtk.vtkDataArray):
        return vtk_to_numpy(types)
    return np.array([grid.GetCellType(i) for i in range(grid.GetNumberOfCells())], dtype=np.uint8)


def load_heart_mesh(path: str | Path | None = None) -> HeartMesh:
    """Read the heart mesh (default: located by :mod:`.assets`); cached per path."""
    return _read(str(path or mesh_path()))
