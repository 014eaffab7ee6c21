"""Figures of a generated set for a person to look at: a montage and a gallery of findings."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..io import atomic_path


def montage(samples_tsv: str | Path, out_png: str | Path, n: int = 6) -> None:
    """PNG montage of the first n radiographs with label overlays (for a person to look at)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..dicomio import read_radiograph
    from ..display import overlay_rgba, window

    samples_tsv = Path(samples_tsv)
    with open(samples_tsv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))[: max(int(n), 1)]
    ncol = min(3, len(rows))
    nrow = int(math.ceil(len(rows) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.6 * nrow), squeeze=False)
    for ax, row in zip(axes.ravel(), rows, strict=False):
        rad = read_radiograph(samples_tsv.parent / row["dicom"])  # bone bright in both polarities
        lab = np.asarray(Image.open(samples_tsv.parent / row["labels"]))
        ax.imshow(window(rad.pixels, 1, 99.7), cmap="gray", interpolation="bilinear")
        ax.imshow(overlay_rgba(lab, alpha=0.38), interpolation="nearest")
        excl = {"both": "", "left": "right excluded", "right": "left excluded"}.get(
            row["hips"], "both excluded"
        )
        title = f"{row['id']} ({row['patient']}, {rad.photometric})"
        ax.set_title(title + (f"\n{excl}" if excl else ""), fontsize=9)
        ax.axis("off")
    for ax in axes.ravel()[len(rows) :]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


GALLERY = (
    ("no findings", None),
    ("osteoarthritis", "osteoarthritis (severe)"),
    ("acetabular protrusion", "acetabular protrusion"),
    ("arthroplasty (excluded)", "arthroplasty"),
    ("fixation (excluded)", ("dynamic hip screw", "cannulated neck screws")),
    ("burned-in text", "burned-in text"),
)


def _gallery_pick(rows: list[dict]) -> list[tuple[str, dict, str]]:
    """(title, row, side) per category of :data:`GALLERY` that the sheet has an example of."""
    picks = []
    for title, key in GALLERY:
        for row in rows:
            note = row["note"]
            if key is None:
                if "hip" not in note and row["hips"] == "both":
                    picks.append((title, row, "right"))
                    break
                continue
            keys = (key,) if isinstance(key, str) else key
            hit = next((k for k in keys if k in note), None)
            if hit is None:
                continue
            if hit == "burned-in text":  # drawn in the image's lower right: the left hip's half
                picks.append((title, row, "left"))
                break
            for part in note.split("; "):
                if hit in part:
                    picks.append((title, row, part.split()[0]))
                    break
            break
    return picks


def gallery(samples_tsv: str | Path, out_png: str | Path) -> list[str]:
    """PNG of one hip per finding (none, OA, protrusion, arthroplasty, fixation, text) with
    label overlays, next to the same hip without them. Returns the ids shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..dicomio import read_radiograph
    from ..display import overlay_rgba, window

    samples_tsv = Path(samples_tsv)
    with open(samples_tsv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    picks = _gallery_pick(rows)
    if not picks:
        raise InputError(samples_tsv, "no radiographs to show")
    fig, axes = plt.subplots(2, len(picks), figsize=(2.6 * len(picks), 7.2), squeeze=False)
    for j, (title, row, side) in enumerate(picks):
        rad = read_radiograph(samples_tsv.parent / row["dicom"])
        lab = np.asarray(Image.open(samples_tsv.parent / row["labels"]))
        half = slice(0, lab.shape[1] // 2) if side == "right" else slice(lab.shape[1] // 2, None)
        img = window(rad.pixels[:, half], 1, 99.7)
        for i, overlay in enumerate((False, True)):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray", interpolation="bilinear")
            if overlay:
                ax.imshow(overlay_rgba(lab[:, half], alpha=0.4), interpolation="nearest")
            ax.axis("off")
        axes[0, j].set_title(f"{title}\n{row['id']}, {side} hip", fontsize=9)
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return [row["id"] for _, row, _ in picks]
