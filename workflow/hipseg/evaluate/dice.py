"""Dice of each label from one confusion matrix (nnU-Net v2 ``compute_metrics`` conventions).

Dice of one label in one image is ``2|A∩B| / (|A| + |B|)``. When the label is absent from both the
ground truth and the prediction the Dice is undefined (NaN) and is left out of every mean, as
nnU-Net does; when it is absent from one of them only, the Dice is 0.

The per-label counts come from a single ``np.bincount`` over the combined index
``gt * n + pred``, so paper-scale images (2320×1414 pixels) are counted in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..labels import VALUES


def confusion(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """``n × n`` confusion matrix (rows: ground truth, columns: prediction) via one bincount."""
    idx = gt.astype(np.intp, copy=False).ravel() * n + pred.astype(np.intp, copy=False).ravel()
    return np.bincount(idx, minlength=n * n).reshape(n, n)


def dice_from_confusion(
    conf: np.ndarray, labels: Iterable[int]
) -> dict[int, tuple[float, int, int]]:
    """{label: (dice, gt_pixels, pred_pixels)} from a confusion matrix."""
    out: dict[int, tuple[float, int, int]] = {}
    for lab in labels:
        tp = int(conf[lab, lab])
        n_gt = int(conf[lab, :].sum())
        n_pred = int(conf[:, lab].sum())
        denom = n_gt + n_pred
        dice = float("nan") if denom == 0 else 2.0 * tp / denom
        out[int(lab)] = (dice, n_gt, n_pred)
    return out


def dice_scores(
    gt: np.ndarray, pred: np.ndarray, labels: Sequence[int] = VALUES
) -> dict[int, float]:
    """Dice of each label between two label maps of equal shape.

    Returns ``{label: dice}``; NaN where the label is absent from both, 0 where it is absent from
    the ground truth only. Label maps must hold non-negative integers.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"shape mismatch: ground truth {gt.shape} vs prediction {pred.shape}")
    labels = [int(lab) for lab in labels]
    if gt.size == 0:
        return {lab: float("nan") for lab in labels}
    for name, arr in (("ground truth", gt), ("prediction", pred)):
        if not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
            if not np.array_equal(arr, np.round(arr)):
                raise ValueError(f"{name} holds non-integer values")
        if arr.min() < 0:
            raise ValueError(f"{name} holds negative values")
    n = int(max(gt.max(), pred.max(), max(labels, default=0))) + 1
    conf = confusion(gt, pred, n)
    return {lab: d for lab, (d, _, _) in dice_from_confusion(conf, labels).items()}
