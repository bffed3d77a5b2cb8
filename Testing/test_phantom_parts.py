"""Phantom building blocks: seeds, the geometry locator, the motion time curves, the CLI's errors."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from CardiacPlanningLib.cli.main import cli
from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.phantom import assets
from CardiacPlanningLib.phantom.anatomy import build_anatomy
from CardiacPlanningLib.phantom.motion import atrial_curve, ventricular_curve
from CardiacPlanningLib.phantom.shapes import Grid, tube_sdf

GRID = Grid(np.array([-100.0, -90.0, -80.0]), 3.0, (56, 66, 70))


def test_seeds_are_reproducible_and_differ():
    a = build_anatomy(GRID, seed=5)
    b = build_anatomy(GRID, seed=5)
    c = build_anatomy(GRID, seed=6)
    assert np.array_equal(a.tissue, b.tissue)
    assert np.array_equal(a.aortic_root["ostia"]["left"], b.aortic_root["ostia"]["left"])
    assert (a.tissue != c.tissue).mean() > 0.005
    assert a.mesh_volumes_ml["lv"] != c.mesh_volumes_ml["lv"]


def test_epicardium_normals_point_outwards():
    from vtk.util.numpy_support import vtk_to_numpy

    a = build_anatomy(GRID, seed=0)
    pts = vtk_to_numpy(a.epicardium.GetPoints().GetData())
    normals = vtk_to_numpy(a.epicardium.GetPointData().GetNormals())
    outward = pts - pts.mean(0)
    assert (np.einsum("ij,ij->i", normals, outward) > 0).mean() > 0.8


def test_tube_sdf_of_a_straight_tube_is_exact():
    grid = Grid(np.array([-10.0, -10.0, -10.0]), 0.5, (41, 41, 41))
    pts = np.array([[0.0, 0.0, -6.0], [0.0, 0.0, 6.0]])
    box, sdf = tube_sdf(grid, pts, np.array([3.0, 3.0]), margin=1.0)
    inside = (sdf < 0).sum() * 0.125
    expected = np.pi * 9 * 12 + 4 / 3 * np.pi * 27  # cylinder + two hemispherical caps (mm^3)
    assert abs(inside / expected - 1) < 0.03


def test_cardiac_time_curves():
    f = np.arange(10) / 10
    v = ventricular_curve(f)
    assert v[0] == pytest.approx(0.0, abs=1e-9) and np.argmax(v) in (3, 4)
    assert np.argmax(atrial_curve(np.arange(100) / 100)) == 88


def test_locator_honours_the_environment_and_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.ENV_VAR, str(tmp_path))
    found = assets.locate_geometry()
    assert found != tmp_path  # empty folder skipped, the shared copy is found
    monkeypatch.setattr(assets, "candidate_dirs", lambda: [tmp_path])
    with pytest.raises(CardiacInputError, match="CARDIAC_PLANNING_GEOMETRY"):
        assets.locate_geometry()
    with pytest.raises(CardiacInputError, match="not an ansys-health-heart wheel"):
        bad = tmp_path / "x.whl"
        bad.write_bytes(b"not a zip")
        assets.fetch_from_wheel(tmp_path / "cache", wheel=bad)


def test_cli_rejects_bad_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["phantom", "--out", str(tmp_path), "--size", "12,x,3", "--quiet"])
    assert result.exit_code != 0 and "--size" in result.output
    result = runner.invoke(cli, ["phantom", "--out", str(tmp_path), "--ef", "95", "--quiet"])
    assert result.exit_code != 0 and "ejection fraction" in result.output


def test_mesh_is_unpacked_from_a_wheel(tmp_path):
    import zipfile

    wheel = tmp_path / "ansys_health_heart-0.16.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in assets.MESH_FILES:
            archive.writestr(assets.WHEEL_DATA_DIR + name, f"content of {name}")
        archive.writestr("ansys/health/heart/other.py", "")
    target = assets.fetch_from_wheel(tmp_path / "cache", wheel=wheel)
    assert sorted(p.name for p in target.iterdir()) == sorted(assets.MESH_FILES)
    assert (target / assets.MESH_FILES[0]).read_text() == f"content of {assets.MESH_FILES[0]}"
