"""Assemble the template's context from the inputs and render the single HTML file."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import jinja2
import pandas as pd

from .. import labels
from ..errors import InputError
from ..io import write_text
from ..options import StageOptions
from . import cases, data, downloads, figures, learning, metrics_views, paper, views
from .formatting import fmt4, fmt_value, is_listlike, is_scalar, key_union, pretty_json
from .measurements import measurements_view
from .methods import methods_text
from .provenance import collect as collect_provenance
from .subgroups import subgroups_view

# The template shipped with the workflow (workflow/templates/report.html.j2); its macros
# (macros.html.j2) are found beside it, or beside a template given instead.
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "report.html.j2"


@dataclass(frozen=True)
class ReportOptions(StageOptions):
    """The ``report:`` section of the config."""

    SECTION: ClassVar[str] = "report"
    worst_cases: int = 3


TITLE = "hipseg — hip-joint segmentation of AP pelvis radiographs"
SUBTITLE = (
    "Reproduction of Blažková, “Segmentation of hip joint anatomy structures from "
    "radiographic images” (2D nnU-Net v2)"
)


def _banners(deid: Mapping, config: Mapping, ds: Mapping | None = None,
             model_source: Mapping | None = None) -> list[str]:  # fmt: skip
    banners = []
    ds = ds or {}
    if ds.get("patient_grouped") is False:
        banners.append(
            "Cases were not grouped by patient: the source gave no patient per case (an nnU-Net "
            "dataset without patients.tsv), so each case counts as its own patient. Joints of "
            "one patient may fall into both training and validation of a fold, and the "
            "bootstrap intervals treat them as independent."
        )
    if ds.get("n_joints_not_dicom"):
        banners.append(
            f"{ds['n_joints_not_dicom']} joint image(s) entered as non-DICOM files and were taken "
            "as de-identified by their provider; hipseg did not de-identify them."
        )
    if model_source and not str(model_source.get("source", "")).startswith("trained"):
        banners.append(
            f"Existing models ({model_source.get('trainer')}, plans {model_source.get('plans')}, "
            f"configuration {model_source.get('configuration')}) were evaluated: this run "
            "trained nothing."
        )
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
    return banners


def _environment(template: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(str(template.parent)),
                jinja2.FileSystemLoader(str(DEFAULT_TEMPLATE.parent)),
            ]
        ),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt_value=fmt_value, pretty_json=pretty_json, key_union=key_union)
    env.tests.update(scalar=is_scalar, listlike=is_listlike)
    return env


def _render(template: Path, context: dict) -> str:
    env = _environment(template)
    try:
        return env.get_template(template.name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or template
        raise InputError(where, f"template syntax error at line {exc.lineno}: {exc}") from exc
    except jinja2.TemplateNotFound as exc:
        raise InputError(template, f"template {exc.name} not found") from exc


def _results_context(ev: dict, worst: list[dict], ref: paper.PaperReference) -> dict:
    """Tables I–IV with their intervals, the paired tests, the per-label means and Figs. 3–5."""
    models, best, t1, t2 = ev["models"], ev["best_model"], ev["table1"], ev["table2"]
    table1 = views.table1_view(t1, models, best, ref)
    columns = list(models) + [m for m in ref.table1 if m not in models]
    for w in worst:
        w["anchor"] = cases.anchor(w["case"])
    return {
        "n_cases": ev["summary"].get("n_cases", ev["per_image"]["case"].nunique()),
        "n_patients": ev["summary"].get("n_patients", "—"),
        "models": [labels.model_title(m) for m in models],
        "best_model": labels.model_title(best),
        "best_mean": fmt4(t1.loc[best, "mean"]) if best in t1.index else "—",
        "best_ci": metrics_views.table1_ci(ev["ci"], [best])[0],
        "table1": table1,
        "table1_ci": metrics_views.table1_ci(ev["ci"], columns),
        "table2": views.table2_view(t2, ref),
        "table2_ci": metrics_views.table2_ci(ev["ci"], best),
        "table2_model": labels.model_title(str(t2["model"].iloc[0]) if "model" in t2 else best),
        "table3": metrics_views.table3_view(ev["ci"], ev["per_image_metrics"], models, best),
        "table4": metrics_views.table4_view(ev["ci"], ev["metrics"], best),
        "tests": metrics_views.tests_view(ev["tests"]),
        "conventions": metrics_views.conventions_view(ev["summary"]),
        "per_label": views.per_label_view(ev["dice"], models),
        "fig3": figures.fig3(ev["per_image"], models),
        "fig4": figures.fig4(ev["dice"], models),
        "worst": worst,
        "undefined_dice": ev["summary"].get("n_undefined_dice"),
    }


def _configurations_context(main, ev, extra, plans, bench) -> dict | None:
    """Section 'Configurations' (None unless further configurations were evaluated)."""
    if not extra:
        return None
    from .configurations import configurations_view

    evaluations = {main: ev}
    for name, folder in extra.items():
        evaluations[name] = data.load_evaluation(Path(folder))
    return configurations_view(main, evaluations, plans, bench["rows"])


def _curves_context(checkpoints: Sequence | None) -> dict:
    """Fig. 6, the learning curves, and their data (or why there are none)."""
    if not checkpoints:
        return {"uri": None, "rows": [], "note": "No training checkpoints were given.", "csv": None}
    curves = learning.read_curves(checkpoints)
    return {
        "uri": figures.learning_curves(curves) if len(curves) else None,
        "rows": learning.summary_rows(curves),
        "note": "" if len(curves) else "The training logs hold no epoch.",
        "csv": downloads.from_frame(
            "learning_curves.csv", curves, "loss and pseudo-Dice per model and epoch"
        ),
    }


_DOWNLOADS = (
    ("table1.csv", "Table I: per-image mean Dice per model"),
    ("table2.csv", "Table II: Dice per label, best model"),
    ("ci.csv", "bootstrap intervals of every mean of Tables I–IV"),
    ("tests.csv", "paired Wilcoxon tests, BH-adjusted"),
    ("metrics.csv", "Dice, HD95, ASSD, NSD per model, image and label, with the empty-mask "
     "convention applied"),
    ("per_image_metrics.csv", "per-image means of every metric"),
    ("dice.csv", "Dice per model, image and label (the paper's long table)"),
    ("per_image.csv", "per-image mean Dice per model"),
)  # fmt: skip


def _downloads(ev: dict, bench: dict, curves: dict, methods: dict, sub: dict | None) -> dict:
    """Every embedded file, by name (the template links them beside their tables)."""
    out = {name: downloads.from_file(ev["files"][name], what) for name, what in _DOWNLOADS}
    out.update(sub["downloads"] if sub else {})
    if bench["rows"]:
        out["benchmarks.csv"] = downloads.from_frame(
            "benchmarks.csv", pd.DataFrame(bench["rows"]), "run time and memory per job"
        )
    if curves["csv"]:
        out["learning_curves.csv"] = curves["csv"]
    out["references.bib"] = downloads.from_text(
        "references.bib", methods["bibtex"], "BibTeX of the methods text"
    )
    out["methods.md"] = downloads.from_text(
        "methods.md", methods["plain"], "the methods text with its references"
    )
    return out


def _paper_context(ref: paper.PaperReference) -> dict:
    """The paper's headline numbers and the label/model wording of the prose."""
    return {
        "paper_best_model": labels.model_title(ref.table2_model),
        "paper_best_mean": fmt4(ref.table1[ref.table2_model]["mean"]),
        "paper_test_images": ref.dataset.get("n_test_joints", "—"),
        "paper_best_models": views.paper_best_models(ref),
        "label_span": views.label_span(),
        "model_words": views.model_wording(),
        "legend": views.legend_items(),
    }


