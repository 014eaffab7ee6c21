"""Measure the burned-in text detectors (not a test; docs/deidentification.md quotes what it
prints).

    PYTHONPATH=workflow python tests/redaction_recall.py OUT_DIR [--no-ocr]

Text-free synthetic radiographs at the demo's resolution (about 2 mm/px; two demo sets of 25)
and at the paper's (0.10–0.175 mm/px; 8 patients) get name/date annotations stamped in: every
combination of contrast (saturated; grey 0.6, 0.35, 0.2, 0.1 of the display range brighter or
darker than the image under it), size (demo 7, 9, 12 px; paper 2.5, 4, 6 mm) and rendering
(one grey value, antialiased), in the four corners, four (demo) or six (paper) per radiograph.
Each detector's regions, padded as the redaction pads them, are scored per text line: a line
counts as covered when 95 % of its pixels are; false positives are text-free radiographs with
any region. ``text_score`` (the first, extreme-value detector) only flagged images: its score.
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont

from hipseg import samplesheet, synth
from hipseg.deid import find_text, ocr, textfind

NAMES = ["SEDLACEK Josef", "BENES Tomas", "NOVAKOVA Marie", "DVORAK Petr", "KRALOVA Hana",
         "ZEMAN Karel", "HORAKOVA Eva", "FIALA Milan", "URBANOVA Lenka", "KOLAR Jiri"]  # fmt: skip
CONTRASTS = ["sat", 0.6, 0.35, 0.2, 0.1]
CORNERS = ["rd", "ld", "la", "ra"]


def _alpha(shape, text, size_px, corner) -> np.ndarray:
    img = Image.new("L", (shape[1], shape[0]), 0)
    x = shape[1] * (0.97 if corner[0] == "r" else 0.03)
    y = shape[0] * (0.97 if corner[1] == "d" else 0.03)
    ImageDraw.Draw(img).multiline_text(
        (x, y), text, fill=255, font=ImageFont.load_default(size=max(round(size_px), 6)),
        anchor=corner, align="left" if corner[0] == "l" else "right",
    )  # fmt: skip
    return np.asarray(img, dtype=np.float64) / 255


def _stamp(arr, mono1, alpha, contrast, antialiased) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    d = (arr - lo) / (hi - lo)
    d = 1 - d if mono1 else d
    under = float(np.median(d[alpha > 0.5]))
    if contrast == "sat":
        v = 1.0 if under < 0.5 else 0.0
    else:
        v = under + contrast if under + contrast <= 1 else under - contrast
    w = alpha if antialiased else (alpha > 0.5).astype(float)
    out = d * (1 - w) + v * w
    out = 1 - out if mono1 else out
    return np.rint(lo + out * (hi - lo)).astype(arr.dtype)


def stamped_set(sheets, res: str, per_image: int):
    """Yield (name, pixels, monochrome1, text mask or None, group labels)."""
    sizes = [7, 9, 12] if res == "demo" else [2.5, 4.0, 6.0]
    combos = list(itertools.product(CONTRASTS, sizes, (False, True)))
    k = 0
    for sheet in sheets:
        rows = samplesheet.read(sheet)
        for r in rows[~rows["note"].str.contains("burned-in")].itertuples():
            ds = pydicom.dcmread(r.dicom)
            arr, mono1 = ds.pixel_array, ds.PhotometricInterpretation == "MONOCHROME1"
            sp = float(ds.get("PixelSpacing", ds.get("ImagerPixelSpacing"))[0])
            yield r.id, arr, mono1, None, {}
            for _ in range(per_image):
                contrast, size, aa = combos[k % len(combos)]
                text = (
                    f"{NAMES[k % len(NAMES)]}\n{k % 28 + 1:02d}.{k % 12 + 1:02d}.2010 0{k % 9}:15"
                )
                alpha = _alpha(
                    arr.shape, text, size if res == "demo" else size / sp, CORNERS[k % 4]
                )
                groups = {"contrast": contrast, "size": size, "antialiased": aa}
                yield (
                    f"{r.id}+{k}",
                    _stamp(arr, mono1, alpha, contrast, aa),
                    mono1,
                    alpha > 0.5,
                    groups,
                )
                k += 1


def _lines(mask):
    rows = np.flatnonzero(mask.any(1))
    return [(r[0], r[-1] + 1) for r in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)]


def measure(items, detectors: dict) -> dict:
    score = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # detector → group → [hit, n]
    for _, arr, mono1, mask, groups in items:
        found = {name: fn(arr, mono1) for name, fn in detectors.items()}
        for name, boxes in found.items():
            if mask is None:
                hit = (textfind.text_score(arr) >= 3) if name == "text_score" else bool(boxes)
                score[name]["false positives"][0] += hit
                score[name]["false positives"][1] += 1
                continue
            covered = np.zeros(mask.shape, bool)
            if name == "text_score":
                covered[:] = textfind.text_score(arr) >= 3  # flagged, never blanked
            for t, b, left, r in textfind.pad_and_merge(boxes, mask.shape):
                covered[t:b, left:r] = True
            for top, bottom in _lines(mask):
                ok = covered[top:bottom][mask[top:bottom]].mean() >= 0.95
                for key in ("all", *(f"{g}={v}" for g, v in groups.items())):
                    score[name][key][0] += ok
                    score[name][key][1] += 1
    return score


def main(out: Path, use_ocr: bool) -> None:
    sets = {
        "demo (≈2 mm/px)": ([("demo", 7, 20), ("demo", 11, 20)], 4),
        "paper (0.10–0.175 mm/px)": ([("paper", 5, 8)], 6),
    }
    detectors = {
        "text_score": lambda a, m: [],
        "values": lambda a, m: find_text(a, m, ["values"])["values"],
        "strokes": lambda a, m: find_text(a, m, ["strokes"])["strokes"],
        "values+strokes": lambda a, m: sum(find_text(a, m, ["values", "strokes"]).values(), []),
    }
    if use_ocr:
        cache = {}  # one Tesseract run per image for both confidences

        def words(a, m):
            if cache.get("key") is not a:
                cache.update(key=a, words=ocr.words(a, m))
            return cache["words"]

        for conf in (30, 60):
            detectors[f"ocr (confidence ≥ {conf})"] = lambda a, m, c=conf: [
                box for q, box in words(a, m) if q >= c
            ]
    for title, (specs, per_image) in sets.items():
        sheets = []
        for preset, seed, n in specs:
            sheet = out / f"{preset}-{seed}-{n}" / "samples.tsv"
            if not sheet.exists():
                synth.generate(sheet.parent, preset=preset, seed=seed, n_patients=n)
            sheets.append(sheet)
        res = "demo" if title.startswith("demo") else "paper"
        score = measure(stamped_set(sheets, res, per_image), detectors)
        print(f"\n## {title}")
        for name, groups in score.items():
            cells = [f"{k} {h}/{n}" for k, (h, n) in sorted(groups.items())]
            print(f"- {name}: " + "; ".join(cells))


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--no-ocr" not in sys.argv)
