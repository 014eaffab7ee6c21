"""The subgroups stage: read the evaluation, the case table, the validated sample sheet, the
de-identification audits and the best model's label maps; write the tables.

Everything is read and computed before anything is written; the outputs are written atomically.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evaluate import METRIC_COLUMNS, METRICS_CSV_COLUMNS, EvaluateOptions, load_summary
from ..io import atomic_path, read_image_2d, write_json
from . import analysis, failures
from .attributes import Attribute, pooled_attributes, raw_attributes
from .options import SubgroupOptions

FAILURE_COLUMNS = ["case", "patient", "mode", "label", "value", "threshold"]
OUTPUTS = ("subgroups.csv", "failures.csv", "failure_counts.csv", "subgroups.json")


def _csv(path: Path, required: Sequence[str], **kw) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(path, "does not exist")
    try:
        df = pd.read_csv(path, **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(path, f"cannot be read as a table ({exc})") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(path, f"lacks column(s) {', '.join(missing)}")
    return df


def _evaluation(evaluation_dir: Path) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The best model and its rows of metrics.csv and per_image_metrics.csv."""
    best = str(load_summary(evaluation_dir)["best_model"])
    text = {"keep_default_na": False, "na_values": ["NaN"], "dtype": {"case": str}}
    metrics = _csv(evaluation_dir / "metrics.csv", METRICS_CSV_COLUMNS, **text)
    per_image = _csv(
        evaluation_dir / "per_image_metrics.csv",
        ["model", "case", "patient", *METRIC_COLUMNS],
        **text,
    )
    metrics = metrics[metrics["model"].astype(str) == best]
    per_image = per_image[per_image["model"].astype(str) == best]
    if per_image.empty:
        raise InputError(evaluation_dir / "metrics.csv", f"has no rows of the best model {best}")
    return best, metrics, per_image


def _joints(cases_tsv: Path, wide: pd.DataFrame) -> pd.DataFrame:
    """The test joints (in ``wide``'s order) with radiograph, side and pixel spacing."""
    table = _csv(
        cases_tsv, ["case", "radiograph", "side"], sep="\t", dtype=str, keep_default_na=False
    )
    table = table.set_index("case")
    absent = [c for c in wide["case"] if c not in table.index]
    if absent:
        raise InputError(cases_tsv, f"has no row for test case '{absent[0]}'")
    rows = table.loc[list(wide["case"])]

    def mm(name: str) -> np.ndarray:
        values = rows[name] if name in rows else pd.Series("", index=rows.index)
        return pd.to_numeric(values.replace("", "nan"), errors="coerce").to_numpy(dtype=float)

    spacing = np.fmax(mm("spacing_x"), mm("spacing_y"))  # the coarser axis
    return pd.DataFrame(
        {
            "case": list(wide["case"]),
            "radiograph": list(rows["radiograph"]),
            "side": list(rows["side"]),
            "spacing_mm": spacing,
        }
    )


def _characteristics(audits: Sequence[str | Path]) -> dict[str, dict]:
    """The de-identification's characteristics by id (``characteristics`` of each audit)."""
    out = {}
    for path in audits:
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
            out[str(record["id"])] = dict(record.get("characteristics") or {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(path, f"is not a de-identification audit record ({exc})") from exc
    return out


def _failures(wide, gt_dir: Path, pred_dir: Path, metrics: pd.DataFrame, options) -> pd.DataFrame:
    rows = []
    hd = metrics.pivot_table(index="case", columns="label", values="hd95_mm", dropna=False)
    for case, patient in zip(wide["case"], wide["patient"], strict=True):
        gt, spacing = read_image_2d(gt_dir / f"{case}.nii.gz")
        pred, _ = read_image_2d(pred_dir / f"{case}.nii.gz")
        if pred.shape != gt.shape:
            raise InputError(
                pred_dir / f"{case}.nii.gz",
                f"shape {pred.shape} differs from the reference {gt.shape}",
            )
        hd95 = hd.loc[case].to_dict() if case in hd.index else {}
        gt, pred = np.rint(gt).astype(np.int16), np.rint(pred).astype(np.int16)
        found = failures.joint_failures(gt, pred, spacing, hd95, options)
        rows += [{"case": case, "patient": patient, **f} for f in found]
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS)


def _attribute_json(a: Attribute, patients: Sequence[str]) -> dict:
    groups = []
    for g in a.groups:
        members = [p for p, vs in zip(patients, a.values, strict=True) if g in vs]
        groups.append({"name": g, "n_joints": len(members), "n_patients": len(set(members))})
    return {
        "name": a.name,
        "title": a.title,
        "source": a.source,
        "groups": groups,
        "n_pooled": a.n_pooled,
        "n_withheld": a.n_withheld,
        "suppressed": a.suppressed,
        "multi_valued": any(len(vs) > 1 for vs in a.values),
    }


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f", na_rep="NaN")


def analyse(
    evaluation_dir: str | Path,
    cases_tsv: str | Path,
    sheet: str | Path,
    audits: Sequence[str | Path],
    gt_dir: str | Path,
    pred_root: str | Path,
    out_dir: str | Path,
    options: SubgroupOptions | None = None,
    stats: EvaluateOptions | None = None,
) -> dict:
    """The subgroup and failure analysis of the best model (see :mod:`hipseg.subgroups`);
    writes :data:`OUTPUTS` into ``out_dir`` and returns the summary."""
    start = time.perf_counter()
    options, stats = options or SubgroupOptions(), stats or EvaluateOptions()
    evaluation_dir, out_dir = Path(evaluation_dir), Path(out_dir)
    from ..samplesheet import check_columns
    from ..samplesheet import read as read_sheet

    table = read_sheet(sheet)
    check_columns(list(table.columns), options.columns, sheet)
    best, metrics, per_image = _evaluation(evaluation_dir)
    wide = analysis.wide_table(metrics, per_image)
    joints = _joints(Path(cases_tsv), wide)
    patients = [str(p) for p in wide["patient"]]
    raw = raw_attributes(joints, table, _characteristics(audits), options)
    attributes = pooled_attributes(raw, patients, options.min_patients)
    subgroups = analysis.subgroup_table(attributes, wide, stats, options.min_patients)
    modes = failures.modes(options.boundary_mm, options.merge_fraction, options.head_offset)
    found = _failures(wide, Path(gt_dir), Path(pred_root) / best, metrics, options)
    counts = analysis.failure_counts(attributes, list(wide["case"]), found, [m.code for m in modes])
    summary = {
        "model": best,
        "n_joints": len(wide),
        "n_patients": len(set(patients)),
        "min_patients": options.min_patients,
        "attributes": [_attribute_json(a, patients) for a in attributes],
        "hardest": analysis.hardest(subgroups),
        "worst_cases": analysis.worst_cases(attributes, wide, options.worst_cases),
        "failure_modes": [vars(m) for m in modes],
        "confidence_level": stats.confidence_level,
        "bootstrap_resamples": stats.bootstrap_resamples,
        "seed": stats.seed,
        "options": options.to_config(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(out_dir / "subgroups.csv", subgroups)
    _write_csv(out_dir / "failures.csv", found)
    _write_csv(out_dir / "failure_counts.csv", counts)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    write_json(out_dir / "subgroups.json", summary)
    return summary
