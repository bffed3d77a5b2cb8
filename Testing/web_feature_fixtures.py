"""Shared parts of the browser-feature tests (library and browser): stent reconstruction results with
known ranking and a small report (PDF + CDA) with a known picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from CardiacPlanningLib.imaging.volume import Volume


def tube_stent_results():
    """Three tube reconstructions (radius 3.75, 3.0, 4.6 mm) of a metal shell 0.25 mm inside a 4 mm
    lumen, scored by the real structure matching score and ranked as ``reconstruct_all`` does:
    ([(Reconstruction, Score)] best first, MetalDetection); "apposed" ranks first."""
    from CardiacPlanningLib.stent.geometry import Reconstruction, radial_surface_points, tube_mesh
    from CardiacPlanningLib.stent.region import MetalDetection
    from CardiacPlanningLib.stent.score import score

    h, n, nz = 0.5, 24, 36
    origin = (-(n - 1) * h / 2, -(n - 1) * h / 2, -4.0)
    kk, jj, ii = np.indices((nz, n, n)).astype(float)
    rho, z = np.hypot(origin[0] + ii * h, origin[1] + jj * h), origin[2] + kk * h
    lumen = rho <= 4.0
    shell = (np.abs(rho - 3.75) <= 0.45) & (z >= 0) & (z <= 10.0)
    ct = Volume(np.where(shell, 2000, np.where(lumen, 350, 60)).astype(np.int16), (h, h, h), origin)
    s = np.linspace(0.0, 10.0, 21)
    axis = np.stack([np.zeros_like(s), np.zeros_like(s), s], 1)
    results = []
    for name, r in (("undersized", 3.0), ("apposed", 3.75), ("oversized", 4.6)):
        radius = np.full_like(s, r)
        mesh = tube_mesh(radial_surface_points(axis, np.array([0, 0, 1.0]), radius, 48), axis)
        rec = Reconstruction(name, mesh, axis, radius, {"kind": "coronary"})
        results.append((rec, score(rec, ct, 1000.0, lumen)))
    results.sort(key=lambda rs: -rs[1].total)
    metal = MetalDetection(shell, 1000.0, 350.0, 20.0, 400.0, np.zeros(shell.shape, np.float32))
    return results, metal


def report_folder(path: Path, marker: str) -> Path:
    """A one-page A4 PDF with a red square (72..216 pt from the lower left) and a small CDA."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path.mkdir(parents=True, exist_ok=True)
    c = canvas.Canvas(str(path / "report.pdf"), pagesize=A4)
    c.setFillColorRGB(1, 0, 0)
    c.rect(72, 72, 144, 144, stroke=0, fill=1)
    c.drawString(72, 700, marker)
    c.showPage()
    c.save()
    (path / "report_cda.xml").write_text(f"<ClinicalDocument>{marker}</ClinicalDocument>", encoding="utf-8")
    return path
