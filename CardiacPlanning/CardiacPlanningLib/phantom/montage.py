"""A PNG montage of one phantom phase: axial and coronal CT slices (cardiac window) and an offscreen
VTK surface rendering of the label map (label-table colours). Used for the docs and for eyeballing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import vtk
from PIL import Image
from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

from .. import labels
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

RENDERED = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)


def window(hu: np.ndarray, level: float = 200.0, width: float = 800.0) -> np.ndarray:
    """HU -> uint8 grey values for a window (level/width in HU)."""
    return np.clip((hu - (level - width / 2)) / width * 255.0, 0, 255).astype(np.uint8)


def _resize(img: np.ndarray, spacing_rc: tuple[float, float], height: int) -> Image.Image:
    """Greyscale image with physical aspect ratio (row/column spacing mm), ``height`` pixels tall."""
    h_mm, w_mm = img.shape[0] * spacing_rc[0], img.shape[1] * spacing_rc[1]
    return Image.fromarray(img).resize((int(round(height * w_mm / h_mm)), height), Image.BILINEAR)


def render_labels(label_volume: Volume, size: int = 512, azimuth: float = 200.0) -> np.ndarray:
    """RGB (size x size x 3) offscreen rendering of the label surfaces, viewed from the front-left."""
    arr = np.ascontiguousarray(label_volume.array.astype(np.uint8))
    image = vtk.vtkImageData()
    image.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
    image.SetSpacing(*label_volume.spacing)
    image.SetOrigin(*label_volume.origin)
    image.GetPointData().SetScalars(numpy_to_vtk(arr.ravel(), deep=True))
    renderer = vtk.vtkRenderer()
    renderer.SetBackground(1.0, 1.0, 1.0)
    present = set(np.unique(arr).tolist())
    for value in RENDERED:
        if value not in present:
            continue
        surf = vtk.vtkDiscreteFlyingEdges3D()
        surf.SetInputData(image)
        surf.SetValue(0, value)
        smooth = vtk.vtkWindowedSincPolyDataFilter()
        smooth.SetInputConnection(surf.GetOutputPort())
        smooth.SetNumberOfIterations(15)
        smooth.SetPassBand(0.05)
        smooth.NormalizeCoordinatesOn()
        normals = vtk.vtkPolyDataNormals()
        normals.SetInputConnection(smooth.GetOutputPort())
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputConnection(normals.GetOutputPort())
        mapper.ScalarVisibilityOff()
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*labels.by_value(value).color_float)
        if value in (labels.RV, labels.RA, 17):
            actor.GetProperty().SetOpacity(0.55)
        renderer.AddActor(actor)
    window_ = _render_window()
    window_.SetSize(size, size)
    window_.AddRenderer(renderer)
    camera = renderer.GetActiveCamera()
    # LPS: look from anterior (-y) with superior (+z) up, then rotate about the vertical axis
    centre = np.array(image.GetCenter())
    camera.SetFocalPoint(*centre)
    camera.SetPosition(*(centre + np.array([0.0, -600.0, 0.0])))
    camera.SetViewUp(0.0, 0.0, 1.0)
    camera.Azimuth(azimuth - 180.0)
    renderer.ResetCamera()
    camera.Zoom(1.35)
    window_.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window_)
    grab.Update()
    out = grab.GetOutput()
    w, h, _ = out.GetDimensions()
    rgb = vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, -1)[::-1, :, :3]
    return np.ascontiguousarray(rgb)


def _render_window() -> vtk.vtkRenderWindow:
    """An offscreen render window (EGL where available, so no X server is needed)."""
    try:
        from vtkmodules.vtkRenderingOpenGL2 import vtkEGLRenderWindow

        win = vtkEGLRenderWindow()
    except ImportError:
        win = vtk.vtkRenderWindow()
    win.SetOffScreenRendering(1)
    return win


def make_montage(
    ct: Volume, label_volume: Volume, out_png: str | Path, height: int = 420, root: dict | None = None
) -> Path:
    """Axial (through the LV), coronal (through the aortic annulus centre of ``root``, the phantom's
    aortic-root dict, else the LV) and 3D panels side by side."""
    lab = label_volume.array
    zc, yc, xc = (np.argwhere(lab == labels.LV_BLOOD_POOL).mean(0)).astype(int)
    y_cor = yc
    if root is not None:
        ijk = ct.lps_to_index(np.asarray(root["annulus_center"], dtype=float))
        y_cor = int(np.clip(round(float(ijk[1])), 0, ct.shape[1] - 1))
    sx, sy, sz = ct.spacing
    axial = _resize(window(ct.array[zc]), (sy, sx), height)
    coronal = _resize(window(ct.array[::-1, y_cor, :]), (sz, sx), height)
    render = Image.fromarray(render_labels(label_volume, size=height))
    panels = [axial.convert("RGB"), coronal.convert("RGB"), render]
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), height), "white")
    x = 0
    for p in panels:
        canvas.paste(p, (x, 0))
        x += p.width + 8
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_png)
    return out_png
