"""Overlays of the measurements: fitted head circles, teardrop line, rim, shaft axes, trochanters.

Drawn with PIL on an RGB image of the radiograph (optionally with its label overlay), in image
pixels scaled by ``scale`` (a crop may be drawn enlarged: ``origin`` is its top-left pixel).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..display import overlay_rgba, window
from ..io import atomic_path

WHITE, CYAN, YELLOW, ORANGE = (255, 255, 255), (0, 230, 255), (255, 235, 60), (255, 150, 0)


def save_png(img: Image.Image | np.ndarray, path) -> None:
    """Write a PIL image or an array as PNG, atomically."""
    img = img if isinstance(img, Image.Image) else Image.fromarray(img)
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")


def base_image(pixels: np.ndarray, labels: np.ndarray | None = None, alpha: float = 0.35):
    """The radiograph windowed to grey, with the label overlay when ``labels`` is given."""
    g = window(pixels)[..., None]
    rgb = np.repeat(g, 3, axis=2)
    if labels is not None:
        ov = overlay_rgba(labels, alpha)
        rgb = rgb * (1 - ov[..., 3:]) + ov[..., :3] * ov[..., 3:]
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))


class _Pen:
    def __init__(self, img: Image.Image, spacing, scale: float, origin=(0, 0)):
        self.draw = ImageDraw.Draw(img)
        self.sx, self.sy = spacing
        self.scale, self.origin = scale, origin
        self.width = max(1, int(round(max(img.size) / 400)))

    def xy(self, p) -> tuple[float, float]:
        col, row = p[0] / self.sx - self.origin[1], p[1] / self.sy - self.origin[0]
        return ((col + 0.5) * self.scale, (row + 0.5) * self.scale)

    def line(self, a, b, color, width=None):
        self.draw.line([self.xy(a), self.xy(b)], fill=color, width=width or self.width)

    def dot(self, p, color, r=None):
        x, y = self.xy(p)
        r = r or 2.5 * self.width
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=color)

    def circle(self, c, radius_mm, color):
        x, y = self.xy(c)
        rx, ry = radius_mm / self.sx * self.scale, radius_mm / self.sy * self.scale
        self.draw.ellipse((x - rx, y - ry, x + rx, y + ry), outline=color, width=self.width)


def draw_record(img: Image.Image, record: dict, spacing, scale: float = 1.0, origin=(0, 0)):
    """Draw a measurement record (:func:`hipseg.measure.measure_label_map`) onto ``img``."""
    pen = _Pen(img, spacing, scale, origin)
    line = record.get("teardrop_line", {})
    if "right" in line:
        a, b = np.array(line["right"]), np.array(line["left"])
        ext = (b - a) * 0.35
        pen.line(a - ext, b + ext, YELLOW)
    for hip in record["landmarks"].values():
        if hip.get("excluded"):
            continue
        _draw_hip(pen, hip)
    return img


def _draw_hip(pen: _Pen, hip: dict) -> None:
    c, r = hip.get("head_centre"), hip.get("head_radius")
    if c is not None:
        pen.circle(c, r, CYAN)
        pen.dot(c, CYAN)
    axis = hip.get("shaft_axis")
    if axis is not None:
        p, d = np.array(axis["point"]), np.array(axis["direction"])
        ref = np.array(c) if c is not None else p
        t0 = (ref - p) @ d
        pen.line(p + (t0 - 20) * d, p + (t0 + 8 * (r or 25)) * d, ORANGE)
        if c is not None:  # the offset: perpendicular from the head centre to the axis
            pen.line(c, p + t0 * d, ORANGE)
    rim = hip.get("acetabular_rim")
    if rim is not None:
        pen.dot(rim, WHITE)
        if c is not None:
            pen.line(c, rim, WHITE)
    td = hip.get("teardrop_inferior")
    if td is not None:
        pen.dot(td, YELLOW)
        if rim is not None:
            pen.line(td, rim, YELLOW)
    tip = hip.get("lesser_trochanter_tip")
    if tip is not None:
        pen.dot(tip, WHITE)
