"""The report's montage and gallery, made from the de-identification stage's outputs only
(``hipseg figures``; a module of its own, so that the report's code does not rerun them).

Every image shown is a de-identified file (its boundary marker is checked with
:func:`hipseg.deid.require_deidentified`) whose burned-in text was redacted (the blanked regions
are outlined, dashed); captions carry the
radiograph's id and its patient's pseudonym from the audit record. An image that was only
flagged for burned-in text (``deid.on_burned_in: flag``) is never shown: a grey placeholder says
why. Label maps come from the validated sample sheet (pseudonyms only).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import atomic_path

_DPI = 90


@dataclass
class Shown:
    """One de-identified radiograph as the figures show it (pixels read when drawn)."""

    id: str
    pseudonym: str
    note: str
    hips: str
    dicom: Path
    labels_path: Path
    width: int
    withheld: str  # why the image is not shown ("" when it is)
    redacted: list[list[int]]  # blanked text regions, [x0, y0, x1, y1]

    def image(self) -> np.ndarray:
        from .dicomio import read_radiograph
        from .display import window

        return window(read_radiograph(self.dicom).pixels, 1, 99.7)

    def labels(self) -> np.ndarray:
        from PIL import Image

        try:
            return np.asarray(Image.open(self.labels_path))
        except OSError as exc:
            raise InputError(self.labels_path, f"cannot read the label map ({exc})") from exc


def load(case_id: str, deid_dir: str | Path, labels_path: str | Path) -> Shown:
    """The de-identified radiograph ``<deid_dir>/<id>.dcm`` (boundary marker checked), its
    audit record and its label map."""
    from .deid import require_deidentified
    from .dicomio import read_dataset

    dicom = Path(deid_dir) / f"{case_id}.dcm"
    audit_path = Path(deid_dir) / f"{case_id}.audit.json"
    require_deidentified(dicom)
    try:
        audit = json.loads(audit_path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(audit_path, f"cannot read the audit record ({exc})") from exc
    burned = audit.get("burned_in", {})
    case = audit.get("case", {})
    withheld = ""
    if burned.get("flagged"):
        withheld = "not shown: flagged for burned-in text, not redacted"
    redacted = burned.get("text_regions", []) if burned.get("redacted") else []
    return Shown(
        case_id,
        str(audit.get("patient", "")),
        str(case.get("note", "") or ""),
        str(case.get("hips", "both") or "both"),
        dicom,
        Path(labels_path),
        int(read_dataset(dicom, stop_before_pixels=True).Columns),
        withheld,
        [list(r) for r in redacted],
    )


def _show(ax, shown: Shown, columns: slice, overlay: bool, alpha: float) -> None:
    from .display import overlay_rgba

    labels = shown.labels()[:, columns]
    if shown.withheld:
        ax.imshow(np.full(labels.shape, 0.5), cmap="gray", vmin=0, vmax=1)
        ax.text(0.5, 0.5, shown.withheld.replace(": ", ":\n"), ha="center", va="center",
                transform=ax.transAxes, fontsize=8, wrap=True)  # fmt: skip
    else:
        ax.imshow(shown.image()[:, columns], cmap="gray", interpolation="bilinear")
        if overlay:
            ax.imshow(overlay_rgba(labels, alpha=alpha), interpolation="nearest")
        _outline(ax, shown.redacted, columns.start or 0)
    ax.axis("off")


def _outline(ax, regions: list[list[int]], x_offset: int) -> None:
    """Dashed outlines of the regions whose burned-in text was blanked."""
    from matplotlib.patches import Rectangle

    for x0, y0, x1, y1 in regions:
        ax.add_patch(
            Rectangle((x0 - x_offset - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                      edgecolor="yellow", linestyle="--", linewidth=0.8)
        )  # fmt: skip


def _save(fig, out_png: str | Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=_DPI, format="png")
    plt.close(fig)


def montage(shown: list[Shown], out_png: str | Path) -> None:
    """PNG of de-identified radiographs with their label overlays, captions id (pseudonym)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncol = min(3, len(shown))
    nrow = int(math.ceil(len(shown) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.6 * nrow), squeeze=False)
    for ax, s in zip(axes.ravel(), shown, strict=False):
        _show(ax, s, slice(None), overlay=True, alpha=0.38)
        excl = {"both": "", "left": "right excluded", "right": "left excluded"}.get(
            s.hips, "both excluded"
        )
        ax.set_title(f"{s.id} ({s.pseudonym})" + (f"\n{excl}" if excl else ""), fontsize=9)
    for ax in axes.ravel()[len(shown) :]:
        ax.axis("off")
    _save(fig, out_png)


GALLERY = (
    ("no findings", None),
    ("osteoarthritis", ("osteoarthritis (severe)",)),
    ("acetabular protrusion", ("acetabular protrusion",)),
    ("arthroplasty (excluded)", ("arthroplasty",)),
    ("fixation (excluded)", ("dynamic hip screw", "cannulated neck screws")),
    ("burned-in text (redacted)", ("burned-in text",)),
)


def _side_of(s: Shown, hit: str) -> str:
    """The hip (image half) to show for a finding: the one the note names; for burned-in text
    the half with the blanked text (patient's right hip is on the image's left)."""
    if hit == "burned-in text":
        if s.redacted and s.redacted[0][0] + s.redacted[0][2] < s.width:
            return "right"
        return "left"
    for part in s.note.split("; "):
        if hit in part:
            return part.split()[0]
    return "right"


def gallery_pick(shown: list[Shown]) -> list[tuple[str, Shown, str]]:
    """(title, radiograph, side) per category of :data:`GALLERY` with an example; redacted
    images are preferred for burned-in text."""
    picks = []
    for title, keys in GALLERY:
        if keys is None:
            hit = next((s for s in shown if "hip" not in s.note and s.hips == "both"), None)
            if hit is not None:
                picks.append((title, hit, "right"))
            continue
        found = [(s, k) for s in shown for k in keys if k in s.note]
        found.sort(key=lambda f: bool(f[0].withheld))  # shown before withheld
        if found:
            s, k = found[0]
            picks.append((title, s, _side_of(s, k)))
    return picks


def gallery(shown: list[Shown], out_png: str | Path) -> list[str]:
    """PNG of one hip per finding, without and with label overlays. Returns the ids shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = gallery_pick(shown)
    if not picks:
        raise InputError(out_png, "no radiographs to show in the gallery")
    fig, axes = plt.subplots(2, len(picks), figsize=(2.6 * len(picks), 7.2), squeeze=False)
    for j, (title, s, side) in enumerate(picks):
        half = s.width // 2
        columns = slice(0, half) if side == "right" else slice(half, None)
        for i, overlay in enumerate((False, True)):
            _show(axes[i, j], s, columns, overlay, alpha=0.4)
        axes[0, j].set_title(f"{title}\n{s.id} ({s.pseudonym}), {side} hip", fontsize=9)
    _save(fig, out_png)
    return [s.id for _, s, _ in picks]


def write(
    sheet: str | Path, deid_dir: str | Path, montage_png: str | Path, gallery_png: str | Path,
    n: int = 6,
) -> None:  # fmt: skip
    """Both figures for the radiographs of the validated sample sheet (pseudonyms only)."""
    from . import samplesheet

    rows = samplesheet.read(sheet)
    shown = [load(r.id, deid_dir, r.labels) for r in rows.itertuples()]
    if not shown:
        raise InputError(sheet, "no radiographs to show")
    montage(shown[: max(int(n), 1)], montage_png)
    gallery(shown, gallery_png)
