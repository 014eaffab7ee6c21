"""What the template shows, as plain data: dataset and plan rows, Tables I/II, per-label means,
worst cases, the de-identification paragraph and the label/model wording of the prose.

Label names, descriptions and colours come from :mod:`hipseg.labels` at call time, the paper's
numbers from :mod:`hipseg.report.paper`; nothing here builds HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import labels
from ..errors import InputError
from ..evaluate import STAT_COLUMNS
from .data import read_json, total_seconds
from .figures import fig5_case
from .formatting import fmt4, fmt_shape, fmt_value, hms, humanize, name_span
from .paper import PaperReference

STAT_NAMES = {
    "mean": "mean val.",
    "std": "std val.",
    "median": "median",
    "max": "max val.",
    "min": "min val.",
}
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _number_word(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def _fold_model(fold: str) -> str:
    return f"fold_{fold}"


# ------------------------------------------------------------------------------------------------
# Labels and models in the prose
# ------------------------------------------------------------------------------------------------
def legend_items() -> list[dict]:
    """Name, description and overlay colour of every label (the figures' legend)."""
    return [{"label": lab.name, "desc": lab.description, "css": lab.css} for lab in labels.LABELS]


def label_span() -> str:
    """All label names for the prose (``L1–L5``)."""
    return name_span([lab.name for lab in labels.LABELS])


def model_wording() -> dict[str, str]:
    """The models as the methods section names them (counts spelled out, paper spelling)."""
    return {
        "n_trained": _number_word(len(labels.TRAIN_FOLDS)),
        "n_cv": _number_word(labels.N_FOLDS),
        "first_cv": labels.model_title(_fold_model(labels.CV_FOLDS[0])),
        "last_cv": labels.model_title(_fold_model(labels.CV_FOLDS[-1])),
        "all": labels.model_title(_fold_model(labels.ALL_FOLD)),
        "ensemble": labels.model_title(labels.ENSEMBLE),
    }


def paper_best_models(ref: PaperReference) -> list[dict[str, str]]:
    """The paper's Section IV: which model was best for which labels."""
    return [
        {"model": labels.model_title(m), "labels": name_span(names)}
        for m, names in ref.best_models.items()
    ]


# ------------------------------------------------------------------------------------------------
# Dataset and de-identification
# ------------------------------------------------------------------------------------------------
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
    "spacing_sources",
    "label_area_fractions",
    "folds",
]
_DATASET_PAPER_ALIASES = {
    "excluded_hips": "excluded",
    "n_excluded": "excluded",
    "joint_image_sizes": "image_sizes",
    "joint_spacings": "spacings",
}


def dataset_rows(ds: Mapping, ref: PaperReference) -> list[dict[str, Any]]:
    """The dataset summary in a fixed order, each value beside the paper's (Section II)."""
    keys = [k for k in _DATASET_ORDER if k in ds] + [k for k in ds if k not in _DATASET_ORDER]
    return [
        {
            "key": humanize(k),
            "raw_key": k,
            "value": ds[k],
            "paper": ref.dataset.get(_DATASET_PAPER_ALIASES.get(k, k), ""),
        }
        for k in keys
    ]


def model_source_rows(model_source: Mapping | None) -> list[dict[str, Any]]:
    """Where the evaluated models came from (folder, trainer, plans, configuration, …)."""
    if not model_source:
        return []
    names = {"source": "Models", "folder": "Model folder", "trainer": "Trainer",
             "plans": "Plans", "configuration": "Configuration",
             "dataset": "Trained on (dataset)", "image_reader_writer": "Image reader",
             "file_ending": "File ending", "labels": "Output labels",
             "folds": "Folds in the folder", "folds_used": "Folds used",
             "folds_absent": "Folds absent", "ensemble": "Ensemble"}  # fmt: skip
    return [{"key": names[k], "value": model_source[k]} for k in names if k in model_source]


def models_note(models: Sequence[str], model_source: Mapping | None) -> str:
    """A sentence when the run evaluates fewer models than the paper's six (a model folder
    without some folds, or config ``models_used``): which, and which folds were absent."""
    if list(models) == list(labels.MODELS):
        return ""
    titles = ", ".join(labels.model_title(m) for m in models)
    text = f"This run evaluates {_number_word(len(models))} model(s): {titles}."
    absent = (model_source or {}).get("folds_absent") or []
    if absent:
        text += (f" The model folder holds no {', '.join(absent)}: Table I, the figures and the "
                 "tests have rows for the models evaluated only.")  # fmt: skip
    return text


def key_value_rows(obj: Mapping) -> list[dict[str, Any]]:
    """``{key: value}`` as rows with readable keys; the template renders nested values."""
    return [{"key": humanize(k), "value": v} for k, v in obj.items()]


