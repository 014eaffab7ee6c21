"""The report's figures as PNG data URIs: Fig. 3 and Fig. 4 (box plots), Fig. 5 (case panels).

Box plots follow the paper's styling: mean blue "+", median green line, coloured box, black
whiskers, outliers red "×".
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import labels  # noqa: E402
from ..display import overlay_rgba, window  # noqa: E402
from ..errors import InputError  # noqa: E402
from ..io import read_image_2d  # noqa: E402

BOX_STYLE = {
    "showmeans": True,
    "meanprops": {
        "marker": "+",
        "markeredgecolor": "blue",
        "markersize": 9,
        "markeredgewidth": 1.5,
    },
    "medianprops": {"color": "green", "linewidth": 1.8},
    "whiskerprops": {"color": "black", "linewidth": 1.0},
    "capprops": {"color": "black", "linewidth": 1.0},
    "flierprops": {"marker": "x", "markeredgecolor": "red", "markersize": 6, "linestyle": "none"},
    "boxprops": {"edgecolor": "black", "linewidth": 0.8},
    "patch_artist": True,
    "whis": 1.5,
}
# Box colours, one per model in turn.
MODEL_COLORS = [
    "#8dd3c7",
    "#fdb462",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
]
FIG_DPI = 110
MAX_DISPLAY_PX = 700  # longest side of an image panel in Fig. 5 (downsampled for the report)
PNG_PREFIX = "data:image/png;base64,"


def png_file_uri(path: str | Path, what: str) -> str:
    """A PNG file as a data URI; ``what`` names the image in the error if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} does not exist")
    return PNG_PREFIX + base64.b64encode(path.read_bytes()).decode("ascii")


