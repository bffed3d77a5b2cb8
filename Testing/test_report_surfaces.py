"""STL/OBJ surfaces per label in LPS millimetres, on a sphere in an oblique, anisotropic image."""

import numpy as np
import pytest
import vtk
from scipy.spatial.transform import Rotation
from vtk.util.numpy_support import vtk_to_numpy

from CardiacPlanningLib import labels
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.report.surfaces import label_surface, write_surfaces

CENTER = np.array([12.0, 8.0, 30.0])


@pytest.fixture(scope="module")
def spheres():
    direction = Rotation.from_euler("xyz", [20, 10, -30], degrees=True).as_matrix()
    spacing, n = (0.6, 0.6, 0.8), 64
    origin = CENTER - direction @ (np.array(spacing) * n / 2)
    vol = Volume(np.zeros((n, n, n), np.uint8), spacing, origin, direction)
    kk, jj, ii = np.indices(vol.shape)
    p = vol.index_to_lps(np.stack([ii, jj, kk], -1).astype(float))
    vol.array[np.linalg.norm(p - CENTER, axis=-1) <= 11.0] = labels.AORTA
    vol.array[np.linalg.norm(p - (CENTER + [0, 0, 15.0]), axis=-1) <= 4.0] = labels.LA
    return vol


def _read(path):
    reader = vtk.vtkSTLReader() if path.suffix == ".stl" else vtk.vtkOBJReader()
    reader.SetFileName(str(path))
    reader.Update()
    return reader.GetOutput()


def test_sphere_surface_volume_and_position(spheres):
    poly = label_surface(spheres, labels.AORTA)
    mass = vtk.vtkMassProperties()
    mass.SetInputData(poly)
    mass.Update()
    assert mass.GetVolume() == pytest.approx(4 / 3 * np.pi * 11.0**3, rel=0.02)
    assert mass.GetSurfaceArea() == pytest.approx(4 * np.pi * 11.0**2, rel=0.03)
    pts = vtk_to_numpy(poly.GetPoints().GetData())
    assert np.linalg.norm(pts.mean(0) - CENTER) < 0.2  # LPS position, despite the rotated image axes
    r = np.linalg.norm(pts - CENTER, axis=1)
    assert abs(r.mean() - 11.0) < 0.3 and r.max() - r.min() < 1.2
    edges = vtk.vtkFeatureEdges()
    edges.SetInputData(poly)
    edges.BoundaryEdgesOn()
    edges.NonManifoldEdgesOn()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.Update()
    assert edges.GetOutput().GetNumberOfCells() == 0  # closed, printable


def test_write_stl_and_obj_per_label(tmp_path, spheres):
    paths = write_surfaces(spheres, tmp_path)
    assert sorted(p.name for p in paths) == [
        "04_la_LPS.obj",
        "04_la_LPS.stl",
        "06_aorta_LPS.obj",
        "06_aorta_LPS.stl",
    ]
    for path in paths:
        poly = _read(path)
        pts = vtk_to_numpy(poly.GetPoints().GetData())
        expected = CENTER + ([0, 0, 15.0] if "_la_" in path.name else 0)
        assert np.linalg.norm(pts.mean(0) - expected) < 0.3, path.name
    assert (
        write_surfaces(spheres, tmp_path / "only", formats=("stl",), values=[labels.LA])[0].suffix == ".stl"
    )
    with pytest.raises(CardiacInputError, match="ply"):
        write_surfaces(spheres, tmp_path, formats=("ply",))
