"""The chest around the heart, as analytic shapes (LPS mm): skin fat, muscle, ribs and costal
cartilage, sternum, spine (vertebral bodies, discs, canal, posterior arch), lungs, diaphragm with liver
and stomach below, trachea and oesophagus. Midline at x = 0. Sizes are typical of an adult chest
(about 320 mm wide, 250 mm deep) and scaled per seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from . import tissues as tis

logger = logging.getLogger(__name__)


@dataclass
class BodyLayout:
    """Positions (LPS mm) and sizes (mm) of the chest structures."""

    center_y: float  # centre of the body ellipse (y)
    half_width: float  # body semi-axis along x
    half_depth: float  # body semi-axis along y
    spine_y: float  # centre of the vertebral bodies
    sternum_y: float  # posterior (inner) face of the sternum
    diaphragm_z: float  # height of the diaphragm under the heart
    trachea_top_z: float  # carina height
    esophagus_xy: tuple[float, float]
    rib_pitch: float = 26.0
    vertebra_pitch: float = 26.0


def _ellipse(x, y, cx, cy, ax, ay):
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2


def body_tissue(x: np.ndarray, y: np.ndarray, z: np.ndarray, b: BodyLayout) -> np.ndarray:
    """Tissue codes (uint8) at broadcastable LPS coordinate arrays x, y, z (mm)."""
    shape = np.broadcast_shapes(x.shape, y.shape, z.shape)
    out = np.full(shape, tis.AIR, dtype=np.uint8)
    e_body = _ellipse(x, y, 0.0, b.center_y, b.half_width, b.half_depth)
    # layers, from outside in: subcutaneous fat 14 mm, muscle 12 mm, rib cage 11 mm
    fat_in = _ellipse(x, y, 0.0, b.center_y, b.half_width - 14, b.half_depth - 14)
    mus_in = _ellipse(x, y, 0.0, b.center_y, b.half_width - 26, b.half_depth - 24)
    rib_in = _ellipse(x, y, 0.0, b.center_y, b.half_width - 37, b.half_depth - 34)
    out = np.where(e_body <= 1, np.uint8(tis.FAT), out)
    out = np.where(fat_in <= 1, np.uint8(tis.MUSCLE), out)
    # ribs: oblique bands (they descend anteriorly), bone shell with marrow; cartilage near the sternum
    theta = np.arctan2(x, -(y - b.center_y))  # 0 anterior, +-pi posterior
    phase = (z + 18.0 * np.cos(theta) - 5.0) / b.rib_pitch
    band = np.abs(phase - np.round(phase)) < 0.21
    shell = (mus_in <= 1) & (rib_in > 1) & band
    near_sternum = np.abs(x) < 38
    out = np.where(shell & ~near_sternum, np.uint8(tis.CORTICAL_BONE), out)
    core = shell & (np.abs(phase - np.round(phase)) < 0.12)
    out = np.where(core & ~near_sternum, np.uint8(tis.MARROW), out)
    out = np.where(shell & near_sternum & (np.abs(x) >= 16), np.uint8(tis.CARTILAGE), out)
    # thoracic cavity: lungs by default
    cavity = rib_in <= 1
    out = np.where(cavity, np.uint8(tis.LUNG), out)
    # sternum: anterior midline plate, cortical shell with marrow
    st = (np.abs(x) < 16) & (y < b.sternum_y) & (y > b.sternum_y - 13) & (e_body <= 1)
    out = np.where(st, np.uint8(tis.CORTICAL_BONE), out)
    out = np.where(
        st & (np.abs(x) < 13) & (y < b.sternum_y - 2) & (y > b.sternum_y - 11), np.uint8(tis.MARROW), out
    )
    # mediastinum: fat behind the sternum and around the oesophagus / descending aorta
    ex, ey = b.esophagus_xy
    med = (_ellipse(x, y, 0.0, b.sternum_y + 12, 38, 22) <= 1) | (_ellipse(x, y, 12.0, ey + 2, 42, 20) <= 1)
    out = np.where(med & cavity, np.uint8(tis.FAT), out)
    # spine: vertebral body (cortex + marrow), discs, canal, posterior arch, paraspinal muscles
    r_vb = np.sqrt(x**2 + (y - b.spine_y) ** 2)
    paraspinal = (_ellipse(np.abs(x), y, 38.0, b.spine_y + 48, 30, 30) <= 1) & (fat_in <= 1)
    paraspinal = paraspinal | (np.abs(x) < 30) & (y > b.spine_y + 30) & (fat_in <= 1)
    out = np.where(paraspinal, np.uint8(tis.MUSCLE), out)
    vphase = z / b.vertebra_pitch
    disc = np.abs(vphase - np.round(vphase)) < 0.1
    out = np.where(r_vb < 18, np.uint8(tis.CORTICAL_BONE), out)
    out = np.where(r_vb < 16, np.where(disc, np.uint8(tis.DISC), np.uint8(tis.MARROW)), out)
    r_canal = np.sqrt(x**2 + (y - b.spine_y - 28) ** 2)
    arch = (r_canal < 15) | ((np.abs(x) < 5) & (y > b.spine_y + 28) & (y < b.spine_y + 58))
    arch |= (np.abs(x) < 34) & (np.abs(y - b.spine_y - 30) < 5)
    arch = arch & (np.abs(vphase - np.round(vphase) - 0.15) < 0.3)
    out = np.where(arch, np.uint8(tis.CORTICAL_BONE), out)
    out = np.where(r_canal < 9, np.uint8(tis.CSF), out)
    # oesophagus and trachea
    out = np.where(_ellipse(x, y, ex, ey, 9, 7) <= 1, np.uint8(tis.ESOPHAGUS), out)
    out = np.where((_ellipse(x, y, ex, ey, 4, 2.5) <= 1), np.uint8(tis.AIR), out)
    tr = (_ellipse(x, y, 0.0, ey - 22, 10, 9) <= 1) & (z > b.trachea_top_z)
    out = np.where(tr, np.uint8(tis.CARTILAGE), out)
    out = np.where(tr & (_ellipse(x, y, 0.0, ey - 22, 8, 7) <= 1), np.uint8(tis.AIR), out)
    # diaphragm domes; liver below on the right, stomach/spleen below on the left
    dome = (
        b.diaphragm_z
        + 30 * np.exp(-(((x + 60) / 65) ** 2) - ((y - b.center_y) / 80) ** 2)
        + 12 * np.exp(-(((x - 70) / 50) ** 2) - ((y - b.center_y) / 70) ** 2)
    )
    below = (z < dome) & (mus_in <= 1) & ~(r_vb < 18) & ~arch & ~paraspinal
    out = np.where(below & (x < 25), np.uint8(tis.LIVER), out)
    out = np.where(below & (x >= 25), np.uint8(tis.STOMACH), out)
    gas = below & (x > 40) & (_ellipse(x, y, 75, b.center_y - 10, 40, 35) <= 1) & (z > dome - 25)
    out = np.where(gas, np.uint8(tis.AIR), out)
    return out