def png_data_uri(fig, colors: int | None = None, tight: bool = True) -> str:
    """A matplotlib figure as a PNG data URI (the figure is closed). ``colors`` reduces the PNG
    to a palette of that many colours (images of radiographs: a third of the size)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIG_DPI, bbox_inches="tight" if tight else None)
    plt.close(fig)
    data = buf.getvalue()
    if colors:
        from PIL import Image

        img = Image.open(io.BytesIO(data)).convert("RGB")
        pal = img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        out = io.BytesIO()
        pal.save(out, format="PNG", optimize=True)
        data = out.getvalue()
    return PNG_PREFIX + base64.b64encode(data).decode("ascii")


def _model_color(i: int) -> str:
    return MODEL_COLORS[i % len(MODEL_COLORS)]


def _style_boxes(bp, colors: Sequence[str]) -> None:
    for patch, color in zip(bp["boxes"], colors, strict=False):
        patch.set_facecolor(color)


def fig3(per_image: pd.DataFrame, models: list[str]) -> str:
    """Fig. 3: the per-image mean Dice score, one box per model."""
    data = [per_image.loc[per_image["model"] == m, "mean_dice"].dropna().to_numpy() for m in models]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.15 * len(models) + 2), 4.2))
    bp = ax.boxplot(data, tick_labels=[labels.model_title(m) for m in models], **BOX_STYLE)
    _style_boxes(bp, [_model_color(i) for i in range(len(models))])
    ax.set_ylabel("mean Dice score per image")
    ax.set_xlabel("model")
    ax.grid(axis="y", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_title("Mean Dice score of the test images per model")
    return png_data_uri(fig)


def fig4(dice: pd.DataFrame, models: list[str]) -> str:
    """Fig. 4: the Dice score of each label, one box per model within each label."""
    names = [lab.name for lab in labels.LABELS]
    n = len(models)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.28 * n * len(names) + 3), 4.6))
    style = dict(BOX_STYLE)
    style["meanprops"] = dict(style["meanprops"], markersize=6)
    style["flierprops"] = dict(style["flierprops"], markersize=4)
    handles = []
    for i, m in enumerate(models):
        sub = dice[dice["model"] == m]
        data = [sub.loc[sub["label"] == lab, "dice"].dropna().to_numpy() for lab in names]
        pos = np.arange(len(names)) + (i - (n - 1) / 2) * width
        bp = ax.boxplot(data, positions=pos, widths=width * 0.85, manage_ticks=False, **style)
        _style_boxes(bp, [_model_color(i)] * len(names))
        handles.append(bp["boxes"][0])
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    for x in np.arange(len(names) - 1) + 0.5:
        ax.axvline(x, color="0.8", linewidth=0.8)
    ax.set_ylabel("Dice score")
    ax.set_xlabel("label")
    ax.grid(axis="y", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.legend(
        handles,
        [labels.model_title(m) for m in models],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=min(n, 7),
        frameon=False,
        fontsize=9,
    )
    ax.set_title("Dice score of the individual labels per model")
    return png_data_uri(fig)


def _read_case(case: str, images_dir: Path, labels_dir: Path, pred_path: Path):
    """Image, ground truth and prediction of one test case; the three shapes must agree."""
    img_path = images_dir / f"{case}_0000.nii.gz"
    gt_path = labels_dir / f"{case}.nii.gz"
    img, spacing = read_image_2d(img_path)
    gt, _ = read_image_2d(gt_path)
    pred, _ = read_image_2d(pred_path)
    for p, a in ((gt_path, gt), (pred_path, pred)):
        if a.shape != img.shape:
            raise InputError(p, f"shape {a.shape} differs from the image {img.shape} ({img_path})")
    return img, gt, pred, spacing


def fig5_case(
    case: str, images_dir: Path, labels_dir: Path, pred_path: Path, best: str
) -> tuple[str, dict]:
    """One Fig. 5 panel row (image, ground truth, prediction of ``best``) and its caption data."""
    img, gt, pred, spacing = _read_case(case, images_dir, labels_dir, pred_path)
    step = max(1, int(math.ceil(max(img.shape) / MAX_DISPLAY_PX)))
    img_s, gt_s, pred_s = img[::step, ::step], gt[::step, ::step], pred[::step, ::step]
    grey = window(img_s)
    sx, sy = spacing
    aspect = (sy / sx) if sx > 0 and sy > 0 else 1.0
    h, w = grey.shape
    panel_w = 3.6
    panel_h = min(6.0, panel_w * h * aspect / max(w, 1))
    fig, axes = plt.subplots(1, 3, figsize=(3 * panel_w, panel_h + 0.5))
    titles = ["image", "ground truth", f"prediction ({labels.model_title(best)})"]
    for ax, title, lab in zip(axes, titles, [None, gt_s, pred_s], strict=True):
        ax.imshow(grey, cmap="gray", aspect=aspect, interpolation="bilinear")
        if lab is not None:
            ax.imshow(overlay_rgba(lab), aspect=aspect, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    info = {
        "shape": f"{img.shape[0]}×{img.shape[1]} px",
        "spacing": f"{sx:g}×{sy:g} mm",
        "step": step,
    }
    return png_data_uri(fig, colors=IMAGE_COLORS), info


# Line colours of the learning curves, one per model in turn (matplotlib's tab10).
LINE_COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
]
THUMB_PX = 360  # longest side of an image of the all-cases gallery (downsampled for display)
IMAGE_COLORS = 128  # palette of the PNGs of radiographs and curves (keeps the report small)


def learning_curves(curves: pd.DataFrame) -> str:
    """Fig. 6: training (solid) and validation (dashed) loss, and the pseudo-Dice (EMA solid,
    per epoch dotted) of every model over the epochs, from nnU-Net's logs."""
    models = list(dict.fromkeys(curves["model"]))
    fig, (loss_ax, dice_ax) = plt.subplots(1, 2, figsize=(11.5, 4.2))
    for i, m in enumerate(models):
        df = curves[curves["model"] == m]
        c = LINE_COLORS[i % len(LINE_COLORS)]
        title = labels.model_title(m)
        loss_ax.plot(df["epoch"], df["train_loss"], color=c, lw=1.6, label=title)
        loss_ax.plot(df["epoch"], df["val_loss"], color=c, lw=1.2, ls="--")
        dice_ax.plot(df["epoch"], df["pseudo_dice_ema"], color=c, lw=1.6, label=title)
        dice_ax.plot(df["epoch"], df["pseudo_dice"], color=c, lw=0.8, ls=":")
    loss_ax.set_title("loss (solid: training, dashed: validation)", fontsize=10)
    loss_ax.set_ylabel("loss (Dice + cross-entropy)")
    dice_ax.set_title("pseudo-Dice (solid: moving average, dotted: per epoch)", fontsize=10)
    dice_ax.set_ylabel("pseudo-Dice (validation batches)")
    for ax in (loss_ax, dice_ax):
        ax.set_xlabel("epoch")
        ax.grid(color="0.9", linewidth=0.8)
    loss_ax.legend(fontsize=8, frameon=False, ncol=2)
    fig.tight_layout()
    return png_data_uri(fig, colors=IMAGE_COLORS)


def case_contours(
    case: str, images_dir: Path, labels_dir: Path, pred_path: Path
) -> tuple[str, dict]:
    """One image of the all-cases gallery: the image with the contours of the ground truth
    (solid) and of the prediction (dashed) of every label, in the label colours."""
    img, gt, pred, spacing = _read_case(case, images_dir, labels_dir, pred_path)
    step = max(1, int(math.ceil(max(img.shape) / THUMB_PX)))
    grey = window(img[::step, ::step])
    gt_s, pred_s = gt[::step, ::step], pred[::step, ::step]
    sx, sy = spacing
    aspect = (sy / sx) if sx > 0 and sy > 0 else 1.0
    h, w = grey.shape
    width = 2.6
    height = min(4.6, width * h * aspect / max(w, 1))
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(grey, cmap="gray", aspect=aspect, interpolation="bilinear")
    for lab in labels.LABELS:
        for mask, style in ((gt_s == lab.value, "solid"), (pred_s == lab.value, "dashed")):
            if mask.any():
                ax.contour(
                    mask.astype(float),
                    levels=[0.5],
                    colors=[lab.color],
                    linestyles=style,
                    linewidths=1.1,
                )
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    info = {"shape": f"{img.shape[0]}×{img.shape[1]} px", "spacing": f"{sx:g}×{sy:g} mm"}
    return png_data_uri(fig, colors=IMAGE_COLORS, tight=False), info
