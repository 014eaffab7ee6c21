"""Burned-in text: find it, blank it (or flag or refuse the image), record the decision.

``deid.on_burned_in`` decides what happens to an image whose pixels likely contain text:

* ``redact`` (default): every region the detectors find (:data:`DETECTORS`, chosen by
  ``deid.text_detectors``) is blanked to display black before anything downstream sees it.
* ``flag``: the image is recorded as flagged, its pixels are left as they are.
* ``error``: the image is refused.

An image whose BurnedInAnnotation is YES but where no text is found, or whose pixels cannot be
examined (more than one frame, colour), is flagged in every mode (and refused with ``error``).
Fixed regions (``deid.blank_regions``, fractions of the image) are blanked in every mode.

Blanked images are written uncompressed (lossless; Explicit VR Little Endian where the original
was compressed or big-endian) and the audit says so; all other images keep their original pixel
bytes. The audit lists the blanked boxes (pixel coordinates), never what they contained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import InputError
from . import ocr, textfind
from .options import DETECTORS, Options


def find_text(pixels: np.ndarray, monochrome1: bool, detectors) -> dict[str, list]:
    """Boxes ``(top, bottom, left, right)`` of likely text per detector."""
    found = {}
    for name in detectors:
        if name == "values":
            found[name] = textfind.value_rows(pixels)
        elif name == "strokes":
            found[name] = textfind.stroke_rows(pixels, monochrome1)
        elif name == "ocr":
            found[name] = ocr.word_rows(pixels, monochrome1)
        else:
            raise ValueError(f"unknown text detector {name!r} (known: {', '.join(DETECTORS)})")
    return found


def _pixels(ds: Dataset, path: Path) -> np.ndarray:
    try:
        return ds.pixel_array
    except Exception as exc:
        raise InputError(path, f"pixel data cannot be decoded ({exc})") from exc


def _single_grey_frame(ds: Dataset, arr: np.ndarray) -> bool:
    return arr.ndim == 2 and str(ds.get("PhotometricInterpretation", "")).startswith("MONOCHROME")


def _fixed_boxes(regions, shape) -> list[list[int]]:
    """``deid.blank_regions`` (x0, y0, x1, y1 fractions) as pixel boxes [x0, y0, x1, y1]."""
    rows, cols = shape
    return [
        [int(x0 * cols), int(y0 * rows), int(np.ceil(x1 * cols)), int(np.ceil(y1 * rows))]
        for x0, y0, x1, y1 in regions
    ]


def _blank(ds: Dataset, arr: np.ndarray, boxes: list[list[int]]) -> np.ndarray:
    arr = arr.copy()
    dark = arr.max() if ds.get("PhotometricInterpretation") == "MONOCHROME1" else arr.min()
    for x0, y0, x1, y1 in boxes:
        arr[y0:y1, x0:x1] = dark
    return arr


def _store(ds: Dataset, arr: np.ndarray) -> str:
    """Write blanked pixels into ``ds`` uncompressed; return what the audit says about it."""
    syntax = ds.file_meta.TransferSyntaxUID
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    if syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        return f"blanked, written uncompressed ({syntax.name}, lossless)"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    elem = ds["PixelData"]
    elem.VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    elem.is_undefined_length = False
    return f"blanked, written uncompressed (Explicit VR Little Endian, lossless; was {syntax.name})"


def _decide(attribute: str, examined: bool, found: dict, redacted: bool, fixed: list) -> tuple:
    """(flagged, decision) for the audit."""
    reasons = []
    if attribute == "YES":
        reasons.append("BurnedInAnnotation is YES")
    if not examined:
        reasons.append("pixels not examined for text (not a single grey frame)")
    by = [f"{name} {len(boxes)}" for name, boxes in found.items() if boxes]
    if by:
        reasons.append(f"pixels likely contain text (regions per detector: {', '.join(by)})")
    detected = bool(by)
    flagged = (
        not examined
        or (detected and not redacted)
        or (attribute == "YES" and not redacted and not fixed)
    )
    if flagged:
        return True, "flagged: " + "; ".join(reasons)
    if redacted:
        extra = f" and {len(fixed)} configured region(s)" if fixed else ""
        return False, f"redacted: text blanked{extra} ({'; '.join(reasons)})"
    if fixed:
        return False, f"blanked {len(fixed)} configured region(s)" + (
            f" ({reasons[0]})" if reasons else ""
        )
    return False, "no burned-in text indicated or detected"


def burned_in(ds: Dataset, path: Path, options: Options) -> dict:
    """Examine (and, as configured, blank) the pixels of ``ds``; return the audit's record."""
    attribute = str(ds.get("BurnedInAnnotation", "") or "").upper() or "absent"
    arr = _pixels(ds, path)
    examined = _single_grey_frame(ds, arr)
    if options.blank_regions and not examined:
        raise InputError(path, f"blanking regions needs a single grey frame, got {arr.shape}")
    fixed = _fixed_boxes(options.blank_regions, arr.shape) if options.blank_regions else []
    arr = _blank(ds, arr, fixed) if fixed else arr
    mono1 = ds.get("PhotometricInterpretation") == "MONOCHROME1"
    found = find_text(arr, mono1, options.text_detectors) if examined else {}
    boxes = textfind.pad_and_merge([b for bs in found.values() for b in bs], arr.shape[:2])
    regions = [[left, t, r, b] for t, b, left, r in boxes]  # x0, y0, x1, y1 like blank_regions
    redacted = bool(regions) and options.on_burned_in == "redact"
    flagged, decision = _decide(attribute, examined, found, redacted, fixed)
    if flagged and options.on_burned_in == "error":
        raise InputError(
            path,
            f"{decision}; redact it (deid.on_burned_in: redact), blank it (deid.blank_regions) "
            "or accept it (deid.on_burned_in: flag)",
        )
    blanked = fixed + (regions if redacted else [])
    return {
        "burned_in_annotation": attribute,
        "detectors": list(options.text_detectors),
        "text_detected": bool(regions),
        "text_regions": regions,
        "redacted": redacted,
        "blanked_regions": fixed,
        "flagged": flagged,
        "decision": decision,
        "pixel_data": _store(ds, _blank(ds, arr, blanked)) if blanked else "original bytes",
    }
