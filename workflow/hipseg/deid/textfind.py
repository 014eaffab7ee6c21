"""Finding burned-in text in the pixels without reading it: rows of character-sized blobs.

Two detectors of hipseg's own, both after the same idea (text is a horizontal row of three or
more blobs of similar height, each about as wide as tall and partly filled) on different masks:

* ``values``: pixels of one exact stored value that the histogram over-represents. Burned-in
  annotations are drawn with one value, saturated or grey; anatomy, noise and collimation are
  not. (The extreme values, the only ones the first version looked at, are a special case.)
* ``strokes``: the morphological top-hat (bright text) and black-hat (dark text) of the display
  image at three scales and three contrast thresholds: thin strokes of any contrast, also
  antialiased or compressed text whose values are not exact. Large images are reduced first.

A row found in a mask is grown along its band over the mask's pixels nearby (dots, colons and
short words beside it), so that a whole line is covered. The OCR detector is in :mod:`.ocr`.
Boxes are ``(top, bottom, left, right)`` in pixels, bottom and right exclusive.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

Box = tuple[int, int, int, int]

ROW_MIN_BLOBS = 3  # blobs in a row that make it text
STROKE_MIN_BLOBS = 4  # rows of strokes need one more (anatomy edges make rows of three)
_VALUE_CANDIDATES = 12  # most over-represented stored values examined
_STROKE_SCALES = (0.6, 1.2, 2.4)  # top-hat sizes, in units of the smallest character height
_STROKE_THRESHOLDS = (0.07, 0.2, 0.4)  # top-hat response, fraction of the display range
_STROKE_ROWS = 1000  # images taller than this are reduced by an integer factor first


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int, float]]:
    """(top, bottom, left, right, fill) of the 8-connected components of a mask."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0 or n > 20000:
        return []
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    comps = []
    for sl, area in zip(ndimage.find_objects(labels), areas, strict=True):
        t, b, left, r = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        comps.append((t, b, left, r, float(area) / ((b - t) * (r - left))))
    return comps


def _lettered(members: list[Box]) -> bool:
    """Whether blobs in a row look like letters: most stand on one baseline (within a fifth
    of their height) and most are at least 0.4 times as wide as tall (anatomy gives rows of
    slivers: joint spaces, cortical edges)."""
    heights = np.array([b - t for t, b, _, _ in members], float)
    bottoms = np.array([b for _, b, _, _ in members], float)
    widths = np.array([r - left for _, _, left, r in members], float)
    on_line = np.abs(bottoms - np.median(bottoms)) <= 0.2 * np.median(heights)
    return on_line.mean() >= 0.75 and np.median(widths / heights) >= 0.4


def _rows(comps, rows: int, min_height: int, lettered: bool = False) -> list[tuple[int, Box]]:
    chars = sorted(
        ((t, b, left, r) for t, b, left, r, fill in comps
         if max(min_height, 0.004 * rows) <= b - t <= 0.08 * rows
         and r - left <= 2.0 * (b - t) and 0.12 <= fill <= 0.9),
        key=lambda c: c[2],
    )  # fmt: skip
    found = []
    for i, (t, b, left, r) in enumerate(chars):
        h, members = b - t, [(t, b, left, r)]
        for t2, b2, l2, r2 in chars[i + 1 :]:
            if l2 - max(m[3] for m in members) > 2 * h:
                break
            if abs((t + b) - (t2 + b2)) <= h and 0.5 <= (b2 - t2) / h <= 2:
                members.append((t2, b2, l2, r2))
        if lettered and not _lettered(members):
            continue
        box = (min(m[0] for m in members), max(m[1] for m in members), left,
               max(m[3] for m in members))  # fmt: skip
        found.append((len(members), box))
    return found


def blob_rows(mask: np.ndarray, min_height: int = 5) -> list[tuple[int, Box]]:
    """Rows of character-sized blobs in a mask: (number of blobs, box) per starting blob. A blob
    is 0.4–8 % of the image height (at least ``min_height`` px), at most twice as wide as tall
    and 12–90 % filled; a row continues while the next blob is less than two heights away, on
    the same line and of similar height."""
    return _rows(_components(mask), mask.shape[0], min_height)


def _grow(comps, box: Box, any_height: bool, reach: float = 2.0) -> Box:
    """Grow a text row's box along its line over the marks beside it (dots, colons, short
    words): components inside its band less than ``reach`` row heights away
    (``any_height``: also components that only touch the band; the box then grows along the
    band only)."""
    t, b, left, right = box
    h = b - t
    if any_height:
        band = [c for c in comps if c[0] < b and c[1] > t]
    else:
        band = [c for c in comps if c[0] >= t - 0.3 * h and c[1] <= b + 0.3 * h]
    grown = True
    while grown:
        grown = False
        for ct, cb, cl, cr, _ in band:
            near = cr > left - reach * h and cl < right + reach * h
            if near and (cl < left or cr > right):
                left, right, grown = min(left, cl), max(right, cr), True
                if not any_height:
                    t, b = min(t, ct), max(b, cb)
    return t, b, left, right


