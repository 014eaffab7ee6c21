"""The OCR detector: Tesseract (Debian's ``tesseract-ocr``) finds words in the pixels.

The image goes to ``tesseract stdin stdout … tsv`` through a pipe and the word boxes come back
the same way: neither the pixels nor the text that Tesseract reads touch the disk, the command
line or a log (pytesseract, the usual wrapper, writes both to temporary files). Only the boxes
are kept; the words are dropped as soon as they are parsed.

Before OCR the image is flattened to its local contrast (the display image minus a broad blur),
so that grey text over anatomy stands out as well as white text over air, and small images are
enlarged (Tesseract reads characters of 20–40 px best).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import HipsegError
from .textfind import Box, display

TESSERACT = "tesseract"
MIN_CONFIDENCE = 30.0  # Tesseract's word confidence (0–100) from which a word counts
_TARGET_SIDE = 800  # small images are enlarged up to about this many pixels (at most 4×)
_TIMEOUT_S = 600


def available() -> bool:
    return shutil.which(TESSERACT) is not None


def _prepared(pixels: np.ndarray, monochrome1: bool) -> tuple[Image.Image, float]:
    d = display(pixels, monochrome1)
    local = d - ndimage.gaussian_filter(d, max(d.shape) / 60)
    lo, hi = np.percentile(local, [0.5, 99.5])
    span = max(abs(float(lo)), abs(float(hi)), 1e-6)
    img8 = (np.clip((local + span) / (2 * span), 0, 1) * 255).astype(np.uint8)
    scale = float(min(4, max(1, round(_TARGET_SIDE / min(d.shape)))))
    im = Image.fromarray(img8)
    if scale > 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    return im, scale


def word_rows(pixels: np.ndarray, monochrome1: bool) -> list[Box]:
    """Boxes of the words Tesseract finds with confidence ≥ :data:`MIN_CONFIDENCE`."""
    return [box for conf, box in words(pixels, monochrome1) if conf >= MIN_CONFIDENCE]


def words(pixels: np.ndarray, monochrome1: bool) -> list[tuple[float, Box]]:
    """(confidence, box) of every word Tesseract finds that has a letter or digit and is at most
    10 % of the image high."""
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0:
        return []
    if not available():
        raise HipsegError(
            "the OCR text detector needs Tesseract: install Debian's tesseract-ocr "
            "(`make tesseract`), or leave 'ocr' out of deid.text_detectors"
        )
    im, scale = _prepared(arr, monochrome1)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    cmd = [TESSERACT, "stdin", "stdout", "--psm", "11", "-l", "eng", "tsv"]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    try:
        proc = subprocess.run(
            cmd, input=buf.getvalue(), capture_output=True, env=env, timeout=_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HipsegError(f"Tesseract (OCR text detector) did not run: {exc}") from exc
    if proc.returncode != 0:
        raise HipsegError(
            f"Tesseract (OCR text detector) failed with exit status {proc.returncode}"
        )
    boxes = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        f = line.split("\t")
        if len(f) < 12 or f[0] != "5" or not any(c.isalnum() for c in f[11]):
            continue
        left, top, width, height = (int(v) / scale for v in f[6:10])
        if height <= 0.1 * arr.shape[0]:
            box = (int(top), int(np.ceil(top + height)), int(left), int(np.ceil(left + width)))
            boxes.append((float(f[10]), box))
    return boxes
