"""Test helpers for burned-in text: stamp text into a radiograph, read text back with Tesseract.

Tesseract is the attacker here: it reads what a person could read from a radiograph. It is
Debian's ``tesseract-ocr`` (``make tesseract`` installs it); without it the tests that need it
are skipped with the reason, and fail under ``CI=true``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import ExplicitVRBigEndian

from hipseg.intake.transcode import transcode
from tests import tool_missing


def text_mask(shape, text="JOHN DOE 1970", height_px=14):
    """A binary mask of rendered text (matplotlib's Agg renderer, no fonts to download)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(shape[1] / 100, shape[0] / 100), dpi=100)
    fig.text(0.05, 0.9, text, fontsize=height_px * 0.72, family="DejaVu Sans Mono", va="top")
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    plt.close(fig)
    return rgba[..., 0] < 128


def with_text(src, dst, burned_in=None, transfer_syntax=None):
    """Copy ``src`` to ``dst`` with white text stamped in its upper left; return the mask.

    ``transfer_syntax``: a compressed one, or Explicit VR Big Endian (pydicom cannot
    ``compress`` into it: :func:`hipseg.intake.transcode.transcode` writes it)."""
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array.copy()
    mask = text_mask(arr.shape)
    white = arr.min() if ds.PhotometricInterpretation == "MONOCHROME1" else arr.max()
    arr[mask] = white
    ds.PixelData = arr.tobytes()
    if burned_in:
        ds.BurnedInAnnotation = burned_in
    if transfer_syntax == ExplicitVRBigEndian:
        Path(dst).write_bytes(transcode(ds, transfer_syntax))
        return mask
    if transfer_syntax is not None:
        ds.compress(transfer_syntax, arr, generate_instance_uid=False)
    ds.save_as(dst, enforce_file_format=True)
    return mask


def require_tesseract() -> str:
    path = shutil.which("tesseract")
    if path is None:
        tool_missing("Tesseract is not installed (Debian's tesseract-ocr; `make tesseract`)")
    return path


def read_text(dicom) -> str:
    """Everything Tesseract reads in a radiograph, tried the ways that read small text best
    (local contrast, enlarged 3×, sparse text and a uniform block), upper-cased."""
    from scipy import ndimage

    ds = pydicom.dcmread(dicom)
    d = ds.pixel_array.astype(np.float32)
    d = (d - d.min()) / max(float(d.max() - d.min()), 1e-6)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        d = 1 - d
    local = d - ndimage.gaussian_filter(d, max(d.shape) / 60)
    span = max(float(np.abs(np.percentile(local, [0.5, 99.5])).max()), 1e-6)
    img = (np.clip((local + span) / (2 * span), 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(img)
    im = im.resize((im.width * 3, im.height * 3), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    out = []
    for psm in ("11", "6"):
        proc = subprocess.run(
            ["tesseract", "stdin", "stdout", "--psm", psm],
            input=buf.getvalue(),
            capture_output=True,
            check=True,
            env=dict(os.environ, OMP_THREAD_LIMIT="1"),
        )
        out.append(proc.stdout.decode("utf-8", "replace"))
    return "\n".join(out).upper()
