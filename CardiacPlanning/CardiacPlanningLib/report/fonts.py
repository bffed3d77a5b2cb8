"""Find and register a CJK TrueType font so PDFs print Chinese and English on any PC (embedded).

reportlab embeds TrueType (glyf) outlines only; OpenType/CFF fonts such as Noto Sans CJK cannot be
embedded by it and are skipped. Search order: ``$CARDIAC_PLANNING_CJK_FONT`` (a .ttf/.ttc path),
then WenQuanYi Zen Hei (Debian ``fonts-wqy-zenhei``), WenQuanYi Micro Hei, Droid Sans Fallback,
Windows SimHei / Microsoft YaHei / SimSun, macOS Arial Unicode.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import CardiacPlanningError

logger = logging.getLogger(__name__)

FONT_NAME = "CardiacPlanningCJK"
CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
)
INSTALL_HINT = (
    "no CJK TrueType font found for the PDF report; install one (Debian/Ubuntu: "
    "`apt-get install fonts-wqy-zenhei`) or set CARDIAC_PLANNING_CJK_FONT to a .ttf/.ttc file with "
    "Chinese glyphs"
)


class FontNotFoundError(CardiacPlanningError):
    """No usable CJK TrueType font on this computer."""


_LOADED: dict[str, object] = {}


def _usable(path: Path) -> bool:
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    try:
        font = TTFont(FONT_NAME, str(path), subfontIndex=0)
    except (TTFError, OSError, ValueError) as exc:
        logger.info("font %s not usable: %s", path, exc)
        return False
    if 0x4E2D not in font.face.charToGlyph:  # 中
        return False
    _LOADED[str(path)] = font  # parsing a CJK font takes ~0.5 s: keep it for registration
    return True


def find_cjk_font(candidates: tuple[str, ...] | None = None) -> Path:
    """Path of the first usable CJK TrueType font; :class:`FontNotFoundError` says how to get one."""
    env = os.environ.get("CARDIAC_PLANNING_CJK_FONT")
    paths = ([env] if env else []) + list(CANDIDATES if candidates is None else candidates)
    for p in paths:
        path = Path(p)
        if path.is_file() and _usable(path):
            return path
    if env:
        raise FontNotFoundError(f"CARDIAC_PLANNING_CJK_FONT={env} is not a TrueType font with Chinese glyphs")
    raise FontNotFoundError(INSTALL_HINT)


def register_cjk_font(path: Path | None = None) -> str:
    """Register the CJK font with reportlab (once) and return its font name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    font_path = path or find_cjk_font()
    font = _LOADED.get(str(font_path)) or TTFont(FONT_NAME, str(font_path), subfontIndex=0)
    pdfmetrics.registerFont(font)
    logger.info("PDF font: %s", font_path)
    return FONT_NAME
