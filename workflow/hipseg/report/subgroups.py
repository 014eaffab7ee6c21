"""The report's section on subgroups and failure modes (``hipseg subgroups``' outputs): the
subgroup tables with intervals and Holm-adjusted tests, the forest plot, the failure modes per
subgroup and the worst case of every subgroup (the thumbnails of the all-cases gallery, Fig. 7,
so that no image is drawn twice)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import labels  # noqa: E402
from ..errors import InputError  # noqa: E402
from ..evaluate import METRICS  # noqa: E402
from . import downloads  # noqa: E402
from .data import read_csv, read_json  # noqa: E402
from .figures import png_data_uri  # noqa: E402
from .metrics_views import fmt_ci, fmt_metric, metric_title, number  # noqa: E402

ALPHA = 0.05
FILES = (
    (
        "subgroups.csv",
        "per subgroup, metric and label: mean with its interval, the difference "
        "to the rest with its interval and p-value (Holm-adjusted)",
    ),
    ("failures.csv", "every failure mode of every test joint (best model)"),
    ("failure_counts.csv", "test joints per subgroup and failure mode"),
)
DICE = METRICS[0]


def _p(x) -> str:
    x = number(x)
    return "—" if math.isnan(x) else (f"{x:.3f}" if x >= 1e-3 else f"{x:.0e}")


def load(folder: str | Path) -> dict:
    """The outputs of ``hipseg subgroups`` (a missing or malformed one is named)."""
    folder = Path(folder)
    summary = read_json(folder / "subgroups.json", "subgroup analysis")
    text = {"keep_default_na": False, "na_values": ["NaN"]}
    table = read_csv(
        folder / "subgroups.csv",
        ["attribute", "subgroup", "metric", "label", "mean", "difference", "p_holm"],
        **text,
    )
    counts = read_csv(
        folder / "failure_counts.csv",
        ["attribute", "subgroup", "mode", "n_joints_failing", "n_joints"],
        **text,
    )
    failures = read_csv(folder / "failures.csv", ["case", "mode", "label"], **text)
    for df in (table, counts):
        df["attribute"], df["subgroup"] = df["attribute"].astype(str), df["subgroup"].astype(str)
    failures["case"] = failures["case"].astype(str)
    for key in ("attributes", "worst_cases", "failure_modes", "hardest"):
        if key not in summary:
            raise InputError(folder / "subgroups.json", f"lacks the key '{key}'")
    return {
        "summary": summary,
        "table": table,
        "counts": counts,
        "failures": failures,
        "files": {name: folder / name for name, _ in FILES},
    }


def _lookup(table: pd.DataFrame) -> dict:
    return {(r.attribute, r.subgroup, r.metric, r.label): r for r in table.itertuples(index=False)}


def _cell(r, metric) -> dict:
    """Mean [CI] and difference to the rest [CI], p (Holm) of one subgroup, metric and label."""
    if r is None:
        return {"mean": "—", "ci": "", "diff": "", "p": "", "sig": False, "note": ""}
    p = number(r.p_holm)
    diff = fmt_metric(r.difference, metric)
    sign = "+" if number(r.difference) > 0 else ""
    return {
        "mean": fmt_metric(r.mean, metric),
        "ci": fmt_ci(r.ci_low, r.ci_high, metric),
        "diff": ""
        if diff == "—"
        else f"{sign}{diff} {fmt_ci(r.diff_ci_low, r.diff_ci_high, metric)}",
        "p": _p(p),
        "sig": not math.isnan(p) and p < ALPHA,
        "note": str(r.note or ""),
    }


def _rows(data: dict, columns: Sequence[tuple]) -> list[dict]:
    """One block per attribute, one row per subgroup; ``columns``: (metric, label) pairs."""
    look, out = _lookup(data["table"]), []
    for a in data["summary"]["attributes"]:
        if a.get("suppressed"):
            continue
        rows = []
        for g in a["groups"]:
            cells = [
                _cell(look.get((a["name"], g["name"], m.column, lab)), m) for m, lab in columns
            ]
            rows.append(
                {
                    "name": g["name"],
                    "n_joints": g["n_joints"],
                    "n_patients": g["n_patients"],
                    "cells": cells,
                }
            )
        notes = [a["source"]]
        if a.get("n_pooled"):
            notes.append(f"{a['n_pooled']} small value(s) pooled or joined to a neighbour")
        if a.get("n_withheld"):
            notes.append(f"{a['n_withheld']} value(s) withheld: it or its rest too small")
        out.append({"title": a["title"], "source": "; ".join(notes), "rows": rows})
    return out


def _failure_rows(data: dict) -> dict:
    modes = data["summary"]["failure_modes"]
    counts = data["counts"]
    look = {(r.attribute, r.subgroup, r.mode): r for r in counts.itertuples(index=False)}
    groups = list(dict.fromkeys(zip(counts["attribute"], counts["subgroup"], strict=True)))
    rows = []
    for attribute, group in groups:
        cells = []
        for code in [m["code"] for m in modes] + ["any"]:
            r = look.get((attribute, group, code))
            n, of = (int(r.n_joints_failing), int(r.n_joints)) if r is not None else (0, 0)
            cells.append({"text": f"{n}/{of}" if of else "—", "share": n / of if of else 0.0})
        name = group if attribute == "all" else f"{attribute.replace('_', ' ')}: {group}"
        rows.append({"name": name, "cells": cells})
    return {"modes": modes, "rows": rows}


def _worst(data: dict, gallery: Sequence[Mapping]) -> list[dict]:
    """The unique worst cases of the subgroups, each with the subgroups it is worst in, its
    failure modes and the gallery's thumbnail."""
    by_case = {e["case"]: e for e in gallery}
    titles = {a["name"]: a["title"] for a in data["summary"]["attributes"]}
    fails = data["failures"]
    out: dict[str, dict] = {}
    for w in data["summary"]["worst_cases"]:
        for c in w["cases"]:
            entry = out.setdefault(
                c["case"],
                {
                    "case": c["case"],
                    "mean": fmt_metric(c["dice"], DICE),
                    "groups": [],
                    "uri": by_case.get(c["case"], {}).get("uri"),
                    "anchor": by_case.get(c["case"], {}).get("anchor", ""),
                    "modes": sorted(
                        {
                            f"{r.mode} ({r.label})"
                            for r in fails[fails["case"] == c["case"]].itertuples()
                        }
                    ),
                },
            )
            entry["groups"].append(f"{titles.get(w['attribute'], w['attribute'])}: {w['subgroup']}")
    return sorted(out.values(), key=lambda e: (number(e["mean"]), e["case"]))