def _model_source(model_dir, existing: bool, checkpoints, models: Sequence[str]) -> dict:
    """Where the models came from, with the folds the evaluated models used (the checkpoints
    given: ``fold_X/checkpoint_final.pth``) and what the ensemble averaged."""
    from ..models import describe

    used = [Path(c).parent.name.removeprefix("fold_") for c in checkpoints or ()]
    source = describe(model_dir, trained_here=not existing, used=used if checkpoints else None)
    cv = [f"fold_{f}" for f in labels.CV_FOLDS if f in used]
    source["ensemble"] = (
        f"of {', '.join(cv)}"
        if labels.ENSEMBLE in models
        else "none (it needs at least two of the folds 0–4)"
        if len(cv) < 2
        else "not evaluated (models_used)"
    )
    return source


def _cases_and_subgroups(ev: dict, dirs: tuple[Path, ...], folder) -> tuple[dict, dict | None]:
    """Fig. 7 (every test case) and, given ``hipseg subgroups``' folder, section 11b, whose
    worst cases reuse Fig. 7's pictures."""
    all_cases = cases.gallery(ev, *dirs)
    if not folder:
        return all_cases, None
    best, table1 = ev["best_model"], ev["table1"]
    overall = float(table1.loc[best, "mean"]) if best in table1.index else math.nan
    return all_cases, subgroups_view(folder, all_cases["entries"], overall)


def _check_paths(template: Path, images_dir, labels_dir, predictions_root) -> tuple[Path, ...]:
    if not template.is_file():
        raise InputError(template, "report template does not exist")
    dirs = (Path(images_dir), Path(labels_dir), Path(predictions_root))
    data.check_dirs(
        (dirs[0], "test-image directory"),
        (dirs[1], "test-label directory"),
        (dirs[2], "prediction directory"),
    )
    return dirs


def _read_inputs(evaluation_dir, dataset_summary, plans_json, deid_summary) -> tuple:
    """The evaluation, the dataset summary, the plans and the de-identification summary ({}
    without one); a missing or malformed file raises :class:`InputError` naming it."""
    ev = data.load_evaluation(Path(evaluation_dir))
    ds = data.read_json(dataset_summary, "dataset summary")
    plans = data.read_json(plans_json, "nnU-Net plans")
    deid = data.read_json(deid_summary, "de-identification summary") if deid_summary else {}
    return ev, ds, plans, deid