def _deid_options(opts: Mapping) -> str:
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
    if opts.get("on_burned_in") == "redact":
        chosen.append("Clean Pixel Data (burned-in text found in the pixels is blanked)")
    return "; ".join(chosen) if chosen else "none (Basic Profile only)"


def deid_text(deid: Mapping) -> dict | None:
    """The de-identification paragraph: profile edition, options, flagged images, demo key."""
    if "n_images" not in deid:
        return None
    opts = deid.get("options") or {}
    flagged = deid.get("images_flagged_burned_in") or []
    return {
        "images": deid.get("n_images"),
        "patients": deid.get("n_pseudonymous_patients", "—"),
        "profile": deid.get("profile", ""),
        "table_attributes": deid.get("table_attributes"),
        "options": _deid_options(opts),
        "keep_private": bool(opts.get("keep_private")),
        "shifted": bool(opts.get("retain_longitudinal")),
        "flagged": deid.get("n_images_flagged_burned_in"),
        "redacted": deid.get("n_images_redacted_burned_in"),
        "flagged_ids": ", ".join(map(str, flagged[:20])) + (" …" if len(flagged) > 20 else ""),
        "demo": str(deid.get("key_source", "")).lower() == "demo",
    }


# ------------------------------------------------------------------------------------------------
# Methods: the nnU-Net plan and the training settings
# ------------------------------------------------------------------------------------------------
# (key, row name, source); the key also selects the paper's value in paper_reference.yaml.
_METHOD_ROWS = (
    ("spacing", "Target spacing", "nnUNetPlans.json"),
    ("median_image_size_in_voxels", "Median image size (px)", "nnUNetPlans.json"),
    ("normalization_schemes", "Intensity normalisation", "nnUNetPlans.json"),
    ("network_class_name", "Network", "nnUNetPlans.json"),
    ("n_stages", "Stages", "nnUNetPlans.json"),
    ("features_per_stage", "Features per stage", "nnUNetPlans.json"),
    ("kernel_sizes", "Convolution kernels", "nnUNetPlans.json"),
    ("strides", "Strides", "nnUNetPlans.json"),
    ("n_conv_per_stage", "Convolutions per encoder stage", "nnUNetPlans.json"),
    ("norm_op", "Normalisation layer", "nnUNetPlans.json"),
    ("nonlin", "Activation", "nnUNetPlans.json"),
    ("patch_size", "Patch size (px)", "nnUNetPlans.json"),
    ("batch_size", "Batch size", "nnUNetPlans.json"),
    ("trainer", "Trainer (config)", "config"),
    ("epochs", "Epochs (config)", "config"),
    ("iterations_per_epoch", "Iterations per epoch (config)", "config"),
    ("folds", "Folds", "workflow"),
    ("overrides", "Changes to nnU-Net's plan (config)", "config"),
)


def _short_class(name) -> str:
    return str(name).rsplit(".", 1)[-1] if name else "—"


def _kernel_summary(ks) -> str:
    if not isinstance(ks, list) or not ks:
        return fmt_shape(ks)
    uniq = []
    for k in ks:
        s = fmt_shape(k)
        if s not in uniq:
            uniq.append(s)
    if len(uniq) == 1:
        return uniq[0] + f" (all {len(ks)} stages)"
    return "; ".join(fmt_shape(k) for k in ks)


def _list_of_shapes(v) -> str:
    if isinstance(v, list) and v and all(isinstance(x, list) for x in v):
        return "; ".join(fmt_shape(x, "×") for x in v)
    return fmt_shape(v)


def _features(feats) -> str:
    if isinstance(feats, list) and feats:
        return f"{feats[0]} → {feats[-1]} ({', '.join(str(f) for f in feats)})"
    return fmt_value(feats)


def _n_conv(n_conv) -> str:
    if isinstance(n_conv, list) and n_conv and len(set(n_conv)) == 1:
        return f"{n_conv[0]} (all stages)"
    return fmt_shape(n_conv, ", ")


def _overrides(overrides) -> str:
    """The workflow's changes to the planned configuration (``nnunet.plans_overrides``)."""
    if not overrides:
        return "none: nnU-Net's plan as planned"
    return "; ".join(f"{k} = {fmt_value(v)}" for k, v in overrides.items())


