"""The evaluate stage: read every prediction once, compute the metrics, write the tables.

Images are streamed one case at a time (one ground truth plus one prediction in memory).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import atomic_path, read_image_2d, write_json
from ..labels import BY_VALUE, MODELS, N_CLASSES, VALUE_RANGE, VALUES
from ..options import StageOptions
from . import statistics, surface
from .dice import confusion, dice_from_confusion

STAT_COLUMNS = ["mean", "std", "median", "max", "min"]
NIFTI_SUFFIX = ".nii.gz"
DICE_COLUMNS = ["model", "case", "label", "dice", "gt_pixels", "pred_pixels"]


@dataclass(frozen=True)
class Metric:
    column: str  # column in metrics.csv / per_image_metrics.csv
    name: str  # as tables print it
    unit: str
    higher_is_better: bool
    definition: str


METRICS: tuple[Metric, ...] = (
    Metric("dice", "Dice", "", True, "2|A∩B| / (|A| + |B|) over pixels"),
    Metric(
        "hd95_mm",
        "HD95",
        "mm",
        False,
        "max of the two directed 95th percentiles of the border-to-border distances",
    ),
    Metric(
        "assd_mm",
        "ASSD",
        "mm",
        False,
        "mean distance of all border pixels of both masks to the other border",
    ),
    Metric(
        "nsd",
        "NSD",
        "",
        True,
        "fraction of border pixels of both masks within τ of the other border",
    ),
)
METRIC_COLUMNS = [m.column for m in METRICS]
BY_COLUMN = {m.column: m for m in METRICS}
METRICS_CSV_COLUMNS = [
    "model",
    "case",
    "patient",
    "label",
    *METRIC_COLUMNS,
    "gt_pixels",
    "pred_pixels",
    "empty",
    "convention",
]
CI_COLUMNS = [
    "table",
    "metric",
    "model",
    "label",
    "n_images",
    "n_patients",
    "mean",
    "ci_low",
    "ci_high",
    "note",
]


@dataclass(frozen=True)
class EvaluateOptions(StageOptions):
    """The ``evaluate:`` section of the config."""

    SECTION: ClassVar[str] = "evaluate"
    nsd_tolerance_mm: float = 2.0
    confidence_level: float = 0.95
    bootstrap_resamples: int = 9999
    seed: int = 0


# --------------------------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------------------------
def _case_name(path: Path) -> str:
    return path.name[: -len(NIFTI_SUFFIX)]


def _read_labels(path: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """Read a label map, check it holds integers 0–5 only; returns it as uint8, and its spacing
    along the array axes (rows, columns) in mm."""
    arr, (sx, sy) = read_image_2d(path)
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
    return arr.astype(np.uint8, copy=False), (sy, sx)


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


def read_patients(cases_tsv: str | Path | None, cases: Sequence[str]) -> dict[str, str]:
    """{case: patient pseudonym} from the dataset's ``cases.tsv``; without it every case is its
    own patient. A test case missing from the table is an error naming it."""
    if cases_tsv is None:
        return {c: c for c in cases}
    path = Path(cases_tsv)
    if not path.is_file():
        raise InputError(path, "case table does not exist")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(path, f"cannot be read as TSV ({exc})") from exc
    missing_cols = [c for c in ("case", "patient") if c not in table.columns]
    if missing_cols:
        raise InputError(path, f"lacks column(s) {', '.join(missing_cols)}")
    mapping = dict(zip(table["case"], table["patient"], strict=True))
    absent = [c for c in cases if c not in mapping or pd.isna(mapping[c])]
    if absent:
        more = f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""
        raise InputError(path, f"has no patient for test case '{absent[0]}'{more}")
    return {c: str(mapping[c]) for c in cases}


def _check_predictions(pred_root: Path, models: Sequence[str], cases: Sequence[str]) -> None:
    """Cheap existence check of every prediction first, so a missing file fails fast."""
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


# --------------------------------------------------------------------------------------------
# Metrics of every (model, case, label)
# --------------------------------------------------------------------------------------------
def _case_rows(
    gt_path: Path, case: str, models: Sequence[str], pred_root: Path, tolerance_mm: float
) -> list[dict]:
    gt, spacing = _read_labels(gt_path)
    rows = []
    for model in models:
        pred_path = pred_root / model / f"{case}{NIFTI_SUFFIX}"
        pred, pred_spacing = _read_labels(pred_path)
        if pred.shape != gt.shape:
            raise InputError(
                pred_path,
                f"shape {pred.shape} differs from the ground truth {gt.shape} ({gt_path})",
            )
        if not np.allclose(pred_spacing, spacing, rtol=1e-4, atol=0):
            raise InputError(
                pred_path,
                f"spacing {pred_spacing[::-1]} mm differs from the ground truth's "
                f"{spacing[::-1]} mm ({gt_path})",
            )
        per_label = dice_from_confusion(confusion(gt, pred, N_CLASSES), VALUES)
        for lab, (dice, n_gt, n_pred) in per_label.items():
            b = surface.boundary_metrics(gt == lab, pred == lab, spacing, tolerance_mm)
            rows.append(
                {
                    "model": model,
                    "case": case,
                    "label": BY_VALUE[lab].name,
                    "dice": dice,
                    "gt_pixels": n_gt,
                    "pred_pixels": n_pred,
                    "hd95_mm": b.hd95,
                    "assd_mm": b.assd,
                    "nsd": b.nsd,
                    "empty": b.empty,
                    "convention": surface.CONVENTIONS.get(b.empty, ""),
                }
            )
    return rows


def _mean_over_labels(s: pd.Series) -> float:
    return float(np.nanmean(s)) if s.notna().any() else float("nan")


def _sorted(df: pd.DataFrame, ordered: list[str]) -> pd.DataFrame:
    df = df.assign(_m=df["model"].map({m: i for i, m in enumerate(ordered)}))
    return (
        df.sort_values(["_m", "case", "label"], kind="stable")
        .drop(columns="_m")
        .reset_index(drop=True)
    )


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def _dice_tables(dice: pd.DataFrame, ordered: list[str]):
    """Per-image mean Dice, Table I, the best model and Table II (the paper's tables)."""
    per_image = (
        dice.groupby(["model", "case"], sort=False)["dice"]
        .agg(_mean_over_labels)
        .rename("mean_dice")
        .reset_index()
    )
    table1 = pd.DataFrame(
        [_stats(per_image.loc[per_image["model"] == m, "mean_dice"]) for m in ordered],
        index=pd.Index(ordered, name="model"),
        columns=STAT_COLUMNS,
    )
    means = table1["mean"]
    best_model = str(means.idxmax()) if means.notna().any() else ordered[0]
    best = dice[dice["model"] == best_model]
    label_names = [BY_VALUE[lab].name for lab in VALUES]
    table2 = pd.DataFrame(
        [_stats(best.loc[best["label"] == name, "dice"]) for name in label_names],
        index=pd.Index(label_names, name="label"),
        columns=STAT_COLUMNS,
    )
    table2["model"] = best_model
    return per_image, table1, best_model, table2


def _intervals(
    metrics: pd.DataFrame,
    per_image: pd.DataFrame,
    ordered: list[str],
    best: str,
    options: EvaluateOptions,
) -> pd.DataFrame:
    """95 % (``confidence_level``) patient-bootstrap intervals of every mean of Tables I/II,
    for every metric: per model over the per-image means (Table I), per label for the best
    model (Table II)."""
    kw = {
        "confidence": options.confidence_level,
        "resamples": options.bootstrap_resamples,
        "seed": options.seed,
    }
    rows = []
    for metric in METRIC_COLUMNS:
        for m in ordered:
            sub = per_image[per_image["model"] == m]
            key = f"I/{metric}/{m}"
            iv = statistics.patient_bootstrap(sub[metric], sub["patient"], key=key, **kw)
            rows.append(("I", metric, m, "", iv))
        best_rows = metrics[metrics["model"] == best]
        for lab in (BY_VALUE[v].name for v in VALUES):
            sub = best_rows[best_rows["label"] == lab]
            key = f"II/{metric}/{best}/{lab}"
            iv = statistics.patient_bootstrap(sub[metric], sub["patient"], key=key, **kw)
            rows.append(("II", metric, best, lab, iv))
    return pd.DataFrame(
        [
            [t, metric, m, lab, iv.n_values, iv.n_patients, iv.mean, iv.low, iv.high, iv.note]
            for t, metric, m, lab, iv in rows
        ],
        columns=CI_COLUMNS,
    )


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def evaluate(
    gt_dir: str | Path,
    pred_root: str | Path,
    models: Sequence[str],
    out_dir: str | Path,
    options: EvaluateOptions | None = None,
    cases_tsv: str | Path | None = None,
) -> dict:
    """Evaluate every model's predictions against the ground truth and write the tables.

    ``gt_dir/<case>.nii.gz`` are the reference label maps, ``pred_root/<model>/<case>.nii.gz`` the
    predictions, ``cases_tsv`` the dataset's case table (``case``, ``patient``: the unit of the
    bootstrap and of the paired tests; without it every image is its own patient). All inputs are
    checked before anything is written: a missing prediction, a shape or spacing mismatch, a
    label value outside 0–5 or a case without patient raises :class:`InputError` naming the file,
    and ``out_dir`` is left untouched.

    Writes (atomically) in ``out_dir``: ``dice.csv``, ``per_image.csv``, ``table1.csv``,
    ``table2.csv`` (the paper's Dice tables), ``metrics.csv`` (Dice, HD95, ASSD, NSD per model,
    case and label, with the empty-mask convention applied), ``per_image_metrics.csv``,
    ``ci.csv`` (bootstrap intervals), ``tests.csv`` (paired tests) and ``summary.json``; returns
    the summary dict.
    """
    options = options or EvaluateOptions()
    gt_dir, pred_root, out_dir = Path(gt_dir), Path(pred_root), Path(out_dir)
    models = list(dict.fromkeys(models))  # de-duplicate, keep order
    if not models:
        raise InputError(pred_root, "no models given to evaluate")
    if not gt_dir.is_dir():
        raise InputError(gt_dir, "ground-truth directory does not exist")
    gt_files = sorted(p for p in gt_dir.glob(f"*{NIFTI_SUFFIX}") if p.is_file())
    if not gt_files:
        raise InputError(gt_dir, f"contains no ground-truth *{NIFTI_SUFFIX} files")
    cases = [_case_name(p) for p in gt_files]
    patients = read_patients(cases_tsv, cases)
    _check_predictions(pred_root, models, cases)

    rows: list[dict] = []
    for gt_path, case in zip(gt_files, cases, strict=True):
        rows += _case_rows(gt_path, case, models, pred_root, options.nsd_tolerance_mm)

    ordered = _ordered_models(models)
    metrics = pd.DataFrame(rows)
    metrics["patient"] = metrics["case"].map(patients)
    metrics = _sorted(metrics[METRICS_CSV_COLUMNS], ordered)
    dice = metrics[DICE_COLUMNS].copy()
    per_image, table1, best_model, table2 = _dice_tables(dice, ordered)

    per_image_metrics = (
        metrics.groupby(["model", "case", "patient"], sort=False)[METRIC_COLUMNS]
        .agg(_mean_over_labels)
        .reset_index()
    )
    ci = _intervals(metrics, per_image_metrics, ordered, best_model, options)
    tests = statistics.paired_tests(per_image_metrics, METRIC_COLUMNS, best_model, ordered)
    summary = _summary(metrics, table1, best_model, ordered, cases, patients, options, cases_tsv)

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "dice.csv", dice, index=False)
    _write_csv(out_dir / "per_image.csv", per_image, index=False)
    _write_csv(out_dir / "table1.csv", table1, index=True)
    _write_csv(out_dir / "table2.csv", table2, index=True)
    _write_csv(out_dir / "metrics.csv", metrics, index=False)
    _write_csv(out_dir / "per_image_metrics.csv", per_image_metrics, index=False)
    _write_csv(out_dir / "ci.csv", ci, index=False)
    _write_csv(out_dir / "tests.csv", tests, index=False)
    write_json(out_dir / "summary.json", summary)
    return summary


