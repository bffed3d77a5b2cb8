"""Write a :class:`PlanningReport` as PDF (reportlab) in Chinese and English.

All text uses one embedded CJK TrueType font (subset-embedded by reportlab), including the page
footer, so no base-14 font is referenced and the PDF prints the same on any PC. Pictures are
embedded PNGs. Every page carries "Page n of N / 第 n 页 共 N 页" and a short disclaimer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..errors import CardiacInputError
from .fonts import register_cjk_font
from .model import PlanningReport, display_unit

logger = logging.getLogger(__name__)

MARGIN = 16 * mm


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, bulletFontName=font, fontSize=9, leading=12, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontSize=16, leading=21, alignment=TA_CENTER),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10, alignment=TA_CENTER),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4, keepWithNext=1
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10, textColor=colors.grey),
        "caption": ParagraphStyle("caption", parent=base, fontSize=8, alignment=TA_CENTER),
    }


def _numbered_canvas_class(font: str, footer: str):
    class NumberedCanvas(rl_canvas.Canvas):
        """Defers page output so the footer can say "page n of N"."""

        def __init__(self, *args, **kwargs):
            kwargs["initialFontName"] = font  # no base-14 Helvetica reference
            super().__init__(*args, **kwargs)
            self._saved: list[dict] = []

        def showPage(self):  # noqa: N802 (reportlab API)
            self._saved.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved)
            for state in self._saved:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            width, _ = self._pagesize
            self.setFont(font, 7.5)
            self.setFillColor(colors.grey)
            self.drawString(MARGIN, 9 * mm, footer)
            text = f"Page {self._pageNumber} of {total} / 第 {self._pageNumber} 页 共 {total} 页"
            self.drawRightString(width - MARGIN, 9 * mm, text)

    return NumberedCanvas


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _grid(data, widths, font: str, header: bool = True) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6ef")))
    table.setStyle(TableStyle(style))
    return table


def write_pdf(report: PlanningReport, path: str | Path, font_path: Path | None = None) -> Path:
    """Write the report PDF to ``path`` and return it. Raises :class:`CardiacInputError` for a missing
    picture and :class:`~.fonts.FontNotFoundError` when no CJK font is installed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    font = register_cjk_font(font_path)
    rl_config.useA85 = 0  # binary image/font streams: reportlab's ASCII85 encoder is slow pure Python
    st = _styles(font)
    en, zh = report.procedure_names
    width = A4[0] - 2 * MARGIN
    story: list = [
        _p("Surgical Planning Report / 手术规划报告", st["title"]),
        _p(f"{en} / {zh}", st["subtitle"]),
        Spacer(1, 4 * mm),
    ]
    p, s = report.patient, report.study
    info = [
        ("Patient name / 患者姓名", p.name.replace("^", " ")),
        ("Patient ID / 患者编号", p.patient_id),
        ("Birth date / 出生日期", p.birth_date),
        ("Sex / 性别", p.sex),
        ("Study date / 检查日期", s.study_date),
        ("Accession / 检查号", s.accession_number),
        ("Study UID / 检查UID", s.study_uid),
        ("Institution / 医疗机构", report.institution or s.institution),
        ("Operator / 操作者", report.operator),
        ("Report date / 报告日期", report.created.strftime("%Y-%m-%d %H:%M %Z")),
        ("Software / 软件版本", f"SlicerCardiacPlanning {report.software_version}"),
        (
            "Report ID / 报告编号",
            report.report_id + ("  (de-identified / 已去标识化)" if report.deidentified else ""),
        ),
    ]
    rows = [[_p(k, st["cell"]), _p(v or "-", st["cell"])] for k, v in info]
    story += [_grid(rows, [0.3 * width, 0.7 * width], font, header=False), Spacer(1, 3 * mm)]
    cols = [0.27 * width, 0.12 * width, 0.1 * width, 0.51 * width]
    for table in report.tables:
        head = ["Measurement / 测量项", "Value / 数值", "Unit / 单位", "Definition / 定义"]
        data = [[_p(h, st["cell"]) for h in head]]
        for m in table.rows:
            data.append(
                [
                    _p(f"{m.name}\n{m.name_zh}", st["cell"]),
                    _p(m.text(), st["cell"]),
                    _p(display_unit(m.unit), st["cell"]),
                    _p(m.definition, st["cell"]),
                ]
            )
        story += [_p(f"{table.title} / {table.title_zh}", st["h2"]), _grid(data, cols, font)]
    if report.pictures:
        story.append(_p("Pictures / 图像", st["h2"]))
    for pic in report.pictures:
        story.append(KeepTogether(_picture(pic, st, width)))
    if report.settings:
        story.append(_p("Algorithms and settings / 算法与参数", st["h2"]))
        data = [[_p("Setting / 参数", st["cell"]), _p("Value / 取值", st["cell"])]]
        data += [[_p(k, st["cell"]), _p(v, st["cell"])] for k, v in report.settings.items()]
        story.append(_grid(data, [0.35 * width, 0.65 * width], font))
    story += [
        _p("Disclaimer / 免责声明", st["h2"]),
        _p(report.disclaimer, st["base"]),
        _p(report.disclaimer_zh, st["base"]),
    ]
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"Surgical planning report ({report.procedure.upper()})",
        author=report.operator or "SlicerCardiacPlanning",
        subject=en,
        creator=f"SlicerCardiacPlanning {report.software_version}",
    )
    footer = "For physician review only / 仅供医师审核 - SlicerCardiacPlanning"
    doc.build(story, canvasmaker=_numbered_canvas_class(font, footer))
    logger.info("wrote %s", path)
    return path


def _picture(pic, st, width: float) -> list:
    src = Path(pic.path)
    if not src.is_file():
        raise CardiacInputError(f"report picture {src} does not exist")
    from PIL import Image as PILImage

    with PILImage.open(src) as im:
        w, h = im.size
    scale = min(width * 0.85 / w, 95 * mm / h)
    caption = pic.caption + (f" / {pic.caption_zh}" if pic.caption_zh else "")
    return [Image(str(src), width=w * scale, height=h * scale), _p(caption, st["caption"]), Spacer(1, 3 * mm)]
