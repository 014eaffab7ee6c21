"""Assemble the template's context from the inputs and render the single HTML file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import jinja2

from .. import labels
from ..errors import InputError
from ..io import write_text
from ..options import StageOptions
from . import data, figures, paper, views
from .formatting import fmt4, fmt_value, is_listlike, is_scalar, key_union, pretty_json
from .measurements import measurements_view
from .provenance import collect as collect_provenance

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


def _banners(deid: Mapping, config: Mapping) -> list[str]:
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
    """Tables I/II, the per-label means and Figs. 3–5."""
    models, best, t1, t2 = ev["models"], ev["best_model"], ev["table1"], ev["table2"]
    return {
        "n_cases": ev["summary"].get("n_cases", ev["per_image"]["case"].nunique()),
        "models": [labels.model_title(m) for m in models],
        "best_model": labels.model_title(best),
        "best_mean": fmt4(t1.loc[best, "mean"]) if best in t1.index else "—",
        "table1": views.table1_view(t1, models, best, ref),
        "table2": views.table2_view(t2, ref),
        "table2_model": labels.model_title(str(t2["model"].iloc[0]) if "model" in t2 else best),
        "per_label": views.per_label_view(ev["dice"], models),
        "fig3": figures.fig3(ev["per_image"], models),
        "fig4": figures.fig4(ev["dice"], models),
        "worst": worst,
        "undefined_dice": ev["summary"].get("n_undefined_dice"),
    }


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
) -> None:
    """Render the single-file HTML report to ``out_html`` (written atomically).

    ``evaluation_dir`` holds the outputs of :func:`hipseg.evaluate.evaluate`; ``dataset_summary``,
    ``plans_json`` and ``deid_summary`` are JSON files (or already-loaded dicts; ``deid_summary``
    may be ``None``); ``images_dir``/``labels_dir`` hold the nnU-Net test images
    (``<case>_0000.nii.gz``) and reference labels (``<case>.nii.gz``); ``predictions_root/<model>``
    the predictions. Every input is required except ``benchmarks_dir`` (missing → a note in the
    report). A missing or malformed required input raises :class:`InputError` naming the file.
    """
    template, config = Path(template), dict(config or {})
    ev = data.load_evaluation(Path(evaluation_dir))
    ds = data.read_json(dataset_summary, "dataset summary")
    plans = data.read_json(plans_json, "nnU-Net plans")
    deid = data.read_json(deid_summary, "de-identification summary") if deid_summary else {}
    if not template.is_file():
        raise InputError(template, "report template does not exist")
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    predictions_root = Path(predictions_root)
    data.check_dirs(
        (images_dir, "test-image directory"),
        (labels_dir, "test-label directory"),
        (predictions_root, "prediction directory"),
    )
    ref = paper.REFERENCE
    methods_rows, methods_extra = views.methods_rows(plans, str(plans_json), config, ref)
    worst = views.worst_cases(ev, images_dir, labels_dir, predictions_root, worst_k)
    prov = collect_provenance(config, provenance)
    context = {
        "title": TITLE,
        "subtitle": SUBTITLE,
        "date": prov["date"],
        "banners": _banners(deid, config),
        **_results_context(ev, worst, ref),
        **_paper_context(ref),
        "dataset_rows": views.dataset_rows(ds, ref),
        "methods_rows": methods_rows,
        "methods_extra": methods_extra,
        "deid": views.key_value_rows(deid),
        "deid_text": views.deid_text(deid),
        "worst_k": worst_k,
        "bench": views.benchmarks_view(data.read_benchmarks(benchmarks_dir)),
        "prov": prov,
        "montage": figures.png_file_uri(montage, "montage image") if montage else None,
        "gallery": figures.png_file_uri(gallery, "gallery image") if gallery else None,
        "paper_plan": views.paper_plan_view(paper_plan) if paper_plan else None,
        "measurements": measurements_view(measurements) if measurements else None,
    }
    write_text(out_html, _render(template, context))
