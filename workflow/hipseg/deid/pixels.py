"""Burned-in text: the BurnedInAnnotation attribute, a detector of text in the pixels, fixed
regions to blank, and the decision recorded per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from scipy import ndimage

from ..errors import InputError
from .options import Options


def text_score(pixels: np.ndarray) -> int:
    """A simple detector of burned-in text: the length of the longest row of character-sized
    blobs at the extreme grey values (annotations are drawn in pure white or black). Text
    gives 3 or more; anatomy, collimation and noise give fewer."""
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0:
        return 0
    rows = arr.shape[0]
    lo, hi = arr.min(), arr.max()
    if hi <= lo:
        return 0
    tol = (float(hi) - float(lo)) * 0.002
    best = 0
    for mask in (arr >= hi - tol, arr <= lo + tol):
        if mask.mean() > 0.5:  # the background, not annotations
            continue
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        if n == 0 or n > 20000:
            continue
        boxes = []
        areas = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
        for sl, area in zip(ndimage.find_objects(labels), areas, strict=True):
            h = sl[0].stop - sl[0].start
            w = sl[1].stop - sl[1].start
            fill = area / (h * w)
            if max(5, 0.004 * rows) <= h <= 0.08 * rows and w <= 2.0 * h and 0.12 <= fill <= 0.9:
                boxes.append((sl[0].start, sl[0].stop, sl[1].start, sl[1].stop))
        boxes.sort(key=lambda b: b[2])
        for i, (t, b, _, r) in enumerate(boxes):
            h, count, right = b - t, 1, r
            for t2, b2, l2, r2 in boxes[i + 1 :]:
                h2 = b2 - t2
                if l2 - right > 2 * h:
                    break
                if abs((t + b) - (t2 + b2)) <= h and 0.5 <= h2 / h <= 2:
                    count += 1
                    right = max(right, r2)
            best = max(best, count)
    return best


TEXT_THRESHOLD = 3


def _pixels(ds: Dataset, path: Path) -> np.ndarray:
    try:
        return ds.pixel_array
    except Exception as exc:
        raise InputError(path, f"pixel data cannot be decoded ({exc})") from exc


def _blank(ds: Dataset, arr: np.ndarray, regions, path: Path) -> list[list[int]]:
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        raise InputError(path, "blanking regions needs uncompressed pixel data; decompress first")
    if arr.ndim != 2:
        raise InputError(path, f"blanking regions needs a single 2D frame, got {arr.shape}")
    arr = arr.copy()
    rows, cols = arr.shape
    dark = arr.max() if ds.get("PhotometricInterpretation") == "MONOCHROME1" else arr.min()
    boxes = []
    for x0, y0, x1, y1 in regions:
        box = [int(x0 * cols), int(y0 * rows), int(np.ceil(x1 * cols)), int(np.ceil(y1 * rows))]
        arr[box[1] : box[3], box[0] : box[2]] = dark
        boxes.append(box)
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    return boxes


def burned_in(ds: Dataset, path: Path, options: Options) -> dict:
    attribute = str(ds.get("BurnedInAnnotation", "") or "").upper() or "absent"
    arr = _pixels(ds, path)
    boxes = _blank(ds, arr, options.blank_regions, path) if options.blank_regions else []
    if boxes:
        arr = _pixels(ds, path)
    score = text_score(arr if arr.ndim == 2 else arr[0])
    detected = score >= TEXT_THRESHOLD
    flagged = detected or (attribute == "YES" and not boxes)
    reasons = []
    if attribute == "YES":
        reasons.append("BurnedInAnnotation is YES")
    if detected:
        reasons.append("pixels likely contain text")
    if flagged:
        decision = "flagged: " + " and ".join(reasons)
    elif boxes:
        decision = f"blanked {len(boxes)} region(s)" + (f" ({reasons[0]})" if reasons else "")
    else:
        decision = "no burned-in text indicated or detected"
    if flagged and options.on_burned_in == "error":
        raise InputError(
            path,
            f"{decision}; blank it (deid.blank_regions) or accept it (deid.on_burned_in: flag)",
        )
    return {
        "burned_in_annotation": attribute,
        "text_score": score,
        "text_detected": detected,
        "blanked_regions": boxes,
        "flagged": flagged,
        "decision": decision,
    }
