"""Build every report output of a case: measurements JSON, pictures, PDF, HL7 CDA, DICOM
Encapsulated PDF and SEG, STL/OBJ surfaces. This is what the CLI, the demo and the SurgicalReport
module call."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..measure.case import find_case_files, measure_case
from ..progress import Progress, as_progress
from .cda import write_cda
from .model import MeasurementTable, Picture, PlanningReport, identifiers_from_dicom
from .pdf import write_pdf
from .tables import pci_tables, tavr_tables, volume_table

logger = logging.getLogger(__name__)

ALL_FORMATS = ("pdf", "cda", "dicom", "stl")


def _section_tables(result: dict, procedure: str) -> list[MeasurementTable]:
    from .model import Measurement
    from .tables import _section_rows

    if procedure == "teer":
        t = result["teer"]
        table = MeasurementTable("Mitral annulus", "二尖瓣环")
        table.rows = [
            Measurement(
                "mitral_ap",
                "Anteroposterior diameter",
                "前后径",
                t["ap_diameter_mm"],
                "mm",
                "Outline width towards the aortic valve / 朝向主动脉瓣方向的轮廓宽度",
            ),
            Measurement(
                "mitral_ic",
                "Intercommissural diameter",
                "交界间径",
                t["intercommissural_diameter_mm"],
                "mm",
                "Outline width perpendicular to AP / 垂直于前后径方向的轮廓宽度",
            ),
        ] + _section_rows("mitral", "Mitral annulus", "二尖瓣环", t["mitral_annulus"], ("area", "perimeter"))
        table.rows.append(
            Measurement(
                "la_volume",
                "Left atrial volume",
                "左心房容积",
                t["la_volume_ml"],
                "mL",
                "Label voxel count × voxel volume / 标签体素数×体素体积",
            )
        )
        return [table]
    t = result["ppvi"]
    table = MeasurementTable("RVOT and main pulmonary artery", "右室流出道与主肺动脉")
    table.rows = _section_rows(
        "rvot", "RVOT", "右室流出道", t.get("rvot"), ("min", "max", "area_d", "perim_d")
    )
    table.rows += _section_rows("mpa", "MPA", "主肺动脉", t.get("mpa"), ("min", "max", "area_d", "perim_d"))
    table.rows.append(
        Measurement(
            "mpa_length",
            "MPA length",
            "主肺动脉长度",
            t.get("mpa_length_mm"),
            "mm",
            "Valve plane to bifurcation along the vessel / 瓣平面至分叉沿血管长度",
        )
    )
    return [table]


def _pictures(
    result: dict, files, lab: Volume, pic_dir: Path, progress: Progress, surfaces=None, extras=None
) -> list[Picture]:
    from . import pictures as pics

    extras = extras or {}
    pic_dir.mkdir(parents=True, exist_ok=True)
    out: list[Picture] = []
    procedure = result["procedure"]
    progress(0.0, "3D view")
    keep = [v for v in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16) if v in (surfaces or {})]
    png = pics.render_3d(lab, pic_dir / "heart_3d.png", keep, surfaces=surfaces)
    if png:
        out.append(
            Picture(
                png, "3D view of heart, coronaries and devices (anterior)", "心脏、冠脉与器械三维图 (前视)"
            )
        )
    progress(0.4, "plots")
    if procedure == "tavr":
        t = result["tavr"]
        perp = (t["projection"]["perpendicular"]["lao_deg"], t["projection"]["perpendicular"]["cra_deg"])
        png = pics.coplanar_plot(
            np.array(t["projection"]["coplanar_curve"]), pic_dir / "coplanar_curve.png", perp
        )
        out.append(Picture(png, "Coplanar projection curve of the annulus", "瓣环共面投照曲线"))
        if files.ct is not None:
            from ..measure.plane import Plane
            from ..measure.section import section_of_labelmap
            from ..measure.valves import AORTIC_LUMEN

            plane = Plane(t["annulus_plane"]["origin_lps"], t["annulus_plane"]["normal_lps"])
            sec = section_of_labelmap(lab, plane, AORTIC_LUMEN, radius_mm=45.0)
            png = pics.plane_slice_plot(
                Volume.read(files.ct), plane, pic_dir / "annulus_plane.png", sec.contour
            )
            out.append(
                Picture(png, "CT in the annulus plane with the measured outline", "瓣环平面CT及测量轮廓")
            )
    if procedure == "pci" and files.centerlines is not None:
        from ..measure.lesions import load_branches

        branches = load_branches(files.centerlines)
        lesions = result["pci"]["lesions"]
        if files.ct is not None:
            png = pics.cpr_plot(Volume.read(files.ct), branches, lesions, pic_dir / "cpr_branches.png")
            if png and lesions:
                caption = (
                    "Straightened curved planar reformation of the diseased branches (lesions marked)",
                    "病变分支拉直曲面重建图 (标出病变)",
                )
            else:
                caption = (
                    "Straightened curved planar reformation of the main branches",
                    "主要分支拉直曲面重建图",
                )
            if png:
                out.append(Picture(png, *caption))
        png = pics.diameter_profile_plot(branches, lesions, pic_dir / "lumen_profiles.png")
        out.append(Picture(png, "Lumen diameter along the diseased branches", "病变分支管腔直径曲线"))
    stent = extras.get("stent")
    if stent:
        png = pics.score_plot(stent["ranking"], stent["best"], pic_dir / "stent_scores.png")
        out.append(Picture(png, "Stent reconstruction: score of each algorithm", "支架重建各算法评分"))
    phases = result.get("volumes_ml", [])
    curves = extras.get("curves")
    if curves:
        from .extras import curve_series

        pct, vols = curve_series(curves)
        png = pics.volume_curve_plot(pct, vols, pic_dir / "volume_curves.png")
        out.append(
            Picture(
                png, "LV and LA volume curves from the 4D propagation", "4D传播所得左心室与左心房容积曲线"
            )
        )
    elif len(phases) >= 2:
        curves = {k: [p[k] for p in phases] for k in ("lv_blood_pool", "la")}
        png = pics.volume_curve_plot([p["percent"] for p in phases], curves, pic_dir / "volume_curves.png")
        out.append(Picture(png, "LV and LA volume over the cardiac cycle", "左心室与左心房容积曲线"))
    return out


def other_steps(case_dir: str | Path, *more_dirs: str | Path) -> dict:
    """Results of the stent and 4D steps found in the case folder, else in ``more_dirs`` (each with
    its direct subfolders, see :mod:`.extras`):
    ``{"stent": ..., "curves": ..., "tables": [...], "settings": {...}}``; a file that cannot be read
    is logged and left out (the planning report does not depend on it)."""
    from . import extras

    found: dict = {"tables": [], "settings": {}}
    dirs = [Path(d) for d in (case_dir, *more_dirs) if Path(d).is_dir()]
    path = next((p for p in map(extras.find_stent_ranking, dirs) if p is not None), None)
    if path is not None:
        try:
            found["stent"] = extras.stent_results(path)
            found["tables"].append(extras.stent_table(found["stent"]))
            found["settings"]["Stent reconstruction / 支架重建"] = f"{path} (best: {found['stent']['best']})"
        except CardiacInputError as exc:
            logger.warning("stent results left out of the report: %s", exc)
    path = next((p for p in map(extras.find_volume_curves, dirs) if p is not None), None)
    if path is not None:
        try:
            found["curves"] = extras.volume_curves(path)
            found["tables"].append(extras.function_table(found["curves"]))
            found["settings"]["4D volume curves / 4D容积曲线"] = str(path)
        except CardiacInputError as exc:
            logger.warning("4D volume curves left out of the report: %s", exc)
    return found


def build_planning_report(
    result: dict,
    *,
    patient=None,
    study=None,
    pictures: list[Picture] | None = None,
    operator: str = "",
    institution: str = "",
    extra_tables: list[MeasurementTable] | None = None,
    extra_settings: dict[str, str] | None = None,
) -> PlanningReport:
    """The report model of a :func:`~CardiacPlanningLib.measure.case.measure_case` result.
    ``extra_tables`` / ``extra_settings``: figures from other steps (e.g. the stent module's chosen
    algorithm, score and apposition) appended to the measurement tables and the settings."""
    procedure = result["procedure"]
    if procedure == "tavr":
        tables = tavr_tables(result["tavr"])
    elif procedure == "pci":
        tables = pci_tables(result["pci"]["lesions"])
    else:
        tables = _section_tables(result, procedure)
    phases = result.get("volumes_ml") or []
    if phases:
        ref = {k: v for k, v in phases[0].items() if k != "percent"}
        tables.append(volume_table(ref, result.get("lv_ejection_fraction")))
    settings = {
        "Label map / 标签图": Path(result["inputs"]["labels"]).name,
        "Sections / 截面": "smoothed mask, 0.5 iso-line, Feret diameters (measure.section)",
        "Coordinate system / 坐标系": "LPS mm",
    }
    if procedure == "tavr":
        settings["Annulus hinge points / 瓣环铰点"] = result.get("hinge_source", "")
        settings["Projection convention / 投照角约定"] = "LAO+/RAO-, CRA+/CAU-, detector direction"
    if procedure == "pci":
        settings["Lesion detection / 病变检测"] = "robust reference fit, 10 % boundary, >= 20 % stenosis"
    settings.update(extra_settings or {})
    kwargs = {k: v for k, v in (("patient", patient), ("study", study)) if v is not None}
    return PlanningReport(
        procedure,
        tables=tables + list(extra_tables or []),
        pictures=pictures or [],
        operator=operator,
        institution=institution,
        settings=settings,
        **kwargs,
    )


def generate_report(
    case_dir: str | Path,
    procedure: str,
    out_dir: str | Path,
    *,
    operator: str = "",
    institution: str = "",
    deidentify: bool = False,
    formats: tuple[str, ...] = ALL_FORMATS,
    measurements: dict | None = None,
    extra_tables: list[MeasurementTable] | None = None,
    extra_settings: dict[str, str] | None = None,
    other_dirs: tuple[str | Path, ...] = (),
    progress: Progress | None = None,
) -> dict:
    """Measure (unless ``measurements`` is given, e.g. corrected by the user) and write every
    requested output to ``out_dir``; returns the paths written and the seconds each step took.
    ``extra_tables``/``extra_settings``: see :func:`build_planning_report`. Stent and 4D results in
    the case folder (or in ``other_dirs``) become report sections (see :func:`other_steps`)."""
    progress = as_progress(progress)
    bad = set(formats) - set(ALL_FORMATS)
    if bad:
        raise CardiacInputError(
            f"unknown report format(s) {sorted(bad)}; choose from {', '.join(ALL_FORMATS)}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0, cpu0 = time.perf_counter(), time.process_time()
    files = find_case_files(case_dir)
    result = measurements or measure_case(case_dir, procedure, progress=progress.sub(0.0, 0.35))
    (out_dir / "measurements.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    timings["measure"] = time.perf_counter() - t0
    written: dict[str, str] = {"measurements": str(out_dir / "measurements.json")}
    source = None
    dicom_files = sorted(files.dicom_dir.glob("*.dcm")) if files.dicom_dir else []
    patient = study = None
    if dicom_files:
        patient, study = identifiers_from_dicom(dicom_files[0])
    lab = Volume.read(files.labels[0])
    found = other_steps(case_dir, *other_dirs)
    t = time.perf_counter()
    from .surfaces import label_surfaces

    surfaces = label_surfaces(lab)
    timings["surfaces"] = time.perf_counter() - t
    t = time.perf_counter()
    pics = _pictures(result, files, lab, out_dir / "pictures", progress.sub(0.35, 0.6), surfaces, found)
    timings["pictures"] = time.perf_counter() - t
    report = build_planning_report(
        result,
        patient=patient,
        study=study,
        pictures=pics,
        operator=operator,
        institution=institution,
        extra_tables=found["tables"] + list(extra_tables or []),
        extra_settings={**found["settings"], **(extra_settings or {})},
    )
    if deidentify:
        report = report.with_deidentified_patient()
    t = time.perf_counter()
    progress(0.6, "PDF")
    pdf = write_pdf(report, out_dir / "report.pdf")
    written["pdf"] = str(pdf)
    timings["pdf"] = time.perf_counter() - t
    if "cda" in formats:
        t = time.perf_counter()
        progress(0.7, "HL7 CDA")
        written["cda"] = str(write_cda(report, out_dir / "report_cda.xml", pdf_path=pdf))
        timings["cda"] = time.perf_counter() - t
    if "dicom" in formats and dicom_files:
        from .dicom_export import read_source_series, write_dicom_seg, write_encapsulated_pdf

        t = time.perf_counter()
        progress(0.75, "DICOM")
        source = read_source_series(dicom_files)
        override = None
        if deidentify:
            override = {
                "PatientName": report.patient.name,
                "PatientID": report.patient.patient_id,
                "PatientBirthDate": "",
                "StudyInstanceUID": report.study.study_uid,
                "AccessionNumber": "",
            }
        written["dicom_pdf"] = str(
            write_encapsulated_pdf(pdf, out_dir / "report_pdf.dcm", source[0], patient=override)
        )
        if deidentify:
            logger.info(
                "DICOM SEG left out of a de-identified report (it would reference the original study)"
            )
        else:
            try:
                written["dicom_seg"] = str(write_dicom_seg(lab, source, out_dir / "segmentation_seg.dcm"))
            except CardiacInputError as exc:
                logger.warning("DICOM SEG not written: %s", exc)
        timings["dicom"] = time.perf_counter() - t
    if "stl" in formats:
        from .surfaces import write_surfaces

        t = time.perf_counter()
        paths = write_surfaces(lab, out_dir / "surfaces", progress=progress.sub(0.85, 1.0), surfaces=surfaces)
        written["surfaces"] = str(out_dir / "surfaces")
        written["surface_count"] = str(len(paths))
        timings["surfaces"] += time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    timings["cpu_total"] = time.process_time() - cpu0
    progress(1.0, "report written")
    return {
        "files": written,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "report_id": report.report_id,
    }
