"""The statistics of every subgroup: means with patient-bootstrap intervals, the difference to
the rest with a cluster bootstrap, Holm's adjustment; the hardest subgroup of each attribute,
its worst cases, and the failure modes counted per subgroup."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..evaluate import METRICS
from ..evaluate.statistics import holm, patient_bootstrap_columns, patient_difference
from ..labels import LABELS
from .attributes import Attribute

ALL_LABELS = "all"  # the per-image mean over the labels present (Tables I and III)
LABEL_KEYS = (ALL_LABELS, *(lab.name for lab in LABELS))
COLUMNS = [
    "attribute",
    "subgroup",
    "metric",
    "label",
    "n_joints",
    "n_patients",
    "mean",
    "ci_low",
    "ci_high",
    "rest_n_joints",
    "rest_n_patients",
    "rest_mean",
    "difference",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "p_holm",
    "note",
]
COUNT_COLUMNS = ["attribute", "subgroup", "mode", "n_joints_failing", "n_joints", "share"]
ALL_JOINTS = ("all", "all test joints")


def column(metric: str, label: str) -> str:
    return f"{metric}|{label}"


def wide_table(metrics: pd.DataFrame, per_image: pd.DataFrame) -> pd.DataFrame:
    """One row per test joint (``case``, ``patient``) and one column per metric and label
    (:func:`column`), ``all`` being the per-image mean (the best model's rows only)."""
    names = [m.column for m in METRICS]
    wide = per_image.set_index("case")[["patient", *names]].copy()
    wide = wide.rename(columns={m: column(m, ALL_LABELS) for m in names})
    per_label = metrics.pivot_table(index="case", columns="label", values=names, dropna=False)
    for m in names:
        for lab in LABEL_KEYS[1:]:
            key = (m, lab)
            wide[column(m, lab)] = per_label[key] if key in per_label else math.nan
    return wide.reset_index()


def _group_rows(a: Attribute, group: str, wide: pd.DataFrame, inside, stats, min_patients):
    cols = [column(m.column, lab) for m in METRICS for lab in LABEL_KEYS]
    sub, rest = wide[inside], wide[~inside]
    n_rest = int(rest["patient"].nunique())
    kw = {
        "confidence": stats.confidence_level,
        "resamples": stats.bootstrap_resamples,
        "seed": stats.seed,
    }
    if len(rest) and n_rest >= min_patients:
        diffs = patient_difference(wide, inside, cols, key=f"difference/{a.name}/{group}", **kw)
        why = ""
    else:
        diffs = [None] * len(cols)
        why = (
            "no rest to compare with"
            if not len(rest)
            else (f"the rest has fewer than {min_patients} patients: no comparison")
        )
    intervals = patient_bootstrap_columns(sub, cols, key=f"subgroup/{a.name}/{group}", **kw)
    rows = []
    for col, iv, d in zip(cols, intervals, diffs, strict=True):
        metric, lab = col.split("|")
        rest_values = rest[col].to_numpy(dtype=float)
        rows.append(
            {
                "attribute": a.name,
                "subgroup": group,
                "metric": metric,
                "label": lab,
                "n_joints": iv.n_values,
                "n_patients": iv.n_patients,
                "mean": iv.mean,
                "ci_low": iv.low,
                "ci_high": iv.high,
                "rest_n_joints": int(np.isfinite(rest_values).sum()),
                "rest_n_patients": n_rest,
                "rest_mean": float(np.nanmean(rest_values))
                if np.isfinite(rest_values).any() and d is not None  # (a small rest: not shown)
                else math.nan,
                "difference": d.difference if d else math.nan,
                "diff_ci_low": d.low if d else math.nan,
                "diff_ci_high": d.high if d else math.nan,
                "p_value": d.p_value if d else math.nan,
                "note": "; ".join(n for n in (iv.note, d.note if d else why) if n),
            }
        )
    return rows


def subgroup_table(
    attributes: Sequence[Attribute], wide: pd.DataFrame, stats, min_patients: int
) -> pd.DataFrame:
    """Every (attribute, subgroup, metric, label): the rows of ``subgroups.csv``, Holm-adjusted
    across all subgroups of one metric and label. ``stats``: the evaluate options (level,
    resamples, seed)."""
    rows = []
    for a in attributes:
        if a.suppressed:
            continue
        for group in a.groups:
            inside = np.array([group in vs for vs in a.values])
            if inside.any():
                rows += _group_rows(a, group, wide, inside, stats, min_patients)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "p_holm"])
    table["p_holm"] = math.nan
    for _, idx in table.groupby(["metric", "label"], sort=False).groups.items():
        table.loc[idx, "p_holm"] = holm(table.loc[idx, "p_value"].to_numpy(dtype=float))
    return table[COLUMNS]


def hardest(table: pd.DataFrame) -> dict[str, dict]:
    """Per attribute, the subgroup with the lowest mean per-image Dice (among those with a
    rest to compare with)."""
    dice = table[(table["metric"] == METRICS[0].column) & (table["label"] == ALL_LABELS)]
    dice = dice[dice["rest_n_joints"] > 0]
    out = {}
    for name, df in dice.groupby("attribute", sort=False):
        df = df.dropna(subset=["mean"])
        if len(df) < 2:
            continue
        r = df.sort_values(["mean", "subgroup"], kind="stable").iloc[0]
        out[str(name)] = {
            k: _plain(r[k])
            for k in (
                "subgroup",
                "n_joints",
                "n_patients",
                "mean",
                "ci_low",
                "ci_high",
                "rest_mean",
                "difference",
                "diff_ci_low",
                "diff_ci_high",
                "p_value",
                "p_holm",
            )
        }
    return out


def _plain(x):
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(float(x)) else float(x)
    return str(x)


def worst_cases(attributes: Sequence[Attribute], wide: pd.DataFrame, k: int) -> list[dict]:
    """The ``k`` joints of lowest per-image mean Dice in every reported subgroup."""
    dice = wide[column(METRICS[0].column, ALL_LABELS)].to_numpy(dtype=float)
    out = []
    for a in attributes:
        if a.suppressed:
            continue
        for group in a.groups:
            idx = [i for i, vs in enumerate(a.values) if group in vs and np.isfinite(dice[i])]
            idx = sorted(idx, key=lambda i: (dice[i], str(wide["case"].iloc[i])))[: max(k, 0)]
            cases = [{"case": str(wide["case"].iloc[i]), "dice": float(dice[i])} for i in idx]
            out.append({"attribute": a.name, "subgroup": group, "cases": cases})
    return out


def failure_counts(
    attributes: Sequence[Attribute], cases: Sequence[str], failures: pd.DataFrame, codes
) -> pd.DataFrame:
    """Per subgroup (and all test joints) and failure mode: joints with that failure of at
    least one label; mode ``any``: joints with any failure."""
    failing = {code: set(failures.loc[failures["mode"] == code, "case"]) for code in codes}
    failing["any"] = set(failures["case"])
    groups = [(ALL_JOINTS, list(cases))]
    for a in attributes:
        if a.suppressed:
            continue
        for g in a.groups:
            members = [c for c, vs in zip(cases, a.values, strict=True) if g in vs]
            groups.append(((a.name, g), members))
    rows = []
    for (name, group), members in groups:
        for code in (*codes, "any"):
            n = sum(c in failing[code] for c in members)
            rows.append(
                {
                    "attribute": name,
                    "subgroup": group,
                    "mode": code,
                    "n_joints_failing": n,
                    "n_joints": len(members),
                    "share": n / len(members) if members else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)