def _head_context(prov: dict, deid: Mapping, config: Mapping, ds: Mapping,
                  model_source: Mapping | None, ev: dict) -> dict:  # fmt: skip
    """The report's head: title, date, banners, and where the models came from."""
    return {
        "title": TITLE,
        "subtitle": SUBTITLE,
        "date": prov["date"],
        "banners": _banners(deid, config, ds, model_source),
        "model_source": views.model_source_rows(model_source),
        "models_note": views.models_note(ev["models"], model_source),
    }


def _deid_context(deid: Mapping) -> dict:
    """The de-identification section: the summary's table, its text, the non-DICOM inputs."""
    return {
        "deid": views.key_value_rows(deid),
        "deid_text": views.deid_text(deid) if deid.get("n_images") else None,
        "deid_not_dicom": deid.get("not_dicom", ""),
    }


def _optional_sections(montage, gallery, paper_plan, measurements) -> dict:
    """The sections of inputs a run may not have (None: no section): the montage and gallery
    pictures, the paper's plan reproduced, the measurements against the truth."""
    return {
        "montage": figures.png_file_uri(montage, "montage image") if montage else None,
        "gallery": figures.png_file_uri(gallery, "gallery image") if gallery else None,
        "paper_plan": views.paper_plan_view(paper_plan) if paper_plan else None,
        "measurements": measurements_view(measurements) if measurements else None,
    }


def _methods_text(ds, deid, plans, configuration: str, config, prov, ev, sub) -> dict:
    """The methods text (plain, Markdown, BibTeX) of the main configuration's plan."""
    return methods_text(
        ds=ds,
        deid=deid,
        plan_2d=plans["configurations"][configuration],
        overrides=(plans.get("hipseg_overrides") or {}).get(configuration),
        config=config,
        versions=prov["versions"],
        summary=ev["summary"],
        ci=ev["ci"],
        subgroups=sub["summary"] if sub else None,
    )


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
    measurements: str | Path | None = None,
    checkpoints: Sequence[str | Path] | None = None,
    model_dir: str | Path | None = None,
    existing_models: bool = False,
    bib_out: str | Path | None = None,
    configurations: Mapping[str, str | Path] | None = None,
    subgroups: str | Path | None = None,
) -> None:
    """Render the single-file HTML report to ``out_html`` (written atomically).

    ``evaluation_dir`` holds the outputs of :func:`hipseg.evaluate.evaluate`; ``dataset_summary``,
    ``plans_json`` and ``deid_summary`` are JSON files (or already-loaded dicts; ``deid_summary``
    may be ``None``); ``images_dir``/``labels_dir`` hold the nnU-Net test images
    (``<case>_0000.nii.gz``) and reference labels (``<case>.nii.gz``); ``predictions_root/<model>``
    the predictions; ``checkpoints`` nnU-Net's ``fold_X/checkpoint_final.pth`` files (their
    training logs give the learning curves). Every input is required except ``benchmarks_dir``
    and ``checkpoints`` (missing → a note in the report). A missing or malformed required input
    raises :class:`InputError` naming the file. ``bib_out``, if given, receives the BibTeX of
    the methods text (``references.bib``). ``configurations``: further nnU-Net configurations
    (name → their evaluation folder), compared with the main one in their own section.
    ``subgroups``: the folder of ``hipseg subgroups``' outputs (section 11b; none: no section).
    """
    template, config = Path(template), dict(config or {})
    ev, ds, plans, deid = _read_inputs(evaluation_dir, dataset_summary, plans_json, deid_summary)
    dirs = _check_paths(template, images_dir, labels_dir, predictions_root)
    ref = paper.REFERENCE
    model_source = None
    if model_dir is not None:
        model_source = _model_source(model_dir, existing_models, checkpoints, ev["models"])
    configuration = (model_source or {}).get("configuration", "2d")
    methods_rows, methods_extra = views.methods_rows(
        plans, str(plans_json), config, ref, model_source
    )
    prov = collect_provenance(config, provenance)
    bench = data.read_benchmarks(benchmarks_dir)
    curves = _curves_context(checkpoints)
    all_cases, sub = _cases_and_subgroups(ev, dirs, subgroups)
    text = _methods_text(ds, deid, plans, configuration, config, prov, ev, sub)
    context = {
        **_head_context(prov, deid, config, ds, model_source, ev),
        **_results_context(ev, views.worst_cases(ev, *dirs, worst_k), ref),
        **_paper_context(ref),
        "dataset_rows": views.dataset_rows(ds, ref),
        "methods_rows": methods_rows,
        "methods_extra": methods_extra,
        **_deid_context(deid),
        "worst_k": worst_k,
        "bench": views.benchmarks_view(bench),
        "prov": prov,
        **_optional_sections(montage, gallery, paper_plan, measurements),
        "curves": curves,
        "cases": all_cases,
        "subgroups": sub,
        "text": text,
        "downloads": _downloads(ev, bench, curves, text, sub),
        "configurations": _configurations_context(configuration, ev, configurations, plans, bench),
    }
    html = _render(template, context)
    if bib_out is not None:
        write_text(bib_out, text["bibtex"])
    write_text(out_html, html)
