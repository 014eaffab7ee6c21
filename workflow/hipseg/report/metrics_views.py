"""What the template shows of the boundary metrics, the intervals and the paired tests, as plain
data (no HTML): the CI rows of Tables I/II, Tables III/IV (every metric with its interval), the
paired tests and the empty-mask conventions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from .. import labels
from ..evaluate import METRICS, Metric
from .formatting import fmt_value


def fmt_metric(x, metric: Metric) -> str:
    """Dice and NSD with four decimals, distances in mm with two."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(x):
        return "—"
    return f"{x:.2f}" if metric.unit == "mm" else f"{x:.4f}"


def fmt_ci(low, high, metric: Metric) -> str:
    lo, hi = fmt_metric(low, metric), fmt_metric(high, metric)
    return "—" if "—" in (lo, hi) else f"[{lo}, {hi}]"


def _ci_lookup(ci: pd.DataFrame) -> dict[tuple[str, str, str, str], pd.Series]:
    return {(r.table, r.metric, r.model, r.label): r for r in ci.itertuples(index=False)}


def metric_title(metric: Metric) -> str:
    return f"{metric.name} ({metric.unit})" if metric.unit else metric.name


# ------------------------------------------------------------------------------------------------
# The CI rows of Tables I and II (Dice)
# ------------------------------------------------------------------------------------------------
def table1_ci(ci: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """``[low, high]`` of the Table I mean of each column's model (``—`` for paper-only ones)."""
    look, dice = _ci_lookup(ci), METRICS[0]
    out = []
    for m in columns:
        r = look.get(("I", dice.column, m, ""))
        out.append(fmt_ci(r.ci_low, r.ci_high, dice) if r is not None else "—")
    return out


def table2_ci(ci: pd.DataFrame, best: str) -> list[str]:
    look, dice = _ci_lookup(ci), METRICS[0]
    out = []
    for lab in labels.LABELS:
        r = look.get(("II", dice.column, best, lab.name))
        out.append(fmt_ci(r.ci_low, r.ci_high, dice) if r is not None else "—")
    return out


# ------------------------------------------------------------------------------------------------
# Tables III and IV: every metric, mean with its interval, and the median
# ------------------------------------------------------------------------------------------------
def _cell(r, metric: Metric) -> dict:
    if r is None:
        return {"mean": "—", "ci": "", "note": ""}
    return {
        "mean": fmt_metric(r.mean, metric),
        "ci": fmt_ci(r.ci_low, r.ci_high, metric),
        "note": r.note,
    }


def _metric_row(metric: Metric, ci_rows: list, medians: list) -> dict:
    """One metric's row of Tables III and IV: its title, its direction, the cells (mean [95 %
    CI]) of its CI rows and the medians, one per column."""
    return {
        "metric": metric_title(metric),
        "better": "higher is better" if metric.higher_is_better else "lower is better",
        "cells": [_cell(r, metric) for r in ci_rows],
        "medians": [fmt_metric(m, metric) for m in medians],
    }


def table3_view(ci: pd.DataFrame, per_image: pd.DataFrame, models: list[str], best: str) -> dict:
    """Per model (columns) and metric (rows): mean of the per-image means [95 % CI], median."""
    look = _ci_lookup(ci)
    rows = []
    for metric in METRICS:
        medians = per_image.groupby("model")[metric.column].median()
        rows.append(
            _metric_row(
                metric,
                [look.get(("I", metric.column, m, "")) for m in models],
                [medians.get(m) for m in models],
            )
        )
    return {
        "columns": [{"name": labels.model_title(m), "best": m == best} for m in models],
        "rows": rows,
    }


def table4_view(ci: pd.DataFrame, metrics: pd.DataFrame, best: str) -> dict:
    """Per label (columns) and metric (rows) for the best model: mean [95 % CI], median."""
    look = _ci_lookup(ci)
    sub = metrics[metrics["model"] == best]
    rows = []
    for metric in METRICS:
        medians = sub.groupby("label")[metric.column].median()
        rows.append(
            _metric_row(
                metric,
                [look.get(("II", metric.column, best, lab.name)) for lab in labels.LABELS],
                [medians.get(lab.name) for lab in labels.LABELS],
            )
        )
    return {
        "columns": [{"name": lab.name, "desc": lab.description} for lab in labels.LABELS],
        "rows": rows,
    }


# ------------------------------------------------------------------------------------------------
# Paired tests
# ------------------------------------------------------------------------------------------------
def number(x) -> float:
    """A table cell as a float; NaN where it is empty or not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _p(x) -> str:
    x = number(x)
    if math.isnan(x):
        return "—"
    return f"{x:.4f}" if x >= 1e-4 else f"{x:.1e}"


def tests_view(tests: pd.DataFrame, alpha: float = 0.05) -> dict:
    """Rows of the paired tests table, grouped by metric."""
    by_column = {m.column: m for m in METRICS}
    groups = []
    for column, df in tests.groupby("metric", sort=False):
        metric = by_column.get(str(column))
        if metric is None:
            continue
        rows = []
        for r in df.itertuples(index=False):
            adjusted, statistic = number(r.p_adjusted), number(r.statistic)
            rows.append(
                {
                    "other": labels.model_title(r.other_model),
                    "n": int(r.n_patients),
                    "mean_best": fmt_metric(r.mean_best, metric),
                    "mean_other": fmt_metric(r.mean_other, metric),
                    "diff": fmt_metric(r.median_difference, metric),
                    "statistic": "—" if math.isnan(statistic) else f"{statistic:g}",
                    "p": _p(r.p_value),
                    "p_adj": _p(r.p_adjusted),
                    "significant": not math.isnan(adjusted) and adjusted < alpha,
                    "note": r.note,
                }
            )
        groups.append({"metric": metric_title(metric), "rows": rows})
    best = str(tests["best_model"].iloc[0]) if len(tests) else ""
    return {"groups": groups, "best": labels.model_title(best), "alpha": alpha}


# ------------------------------------------------------------------------------------------------
# Conventions and definitions
# ------------------------------------------------------------------------------------------------
def conventions_view(summary: Mapping) -> dict:
    """Metric definitions, the tool, τ and the empty-mask conventions with their counts."""
    counts = summary.get("empty_counts") or {}
    tau = fmt_value(summary.get("nsd_tolerance_mm"))
    conventions = summary.get("empty_conventions") or {}
    stats = summary.get("statistics") or {}
    return {
        "definitions": [
            {"name": metric_title(m), "definition": m.definition.replace("τ", f"τ = {tau} mm")}
            for m in METRICS
        ],
        "tool": summary.get("surface_tool", "—"),
        "tau": tau,
        "percentile": summary.get("hd_percentile", 95),
        "empty": [
            {"case": k, "text": v, "count": counts.get(k, 0)} for k, v in conventions.items()
        ],
        "confidence": summary.get("statistics", {}).get("confidence_level", 0.95),
        "bootstrap": stats.get("bootstrap", "—"),
        "tests": stats.get("tests", "—"),
        "unit": stats.get("unit", "—"),
        "n_patients": summary.get("n_patients", "—"),
    }
