"""Burned-in text: find it, blank it (or flag or refuse the image), record the decision.

``deid.on_burned_in`` decides what happens to an image whose pixels likely contain text:

* ``redact`` (default): every region the detectors find (:data:`DETECTORS`, chosen by
  ``deid.text_detectors``) is blanked before anything downstream sees it: replaced by a smooth
  fill interpolated from the pixels around it (no black hole in the anatomy for a model to
  learn; nothing inside the region survives).
* ``flag``: the image is recorded as flagged, its pixels are left as they are.
* ``error``: the image is refused.

An image whose BurnedInAnnotation is YES but where no text is found, or whose pixels cannot be
examined (more than one frame, colour), is flagged in every mode (and refused with ``error``).
Fixed regions (``deid.blank_regions``, fractions of the image) are set to display black in
every mode.

Blanked images are written uncompressed (lossless; Explicit VR Little Endian where the original
was compressed or big-endian) and the audit says so; all other images keep their original pixel
bytes. A big-endian original is re-encoded little endian throughout, not only its pixels
(:func:`_to_little_endian`). The audit lists the blanked boxes (pixel coordinates), never what
they contained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filewriter import correct_ambiguous_vr
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import HipsegError, InputError
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
            raise HipsegError(f"unknown text detector {name!r} (known: {', '.join(DETECTORS)})")
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
    """Boxes set to display black (the configured regions)."""
    arr = arr.copy()
    dark = arr.max() if ds.get("PhotometricInterpretation") == "MONOCHROME1" else arr.min()
    for x0, y0, x1, y1 in boxes:
        arr[y0:y1, x0:x1] = dark
    return arr


def _edges(a: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> list:
    """(values along the edge, distance of every box pixel to it) for each side of the box that
    has pixels outside it: the median of a 3-pixel ring, so that noise does not streak."""
    rows, cols = a.shape
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    edges = []
    if y0 > 0:
        edges.append((np.median(a[max(0, y0 - 3) : y0, x0:x1], axis=0)[None, :], yy - y0 + 1))
    if y1 < rows:
        edges.append((np.median(a[y1 : y1 + 3, x0:x1], axis=0)[None, :], y1 - yy))
    if x0 > 0:
        edges.append((np.median(a[y0:y1, max(0, x0 - 3) : x0], axis=1)[:, None], xx - x0 + 1))
    if x1 < cols:
        edges.append((np.median(a[y0:y1, x1 : x1 + 3], axis=1)[:, None], x1 - xx))
    return edges


def _fill(ds: Dataset, arr: np.ndarray, boxes: list[list[int]]) -> np.ndarray:
    """Text boxes replaced by a smooth fill interpolated from the pixels around each box (each
    side weighted by the inverse distance to it): nothing inside a box survives, and the
    anatomy around it continues without a black hole that a model would have to learn."""
    out = arr.copy()
    a = arr.astype(np.float64)
    for x0, y0, x1, y1 in boxes:
        edges = _edges(a, x0, y0, x1, y1)
        if not edges:  # the box is the whole image
            out = _blank(ds, out, [[x0, y0, x1, y1]])
            continue
        weights = [1.0 / d for _, d in edges]
        fill = sum(w * v for w, (v, _) in zip(weights, edges, strict=True)) / sum(weights)
        out[y0:y1, x0:x1] = np.rint(fill).astype(arr.dtype)
    return out


# the VRs whose values pydicom keeps as bytes although they are words with a byte order
_WORD_BYTES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _to_little_endian(ds: Dataset, path: Path) -> None:
    """Re-encode ``ds``, read from an Explicit VR Big Endian file, as little endian, in place.

    Every element is decoded in the byte order it was read in (numbers, tags and sequence items
    become values that the writer encodes anew), the values pydicom keeps as bytes are swapped
    word by word (OW, OF, OL, OD, OV: LUT, overlay and curve data and the like), and every
    dataset, sequence items included, is marked as read little endian: pydicom then writes it in
    one byte order throughout (and ``save_as`` no longer refuses it). UN values, whose byte order
    nobody can know, are copied as they are; only allow-listed private elements remain UN."""
    correct_ambiguous_vr(ds, is_little_endian=False)  # the values not yet decoded are big endian
    for elem in ds:  # decodes each raw element with the dataset's original (big) byte order
        if elem.VR == "SQ":
            for item in elem.value:
                _to_little_endian(item, path)
        elif elem.VR in _WORD_BYTES and isinstance(elem.value, bytes) and elem.value:
            width = _WORD_BYTES[elem.VR]
            if len(elem.value) % width:
                raise InputError(
                    path,
                    f"{elem.tag} ({elem.VR}) holds {len(elem.value)} bytes, not whole "
                    f"{width}-byte words: its byte order cannot be converted",
                )
            elem.value = np.frombuffer(elem.value, f"u{width}").byteswap().tobytes()
    ds.set_original_encoding(False, True)


def _store(ds: Dataset, arr: np.ndarray, path: Path) -> str:
    """Write blanked pixels into ``ds`` uncompressed; return what the audit says about it."""
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_little_endian:
        _to_little_endian(ds, path)
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
    if redacted:
        arr = _fill(ds, arr, regions)
    return {
        "burned_in_annotation": attribute,
        "detectors": list(options.text_detectors),
        "text_detected": bool(regions),
        "text_regions": regions,
        "redacted": redacted,
        "blanked_regions": fixed,
        "flagged": flagged,
        "decision": decision,
        "pixel_data": _store(ds, arr, path) if blanked else "original bytes",
    }
