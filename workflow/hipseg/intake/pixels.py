"""From stored pixel values to the grey values the model sees (bone bright).

Greyscale: the PixelPaddingValue (and PixelPaddingRangeLimit) mask is taken on the stored
values; then the Modality LUT (rescale slope/intercept or a Modality LUT Sequence); then, if
``crop.voi_lut`` is on, the VOI LUT (a VOI LUT Sequence, else the first window); then the
polarity: MONOCHROME1, or MONOCHROME2 with Presentation LUT Shape INVERSE, is inverted
(v → max + min − v over the real pixels), so that bone is bright in every image. (In the DX
and CR modules INVERSE goes with MONOCHROME1 and means the same single inversion.) Padding
pixels finally get the darkest real value, so that they look like unexposed background instead
of an extreme value that would skew the intensity normalisation.

Multi-frame and colour images are refused unless ``crop.multi_frame: first`` (the first frame
is used) or ``crop.colour: luminance`` (Rec. 601 luma of the RGB values) accept them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

from ..errors import InputError

MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def single_frame(arr: np.ndarray, ds: pydicom.Dataset, path: Path, policy: str) -> np.ndarray:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames <= 1:
        return arr
    if policy != "first":
        raise InputError(
            path,
            f"is a multi-frame image ({frames} frames): hipseg expects one radiograph per file "
            "(crop.multi_frame: first uses the first frame)",
        )
    return arr[0]


def _padding_mask(stored: np.ndarray, ds: pydicom.Dataset) -> np.ndarray | None:
    if "PixelPaddingValue" not in ds:
        return None
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1

    def value(keyword: str) -> int:
        v = ds[keyword].value
        if isinstance(v, bytes):  # implicit VR 'US or SS' left unresolved
            return int.from_bytes(v[:2], "little", signed=signed)
        return int(v[0] if isinstance(v, (list, pydicom.multival.MultiValue)) else v)

    pad = value("PixelPaddingValue")
    if "PixelPaddingRangeLimit" in ds:
        limit = value("PixelPaddingRangeLimit")
        lo, hi = min(pad, limit), max(pad, limit)
        return (stored >= lo) & (stored <= hi)
    return stored == pad


def _modality(arr: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """The Modality LUT's output as float32 (the identity rescale, the common case, without
    pydicom's float64 detour: the same values, five times faster)."""
    slope, intercept = ds.get("RescaleSlope", 1), ds.get("RescaleIntercept", 0)
    identity = (
        "ModalityLUTSequence" not in ds and float(slope or 1) == 1 and not float(intercept or 0)
    )
    if identity:
        return arr.astype(np.float32)
    return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)


def greyscale(
    arr: np.ndarray, ds: pydicom.Dataset, path: Path, colour: str, voi_lut: bool
) -> tuple[np.ndarray, dict]:
    """(float32 image, bone bright; a description for the manifest) of one decoded frame."""
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples > 1 or photometric not in MONOCHROME:
        return _colour(arr, ds, path, photometric, colour)
    if arr.ndim != 2:
        raise InputError(path, f"expected one greyscale frame, the pixel data has {arr.shape}")
    mask = _padding_mask(arr, ds)
    values = _modality(arr, ds)
    voi = "not applied (crop.voi_lut: false)"
    if voi_lut:
        if "VOILUTSequence" in ds or "WindowCenter" in ds:
            values = np.asarray(apply_voi_lut(values, ds, index=0), dtype=np.float32)
            voi = "VOI LUT Sequence" if "VOILUTSequence" in ds else "window (first)"
        else:
            voi = "none in the header"
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    inverted = photometric == "MONOCHROME1" or shape == "INVERSE"
    real = values if mask is None else values[~mask]
    if real.size == 0:
        raise InputError(path, "every pixel equals the PixelPaddingValue: no image")
    lo, hi = float(real.min()), float(real.max())
    if inverted:
        values = np.float32(hi + lo) - values  # the darkest real value stays lo
    n_pad = 0
    if mask is not None and mask.any():
        values[mask] = lo
        n_pad = int(mask.sum())
    polarity = photometric + (" with Presentation LUT Shape INVERSE" if shape == "INVERSE" else "")
    polarity += ": inverted to bone bright" if inverted else ": bone bright as stored"
    return values, {"polarity": polarity, "voi_lut": voi, "padding_pixels": n_pad}


def _colour(
    arr: np.ndarray, ds: pydicom.Dataset, path: Path, photometric: str, policy: str
) -> tuple[np.ndarray, dict]:
    if policy != "luminance":
        raise InputError(
            path,
            f"is a colour image (PhotometricInterpretation {photometric or 'absent'}, "
            f"{int(ds.get('SamplesPerPixel', 1) or 1)} samples per pixel): hipseg expects a "
            "greyscale radiograph (crop.colour: luminance converts it)",
        )
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise InputError(path, f"colour pixel data of shape {arr.shape} is not one RGB frame")
    values = np.asarray(arr, dtype=np.float32) @ LUMA
    return values, {
        "polarity": f"{photometric} converted to luminance (crop.colour: luminance)",
        "voi_lut": "not applicable (colour)",
        "padding_pixels": 0,
    }
