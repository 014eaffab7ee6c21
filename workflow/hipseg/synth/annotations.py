"""Burned-in text: what a CR reader writes into the pixels, and how it is drawn.

A radiograph drawn with text (``text_fraction`` of the preset) carries the patient's name and the
acquisition date and time, never labelled; its DICOM header says ``BurnedInAnnotation = YES``.
Real annotations are not all alike, so neither are these (:func:`text_style`): a third are
saturated display white as most CR readers draw them, the others grey, brighter or darker than
the image around them by 20–50 % of the display range, some antialiased; they sit in any of
the four corners, at 0.8, 1 or 1.2 times the usual height. Text is drawn in pixels, so its
height in mm grows with the pixel spacing (legible at every spacing). The lead side markers
(:mod:`.findings`) use the same font.

The style derives from a hash of the text itself, not from the radiograph's random stream, so
that the anatomy, exposure and noise of every radiograph stay as they were.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

DISPLAY_WHITE = 1e3  # log-attenuation value above every window: display white
_NOMINAL_WINDOW = (-0.2, 4.9)  # the middle of the windows the DICOM writer chooses

CORNERS = ("rd", "ld", "ra", "la")  # PIL anchors: lower right, lower left, upper right, left
SIZES = (1.0, 0.8, 1.2)  # times the usual text height
CONTRASTS = (None, 0.5, 0.35, 0.2)  # None: saturated white; else grey, this far from around


@dataclass(frozen=True)
class TextStyle:
    corner: str = "rd"
    size: float = 1.0
    contrast: float | None = None  # fraction of the display range; None: display white
    antialiased: bool = False


def text_style(text: str) -> TextStyle:
    """The style of one annotation, from a hash of its text."""
    h = hashlib.sha256(text.encode()).digest()
    return TextStyle(
        corner=CORNERS[h[0] % len(CORNERS)],
        size=SIZES[h[1] % len(SIZES)],
        contrast=CONTRASTS[h[2] % len(CONTRASTS)],
        antialiased=bool(h[3] % 2),
    )


def _text_height(sp: float) -> float:
    """Text height (mm) at pixel spacing ``sp``: legible at every spacing."""
    return max(4.0, 9.0 * sp)  # CR readers draw text in pixels


def _burned_in_text(name: str, date: _dt.date, time: str) -> str:
    """The annotation of one radiograph: ``SURNAME Given`` and ``dd.mm.yyyy hh:mm  AP``.

    ``name`` is the DICOM person name (``SURNAME^Given``), ``time`` is ``hhmmss``.
    """
    surname, given = name.split("^")
    return f"{surname} {given}\n{date:%d.%m.%Y} {time[:2]}:{time[2:4]}  AP"


def _text_items(text: str, field_mm: tuple[float, float], sp: float, style: TextStyle) -> list:
    """Items for :func:`_text_alpha`: ``text`` in the style's corner, 3 % from the edges."""
    x = (0.97 if style.corner[0] == "r" else 0.03) * field_mm[0]
    y = (0.97 if style.corner[1] == "d" else 0.03) * field_mm[1]
    return [(text, x, y, _text_height(sp) * style.size, style.corner)]


def _text_alpha(shape, sp: float, items) -> np.ndarray:
    """Coverage (0–1) of text drawn at (x_mm, y_mm) from the image's top-left, height in mm.

    ``items``: (text, x_mm, y_mm, height_mm, anchor) tuples; ``anchor`` is a PIL text anchor.
    """
    from PIL import ImageFont

    mask = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(mask)
    for text, x_mm, y_mm, h_mm, anchor in items:
        font = ImageFont.load_default(size=max(int(round(h_mm / sp)), 6))
        align = "left" if anchor[0] == "l" else "right"
        draw.multiline_text(
            (x_mm / sp, y_mm / sp), text, fill=255, font=font, anchor=anchor, align=align
        )
    return np.asarray(mask, dtype=np.float32) / 255.0


def _text_mask(shape, sp: float, items) -> np.ndarray:
    """Boolean mask of text (see :func:`_text_alpha`)."""
    return _text_alpha(shape, sp, items) > 0.5


def _text_value(p: np.ndarray, mask: np.ndarray, contrast: float | None) -> float:
    """The log-attenuation value the text is drawn with: display white, or grey ``contrast``
    (display fraction) brighter than the median around it, darker where that is bright."""
    if contrast is None:
        return DISPLAY_WHITE
    lo, hi = _NOMINAL_WINDOW
    around = (float(np.median(p[mask])) - lo) / (hi - lo)
    target = around + contrast if around + contrast <= 0.95 else around - contrast
    return lo + target * (hi - lo)


def _burn_in(p: np.ndarray, text: str, field_mm: tuple[float, float], sp: float) -> None:
    """Burn ``text`` into the processed image ``p`` (in place) in its :func:`text_style`."""
    style = text_style(text)
    alpha = _text_alpha(p.shape, sp, _text_items(text, field_mm, sp, style))
    mask = alpha > 0.5
    value = _text_value(p, mask, style.contrast)
    if style.antialiased and style.contrast is not None:
        p[:] = p * (1 - alpha) + value * alpha
    else:
        p[mask] = value
