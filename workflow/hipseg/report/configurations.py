"""The report's comparison of nnU-Net configurations (``nnunet.configurations``: 2d and 2d_lowres):
each configuration's plan and cost, Tables I and II and the boundary metrics, side by side.

The main configuration's evaluation is the report's own (sections 3–6); a further configuration
is evaluated by the same ``hipseg evaluate`` into ``results/evaluation/<configuration>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .. import labels
from ..evaluate import STAT_COLUMNS
from ..evaluate.core import METRICS
from . import metrics_views, views
from .formatting import fmt4

STAT_NAMES = {"mean": "Mean", "std": "SD", "median": "Median", "max": "Max", "min": "Min"}
# the model whose Dice is compared across configurations (every configuration trains it)
COMPARED = f"fold_{labels.ALL_FOLD}"


def _seconds(rows: Sequence[Mapping], prefix: str) -> float:
    """Sum of the benchmark seconds of the jobs under ``prefix`` (``train/2d_lowres/``: its
    folds) or of the job named ``prefix`` (``predict/2d_lowres``: every model's prediction)."""

    def matches(job: str) -> bool:
        return job.startswith(prefix) if prefix.endswith("/") else job == prefix

    values = [r["seconds"] for r in rows if matches(str(r["job"]))]
    values = [v for v in values if not math.isnan(v)]
    return float(sum(values)) if values else float("nan")


def _fmt_s(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.1f}"


def _job_prefixes(name: str) -> tuple[str, str]:
    """The benchmarks of a configuration's training (its folds) and of its prediction job (every
    model's prediction of the test set, in one job)."""
    return f"train/{name}/", f"predict/{name}"


def configurations_view(
    main: str, evaluations: Mapping[str, dict], plans: Mapping, bench_rows: Sequence[Mapping]
) -> dict | None:
    """The comparison of ``evaluations`` (configuration → :func:`data.load_evaluation`, the
    main one first); None with a single configuration."""
    if len(evaluations) < 2:
        return None
    confs = plans.get("configurations", {})
    names = list(evaluations)
    main_dice = _model_dice(evaluations[main], COMPARED)
    rows, t1, t2, boundary, per_label = [], [], [], [], []
    for name in names:
        ev = evaluations[name]
        best = ev["best_model"]
        conf = _resolved(confs, name)
        rows.append(_configuration_row(name, name == main, ev, conf, bench_rows, main_dice))
        t1 += _table1_rows(name, ev, best)
        t2 += _table2_rows(name, ev, best)
        t4 = metrics_views.table4_view(ev["ci"], ev["metrics"], best)
        for i, r in enumerate(t4["rows"]):
            boundary.append({"conf": name, "first": i == 0, "model": labels.model_title(best), **r})
        per_label.append(
            {
                "conf": name,
                "values": [_label_dice(ev, COMPARED, lab.name) for lab in labels.LABELS],
            }
        )
    _per_label_cells(per_label)
    return {
        "main": main,
        "names": names,
        "compared": labels.model_title(COMPARED),
        "n_models": len(evaluations[main]["table1"].index),
        "rows": rows,
        "models": [labels.model_title(m) for m in labels.MODELS],
        "labels": [{"name": lab.name, "desc": lab.description} for lab in labels.LABELS],
        "table1": t1,
        "table2": t2,
        "boundary": boundary,
        "per_label": per_label,
        "n_metrics": len(METRICS),
    }


def _configuration_row(
    name: str, main: bool, ev: dict, conf: Mapping, bench_rows: Sequence[Mapping],
    main_dice: float,
) -> dict:  # fmt: skip
    """A configuration's plan, its cost (training, prediction per image), its best model and the
    compared model's Dice beside the main configuration's."""
    plan = views.plan_values(conf)
    train_prefix, predict_prefix = _job_prefixes(name)
    n_images = int(ev["summary"].get("n_cases", ev["per_image"]["case"].nunique()))
    predict_s = _seconds(bench_rows, predict_prefix)
    best = ev["best_model"]
    dice = _model_dice(ev, COMPARED)
    return {
        "name": name,
        "main": main,
        "spacing": plan["spacing"],
        "patch_size": plan["patch_size"],
        "batch_size": plan["batch_size"],
        "n_stages": plan["n_stages"],
        "features": plan["features_per_stage"],
        "train_s": _fmt_s(_seconds(bench_rows, train_prefix)),
        "predict_s": _fmt_s(predict_s / n_images if n_images else float("nan")),
        "best": labels.model_title(best),
        "best_mean": fmt4(ev["table1"].loc[best, "mean"]),
        "best_ci": metrics_views.table1_ci(ev["ci"], [best])[0],
        "compared": fmt4(dice),
        "delta": "—" if main else _signed(dice - main_dice),
    }


def _table1_rows(name: str, ev: dict, best: str) -> list[dict]:
    """A configuration's Table I: each statistic of every model's Dice, its best model marked."""
    return [
        {
            "conf": name,
            "stat": STAT_NAMES[stat],
            "first": stat == STAT_COLUMNS[0],
            "values": [
                fmt4(ev["table1"].loc[m, stat]) if m in ev["table1"].index else "—"
                for m in labels.MODELS
            ],
            "best": [m == best for m in labels.MODELS],
        }
        for stat in STAT_COLUMNS
    ]


def _table2_rows(name: str, ev: dict, best: str) -> list[dict]:
    """A configuration's Table II: each statistic of its best model's Dice per label."""
    return [
        {
            "conf": name,
            "stat": STAT_NAMES[stat],
            "first": stat == STAT_COLUMNS[0],
            "model": labels.model_title(best),
            "values": [
                fmt4(ev["table2"].loc[lab.name, stat]) if lab.name in ev["table2"].index else "—"
                for lab in labels.LABELS
            ],
        }
        for stat in STAT_COLUMNS
    ]


def _per_label_cells(per_label: list[dict]) -> None:
    """Each configuration's Dice per label as cells (in place), with the difference from the
    main configuration's (the first)."""
    main_labels = per_label[0]["values"]
    for r in per_label:
        r["cells"] = [
            {"v": fmt4(v), "d": "" if r is per_label[0] else _signed(v - m)}
            for v, m in zip(r["values"], main_labels, strict=True)
        ]


def _resolved(confs: Mapping, name: str) -> dict:
    """A plans configuration with its ``inherits_from`` applied (nnU-Net's shallow update)."""
    conf = dict(confs.get(name) or {})
    parent = conf.pop("inherits_from", None)
    return {**_resolved(confs, parent), **conf} if parent else conf


def _model_dice(ev: dict, model: str) -> float:
    table1 = ev["table1"]
    return float(table1.loc[model, "mean"]) if model in table1.index else float("nan")


def _label_dice(ev: dict, model: str, label: str) -> float:
    d = ev["dice"]
    sub = d[(d["model"] == model) & (d["label"] == label)]["dice"].astype(float)
    return float(np.nanmean(sub)) if len(sub) and sub.notna().any() else float("nan")


def _signed(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:+.4f}"
