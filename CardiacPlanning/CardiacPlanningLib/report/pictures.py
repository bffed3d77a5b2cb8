"""Report pictures as PNG: coplanar projection curve, volume curves, lumen-diameter profiles,
a key slice (CT resampled on the annulus plane with the measured outline) and an offscreen VTK
3D render of the heart, coronaries and devices. Plots use matplotlib's Agg backend (no display)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..imaging.volume import Volume
from ..measure.plane import Plane

logger = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def coplanar_plot(
    curve: np.ndarray, path: str | Path, perpendicular: tuple[float, float] | None = None
) -> Path:
    """Plot the coplanar projection curve (``(N, 2)`` LAO/CRA degrees, see
    :mod:`CardiacPlanningLib.measure.projection`) to a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=130)
    ax.plot(curve[:, 0], curve[:, 1], lw=2, color="#c0392b", label="coplanar annulus views")
    if perpendicular is not None:
        ax.plot(*perpendicular, "o", color="#2c3e50", label="en-face view")
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlim(-90, 90)
    ax.set_ylim(-60, 60)
    ax.set_xlabel("RAO (-)  /  LAO (+)  [deg]")
    ax.set_ylabel("CAU (-)  /  CRA (+)  [deg]")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def volume_curve_plot(percent, volumes_ml: dict[str, list[float]], path: str | Path) -> Path:
    """Plot chamber volumes (mL) over the cardiac cycle (% of R-R) to a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.2), dpi=130)
    for name, values in volumes_ml.items():
        ax.plot(percent, values, "o-", label=name)
    ax.set_xlabel("cardiac phase [% R-R]")
    ax.set_ylabel("volume [mL]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def diameter_profile_plot(branches: list[dict], lesions: list[dict], path: str | Path) -> Path:
    """Lumen diameter along each branch with its lesions shaded, to a PNG (stretched-vessel view)."""
    plt = _pyplot()
    names = [b["name"] for b in branches if any(les["branch"] == b["name"] for les in lesions)] or [
        b["name"] for b in branches[:3]
    ]
    fig, axes = plt.subplots(len(names), 1, figsize=(6.0, 1.6 + 1.3 * len(names)), dpi=130, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        br = next(b for b in branches if b["name"] == name)
        pts = np.asarray(br["points"], float)
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        ax.plot(s, 2 * np.asarray(br["radii"], float), color="#2c3e50", lw=1.5)
        for les in lesions:
            if les["branch"] == name:
                ax.axvspan(les["start_mm"], les["end_mm"], color="#e74c3c", alpha=0.25)
                ax.annotate(
                    f"{les['diameter_stenosis_pct']:.0f}%",
                    (les["mld_position_mm"], les["mld_mm"]),
                    fontsize=8,
                    color="#c0392b",
                )
        ax.set_ylabel(f"{name}\nd [mm]", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("distance from the ostium [mm]")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plane_slice_plot(
    ct: Volume, plane: Plane, path: str | Path, outline_lps: np.ndarray | None = None, radius_mm: float = 35.0
) -> Path:
    """CT resampled on ``plane`` (LPS mm, 0.2 mm pixels, window 800/200 HU) with an optional outline."""
    from scipy import ndimage

    plt = _pyplot()
    step = 0.2
    n = int(radius_mm / step)
    g = np.arange(-n, n + 1) * step
    gu, gv = np.meshgrid(g, g, indexing="ij")
    idx = ct.lps_to_index(plane.from_plane_coords(np.stack([gu, gv], -1)))
    img = ndimage.map_coordinates(
        ct.array.astype(np.float32), [idx[..., 2], idx[..., 1], idx[..., 0]], order=1
    )
    fig, ax = plt.subplots(figsize=(3.6, 3.6), dpi=130)
    ax.imshow(img.T, cmap="gray", vmin=-200, vmax=600, origin="lower", extent=(-radius_mm, radius_mm) * 2)
    if outline_lps is not None:
        uv = plane.to_plane_coords(outline_lps)
        ax.plot(np.append(uv[:, 0], uv[0, 0]), np.append(uv[:, 1], uv[0, 1]), color="#f1c40f", lw=1.2)
    ax.set_xlabel("mm")
    ax.set_ylabel("mm")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def render_3d(
    labelmap: Volume, path: str | Path, values: list[int] | None = None, size=(800, 640), surfaces=None
) -> Path | None:
    """Offscreen VTK render of label surfaces (label-table colours) seen from the front (AP view).
    ``surfaces``: precomputed ``{value: vtkPolyData}``. Returns None (and logs why) when this VTK
    build cannot render offscreen."""
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401 (registers the OpenGL render window)
    from vtkmodules.vtkIOImage import vtkPNGWriter
    from vtkmodules.vtkRenderingCore import (
        vtkActor,
        vtkPolyDataMapper,
        vtkRenderer,
        vtkRenderWindow,
        vtkWindowToImageFilter,
    )

    from .. import labels
    from .surfaces import label_surface

    present = [int(v) for v in np.flatnonzero(np.bincount(labelmap.array.ravel().astype(np.intp))) if v != 0]
    values = [v for v in (values or present) if v in present]
    renderer = vtkRenderer()
    renderer.SetBackground(1.0, 1.0, 1.0)
    for v in values:
        poly = (
            surfaces[v] if surfaces and v in surfaces else label_surface(labelmap, v, smoothing_iterations=15)
        )
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(poly)
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        try:
            actor.GetProperty().SetColor(*labels.by_value(v).color_float)
        except KeyError:
            actor.GetProperty().SetColor(0.8, 0.8, 0.8)
        if v in (labels.LV_MYOCARDIUM, 17, 18):
            actor.GetProperty().SetOpacity(0.35)
        renderer.AddActor(actor)
    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.AddRenderer(renderer)
    window.SetSize(*size)
    cam = renderer.GetActiveCamera()
    cam.SetFocalPoint(0, 0, 0)
    cam.SetPosition(0, -1, 0)  # viewer anterior of the patient (LPS: -y)
    cam.SetViewUp(0, 0, 1)  # head up
    renderer.ResetCamera()
    cam.Zoom(1.4)
    try:
        window.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.Update()
        writer = vtkPNGWriter()
        writer.SetFileName(str(path))
        writer.SetInputConnection(grab.GetOutputPort())
        writer.Write()
    except (RuntimeError, AttributeError) as exc:  # no offscreen context
        logger.warning("3D render skipped: %s", exc)
        return None
    finally:
        window.Finalize()
    return Path(path)


def cpr_plot(
    ct: Volume, branches: list[dict], lesions: list[dict], path: str | Path, max_branches: int = 4
) -> Path | None:
    """Straightened curved planar reformations of the diseased branches (those with a lesion, most
    severe first, at most ``max_branches``): the CT resampled along each branch centreline (LPS mm)
    by :func:`CardiacPlanningLib.coronary.output.straightened_cpr` (10 mm either side, 0.25 mm),
    window 800/200 HU, distance from the branch start across, each lesion's extent marked and
    labelled with its diameter stenosis; without lesions the three longest branches. One length
    scale for all panels (the across-vessel axis is stretched). None without branches."""
    from ..coronary.output import straightened_cpr

    names: list[str] = []
    for les in lesions:
        if les["branch"] not in names:
            names.append(les["branch"])
    names = [n for n in names if any(b.get("name") == n for b in branches)][:max_branches]
    if not names:  # no lesion: the three longest branches

        def length(b: dict) -> float:
            pts = np.asarray(b.get("points", []), float)
            return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()) if len(pts) >= 2 else 0.0

        names = [str(b.get("name")) for b in sorted(branches, key=length, reverse=True)[:3] if length(b) > 0]
    if not names:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(names), 1, figsize=(6.4, 0.6 + 1.1 * len(names)), dpi=140, squeeze=False, sharex=True
    )
    longest = 0.0
    for ax, name in zip(axes[:, 0], names):
        br = next(b for b in branches if b.get("name") == name)
        pts = np.asarray(br["points"], float)
        img = straightened_cpr(ct, pts, half_width_mm=6.0, step_mm=0.25)
        length = (img.shape[0] - 1) * 0.25
        longest = max(longest, length)
        ax.imshow(img.T, cmap="gray", vmin=-200, vmax=600, aspect="auto", extent=(0, length, -6.0, 6.0))
        for les in lesions:
            if les["branch"] == name:
                for s in (les["start_mm"], les["end_mm"]):
                    ax.axvline(s, color="#f1c40f", lw=0.9)
                ax.annotate(
                    f"{les['diameter_stenosis_pct']:.0f}%",
                    (les["mld_position_mm"], 4.2),
                    color="#f1c40f",
                    fontsize=7,
                    ha="center",
                )
        ax.set_ylabel(f"{name}\n[mm]", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlim(0, longest)
    axes[-1, 0].set_xlabel("distance along the branch centreline [mm]", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def score_plot(ranking: list[dict], best: str, path: str | Path) -> Path:
    """Bar chart of the structure matching score of every reconstruction algorithm (best marked)."""
    plt = _pyplot()
    names = [str(r.get("name")) for r in ranking]
    scores = [float(r.get("score") or 0.0) for r in ranking]
    fig, ax = plt.subplots(figsize=(6.0, 0.9 + 0.35 * len(names)), dpi=130)
    colours = ["#c0392b" if n == best else "#7f8c8d" for n in names]
    ax.barh(names[::-1], scores[::-1], color=colours[::-1])
    for i, sc in enumerate(scores[::-1]):
        ax.text(sc + 1, i, f"{sc:.1f}", va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("structure matching score (0-100)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
