"""Self-contained HTML report: dataset, nnU-Net plan, Tables I/II, Figs. 3–5, run times, provenance.

The report regenerates the evaluation artefacts of Blažková, "Segmentation of hip joint anatomy
structures from radiographic images" (Tables I and II, Figs. 3, 4 and 5) from the outputs of
:mod:`hipseg.evaluate` and shows the paper's published numbers beside them for comparison. Every
figure is embedded as a base64 PNG and all styling is inline, so the single HTML file can be
mailed or archived without any other file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import importlib.metadata
import io
import json
import math
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import matplotlib

matplotlib.use("Agg")

import jinja2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from markupsafe import Markup  # noqa: E402

from . import __version__ as HIPSEG_VERSION  # noqa: E402
from .display import overlay_rgba, window  # noqa: E402
from .errors import InputError  # noqa: E402
from .evaluate import STAT_COLUMNS  # noqa: E402
from .io import read_image_2d, write_text  # noqa: E402
from .labels import LABELS as _LABEL_DEFS  # noqa: E402
from .labels import MODELS  # noqa: E402
from .options import StageOptions  # noqa: E402

LABELS = {lab.value: lab.name for lab in _LABEL_DEFS}
LABEL_DESCRIPTIONS = {lab.name: lab.description for lab in _LABEL_DEFS}
LABEL_COLORS = {lab.value: lab.color for lab in _LABEL_DEFS}

# ------------------------------------------------------------------------------------------------
# Reference values published in the paper (Blažková, Tables I and II, Section III).
# These are NOT results of this workflow; they are shown beside our numbers for comparison only.
# ------------------------------------------------------------------------------------------------
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "fold_0": {"mean": 0.9248, "std": 0.0263, "median": 0.9297, "max": 0.9639, "min": 0.8388},
    "fold_1": {"mean": 0.9283, "std": 0.0212, "median": 0.9310, "max": 0.9656, "min": 0.8607},
    "fold_2": {"mean": 0.9228, "std": 0.0262, "median": 0.9291, "max": 0.9643, "min": 0.8334},
    "fold_3": {"mean": 0.9273, "std": 0.0212, "median": 0.9283, "max": 0.9645, "min": 0.8631},
    "fold_4": {"mean": 0.9285, "std": 0.0207, "median": 0.9306, "max": 0.9618, "min": 0.8590},
    "fold_all": {"mean": 0.9287, "std": 0.0176, "median": 0.9295, "max": 0.9663, "min": 0.8733},
}
PAPER_TABLE2_MODEL = "fold_all"
PAPER_TABLE2: dict[str, dict[str, float]] = {
    "L1": {"mean": 0.9819, "std": 0.0096, "median": 0.9845, "max": 0.9908, "min": 0.9458},
    "L2": {"mean": 0.9503, "std": 0.0271, "median": 0.9570, "max": 0.9813, "min": 0.8448},
    "L3": {"mean": 0.8505, "std": 0.0741, "median": 0.8563, "max": 0.9484, "min": 0.5366},
    "L4": {"mean": 0.8850, "std": 0.0456, "median": 0.8931, "max": 0.9547, "min": 0.7192},
    "L5": {"mean": 0.9759, "std": 0.0118, "median": 0.9801, "max": 0.9891, "min": 0.9395},
}
# Section II (dataset) and Section III (segmentation model) of the paper.
PAPER_DATASET: dict[str, str] = {
    "n_radiographs": "83 AP radiographs",
    "n_joints": "150 single-joint images",
    "n_train_joints": "100",
    "n_test_joints": "50",
    "image_sizes": "1223×1943 to 2140×3520 px (radiographs)",
    "spacings": "0.1, 0.15 or 0.175 mm",
    "excluded": "joints with prostheses, plates or screws",
}
PAPER_METHODS: dict[str, str] = {
    "spacing": "0.15 × 0.15 mm (1.0 × 0.15 × 0.15)",
    "median_image_size_in_voxels": "2320 × 1414",
    "normalization_schemes": "Z-score",
    "network_class_name": "plain convolutional U-Net",
    "n_stages": "9",
    "features_per_stage": "32 → 512",
    "kernel_sizes": "3 × 3",
    "strides": "stride adjustments (not listed)",
    "n_conv_per_stage": "2",
    "norm_op": "instance normalisation",
    "nonlin": "Leaky ReLU",
    "patch_size": "1536 × 1024",
    "batch_size": "2",
    "trainer": "nnU-Net (Dice-optimised)",
    "epochs": "1000",
    "iterations_per_epoch": "—",
    "folds": "5-fold cross-validation + all",
}
STAT_NAMES = {
    "mean": "mean val.",
    "std": "std val.",
    "median": "median",
    "max": "max val.",
    "min": "min val.",
}
SOFTWARE = [
    "hipseg",
    "nnunetv2",
    "torch",
    "snakemake",
    "pydicom",
    "SimpleITK",
    "numpy",
    "pandas",
    "matplotlib",
    "jinja2",
]
# Paper's Fig. 3/4 styling: mean blue "+", median green line, coloured box, black whiskers,
# outliers red "×".
_BOX_STYLE = {
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
_MODEL_COLORS = [
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
# The template shipped with the workflow (workflow/templates/report.html.j2).
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "report.html.j2"
_FIG_DPI = 110
_MAX_DISPLAY_PX = 700  # longest side of an image panel in Fig. 5 (downsampled for the report)


@dataclass(frozen=True)
class ReportOptions(StageOptions):
    """The ``report:`` section."""

    SECTION: ClassVar[str] = "report"
    worst_cases: int = 3


def model_title(model: str) -> str:
    """``fold_all`` → ``fold all`` (the paper's spelling)."""
    return model.replace("_", " ")


# ------------------------------------------------------------------------------------------------
# Reading inputs
# ------------------------------------------------------------------------------------------------
def _read_json(path_or_obj: str | Path | Mapping, what: str) -> dict:
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


def _read_csv(path: Path, required: Sequence[str], **kwargs) -> pd.DataFrame:
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


def _load_evaluation(evaluation_dir: Path) -> dict[str, Any]:
    if not evaluation_dir.is_dir():
        raise InputError(evaluation_dir, "evaluation directory does not exist")
    summary = _read_json(evaluation_dir / "summary.json", "evaluation summary")
    if "best_model" not in summary:
        raise InputError(evaluation_dir / "summary.json", "lacks the key 'best_model'")
    table1 = _read_csv(evaluation_dir / "table1.csv", ["model", *STAT_COLUMNS], index_col="model")
    table2 = _read_csv(evaluation_dir / "table2.csv", ["label", *STAT_COLUMNS], index_col="label")
    per_image = _read_csv(evaluation_dir / "per_image.csv", ["model", "case", "mean_dice"])
    dice = _read_csv(evaluation_dir / "dice.csv", ["model", "case", "label", "dice"])
    for df in (per_image, dice):
        df["model"] = df["model"].astype(str)
        df["case"] = df["case"].astype(str)
    table1.index = table1.index.astype(str)
    models = [m for m in MODELS if m in table1.index] + [m for m in table1.index if m not in MODELS]
    return {
        "summary": summary,
        "table1": table1,
        "table2": table2,
        "per_image": per_image,
        "dice": dice,
        "models": models,
        "best_model": str(summary["best_model"]),
    }


# ------------------------------------------------------------------------------------------------
# Formatting helpers
# ------------------------------------------------------------------------------------------------
def _fmt4(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else f"{x:.4f}"


def _fmt_value(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def _is_scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _fmt_shape(v, sep: str = " × ") -> str:
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v):
        return sep.join(_fmt_value(x) for x in v)
    return _fmt_value(v) if _is_scalar(v) else json.dumps(v)


def _humanize(key: str) -> str:
    k = str(key)
    if k.startswith("n_"):
        k = "number of " + k[2:]
    return k.replace("_", " ")


def _html_value(v, depth: int = 0) -> str:
    """Escaped HTML for an arbitrary JSON value (nested dicts and lists become small tables)."""
    e = html.escape
    if _is_scalar(v):
        return e(_fmt_value(v))
    if isinstance(v, (list, tuple)):
        if not v:
            return "—"
        if all(_is_scalar(x) for x in v):
            items = [_fmt_value(x) for x in v]
            if len(items) > 30:
                items = items[:30] + [f"… ({len(v)} in all)"]
            return e(", ".join(items))
        if all(isinstance(x, Mapping) for x in v) and depth < 3:
            cols: list[str] = []
            for x in v:
                cols += [k for k in x if k not in cols]
            rows = v[:60]
            head = "".join(f"<th>{e(str(c))}</th>" for c in cols)
            body = "".join(
                "<tr>"
                + "".join(f"<td>{_html_value(x.get(c), depth + 1)}</td>" for c in cols)
                + "</tr>"
                for x in rows
            )
            more = (
                f'<tr><td colspan="{len(cols)}">… {len(v) - len(rows)} more</td></tr>'
                if len(v) > len(rows)
                else ""
            )
            return f'<table class="sub"><tr>{head}</tr>{body}{more}</table>'
        return f"<pre>{e(json.dumps(v, indent=1, default=str))}</pre>"
    if isinstance(v, Mapping):
        if not v:
            return "—"
        if depth < 3 and all(isinstance(x, Mapping) for x in v.values()):
            cols = []
            for x in v.values():
                cols += [k for k in x if k not in cols]
            head = "<th></th>" + "".join(f"<th>{e(str(c))}</th>" for c in cols)
            body = "".join(
                f"<tr><th>{e(str(k))}</th>"
                + "".join(f"<td>{_html_value(x.get(c), depth + 1)}</td>" for c in cols)
                + "</tr>"
                for k, x in v.items()
            )
            return f'<table class="sub"><tr>{head}</tr>{body}</table>'
        if depth < 3:
            body = "".join(
                f"<tr><th>{e(str(k))}</th><td>{_html_value(x, depth + 1)}</td></tr>"
                for k, x in v.items()
            )
            return f'<table class="sub">{body}</table>'
        return f"<pre>{e(json.dumps(v, indent=1, default=str))}</pre>"
    return e(str(v))


_DATASET_ORDER = [
    "n_radiographs",
    "n_patients",
    "n_joints",
    "n_excluded",
    "excluded",
    "excluded_hips",
    "n_train_joints",
    "n_test_joints",
    "n_train_patients",
    "n_test_patients",
    "image_sizes",
    "joint_image_sizes",
    "spacings",
    "joint_spacings",
    "label_area_fractions",
    "folds",
]
_DATASET_PAPER_ALIASES = {
    "excluded_hips": "excluded",
    "n_excluded": "excluded",
    "joint_image_sizes": "image_sizes",
    "joint_spacings": "spacings",
}


def _dataset_rows(ds: Mapping) -> list[dict[str, Any]]:
    keys = [k for k in _DATASET_ORDER if k in ds] + [k for k in ds if k not in _DATASET_ORDER]
    rows = []
    for k in keys:
        paper = PAPER_DATASET.get(_DATASET_PAPER_ALIASES.get(k, k), "")
        rows.append(
            {"key": _humanize(k), "raw_key": k, "value": Markup(_html_value(ds[k])), "paper": paper}
        )
    return rows


# ------------------------------------------------------------------------------------------------
# Methods / nnU-Net plan
# ------------------------------------------------------------------------------------------------
def _short_class(name) -> str:
    return str(name).rsplit(".", 1)[-1] if name else "—"


def _kernel_summary(ks) -> str:
    if not isinstance(ks, list) or not ks:
        return _fmt_shape(ks)
    uniq = []
    for k in ks:
        s = _fmt_shape(k)
        if s not in uniq:
            uniq.append(s)
    return (
        ", ".join(uniq) + f" (all {len(ks)} stages)"
        if len(uniq) == 1
        else "; ".join(_fmt_shape(k) for k in ks)
    )


def _list_of_shapes(v) -> str:
    if isinstance(v, list) and v and all(isinstance(x, list) for x in v):
        return "; ".join(_fmt_shape(x, "×") for x in v)
    return _fmt_shape(v)


def _first(d: Mapping, *keys, default=None):
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return default


def _fmt_overrides(overrides) -> str:
    """The workflow's changes to the planned configuration (``nnunet.plans_overrides``)."""
    if not overrides:
        return "none: nnU-Net's plan as planned"
    return "; ".join(f"{k} = {_fmt_value(v)}" for k, v in overrides.items())


def _methods_rows(plans: Mapping, plans_path: str, config: Mapping) -> tuple[list[dict], dict]:
    configs = plans.get("configurations")
    if not isinstance(configs, Mapping) or "2d" not in configs:
        raise InputError(plans_path, "has no configurations['2d'] (not an nnU-Net v2 2d plan?)")
    c2d = configs["2d"]
    arch = c2d.get("architecture", {}) or {}
    ak = arch.get("arch_kwargs", {}) or {}
    feats = ak.get("features_per_stage")
    feats_s = (
        f"{feats[0]} → {feats[-1]} ({', '.join(str(f) for f in feats)})"
        if isinstance(feats, list) and feats
        else _fmt_value(feats)
    )
    n_conv = ak.get("n_conv_per_stage")
    if isinstance(n_conv, list) and n_conv and len(set(n_conv)) == 1:
        n_conv_s = f"{n_conv[0]} (all stages)"
    else:
        n_conv_s = _fmt_shape(n_conv, ", ")
    train = config.get("train", {}) if isinstance(config, Mapping) else {}
    train = train if isinstance(train, Mapping) else {}
    ours = {
        "spacing": _fmt_shape(c2d.get("spacing")) + (" mm" if c2d.get("spacing") else ""),
        "median_image_size_in_voxels": _fmt_shape(c2d.get("median_image_size_in_voxels")),
        "normalization_schemes": _fmt_shape(c2d.get("normalization_schemes"), ", "),
        "network_class_name": _short_class(arch.get("network_class_name")),
        "n_stages": _fmt_value(ak.get("n_stages")),
        "features_per_stage": feats_s,
        "kernel_sizes": _kernel_summary(ak.get("kernel_sizes")),
        "strides": _list_of_shapes(ak.get("strides")),
        "n_conv_per_stage": n_conv_s,
        "norm_op": _short_class(ak.get("norm_op")),
        "nonlin": _short_class(ak.get("nonlin")),
        "patch_size": _fmt_shape(c2d.get("patch_size")),
        "batch_size": _fmt_value(c2d.get("batch_size")),
        "trainer": _fmt_value(_first(train, "trainer", "trainer_class", "nnunet_trainer")),
        "epochs": _fmt_value(_first(train, "epochs", "num_epochs", "n_epochs")),
        "iterations_per_epoch": _fmt_value(
            _first(train, "iterations_per_epoch", "num_iterations_per_epoch", "iterations")
        ),
        "folds": _fmt_shape(_first(train, "folds"), ", ")
        if _first(train, "folds") is not None
        else "fold 0–4 (5 patient-grouped folds) + all",
        "overrides": _fmt_overrides(plans.get("hipseg_overrides", {}).get("2d")),
    }
    names = {
        "spacing": "Target spacing",
        "median_image_size_in_voxels": "Median image size (px)",
        "normalization_schemes": "Intensity normalisation",
        "network_class_name": "Network",
        "n_stages": "Stages",
        "features_per_stage": "Features per stage",
        "kernel_sizes": "Convolution kernels",
        "strides": "Strides",
        "n_conv_per_stage": "Convolutions per encoder stage",
        "norm_op": "Normalisation layer",
        "nonlin": "Activation",
        "patch_size": "Patch size (px)",
        "batch_size": "Batch size",
        "trainer": "Trainer (config)",
        "epochs": "Epochs (config)",
        "iterations_per_epoch": "Iterations per epoch (config)",
        "folds": "Folds",
        "overrides": "Changes to nnU-Net's plan (config)",
    }
    source = {k: "nnUNetPlans.json" for k in names}
    for k in ("trainer", "epochs", "iterations_per_epoch", "overrides"):
        source[k] = "config"
    source["folds"] = "workflow"
    rows = [
        {"name": names[k], "ours": ours[k], "paper": PAPER_METHODS.get(k, "—"), "source": source[k]}
        for k in names
    ]
    extra = {
        "dataset_name": plans.get("dataset_name", "—"),
        "plans_name": plans.get("plans_name", "—"),
        "experiment_planner": plans.get("experiment_planner_used", "—"),
        "train_config": dict(train),
    }
    return rows, extra


# ------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------
_PAPER_PLAN_ITEMS = (
    ("spacing_mm", "Target spacing (mm)"),
    ("median_shape", "Median image shape (px)"),
    ("network", "Network"),
    ("n_stages", "Stages"),
    ("features", "Features per stage (first → last)"),
    ("kernel", "Convolution kernel"),
    ("patch_size", "Patch size (px)"),
    ("batch_size", "Batch size"),
    ("normalization", "Intensity normalisation"),
)


def _paper_plan_view(paper_plan) -> dict:
    """Rows of planned vs. paper values from the JSON of :func:`hipseg.paperplan.check`."""
    pp = _read_json(paper_plan, "paper-scale plan check")
    try:
        rows = [
            {
                "name": name,
                "ours": _fmt_shape(pp["planned"][key], " → " if key == "features" else " × "),
                "paper": _fmt_shape(pp["paper"][key], " → " if key == "features" else " × "),
                "ok": bool(pp["match"][key]),
            }
            for key, name in _PAPER_PLAN_ITEMS
        ]
    except KeyError as exc:
        raise InputError(str(paper_plan), f"paper-scale plan check lacks {exc}") from exc
    full = pp.get("full_set", {})
    return {
        "rows": rows,
        "all_match": bool(pp.get("all_match")),
        "subset": pp.get("subset", {}),
        "full": full,
        "seconds": pp.get("seconds", {}),
        "nnunet_version": pp.get("nnunet_version", "—"),
    }


def _table1_view(table1: pd.DataFrame, models: list[str], best: str) -> dict:
    cols = list(models)
    for m in PAPER_TABLE1:
        if m not in cols:
            cols.append(m)  # show paper columns even if the model was not evaluated
    rows = []
    for stat in STAT_COLUMNS:
        ours = [_fmt4(table1.loc[m, stat]) if m in table1.index else "—" for m in cols]
        paper = [_fmt4(PAPER_TABLE1[m][stat]) if m in PAPER_TABLE1 else "—" for m in cols]
        rows.append({"stat": STAT_NAMES[stat], "ours": ours, "paper": paper})
    return {
        "columns": [{"name": model_title(m), "best": m == best} for m in cols],
        "rows": rows,
    }


def _table2_view(table2: pd.DataFrame) -> dict:
    labels = [LABELS[k] for k in sorted(LABELS)]
    rows = []
    for stat in STAT_COLUMNS:
        ours = [_fmt4(table2.loc[lab, stat]) if lab in table2.index else "—" for lab in labels]
        paper = [_fmt4(PAPER_TABLE2[lab][stat]) for lab in labels]
        rows.append({"stat": STAT_NAMES[stat], "ours": ours, "paper": paper})
    return {
        "columns": [{"name": lab, "desc": LABEL_DESCRIPTIONS.get(lab, "")} for lab in labels],
        "rows": rows,
    }


def _per_label_view(dice: pd.DataFrame, models: list[str]) -> dict:
    """Mean Dice per label (rows) and model (columns); the best model per label is marked."""
    labels = [LABELS[k] for k in sorted(LABELS)]
    means = dice.groupby(["label", "model"])["dice"].mean()
    rows = []
    for lab in labels:
        vals = [means.get((lab, m), float("nan")) for m in models]
        arr = np.array(vals, dtype=float)
        best_i = int(np.nanargmax(arr)) if np.isfinite(arr).any() else -1
        rows.append(
            {
                "label": lab,
                "desc": LABEL_DESCRIPTIONS.get(lab, ""),
                "cells": [{"v": _fmt4(v), "best": i == best_i} for i, v in enumerate(vals)],
            }
        )
    return {"columns": [model_title(m) for m in models], "rows": rows}


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------
def _png_file_uri(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "montage image does not exist")
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_FIG_DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style_boxes(bp, colors: Sequence[str]) -> None:
    for patch, color in zip(bp["boxes"], colors, strict=False):
        patch.set_facecolor(color)


def _fig3(per_image: pd.DataFrame, models: list[str]) -> str:
    data = [per_image.loc[per_image["model"] == m, "mean_dice"].dropna().to_numpy() for m in models]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.15 * len(models) + 2), 4.2))
    bp = ax.boxplot(data, tick_labels=[model_title(m) for m in models], **_BOX_STYLE)
    _style_boxes(bp, [_MODEL_COLORS[i % len(_MODEL_COLORS)] for i in range(len(models))])
    ax.set_ylabel("mean Dice score per image")
    ax.set_xlabel("model")
    ax.grid(axis="y", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_title("Mean Dice score of the test images per model")
    return _png_data_uri(fig)


def _fig4(dice: pd.DataFrame, models: list[str]) -> str:
    labels = [LABELS[k] for k in sorted(LABELS)]
    n = len(models)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.28 * n * len(labels) + 3), 4.6))
    handles = []
    for i, m in enumerate(models):
        sub = dice[dice["model"] == m]
        data = [sub.loc[sub["label"] == lab, "dice"].dropna().to_numpy() for lab in labels]
        pos = np.arange(len(labels)) + (i - (n - 1) / 2) * width
        style = dict(_BOX_STYLE)
        style["meanprops"] = dict(style["meanprops"], markersize=6)
        style["flierprops"] = dict(style["flierprops"], markersize=4)
        bp = ax.boxplot(data, positions=pos, widths=width * 0.85, manage_ticks=False, **style)
        color = _MODEL_COLORS[i % len(_MODEL_COLORS)]
        _style_boxes(bp, [color] * len(labels))
        handles.append(bp["boxes"][0])
    ax.set_xticks(np.arange(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    for x in np.arange(len(labels) - 1) + 0.5:
        ax.axvline(x, color="0.8", linewidth=0.8)
    ax.set_ylabel("Dice score")
    ax.set_xlabel("label")
    ax.grid(axis="y", color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.legend(
        handles,
        [model_title(m) for m in models],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncol=min(n, 7),
        frameon=False,
        fontsize=9,
    )
    ax.set_title("Dice score of the individual labels per model")
    return _png_data_uri(fig)


def _fig5_case(
    case: str, images_dir: Path, labels_dir: Path, pred_path: Path, best: str
) -> tuple[str, dict]:
    img_path = images_dir / f"{case}_0000.nii.gz"
    gt_path = labels_dir / f"{case}.nii.gz"
    img, spacing = read_image_2d(img_path)
    gt, _ = read_image_2d(gt_path)
    pred, _ = read_image_2d(pred_path)
    for p, a in ((gt_path, gt), (pred_path, pred)):
        if a.shape != img.shape:
            raise InputError(p, f"shape {a.shape} differs from the image {img.shape} ({img_path})")
    step = max(1, int(math.ceil(max(img.shape) / _MAX_DISPLAY_PX)))
    img_s, gt_s, pred_s = img[::step, ::step], gt[::step, ::step], pred[::step, ::step]
    grey = window(img_s)
    sx, sy = spacing
    aspect = (sy / sx) if sx > 0 and sy > 0 else 1.0
    h, w = grey.shape
    panel_w = 3.6
    panel_h = min(6.0, panel_w * h * aspect / max(w, 1))
    fig, axes = plt.subplots(1, 3, figsize=(3 * panel_w, panel_h + 0.5))
    titles = ["image", "ground truth", f"prediction ({model_title(best)})"]
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
    return _png_data_uri(fig), info


def _legend_items() -> list[dict]:
    out = []
    for k in sorted(LABELS):
        r, g, b = LABEL_COLORS[k]
        out.append(
            {
                "label": LABELS[k],
                "desc": LABEL_DESCRIPTIONS.get(LABELS[k], ""),
                "css": f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})",
            }
        )
    return out


def _worst_cases(
    ev: dict, images_dir: Path, labels_dir: Path, predictions_root: Path, worst_k: int
) -> list[dict]:
    best = ev["best_model"]
    pi = ev["per_image"]
    sub = pi[pi["model"] == best].dropna(subset=["mean_dice"])
    sub = sub.sort_values(["mean_dice", "case"], kind="stable").head(max(0, int(worst_k)))
    dice = ev["dice"]
    out = []
    for i, row in enumerate(sub.itertuples(index=False)):
        case = str(row.case)
        pred_path = predictions_root / best / f"{case}.nii.gz"
        uri, info = _fig5_case(case, images_dir, labels_dir, pred_path, best)
        per_model = []
        for m in ev["models"]:
            v = pi.loc[(pi["model"] == m) & (pi["case"] == case), "mean_dice"]
            per_model.append(
                {
                    "model": model_title(m),
                    "v": _fmt4(v.iloc[0] if len(v) else None),
                    "best": m == best,
                }
            )
        dl = dice[(dice["model"] == best) & (dice["case"] == case)]
        per_label = [
            {
                "label": lab,
                "v": _fmt4(dl.loc[dl["label"] == lab, "dice"].mean())
                if (dl["label"] == lab).any()
                else "—",
            }
            for lab in (LABELS[k] for k in sorted(LABELS))
        ]
        out.append(
            {
                "letter": chr(ord("a") + i) if i < 26 else str(i + 1),
                "case": case,
                "mean": _fmt4(row.mean_dice),
                "uri": uri,
                "per_model": per_model,
                "per_label": per_label,
                **info,
            }
        )
    return out


# ------------------------------------------------------------------------------------------------
# Benchmarks and provenance
# ------------------------------------------------------------------------------------------------
def _benchmarks(benchmarks_dir) -> dict:
    if benchmarks_dir is None:
        return {"rows": [], "note": "No benchmark directory was given."}
    bdir = Path(benchmarks_dir)
    if not bdir.is_dir():
        return {"rows": [], "note": f"No benchmark directory ({bdir}); run times are not shown."}
    files = sorted(p for p in bdir.rglob("*.tsv") if p.is_file())
    if not files:
        return {"rows": [], "note": f"No benchmark files (*.tsv) under {bdir}."}
    rows, skipped = [], []
    for f in files:
        try:
            df = pd.read_csv(f, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            skipped.append(str(f.relative_to(bdir)))
            continue
        if "s" not in df.columns or df.empty:
            skipped.append(str(f.relative_to(bdir)))
            continue
        s = pd.to_numeric(df["s"], errors="coerce")
        rss = pd.to_numeric(df.get("max_rss", pd.Series(dtype=float)), errors="coerce")
        cpu = pd.to_numeric(df.get("cpu_time", pd.Series(dtype=float)), errors="coerce")
        rel = f.relative_to(bdir).with_suffix("")
        rule = rel.parts[0] if len(rel.parts) > 1 else rel.name
        rows.append(
            {
                "rule": rule,
                "job": str(rel),
                "seconds": float(s.mean()) if s.notna().any() else float("nan"),
                "repeats": int(len(df)),
                "max_rss": float(rss.max()) if rss.notna().any() else float("nan"),
                "cpu": float(cpu.mean()) if cpu.notna().any() else float("nan"),
            }
        )
    total = float(np.nansum([r["seconds"] for r in rows])) if rows else 0.0
    by_rule: dict[str, float] = {}
    for r in rows:
        if not math.isnan(r["seconds"]):
            by_rule[r["rule"]] = by_rule.get(r["rule"], 0.0) + r["seconds"]
    view_rows = [
        {
            "rule": r["rule"],
            "job": r["job"],
            "seconds": "—" if math.isnan(r["seconds"]) else f"{r['seconds']:.1f}",
            "hms": _hms(r["seconds"]),
            "max_rss": "—" if math.isnan(r["max_rss"]) else f"{r['max_rss']:.0f}",
            "cpu": "—" if math.isnan(r["cpu"]) else f"{r['cpu']:.1f}",
            "repeats": r["repeats"],
        }
        for r in rows
    ]
    per_rule = [
        {"rule": k, "seconds": f"{v:.1f}", "hms": _hms(v)}
        for k, v in sorted(by_rule.items(), key=lambda kv: -kv[1])
    ]
    note = f"Skipped unreadable benchmark file(s): {', '.join(skipped)}." if skipped else ""
    return {
        "rows": view_rows,
        "per_rule": per_rule,
        "total": f"{total:.1f}",
        "total_hms": _hms(total),
        "note": note,
    }


def _hms(seconds: float) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    s = int(round(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        if dist == "hipseg":
            return HIPSEG_VERSION
        return "not installed"


def _git_info(repo_dir: Path) -> dict[str, str]:
    def run(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", "-C", str(repo_dir), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        inside = run("rev-parse", "--is-inside-work-tree")
        return {
            "git_commit": "unknown (no commit yet)" if inside == "true" else "unknown",
            "git_dirty": "unknown",
        }
    status = run("status", "--porcelain")
    dirty = "unknown" if status is None else ("yes" if status else "no")
    return {"git_commit": commit, "git_dirty": dirty}


def _provenance(config: Mapping, extra: Mapping | None) -> dict:
    now = _dt.datetime.now().astimezone()
    prov: dict[str, Any] = {
        "date": now.isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **_git_info(Path(__file__).resolve().parent),
    }
    versions = {name: _version(name) for name in SOFTWARE}
    if extra:
        for k, v in extra.items():
            if k == "versions" and isinstance(v, Mapping):
                versions.update({str(a): str(b) for a, b in v.items()})
            else:
                prov[str(k)] = v
    try:
        config_yaml = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        config_yaml = json.dumps(config, indent=2, default=str)
    return {
        "items": [{"key": _humanize(k), "value": Markup(_html_value(v))} for k, v in prov.items()],
        "versions": versions,
        "config_yaml": config_yaml,
        "date": prov["date"],
    }


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------
def _deid_text(deid: dict) -> dict | None:
    """The de-identification paragraph: profile edition, options, flagged images, demo key."""
    if "n_images" not in deid:
        return None
    opts = deid.get("options") or {}
    chosen = []
    if opts.get("retain_longitudinal"):
        chosen.append("Retain Longitudinal Temporal Information with Modified Dates")
    if opts.get("retain_patient_characteristics"):
        kept = ", ".join(opts["retain_patient_characteristics"])
        chosen.append(f"Retain Patient Characteristics ({kept})")
    if opts.get("retain_device_identity"):
        chosen.append("Retain Device Identity")
    if opts.get("blank_regions"):
        chosen.append(f"Clean Pixel Data ({len(opts['blank_regions'])} blanked region(s))")
    flagged = deid.get("images_flagged_burned_in") or []
    return {
        "images": deid.get("n_images"),
        "patients": deid.get("n_pseudonymous_patients", "—"),
        "profile": deid.get("profile", ""),
        "table_attributes": deid.get("table_attributes"),
        "options": "; ".join(chosen) if chosen else "none (Basic Profile only)",
        "keep_private": bool(opts.get("keep_private")),
        "shifted": bool(opts.get("retain_longitudinal")),
        "flagged": deid.get("n_images_flagged_burned_in"),
        "flagged_ids": ", ".join(map(str, flagged[:20])) + (" …" if len(flagged) > 20 else ""),
        "demo": str(deid.get("key_source", "")).lower() == "demo",
    }


def build_report(
    *,
    evaluation_dir,
    dataset_summary,
    plans_json,
    images_dir,
    labels_dir,
    predictions_root,
    config: dict,
    deid_summary,
    benchmarks_dir,
    template,
    out_html,
    worst_k: int = 3,
    provenance: dict | None = None,
    montage: str | Path | None = None,
    gallery: str | Path | None = None,
    paper_plan: str | Path | Mapping | None = None,
) -> None:
    """Render the single-file HTML report to ``out_html`` (written atomically).

    ``evaluation_dir`` holds the outputs of :func:`hipseg.evaluate.evaluate`; ``dataset_summary``,
    ``plans_json`` and ``deid_summary`` are JSON files (or already-loaded dicts; ``deid_summary``
    may be ``None``); ``images_dir``/``labels_dir`` hold the nnU-Net test images
    (``<case>_0000.nii.gz``) and reference labels (``<case>.nii.gz``); ``predictions_root/<model>``
    the predictions. Every input is required except ``benchmarks_dir`` (missing → a note in the
    report). A missing or malformed required input raises :class:`InputError` naming the file.
    """
    evaluation_dir = Path(evaluation_dir)
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    predictions_root = Path(predictions_root)
    template = Path(template)
    config = dict(config or {})

    ev = _load_evaluation(evaluation_dir)
    ds = _read_json(dataset_summary, "dataset summary")
    plans = _read_json(plans_json, "nnU-Net plans")
    deid = _read_json(deid_summary, "de-identification summary") if deid_summary else {}
    if not template.is_file():
        raise InputError(template, "report template does not exist")
    for d, what in (
        (images_dir, "test-image directory"),
        (labels_dir, "test-label directory"),
        (predictions_root, "prediction directory"),
    ):
        if not d.is_dir():
            raise InputError(d, f"{what} does not exist")

    models, best = ev["models"], ev["best_model"]
    methods_rows, methods_extra = _methods_rows(plans, str(plans_json), config)
    t1 = ev["table1"]
    best_mean = _fmt4(t1.loc[best, "mean"]) if best in t1.index else "—"

    banners = []
    if str(deid.get("key_source", "")).lower() == "demo":
        banners.append(
            "De-identified with the fixed demo key — synthetic data only. "
            "Never use the demo key for real patient data."
        )
    demo_cfg = config.get("demo", {})
    if isinstance(demo_cfg, Mapping) and demo_cfg.get("enabled"):
        banners.append(
            "Synthetic demo data — not the paper's radiographs; numbers are not comparable to "
            "the paper."
        )

    prov = _provenance(config, provenance)
    context = {
        "title": "hipseg — hip-joint segmentation of AP pelvis radiographs",
        "subtitle": (
            "Reproduction of Blažková, “Segmentation of hip joint anatomy structures from "
            "radiographic images” (2D nnU-Net v2)"
        ),
        "date": prov["date"],
        "banners": banners,
        "n_cases": ev["summary"].get("n_cases", ev["per_image"]["case"].nunique()),
        "models": [model_title(m) for m in models],
        "best_model": model_title(best),
        "best_mean": best_mean,
        "paper_best_model": model_title(PAPER_TABLE2_MODEL),
        "paper_best_mean": _fmt4(PAPER_TABLE1[PAPER_TABLE2_MODEL]["mean"]),
        "dataset_rows": _dataset_rows(ds),
        "methods_rows": methods_rows,
        "methods_extra": methods_extra,
        "deid": [{"key": _humanize(k), "value": Markup(_html_value(v))} for k, v in deid.items()],
        "deid_text": _deid_text(deid),
        "table1": _table1_view(t1, models, best),
        "table2": _table2_view(ev["table2"]),
        "table2_model": model_title(
            str(ev["table2"]["model"].iloc[0]) if "model" in ev["table2"] else best
        ),
        "per_label": _per_label_view(ev["dice"], models),
        "fig3": _fig3(ev["per_image"], models),
        "fig4": _fig4(ev["dice"], models),
        "worst": _worst_cases(ev, images_dir, labels_dir, predictions_root, worst_k),
        "worst_k": worst_k,
        "legend": _legend_items(),
        "bench": _benchmarks(benchmarks_dir),
        "prov": prov,
        "undefined_dice": ev["summary"].get("n_undefined_dice"),
        "montage": _png_file_uri(montage) if montage else None,
        "gallery": _png_file_uri(gallery) if gallery else None,
        "paper_plan": _paper_plan_view(paper_plan) if paper_plan else None,
    }

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    try:
        tmpl = env.get_template(template.name)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(template, f"template syntax error at line {exc.lineno}: {exc}") from exc
    write_text(out_html, tmpl.render(**context))