def plan_values(c2d: Mapping) -> dict[str, str]:
    """The 2d configuration of an nnU-Net v2 plan, as the methods table prints it."""
    arch = c2d.get("architecture", {}) or {}
    ak = arch.get("arch_kwargs", {}) or {}
    return {
        "spacing": fmt_shape(c2d.get("spacing")) + (" mm" if c2d.get("spacing") else ""),
        "median_image_size_in_voxels": fmt_shape(c2d.get("median_image_size_in_voxels")),
        "normalization_schemes": fmt_shape(c2d.get("normalization_schemes"), ", "),
        "network_class_name": _short_class(arch.get("network_class_name")),
        "n_stages": fmt_value(ak.get("n_stages")),
        "features_per_stage": _features(ak.get("features_per_stage")),
        "kernel_sizes": _kernel_summary(ak.get("kernel_sizes")),
        "strides": _list_of_shapes(ak.get("strides")),
        "n_conv_per_stage": _n_conv(ak.get("n_conv_per_stage")),
        "norm_op": _short_class(ak.get("norm_op")),
        "nonlin": _short_class(ak.get("nonlin")),
        "patch_size": fmt_shape(c2d.get("patch_size")),
        "batch_size": fmt_value(c2d.get("batch_size")),
    }


def methods_rows(
    plans: Mapping, plans_path: str, config: Mapping, ref: PaperReference,
    model_source: Mapping | None = None,
) -> tuple[list[dict], dict]:  # fmt: skip
    """Rows of the methods table (plan, config, folds beside the paper's Section III) and the
    plan's names. Models that this run did not train (``model_source``) show their own
    trainer and configuration, and no training settings of the config."""
    conf = (model_source or {}).get("configuration", "2d")
    configs = plans.get("configurations")
    if not isinstance(configs, Mapping) or conf not in configs:
        raise InputError(plans_path, f"has no configurations['{conf}'] (not an nnU-Net v2 "
                         f"{conf} plan?)")  # fmt: skip
    train = config.get("train") or {}
    existing = bool(model_source) and not str(model_source["source"]).startswith("trained")
    not_here = "— (existing models: not trained by this run)"
    ours = {
        **plan_values(configs[conf]),
        "trainer": fmt_value(model_source["trainer"] if existing else train.get("trainer")),
        "epochs": not_here if existing else fmt_value(train.get("epochs")),
        "iterations_per_epoch": not_here
        if existing
        else fmt_value(train.get("iterations_per_epoch")),
        "folds": ", ".join(model_source["folds"])
        if existing
        else f"fold {labels.CV_FOLDS[0]}–{labels.CV_FOLDS[-1]} "
        f"({labels.N_FOLDS} patient-grouped folds) + {labels.ALL_FOLD}",
        "overrides": _overrides(plans.get("hipseg_overrides", {}).get(conf)),
    }
    rows = [
        {"name": name, "ours": ours[k], "paper": ref.methods.get(k, "—"), "source": source}
        for k, name, source in _METHOD_ROWS
    ]
    extra = {
        "dataset_name": plans.get("dataset_name", "—"),
        "plans_name": plans.get("plans_name", "—"),
        "experiment_planner": plans.get("experiment_planner_used", "—"),
    }
    return rows, extra


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


def paper_plan_view(paper_plan) -> dict:
    """Rows of planned vs. paper values from the JSON of :func:`hipseg.paperplan.check`."""
    pp = read_json(paper_plan, "paper-scale plan check")
    try:
        rows = [
            {
                "name": name,
                "ours": fmt_shape(pp["planned"][key], " → " if key == "features" else " × "),
                "paper": fmt_shape(pp["paper"][key], " → " if key == "features" else " × "),
                "ok": bool(pp["match"][key]),
            }
            for key, name in _PAPER_PLAN_ITEMS
        ]
    except KeyError as exc:
        raise InputError(str(paper_plan), f"paper-scale plan check lacks {exc}") from exc
    return {
        "rows": rows,
        "all_match": bool(pp.get("all_match")),
        "subset": pp.get("subset", {}),
        "full": pp.get("full_set", {}),
        "seconds": pp.get("seconds", {}),
        "nnunet_version": pp.get("nnunet_version", "—"),
    }


# ------------------------------------------------------------------------------------------------
# Tables I and II, mean Dice per label
# ------------------------------------------------------------------------------------------------
def table1_view(table1: pd.DataFrame, models: list[str], best: str, ref: PaperReference) -> dict:
    """Table I: our statistics per model above the paper's (paper-only models get a column)."""
    cols = list(models) + [m for m in ref.table1 if m not in models]
    rows = []
    for stat in STAT_COLUMNS:
        ours = [fmt4(table1.loc[m, stat]) if m in table1.index else "—" for m in cols]
        paper = [fmt4(ref.table1[m][stat]) if m in ref.table1 else "—" for m in cols]
        rows.append({"stat": STAT_NAMES[stat], "ours": ours, "paper": paper})
    return {
        "columns": [{"name": labels.model_title(m), "best": m == best} for m in cols],
        "rows": rows,
    }


