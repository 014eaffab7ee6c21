"""The all-cases gallery: every test image with the contours of the ground truth and of the best
model's prediction, sorted by the per-image mean Dice (lowest first), each with its metrics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import labels
from ..evaluate import METRICS
from .figures import case_contours
from .formatting import fmt4
from .metrics_views import fmt_metric, metric_title

# the ``empty`` column of metrics.csv (hipseg.evaluate.surface) in the gallery's words
EMPTY_WORDS = {
    "reference": "absent from the reference",
    "prediction": "absent from the prediction",
    "both": "absent from both (left out)",
}


def anchor(case: str) -> str:
    """The gallery entry's id (case ids are letters, digits, ``_`` and ``-``)."""
    return f"case-{case}"


def _per_label(sub: pd.DataFrame) -> list[dict]:
    rows = []
    for lab in labels.LABELS:
        r = sub[sub["label"] == lab.name]
        if r.empty:
            continue
        r = r.iloc[0]
        rows.append(
            {
                "label": lab.name,
                "css": lab.css,
                "cells": [fmt_metric(r[m.column], m) for m in METRICS],
                "empty": EMPTY_WORDS.get(str(r["empty"]), ""),
            }
        )
    return rows


def ordered_cases(ev: dict) -> pd.DataFrame:
    """The best model's per-image mean Dice, lowest first (undefined last, then by case)."""
    pi = ev["per_image"]
    sub = pi[pi["model"] == ev["best_model"]].copy()
    sub["_nan"] = sub["mean_dice"].isna()
    return sub.sort_values(["_nan", "mean_dice", "case"], kind="stable").drop(columns="_nan")


def gallery(ev: dict, images_dir: Path, labels_dir: Path, predictions_root: Path) -> dict:
    """Every test case of the best model, for the template."""
    best = ev["best_model"]
    metrics = ev["metrics"]
    metrics = metrics[metrics["model"] == best]
    entries = []
    for rank, row in enumerate(ordered_cases(ev).itertuples(index=False), start=1):
        case = str(row.case)
        pred = predictions_root / best / f"{case}.nii.gz"
        uri, info = case_contours(case, images_dir, labels_dir, pred)
        entries.append(
            {
                "rank": rank,
                "case": case,
                "anchor": anchor(case),
                "mean": fmt4(row.mean_dice),
                "uri": uri,
                "per_label": _per_label(metrics[metrics["case"] == case]),
                **info,
            }
        )
    return {
        "model": labels.model_title(best),
        "entries": entries,
        "metric_names": [metric_title(m) for m in METRICS],
    }
