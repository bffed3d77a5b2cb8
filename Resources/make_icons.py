"""Draw the extension's and the modules' 128x128 PNG icons (run once: ``python Resources/make_icons.py``).

Drawn from simple geometry (a parametric heart curve, lines, circles) with Pillow; no artwork is copied.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 128
SCALE = 4  # draw large, then downsample for smooth edges
ROOT = Path(__file__).resolve().parents[1]
RED = (200, 40, 50, 255)
DARK_RED = (120, 20, 30, 255)


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGBA", (SIZE * SCALE, SIZE * SCALE), (0, 0, 0, 0))
    return image, ImageDraw.Draw(image)


def _heart(draw: ImageDraw.ImageDraw, cx: float, cy: float, size: float, fill, outline=None) -> None:
    """The classic parametric heart x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t."""
    points = []
    for step in range(240):
        t = 2 * math.pi * step / 240
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append(((cx + x * size / 34) * SCALE, (cy - y * size / 34) * SCALE))
    draw.polygon(points, fill=fill, outline=outline, width=3 * SCALE)


def _line(draw, points, fill, width) -> None:
    draw.line([(x * SCALE, y * SCALE) for x, y in points], fill=fill, width=int(width * SCALE), joint="curve")


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.resize((SIZE, SIZE), Image.LANCZOS).save(path)


def hub() -> Image.Image:
    image, draw = _canvas()
    _heart(draw, 64, 68, 110, RED, DARK_RED)
    _line(draw, [(64, 36), (64, 96)], (255, 255, 255, 255), 6)
    _line(draw, [(34, 66), (94, 66)], (255, 255, 255, 255), 6)
    return image


def coronary() -> Image.Image:
    image, draw = _canvas()
    _heart(draw, 64, 68, 110, (170, 60, 60, 255), DARK_RED)
    yellow = (255, 214, 60, 255)
    _line(draw, [(60, 28), (50, 50), (40, 72), (36, 98)], yellow, 6)
    _line(draw, [(50, 50), (70, 66), (80, 92)], yellow, 5)
    _line(draw, [(40, 72), (56, 86)], yellow, 4)
    _line(draw, [(68, 28), (88, 44), (100, 70)], (255, 150, 40, 255), 6)
    return image


def four_d() -> Image.Image:
    image, draw = _canvas()
    _heart(draw, 64, 70, 80, RED, DARK_RED)
    blue = (40, 120, 220, 255)
    box = [10 * SCALE, 10 * SCALE, 118 * SCALE, 118 * SCALE]
    draw.arc(box, start=200, end=500, fill=blue, width=7 * SCALE)
    tip = (64 + 54 * math.cos(math.radians(140)), 64 + 54 * math.sin(math.radians(140)))
    draw.polygon(
        [((tip[0] - 12) * SCALE, (tip[1] - 4) * SCALE), ((tip[0] + 8) * SCALE, (tip[1] - 14) * SCALE),
         ((tip[0] + 4) * SCALE, (tip[1] + 10) * SCALE)],
        fill=blue,
    )  # fmt: skip
    return image


def stent() -> Image.Image:
    image, draw = _canvas()
    grey = (150, 155, 170, 255)
    dark = (70, 75, 90, 255)
    draw.rounded_rectangle(
        [30 * SCALE, 12 * SCALE, 98 * SCALE, 116 * SCALE], 14 * SCALE, outline=dark, width=3 * SCALE
    )
    for row in range(6):
        y0 = 16 + row * 16
        zig = [(34 + 8 * i, y0 + (0 if i % 2 == 0 else 14)) for i in range(9)]
        _line(draw, zig, grey, 4)
    return image


def report() -> Image.Image:
    image, draw = _canvas()
    draw.rectangle([22 * SCALE, 8 * SCALE, 106 * SCALE, 120 * SCALE], fill=(250, 250, 250, 255),
                   outline=(60, 60, 70, 255), width=3 * SCALE)  # fmt: skip
    for k in range(5):
        _line(draw, [(34, 62 + 11 * k), (94 - (18 if k == 4 else 0), 62 + 11 * k)], (90, 100, 120, 255), 4)
    _heart(draw, 46, 34, 38, RED, DARK_RED)
    _line(draw, [(66, 26), (94, 26)], (40, 120, 220, 255), 5)
    _line(draw, [(66, 40), (88, 40)], (40, 120, 220, 255), 5)
    return image


def main() -> None:
    icons = {
        "CardiacPlanning": hub(),
        "CoronarySeg": coronary(),
        "Cardiac4D": four_d(),
        "StentRecon": stent(),
        "SurgicalReport": report(),
    }
    for name, image in icons.items():
        _save(image, ROOT / name / "Resources" / "Icons" / f"{name}.png")
    _save(hub(), ROOT / "Resources" / "Icons" / "SlicerCardiacPlanning.png")


if __name__ == "__main__":
    main()
