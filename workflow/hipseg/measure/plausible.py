"""Is a label anatomy at all? The screen that runs before a hip's landmarks are fitted.

An untrained or failing network gives label maps of noise: thousands of specks, labels that
fill the image, stripes. Fitting landmarks to them gives garbage numbers and, at full
resolution, can take minutes. So each label a measurement uses (L1, L2, L3, L5) is screened in
each hip's half of the image first; a label is *not measurable* when

* it covers more of the half than :data:`MAX_COVER` allows it (about 2.5 times the most the
  generator's ground truth gives it, demo and paper presets: L1 14 %, L2 4 %, L3 0.8 %,
  L5 32 %);
* it is in more than :data:`MAX_PIECES` pieces (noise: the anatomy has one or two, a trained
  network's labels a few specks more);
* it is scattered: its :data:`EXPECTED_PIECES` largest pieces (one, two for L2: the medial and
  lateral cortex of the shaft) hold less than :data:`MIN_SHARE` of its area;
* (L1) the bounding box of its largest piece is more than :data:`MAX_BOX` of the half (the
  femur's, from the head to the lower edge of the image and to the greater trochanter, is at
  most a third of it in the generator's ground truth): the head is looked for in that box, so
  this bounds the search's cost as well.

Every landmark found on such a label is then missing with the reason (e.g. ``L2 (inferior
neck, diaphyseal cortex and lesser trochanter) is in 4,812 pieces: noise, not anatomy (at
most 1,000)``), so its measurements have no value and say why, and the quality flags mark the
radiograph for review (:mod:`hipseg.clinical.quality`). The screen costs one connected-component
labelling per label, on the label's bounding box. Nothing of a label is changed: the finders
keep fitting to the largest pieces (:mod:`.landmarks`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..labels import BY_VALUE
from .fit import bbox

# connected parts a label has in one hip: one, two for L2 (medial and lateral cortex)
EXPECTED_PIECES = {1: 1, 2: 2, 3: 1, 4: 1, 5: 1}
SCREENED = (1, 2, 3, 5)  # the labels the measurements use (L4 is not used)
MAX_COVER = {1: 0.35, 2: 0.15, 3: 0.05, 5: 0.6}  # of the hip's half of the image
MAX_PIECES = 1000
MIN_SHARE = 0.5  # of the label's area, in its expected number of largest pieces
MAX_BOX = {1: 0.6}  # the largest piece's bounding box, of the hip's half of the image


def _title(value: int) -> str:
    lab = BY_VALUE[value]
    return f"{lab.name} ({lab.description})"


def pieces(mask: np.ndarray, expected: int = 1) -> tuple[int, float, np.ndarray, tuple]:
    """(the number of connected parts of ``mask``, the share of its area in its ``expected``
    largest parts, the parts' sizes, the parts labelled on the mask's bounding box); the
    labelling is on the bounding box, so a small label in a large image costs little."""
    area = int(np.count_nonzero(mask))
    parts, n = ndimage.label(mask[bbox(mask, pad=0)])
    sizes = np.bincount(parts.ravel())[1:]
    kept = int(np.sort(sizes)[::-1][:expected].sum())
    return n, (kept / area if area else 0.0), sizes, parts


def screen_label(
    mask: np.ndarray, expected: int = 1, cover: float = 1.0, box: float = 1.0
) -> str | None:
    """Why the pixels of one label in one hip's half (``mask``: the half's columns only) are
    not measurable, or None; ``expected``: the pieces the label has in the anatomy, ``cover``:
    the most of the half it may cover, ``box``: the most of it its largest piece's bounding
    box may cover."""
    area = int(np.count_nonzero(mask))
    if area == 0:
        return None
    if area > cover * mask.size:
        return (f"covers {100 * area / mask.size:.0f} % of the hip's half of the image "
                f"(at most {100 * cover:g} %): not anatomy")  # fmt: skip
    n, share, sizes, parts = pieces(mask, expected)
    if n > MAX_PIECES:
        return f"is in {n:,} pieces: noise, not anatomy (at most {MAX_PIECES:,})"
    if share < MIN_SHARE:
        which = "largest piece holds" if expected == 1 else f"{expected} largest pieces hold"
        return (f"is scattered: its {which} {100 * share:.0f} % of its area (at least "
                f"{100 * MIN_SHARE:.0f} %): not anatomy")  # fmt: skip
    if box < 1.0:
        largest = ndimage.find_objects(parts)[int(np.argmax(sizes))]
        spans = (largest[0].stop - largest[0].start) * (largest[1].stop - largest[1].start)
        if spans > box * mask.size:
            return (f"spans {100 * spans / mask.size:.0f} % of the hip's half of the image "
                    f"(its largest piece's bounding box; at most {100 * box:g} %): not "
                    "anatomy")  # fmt: skip
    return None


def screen(lab: np.ndarray, cols: slice) -> dict[int, str]:
    """{label value: reason} for the screened labels of the hip in columns ``cols`` of ``lab``
    that are not measurable (see the module docstring); labels that pass are absent."""
    sub = lab[:, cols]
    out = {}
    for value in SCREENED:
        reason = screen_label(sub == value, EXPECTED_PIECES[value], MAX_COVER[value],
                              MAX_BOX.get(value, 1.0))  # fmt: skip
        if reason is not None:
            out[value] = f"{_title(value)} {reason}"
    return out
