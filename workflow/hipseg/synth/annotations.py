"""Burned-in text: what a CR reader writes into the pixels, and how it is drawn.

A radiograph drawn with text (``text_fraction`` of the preset) carries the patient's name and the
acquisition date and time in its lower right corner, set to display white after processing (it
saturates in either polarity) and never labelled; its DICOM header says
``BurnedInAnnotation = YES``. Text is drawn in pixels, so its height in mm grows with the pixel
spacing (legible at every spacing). The lead side markers (:mod:`.findings`) use the same font.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
from PIL import Image, ImageDraw

DISPLAY_WHITE = 1e3  # log-attenuation value above every window: display white


def _text_height(sp: float) -> float:
    """Text height (mm) at pixel spacing ``sp``: legible at every spacing."""
    return max(4.0, 9.0 * sp)  # CR readers draw text in pixels


def _burned_in_text(name: str, date: _dt.date, time: str) -> str:
    """The annotation of one radiograph: ``SURNAME Given`` and ``dd.mm.yyyy hh:mm  AP``.

    ``name`` is the DICOM person name (``SURNAME^Given``), ``time`` is ``hhmmss``.
    """
    surname, given = name.split("^")
    return f"{surname} {given}\n{date:%d.%m.%Y} {time[:2]}:{time[2:4]}  AP"


def _text_items(text: str, field_mm: tuple[float, float], sp: float) -> list[tuple]:
    """Items for :func:`_text_mask`: ``text`` right-aligned in the lower right corner."""
    xy = (0.97 * field_mm[0], 0.97 * field_mm[1], "rd")
    return [(text, xy[0], xy[1], _text_height(sp), xy[2])]


def _text_mask(shape, sp: float, items) -> np.ndarray:
    """Boolean mask of text drawn at (x_mm, y_mm) from the image's top-left, height in mm.

    ``items``: (text, x_mm, y_mm, height_mm, anchor) tuples; ``anchor`` is a PIL text anchor.
    """
    from PIL import ImageFont

    mask = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(mask)
    for text, x_mm, y_mm, h_mm, anchor in items:
        font = ImageFont.load_default(size=max(int(round(h_mm / sp)), 6))
        draw.multiline_text((x_mm / sp, y_mm / sp), text, fill=255, font=font, anchor=anchor)
    return np.asarray(mask) > 127


def _burn_in(p: np.ndarray, text: str, field_mm: tuple[float, float], sp: float) -> None:
    """Burn ``text`` into the processed image ``p`` (in place): display white in either
    polarity."""
    p[_text_mask(p.shape, sp, _text_items(text, field_mm, sp))] = DISPLAY_WHITE