def _hardest(data: dict) -> list[dict]:
    titles = {a["name"]: a["title"] for a in data["summary"]["attributes"]}
    out = []
    for name, h in data["summary"]["hardest"].items():
        r = SimpleNamespace(**{"note": "", **h})
        out.append(
            {
                "attribute": titles.get(name, name),
                "subgroup": h["subgroup"],
                "n_joints": h["n_joints"],
                "n_patients": h["n_patients"],
                **_cell(r, DICE),
            }
        )
    return out


def forest_plot(data: dict, overall: float) -> str:
    """Fig. 8: per subgroup, the mean per-image Dice with its interval (left; dashed: all test
    joints) and the difference to the rest with its interval (right; filled: Holm p < 0.05)."""
    look = _lookup(data["table"])
    rows: list[tuple[str, object, bool]] = []  # (text, row or None, header)
    for a in data["summary"]["attributes"]:
        if a.get("suppressed") or not a["groups"]:
            continue
        rows.append((a["title"], None, True))
        for g in a["groups"]:
            r = look.get((a["name"], g["name"], DICE.column, "all"))
            rows.append(
                (f"{g['name']} ({g['n_joints']} joints, {g['n_patients']} patients)", r, False)
            )
    height = max(2.0, 0.26 * len(rows) + 1.0)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10.5, height), sharey=True, gridspec_kw={"width_ratios": [1.1, 1.0]}
    )
    y = np.arange(len(rows))[::-1]
    for yi, (_, r, header) in zip(y, rows, strict=True):
        if header or r is None:
            continue
        sig = number(r.p_holm) < ALPHA
        _bar(left, yi, r.mean, r.ci_low, r.ci_high, True)
        _bar(right, yi, r.difference, r.diff_ci_low, r.diff_ci_high, sig)
    left.set_yticks(y)
    left.set_yticklabels([t for t, _, _ in rows], fontsize=8)
    for tick, (_, _, header) in zip(left.get_yticklabels(), rows, strict=True):
        tick.set_fontweight("bold" if header else "normal")
    if math.isfinite(overall):
        left.axvline(overall, color="0.45", ls="--", lw=0.9)
    right.axvline(0.0, color="0.45", ls="-", lw=0.9)
    level = f"{float(data['summary'].get('confidence_level', 0.95)):.0%}".replace("%", " %")
    left.set_xlabel(f"mean per-image Dice [{level} CI]")
    right.set_xlabel(f"difference to the rest [{level} CI] (filled: Holm p < {ALPHA:g})")
    for ax in (left, right):
        ax.grid(axis="x", color="0.9", lw=0.8)
        ax.set_axisbelow(True)
        ax.set_ylim(-0.7, len(rows) - 0.3)
    fig.tight_layout()
    return png_data_uri(fig)


def _bar(ax, y, mid, low, high, filled: bool) -> None:
    mid, low, high = number(mid), number(low), number(high)
    if not math.isfinite(mid):
        return
    if math.isfinite(low) and math.isfinite(high):
        ax.plot([low, high], [y, y], color="#1f5fa8", lw=1.4)
    ax.plot(
        [mid],
        [y],
        marker="s",
        ms=5,
        color="#1f5fa8",
        markerfacecolor="#1f5fa8" if filled else "white",
    )


def subgroups_view(folder: str | Path, gallery: Sequence[Mapping], overall: float) -> dict:
    """The section's data: tables, forest plot, failures, worst cases, hardest subgroups."""
    data = load(folder)
    label_columns = [(DICE, lab.name) for lab in labels.LABELS]
    summary = data["summary"]
    return {
        "model": labels.model_title(str(summary.get("model", ""))),
        "n_joints": summary.get("n_joints"),
        "n_patients": summary.get("n_patients"),
        "min_patients": summary.get("min_patients"),
        "metrics": [metric_title(m) for m in METRICS],
        "table": _rows(data, [(m, "all") for m in METRICS]),
        "label_names": [lab.name for lab in labels.LABELS],
        "labels": _rows(data, label_columns),
        "forest": forest_plot(data, overall),
        "failures": _failure_rows(data),
        "worst": _worst(data, gallery),
        "worst_k": (summary.get("options") or {}).get("worst_cases", 1),
        "hardest": _hardest(data),
        "alpha": ALPHA,
        "downloads": {name: downloads.from_file(data["files"][name], what) for name, what in FILES},
        "summary": summary,
    }