def _summary(metrics, table1, best_model, ordered, cases, patients, options, cases_tsv) -> dict:
    label_names = [BY_VALUE[lab].name for lab in VALUES]
    empty = metrics["empty"].value_counts().to_dict()
    return {
        "best_model": best_model,
        "best_model_mean_dice": _json_float(table1.loc[best_model, "mean"]),
        "n_cases": len(cases),
        "n_patients": len(set(patients.values())),
        "models": ordered,
        "cases": cases,
        "labels": label_names,
        "selection": "best model = highest mean of the per-image mean Dice (Table I)",
        "std": "sample standard deviation (ddof=1)",
        "nan_convention": (
            "Dice is NaN when a label is absent from both ground truth and prediction and is "
            "excluded from means; 0 when absent from the ground truth only"
        ),
        "n_undefined_dice": int(metrics["dice"].isna().sum()),
        "table1": {m: {k: _json_float(v) for k, v in table1.loc[m].items()} for m in table1.index},
        "metrics": {
            m.column: {"name": m.name, "unit": m.unit, "definition": m.definition} for m in METRICS
        },
        "surface_tool": surface.tool(),
        "nsd_tolerance_mm": options.nsd_tolerance_mm,
        "hd_percentile": surface.HD_PERCENTILE,
        "empty_conventions": dict(surface.CONVENTIONS),
        "empty_counts": {k: int(empty.get(k, 0)) for k in surface.CONVENTIONS},
        "statistics": {
            "confidence_level": options.confidence_level,
            "bootstrap": "BCa, scipy.stats.bootstrap, resampling patients "
            f"({options.bootstrap_resamples} resamples, seed {options.seed})",
            "tests": "Wilcoxon signed-rank (two-sided) of the best model against each other "
            "model on per-patient means; Benjamini-Hochberg adjusted per metric",
            "unit": "patient" if cases_tsv is not None else "image (no case table given)",
        },
    }


def _json_float(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def load_summary(evaluation_dir: str | Path) -> dict:
    path = Path(evaluation_dir) / "summary.json"
    if not path.is_file():
        raise InputError(path, "file does not exist")
    return json.loads(path.read_text(encoding="utf-8"))
