"""Methods and citation text generated from the run, to paste into a paper (after fMRIPrep's
boilerplate): data and de-identification, split, nnU-Net plan and schedule, software versions,
metric definitions and statistics, and a results sentence, each claim citing its source.

Citations are written ``[@key]`` in the paragraphs (keys of :mod:`.references`); they become
numbered links, in the order of first citation, and the cited entries make ``references.bib``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .. import labels
from ..evaluate import METRICS
from . import references
from .formatting import fmt_value, name_span
from .metrics_views import fmt_metric
from .views import deid_text, plan_values

_CITE = re.compile(r"\[@([A-Za-z0-9_:-]+(?:;\s*@[A-Za-z0-9_:-]+)*)\]")


def _spacings(ds: Mapping) -> str:
    sp = ds.get("spacings") or {}
    if isinstance(sp, Mapping) and sp:
        return ", ".join(f"{k} ({v} joint images)" for k, v in sp.items())
    return "as recorded in the DICOM files"


def _spacing_sources(ds: Mapping) -> str:
    """Where the pixel spacing came from, if the dataset summary records it."""
    src = ds.get("spacing_sources")
    if isinstance(src, Mapping) and src:
        return (
            " Pixel spacing was taken from "
            + ", ".join(f"{k} ({v} radiographs)" for k, v in src.items())
            + "."
        )
    return ""


def _data(ds: Mapping, deid: Mapping) -> str:
    d = deid_text(deid) or {}
    profile = d.get("profile") or "the DICOM PS3.15 Basic Application Level Confidentiality Profile"
    text = (
        f"{fmt_value(ds.get('n_radiographs'))} anteroposterior pelvis radiographs of "
        f"{fmt_value(ds.get('n_patients'))} patients were de-identified with {profile} "
        f"[@dicom_ps315] (options: {d.get('options', 'none')}), with keyed pseudonyms for "
        "patients and UIDs. Each radiograph was split at the midline into one image per hip "
        f"joint (right joints mirrored); {fmt_value(ds.get('n_excluded', 0))} hips marked in the "
        f"sample sheet (implants, fixation) were excluded, leaving "
        f"{fmt_value(ds.get('n_joints'))} joint images at their "
        f"original pixel spacing ({_spacings(ds)}).{_spacing_sources(ds)} The joint images were "
        f"split by patient into {fmt_value(ds.get('n_train_joints'))} training images "
        f"({fmt_value(ds.get('n_train_patients'))} patients) and "
        f"{fmt_value(ds.get('n_test_joints'))} test images "
        f"({fmt_value(ds.get('n_test_patients'))} patients); no patient contributes to both, "
        "as in the reproduced study [@blazkova_hip]."
    )
    return text


def _model(c2d: Mapping, overrides: Mapping, config: Mapping, versions: Mapping) -> str:
    plan = plan_values(c2d)
    norm = c2d.get("normalization_schemes") or []
    norm = ", ".join(map(str, norm)) if isinstance(norm, list) else str(norm)
    train = config.get("train") or {}
    changed = (
        " The workflow changed the plan as configured ("
        + "; ".join(f"{k} = {fmt_value(v)}" for k, v in overrides.items())
        + ")."
        if overrides
        else ""
    )
    return (
        f"Segmentation models were trained with nnU-Net {versions.get('nnunetv2', '')} "
        f"[@isensee2021nnunet] in its 2D configuration (PyTorch {versions.get('torch', '')}). "
        f"nnU-Net's planner chose a target spacing of {plan.get('spacing', '—')}, a patch of "
        f"{plan.get('patch_size', '—')} pixels, a batch size of {plan.get('batch_size', '—')} and "
        f"a {plan.get('network_class_name', 'U-Net')} with {plan.get('n_stages', '—')} stages "
        f"({plan.get('features_per_stage', '—')} features), with "
        f"{norm or '—'} intensity normalisation.{changed} Each model "
        f"was trained with the {fmt_value(train.get('trainer'))} trainer for "
        f"{fmt_value(train.get('epochs'))} epochs of {fmt_value(train.get('iterations_per_epoch'))}"
        f" iterations: {labels.N_FOLDS} models in a {labels.N_FOLDS}-fold cross-validation with "
        "folds grouped by patient, one on all training images "
        f"(“{labels.model_title('fold_' + labels.ALL_FOLD)}”), and the {labels.N_FOLDS} fold "
        "models were also combined into an ensemble (softmax average). The workflow ran with "
        f"Snakemake {versions.get('snakemake', '')} [@moelder2021snakemake] and hipseg "
        f"{versions.get('hipseg', '')}."
    )


def _evaluation(summary: Mapping) -> str:
    tau = fmt_value(summary.get("nsd_tolerance_mm"))
    return (
        f"Each test prediction was compared with its reference annotation per label "
        f"({name_span(list(labels.NAMES))}) following Metrics Reloaded [@maierhein2024metrics]: "
        "the Dice similarity coefficient; the 95th-percentile Hausdorff distance (HD95), taken as "
        "the larger of the two directed 95th percentiles of the distances between the label "
        "borders; the average symmetric surface distance (ASSD), the mean distance of the border "
        "pixels of both masks to the other border; and the normalized surface Dice (NSD), the "
        f"fraction of border pixels within τ = {tau} mm of the other border [@nikolov2021nsd]. "
        "Distances are in millimetres from each image's pixel spacing; border distances were "
        f"computed with {summary.get('surface_tool', 'MedPy')} [@maier_medpy]. A label absent "
        "from both reference and prediction was left out of every mean; a label absent from one "
        "of them scored Dice 0, NSD 0 and HD95 = ASSD = the image diagonal. Per image, the "
        "metrics were averaged over the labels present, and the best model was the one with the "
        "highest mean per-image Dice, as in the reproduced study [@blazkova_hip]."
    )


def _statistics(summary: Mapping, versions: Mapping) -> str:
    stats = summary.get("statistics") or {}
    level = float(stats.get("confidence_level", 0.95))
    return (
        f"Means over the test images are given with {level:.0%} bias-corrected and accelerated "
        f"(BCa) bootstrap confidence intervals [@efron1987bca] ({stats.get('bootstrap', '')}), "
        "so that the two hips of a patient are resampled together. The best model was compared "
        "with each other model by two-sided Wilcoxon signed-rank tests [@wilcoxon1945] on "
        "per-patient means, with Benjamini–Hochberg adjustment across the comparisons of each "
        f"metric [@benjamini1995fdr] (SciPy {versions.get('scipy', '')} [@virtanen2020scipy])."
    )


def _results(summary: Mapping, ci: pd.DataFrame) -> str:
    best = str(summary.get("best_model", ""))
    level = float((summary.get("statistics") or {}).get("confidence_level", 0.95))
    parts = []
    for m in METRICS:
        r = ci[(ci["table"] == "I") & (ci["metric"] == m.column) & (ci["model"] == best)]
        if r.empty:
            continue
        r = r.iloc[0]
        unit = f" {m.unit}" if m.unit else ""
        low, high = fmt_metric(r["ci_low"], m), fmt_metric(r["ci_high"], m)
        ci_text = f", {level:.0%} CI {low}–{high}{unit}" if "—" not in (low, high) else ""
        parts.append(f"{m.name} {fmt_metric(r['mean'], m)}{unit}{ci_text}")
    text = "; ".join(parts)
    return (
        f"On {summary.get('n_cases', '—')} test images of {summary.get('n_patients', '—')} "
        f"patients the best model, {labels.model_title(best)}, reached a mean per-image {text}."
    )


def _subgroups(sub: Mapping) -> str:
    """How the subgroups were formed and compared, and the failure modes."""
    attributes = [a for a in sub.get("attributes", []) if not a.get("suppressed")]
    names = ", ".join(f"{a['title']} ({a['source']})" for a in attributes) or "none"
    modes = "; ".join(f"{m['title']}: {m['definition']}" for m in sub.get("failure_modes", []))
    level = float(sub.get("confidence_level", 0.95))
    return (
        f"The best model's {fmt_value(sub.get('n_joints'))} test joints were divided into "
        f"subgroups by {names}. The age band was computed inside the de-identification step "
        "and only where its profile keeps the patient's age. So that no reported group points "
        f"at fewer than {fmt_value(sub.get('min_patients'))} patients, a band that small was "
        "joined to its neighbour and any other value that small pooled into “other”; a value "
        "of a sample-sheet column whose group or rest was that small was not reported. For "
        "each subgroup, metric and label the mean "
        f"has a {level:.0%} BCa interval resampling patients [@efron1987bca], and its difference "
        "to the rest of the test joints a percentile interval and a two-sided p-value from a "
        "cluster bootstrap that resamples patients with all of their joints (the resampled "
        "differences shifted to the null [@hall1991bootstrap]; "
        f"{fmt_value(sub.get('bootstrap_resamples'))} resamples); p-values were Holm-adjusted "
        "across all subgroups of one metric and label [@holm1979]. Each test joint's failure "
        f"modes were named from its label maps: {modes}."
    )


def _subgroup_results(sub: Mapping) -> str:
    titles = {a["name"]: a["title"] for a in sub.get("attributes", [])}
    dice = METRICS[0]
    parts = []
    for name, h in (sub.get("hardest") or {}).items():
        diff, test = fmt_metric(h.get("difference"), dice), ""
        if diff != "—":
            sign = "+" if (h.get("difference") or 0) > 0 else ""
            low, high = (fmt_metric(h.get(k), dice) for k in ("diff_ci_low", "diff_ci_high"))
            p = fmt_metric(h.get("p_holm"), dice)
            test = f", {sign}{diff} against the rest [{low}, {high}], Holm-adjusted p = {p}"
        parts.append(
            f"{titles.get(name, name)}: {h['subgroup']} ({h['n_joints']} joints, "
            f"mean Dice {fmt_metric(h.get('mean'), dice)}{test})"
        )
    if not parts:
        return ""
    return " The subgroup of lowest mean Dice of each attribute was " + "; ".join(parts) + "."


def _parts(text: str, numbers: dict[str, int]) -> list[dict[str, Any]]:
    """A paragraph as text and citation parts; cited keys are numbered on first citation."""
    out: list[dict[str, Any]] = []
    pos = 0
    for match in _CITE.finditer(text):
        if match.start() > pos:
            out.append({"text": text[pos : match.start()]})
        cites = []
        for key in (k.strip().lstrip("@") for k in match.group(1).split(";")):
            if key not in references.BY_KEY:
                raise KeyError(f"methods text cites unknown reference '{key}'")
            numbers.setdefault(key, len(numbers) + 1)
            cites.append({"key": key, "n": numbers[key]})
        out.append({"cites": cites})
        pos = match.end()
    if pos < len(text):
        out.append({"text": text[pos:]})
    return out


def methods_text(
    *,
    ds: Mapping,
    deid: Mapping,
    plan_2d: Mapping,
    overrides: Mapping | None,
    config: Mapping,
    versions: Mapping,
    summary: Mapping,
    ci: pd.DataFrame,
    subgroups: Mapping | None = None,
) -> dict:
    """The paragraphs (as parts), the numbered reference list, the plain text and the BibTeX.
    ``subgroups``: the summary of ``hipseg subgroups`` (a paragraph and a results sentence)."""
    paragraphs = [
        ("Data", _data(ds, deid)),
        ("Model and training", _model(plan_2d, overrides or {}, config, versions)),
        ("Evaluation", _evaluation(summary)),
        ("Statistics", _statistics(summary, versions)),
    ]
    results = _results(summary, ci)
    if subgroups:
        paragraphs.append(("Subgroups and failure modes", _subgroups(subgroups)))
        results += _subgroup_results(subgroups)
    paragraphs.append(("Results", results))
    numbers: dict[str, int] = {}
    rendered = [{"title": t, "parts": _parts(p, numbers)} for t, p in paragraphs]
    cited = sorted(numbers, key=numbers.get)
    refs = [
        {"n": numbers[k], "key": k, "text": references.BY_KEY[k].text, "anchor": f"ref-{k}"}
        for k in cited
    ]
    plain = "\n\n".join(
        f"{p['title']}. "
        + "".join(
            part.get("text") or "[" + ", ".join(str(c["n"]) for c in part["cites"]) + "]"
            for part in p["parts"]
        )
        for p in rendered
    )
    plain += "\n\nReferences\n\n" + "\n".join(f"[{r['n']}] {r['text']}" for r in refs) + "\n"
    return {
        "paragraphs": rendered,
        "references": refs,
        "plain": plain,
        "bibtex": references.bibtex(cited),
    }