def _text_rows(mask: np.ndarray, min_height: int, min_blobs: int, exact: bool) -> list[Box]:
    """Text rows of a mask, grown along their lines; ``exact``: the mask holds only the
    text's own value, so a row may grow over marks of any height (a lead marker it touches)."""
    comps = _components(mask)
    rows = _rows(comps, mask.shape[0], min_height, lettered=True)
    return sorted({_grow(comps, box, exact) for n, box in rows if n >= min_blobs})


def value_rows(pixels: np.ndarray) -> list[Box]:
    """The ``values`` detector: text rows drawn with one exact stored value."""
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        return []
    base = int(arr.min())
    counts = np.bincount(arr.ravel().astype(np.int64) - base)
    if counts.size < 2:
        return []
    typical = ndimage.median_filter(counts.astype(np.float32), size=17, mode="constant")
    excess = counts - 4 * np.maximum(typical, 1)
    candidates = np.flatnonzero((excess > 0) & (counts >= 30))
    found = []
    for v in candidates[np.argsort(-excess[candidates])][:_VALUE_CANDIDATES]:
        mask = arr == base + int(v)
        if mask.mean() <= 0.5:  # not the background
            found += _text_rows(mask, 5, ROW_MIN_BLOBS, exact=True)
    return found


def display(pixels: np.ndarray, monochrome1: bool) -> np.ndarray:
    """The image as displayed: 0 black … 1 white over the stored range (MONOCHROME1 inverted)."""
    a = np.asarray(pixels, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    d = (a - lo) / max(hi - lo, 1e-6)
    return 1.0 - d if monochrome1 else d


def stroke_rows(pixels: np.ndarray, monochrome1: bool) -> list[Box]:
    """The ``strokes`` detector: text rows in the top-hat and black-hat of the display image."""
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0:
        return []
    f = max(1, arr.shape[0] // _STROKE_ROWS)
    d = display(arr, monochrome1)
    if f > 1:  # block means: text of ≥ 4 f px stays ≥ 4 px
        h, w = (d.shape[0] // f) * f, (d.shape[1] // f) * f
        d = d[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    smallest = max(4, 0.004 * d.shape[0])
    found = []
    for scale in _STROKE_SCALES:
        s = max(3, int(round(smallest * scale))) | 1
        for hat in (ndimage.white_tophat(d, size=(s, s)), ndimage.black_tophat(d, size=(s, s))):
            for k in _STROKE_THRESHOLDS:
                mask = hat > k
                if mask.mean() <= 0.3:
                    found += _text_rows(mask, 4, STROKE_MIN_BLOBS, exact=False)
    return [(t * f, b * f, left * f, r * f) for t, b, left, r in found]


def text_score(pixels: np.ndarray) -> int:
    """The first detector, kept for comparison: the length of the longest row of character-sized
    blobs at the extreme grey values (saturated annotations only). Text gives 3 or more."""
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0:
        return 0
    lo, hi = arr.min(), arr.max()
    if hi <= lo:
        return 0
    tol = (float(hi) - float(lo)) * 0.002
    best = 0
    for mask in (arr >= hi - tol, arr <= lo + tol):
        if mask.mean() <= 0.5:  # else the background, not annotations
            best = max([best, *(n for n, _ in blob_rows(mask))])
    return best


def pad_and_merge(boxes: list[Box], shape: tuple[int, int], margin: float = 0.3) -> list[Box]:
    """Pad each box by ``margin`` × its height (≥ 2 px), clip to the image and merge overlapping
    boxes into their bounding rectangles."""
    padded = []
    for t, b, left, r in boxes:
        m = max(2.0, margin * (b - t))
        padded.append(
            [
                max(0, int(t - m)),
                min(shape[0], int(np.ceil(b + m))),
                max(0, int(left - m)),
                min(shape[1], int(np.ceil(r + m))),
            ]
        )
    merged = True
    while merged:
        merged = False
        out: list[list[int]] = []
        for box in padded:
            for o in out:
                if box[0] < o[1] and o[0] < box[1] and box[2] < o[3] and o[2] < box[3]:
                    o[:] = [
                        min(o[0], box[0]),
                        max(o[1], box[1]),
                        min(o[2], box[2]),
                        max(o[3], box[3]),
                    ]
                    merged = True
                    break
            else:
                out.append(box)
        padded = out
    return sorted((tuple(b) for b in padded), key=lambda b: (b[0], b[2]))
