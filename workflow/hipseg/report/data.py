"""Reading and checking the report's inputs: the evaluation directory, JSON files, benchmarks.

A missing or malformed required input raises :class:`~hipseg.errors.InputError` naming the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import labels
from ..errors import InputError
from ..evaluate import CI_COLUMNS, METRIC_COLUMNS, METRICS_CSV_COLUMNS, STAT_COLUMNS, TEST_COLUMNS


def read_json(path_or_obj: str | Path | Mapping, what: str) -> dict:
    """A JSON object from a file (or an already-loaded mapping); ``what`` names it in errors."""
    if isinstance(path_or_obj, Mapping):
        return dict(path_or_obj)
    path = Path(path_or_obj)
    if not path.is_file():
        raise InputError(path, f"{what} does not exist")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"{what} is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise InputError(path, f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


def read_csv(path: Path, required: Sequence[str], **kwargs) -> pd.DataFrame:
    """An evaluation CSV with at least the ``required`` columns (the index counts)."""
    if not path.is_file():
        raise InputError(path, "evaluation output does not exist (run the evaluate stage first)")
    try:
        df = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(path, f"cannot be read as CSV ({exc})") from exc
    cols = list(df.columns) + ([df.index.name] if df.index.name else [])
    missing = [c for c in required if c not in cols]
    if missing:
        raise InputError(path, f"lacks column(s) {', '.join(missing)}")
    return df


def load_evaluation(evaluation_dir: Path) -> dict[str, Any]:
    """The outputs of :func:`hipseg.evaluate.evaluate`; models in :data:`hipseg.labels.MODELS`
    order (others after them)."""
    if not evaluation_dir.is_dir():
        raise InputError(evaluation_dir, "evaluation directory does not exist")
    summary = read_json(evaluation_dir / "summary.json", "evaluation summary")
    if "best_model" not in summary:
        raise InputError(evaluation_dir / "summary.json", "lacks the key 'best_model'")
    table1 = read_csv(evaluation_dir / "table1.csv", ["model", *STAT_COLUMNS], index_col="model")
    table2 = read_csv(evaluation_dir / "table2.csv", ["label", *STAT_COLUMNS], index_col="label")
    per_image = read_csv(evaluation_dir / "per_image.csv", ["model", "case", "mean_dice"])
    dice = read_csv(evaluation_dir / "dice.csv", ["model", "case", "label", "dice"])
    text = {"keep_default_na": False, "na_values": ["NaN"]}  # "" stays text, "NaN" is a number
    metrics = read_csv(evaluation_dir / "metrics.csv", METRICS_CSV_COLUMNS, **text)
    per_image_metrics = read_csv(
        evaluation_dir / "per_image_metrics.csv", ["model", "case", *METRIC_COLUMNS], **text
    )
    ci = read_csv(evaluation_dir / "ci.csv", CI_COLUMNS, **text)
    tests = read_csv(evaluation_dir / "tests.csv", TEST_COLUMNS, **text)
    for df in (per_image, dice, metrics, per_image_metrics, ci, tests):
        for col in ("model", "case", "other_model", "best_model", "label"):
            if col in df:
                df[col] = df[col].astype(str)
    table1.index = table1.index.astype(str)
    known = labels.MODELS
    models = [m for m in known if m in table1.index] + [m for m in table1.index if m not in known]
    return {
        "summary": summary,
        "table1": table1,
        "table2": table2,
        "per_image": per_image,
        "dice": dice,
        "metrics": metrics,
        "per_image_metrics": per_image_metrics,
        "ci": ci,
        "tests": tests,
        "files": {
            name: evaluation_dir / name
            for name in (
                "table1.csv",
                "table2.csv",
                "ci.csv",
                "tests.csv",
                "metrics.csv",
                "per_image_metrics.csv",
                "dice.csv",
                "per_image.csv",
            )
        },
        "models": models,
        "best_model": str(summary["best_model"]),
    }


def check_dirs(*dirs: tuple[Path, str]) -> None:
    """Every ``(directory, what)`` must exist."""
    for d, what in dirs:
        if not d.is_dir():
            raise InputError(d, f"{what} does not exist")


def _nan_stat(series: pd.Series, how: str) -> float:
    values = pd.to_numeric(series, errors="coerce")
    if not values.notna().any():
        return float("nan")
    return float(values.max() if how == "max" else values.mean())


def _benchmark_row(f: Path, bdir: Path) -> dict | None:
    """One Snakemake benchmark file: mean seconds and CPU seconds, peak RSS; None if unreadable."""
    try:
        df = pd.read_csv(f, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None
    if "s" not in df.columns or df.empty:
        return None
    rel = f.relative_to(bdir).with_suffix("")
    return {
        "rule": rel.parts[0] if len(rel.parts) > 1 else rel.name,
        "job": str(rel),
        "seconds": _nan_stat(df["s"], "mean"),
        "repeats": int(len(df)),
        "max_rss": _nan_stat(df.get("max_rss", pd.Series(dtype=float)), "max"),
        "cpu": _nan_stat(df.get("cpu_time", pd.Series(dtype=float)), "mean"),
    }


def read_benchmarks(benchmarks_dir) -> dict:
    """The Snakemake benchmark files (``*.tsv``) under ``benchmarks_dir``; optional input.

    Returns ``rows`` (one per readable file), ``skipped`` (unreadable files) and ``note`` (why
    there are none, if so)."""
    if benchmarks_dir is None:
        return {"rows": [], "skipped": [], "note": "No benchmark directory was given."}
    bdir = Path(benchmarks_dir)
    if not bdir.is_dir():
        note = f"No benchmark directory ({bdir}); run times are not shown."
        return {"rows": [], "skipped": [], "note": note}
    files = sorted(p for p in bdir.rglob("*.tsv") if p.is_file())
    if not files:
        return {"rows": [], "skipped": [], "note": f"No benchmark files (*.tsv) under {bdir}."}
    rows, skipped = [], []
    for f in files:
        row = _benchmark_row(f, bdir)
        if row is None:
            skipped.append(str(f.relative_to(bdir)))
        else:
            rows.append(row)
    return {"rows": rows, "skipped": skipped, "note": ""}


def total_seconds(rows: Sequence[Mapping]) -> tuple[float, dict[str, float]]:
    """The sum of the jobs' seconds, and the sum per rule (jobs without a time left out)."""
    by_rule: dict[str, float] = {}
    for r in rows:
        if not math.isnan(r["seconds"]):
            by_rule[r["rule"]] = by_rule.get(r["rule"], 0.0) + r["seconds"]
    total = float(np.nansum([r["seconds"] for r in rows])) if rows else 0.0
    return total, by_rule
