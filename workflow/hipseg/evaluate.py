"""Evaluation of the test-set predictions: Dice per image and label, the paper's Tables I and II.

Conventions (Blažková, Section IV; nnU-Net v2 ``compute_metrics``):

* Dice of one label in one image is ``2|A∩B| / (|A| + |B|)``. When the label is absent from both
  the ground truth and the prediction the Dice is undefined (NaN) and is left out of every mean,
  as nnU-Net does; when the ground truth is empty but the prediction is not, the Dice is 0.
* The *per-image mean Dice* is the NaN-ignoring mean over the labels L1–L5 of that image, computed
  from the per-image metrics (never from a pooled / foreground aggregate).
* Table I summarises, per model, the per-image mean Dice over the test images; Table II summarises,
  for the best model (highest Table I mean), the Dice of each label over the test images.
  ``std`` is the **sample** standard deviation (``ddof=1``), ``median``/``max``/``min`` the usual
  order statistics; NaN values are skipped.

Images are streamed one case at a time (one ground truth plus one prediction in memory), and the
per-label counts come from a single ``np.bincount`` over the combined index ``gt * 6 + pred``, so
paper-scale inputs (2320×1414 pixels, 50 cases, 7 models) are evaluated quickly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .io import atomic_path, read_image_2d, write_json
from .labels import BY_VALUE, MODELS, N_CLASSES, VALUE_RANGE, VALUES

STAT_COLUMNS = ["mean", "std", "median", "max", "min"]
NIFTI_SUFFIX = ".nii.gz"


# --------------------------------------------------------------------------------------------
# Dice
# --------------------------------------------------------------------------------------------
def _confusion(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """``n × n`` confusion matrix (rows: ground truth, columns: prediction) via one bincount."""
    idx = gt.astype(np.intp, copy=False).ravel() * n + pred.astype(np.intp, copy=False).ravel()
    return np.bincount(idx, minlength=n * n).reshape(n, n)


def _dice_from_confusion(
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
    conf = _confusion(gt, pred, n)
    return {lab: d for lab, (d, _, _) in _dice_from_confusion(conf, labels).items()}


# --------------------------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------------------------
def _case_name(path: Path) -> str:
    return path.name[: -len(NIFTI_SUFFIX)]


def _read_labels(path: Path) -> np.ndarray:
    """Read a label map, check it holds integers 0–5 only; returns it as uint8."""
    arr, _ = read_image_2d(path)
    if arr.size == 0:
        raise InputError(path, "is an empty image")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise InputError(
                path, f"holds non-integer label values (expected integers {VALUE_RANGE})"
            )
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > N_CLASSES - 1:
        bad = np.unique(arr[(arr < 0) | (arr > N_CLASSES - 1)])[:10]
        raise InputError(
            path,
            f"holds label value(s) {', '.join(str(v) for v in bad.tolist())} outside {VALUE_RANGE}",
        )
    return arr.astype(np.uint8, copy=False)


def _ordered_models(models: Sequence[str]) -> list[str]:
    """Models in MODELS order first, then any others in the given order."""
    known = [m for m in MODELS if m in models]
    return known + [m for m in models if m not in MODELS]


def _stats(values: pd.Series | np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {k: float("nan") for k in STAT_COLUMNS}
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else float("nan"),
        "median": float(np.median(v)),
        "max": float(v.max()),
        "min": float(v.min()),
    }


def _write_csv(path: Path, df: pd.DataFrame, index: bool) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, float_format="%.6f", na_rep="NaN")


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def evaluate(
    gt_dir: str | Path, pred_root: str | Path, models: Sequence[str], out_dir: str | Path
) -> dict:
    """Evaluate every model's predictions against the ground truth and write the tables.

    ``gt_dir/<case>.nii.gz`` are the reference label maps, ``pred_root/<model>/<case>.nii.gz`` the
    predictions. All inputs are checked before anything is written: a missing prediction, a shape
    mismatch or a label value outside 0–5 raises :class:`InputError` naming the file, and
    ``out_dir`` is left untouched.

    Writes (atomically) in ``out_dir``: ``dice.csv``, ``per_image.csv``, ``table1.csv``,
    ``table2.csv`` and ``summary.json``; returns the summary dict (``best_model``, ``n_cases``,
    ``models``, ``cases``, …).
    """
    gt_dir = Path(gt_dir)
    pred_root = Path(pred_root)
    out_dir = Path(out_dir)
    models = list(dict.fromkeys(models))  # de-duplicate, keep order
    if not models:
        raise InputError(pred_root, "no models given to evaluate")
    if not gt_dir.is_dir():
        raise InputError(gt_dir, "ground-truth directory does not exist")
    gt_files = sorted(p for p in gt_dir.glob(f"*{NIFTI_SUFFIX}") if p.is_file())
    if not gt_files:
        raise InputError(gt_dir, f"contains no ground-truth *{NIFTI_SUFFIX} files")
    cases = [_case_name(p) for p in gt_files]
    labels = list(VALUES)

    # Cheap existence check of every prediction first, so a missing file fails fast.
    missing = [
        pred_root / m / f"{c}{NIFTI_SUFFIX}"
        for m in models
        for c in cases
        if not (pred_root / m / f"{c}{NIFTI_SUFFIX}").is_file()
    ]
    if missing:
        more = f" (and {len(missing) - 1} more missing prediction(s))" if len(missing) > 1 else ""
        first = missing[0]
        raise InputError(
            first,
            f"prediction of model '{first.parent.name}' for case '{_case_name(first)}' "
            f"does not exist{more}",
        )

    # Stream case by case: one ground truth and one prediction in memory at a time.
    rows: list[dict] = []
    for gt_path, case in zip(gt_files, cases, strict=True):
        gt = _read_labels(gt_path)
        for model in models:
            pred_path = pred_root / model / f"{case}{NIFTI_SUFFIX}"
            pred = _read_labels(pred_path)
            if pred.shape != gt.shape:
                raise InputError(
                    pred_path,
                    f"shape {pred.shape} differs from the ground truth {gt.shape} ({gt_path})",
                )
            per_label = _dice_from_confusion(_confusion(gt, pred, N_CLASSES), labels)
            for lab, (dice, n_gt, n_pred) in per_label.items():
                rows.append(
                    {
                        "model": model,
                        "case": case,
                        "label": BY_VALUE[lab].name,
                        "dice": dice,
                        "gt_pixels": n_gt,
                        "pred_pixels": n_pred,
                    }
                )
            del pred
        del gt

    ordered = _ordered_models(models)
    dice = pd.DataFrame(
        rows, columns=["model", "case", "label", "dice", "gt_pixels", "pred_pixels"]
    )
    dice["_m"] = dice["model"].map({m: i for i, m in enumerate(ordered)})
    dice = (
        dice.sort_values(["_m", "case", "label"], kind="stable")
        .drop(columns="_m")
        .reset_index(drop=True)
    )

    # Per-image mean Dice: NaN-ignoring mean over L1..L5 of each (model, case).
    per_image = (
        dice.groupby(["model", "case"], sort=False)["dice"]
        .agg(lambda s: float(np.nanmean(s)) if s.notna().any() else float("nan"))
        .rename("mean_dice")
        .reset_index()
    )

    table1 = pd.DataFrame(
        [_stats(per_image.loc[per_image["model"] == m, "mean_dice"]) for m in ordered],
        index=pd.Index(ordered, name="model"),
        columns=STAT_COLUMNS,
    )
    means = table1["mean"]
    if means.notna().any():
        best_model = str(means.idxmax())  # first maximum in MODELS order on ties
    else:
        best_model = ordered[0]

    best = dice[dice["model"] == best_model]
    label_names = [BY_VALUE[lab].name for lab in labels]
    table2 = pd.DataFrame(
        [_stats(best.loc[best["label"] == name, "dice"]) for name in label_names],
        index=pd.Index(label_names, name="label"),
        columns=STAT_COLUMNS,
    )
    table2["model"] = best_model

    n_nan = int(dice["dice"].isna().sum())
    summary = {
        "best_model": best_model,
        "best_model_mean_dice": _json_float(table1.loc[best_model, "mean"]),
        "n_cases": len(cases),
        "models": ordered,
        "cases": cases,
        "labels": label_names,
        "selection": "best model = highest mean of the per-image mean Dice (Table I)",
        "std": "sample standard deviation (ddof=1)",
        "nan_convention": (
            "Dice is NaN when a label is absent from both ground truth and prediction and is "
            "excluded from means; 0 when absent from the ground truth only"
        ),
        "n_undefined_dice": n_nan,
        "table1": {m: {k: _json_float(v) for k, v in table1.loc[m].items()} for m in table1.index},
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "dice.csv", dice, index=False)
    _write_csv(out_dir / "per_image.csv", per_image, index=False)
    _write_csv(out_dir / "table1.csv", table1, index=True)
    _write_csv(out_dir / "table2.csv", table2, index=True)
    write_json(out_dir / "summary.json", summary)
    return summary


def _json_float(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def load_summary(evaluation_dir: str | Path) -> dict:
    path = Path(evaluation_dir) / "summary.json"
    if not path.is_file():
        raise InputError(path, "file does not exist")
    return json.loads(path.read_text(encoding="utf-8"))