def table2_view(table2: pd.DataFrame, ref: PaperReference) -> dict:
    """Table II: our statistics per label above the paper's."""
    rows = []
    for stat in STAT_COLUMNS:
        ours, paper = [], []
        for lab in labels.LABELS:
            ours.append(fmt4(table2.loc[lab.name, stat]) if lab.name in table2.index else "—")
            paper.append(fmt4(ref.table2[lab.name][stat]) if lab.name in ref.table2 else "—")
        rows.append({"stat": STAT_NAMES[stat], "ours": ours, "paper": paper})
    return {
        "columns": [{"name": lab.name, "desc": lab.description} for lab in labels.LABELS],
        "rows": rows,
    }


def per_label_view(dice: pd.DataFrame, models: list[str]) -> dict:
    """Mean Dice per label (rows) and model (columns); the best model per label is marked."""
    means = dice.groupby(["label", "model"])["dice"].mean()
    rows = []
    for lab in labels.LABELS:
        vals = [means.get((lab.name, m), float("nan")) for m in models]
        arr = np.array(vals, dtype=float)
        best_i = int(np.nanargmax(arr)) if np.isfinite(arr).any() else -1
        rows.append(
            {
                "label": lab.name,
                "desc": lab.description,
                "cells": [{"v": fmt4(v), "best": i == best_i} for i, v in enumerate(vals)],
            }
        )
    return {"columns": [labels.model_title(m) for m in models], "rows": rows}


# ------------------------------------------------------------------------------------------------
# Fig. 5: the worst cases of the best model
# ------------------------------------------------------------------------------------------------
def _case_dice(ev: dict, case: str) -> tuple[list[dict], list[dict]]:
    """Per-image mean Dice of ``case`` for every model, and its Dice per label (best model)."""
    pi, dice, best = ev["per_image"], ev["dice"], ev["best_model"]
    per_model = []
    for m in ev["models"]:
        v = pi.loc[(pi["model"] == m) & (pi["case"] == case), "mean_dice"]
        per_model.append(
            {
                "model": labels.model_title(m),
                "v": fmt4(v.iloc[0] if len(v) else None),
                "best": m == best,
            }
        )
    dl = dice[(dice["model"] == best) & (dice["case"] == case)]
    per_label = [
        {
            "label": lab.name,
            "v": fmt4(dl.loc[dl["label"] == lab.name, "dice"].mean())
            if (dl["label"] == lab.name).any()
            else "—",
        }
        for lab in labels.LABELS
    ]
    return per_model, per_label


def worst_cases(
    ev: dict, images_dir: Path, labels_dir: Path, predictions_root: Path, worst_k: int
) -> list[dict]:
    """The ``worst_k`` test images with the lowest per-image mean Dice of the best model."""
    best = ev["best_model"]
    pi = ev["per_image"]
    sub = pi[pi["model"] == best].dropna(subset=["mean_dice"])
    sub = sub.sort_values(["mean_dice", "case"], kind="stable").head(max(0, int(worst_k)))
    out = []
    for i, row in enumerate(sub.itertuples(index=False)):
        case = str(row.case)
        pred_path = predictions_root / best / f"{case}.nii.gz"
        uri, info = fig5_case(case, images_dir, labels_dir, pred_path, best)
        per_model, per_label = _case_dice(ev, case)
        out.append(
            {
                "letter": chr(ord("a") + i) if i < 26 else str(i + 1),
                "case": case,
                "mean": fmt4(row.mean_dice),
                "uri": uri,
                "per_model": per_model,
                "per_label": per_label,
                **info,
            }
        )
    return out


# ------------------------------------------------------------------------------------------------
# Run times
# ------------------------------------------------------------------------------------------------
def _num(x: float, fmt: str) -> str:
    return "—" if np.isnan(x) else format(x, fmt)


def benchmarks_view(bench: dict) -> dict:
    """Run times per job and per rule from :func:`hipseg.report.data.read_benchmarks`."""
    rows = bench["rows"]
    total, by_rule = total_seconds(rows)
    note = bench["note"]
    if bench["skipped"]:
        note = f"Skipped unreadable benchmark file(s): {', '.join(bench['skipped'])}."
    return {
        "rows": [
            {
                "rule": r["rule"],
                "job": r["job"],
                "seconds": _num(r["seconds"], ".1f"),
                "hms": hms(r["seconds"]),
                "max_rss": _num(r["max_rss"], ".0f"),
                "cpu": _num(r["cpu"], ".1f"),
                "repeats": r["repeats"],
            }
            for r in rows
        ],
        "per_rule": [
            {"rule": k, "seconds": f"{v:.1f}", "hms": hms(v)}
            for k, v in sorted(by_rule.items(), key=lambda kv: -kv[1])
        ],
        "total": f"{total:.1f}",
        "total_hms": hms(total),
        "note": note,
    }
