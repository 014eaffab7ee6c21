"""Templating against the synthetic generator's geometry: size agreement, change errors.

For each hip the truth (:mod:`.truth`) is the plan the rules make on the true geometry. A plan
made on a label map (the ground-truth labels: the algorithm's error; a model's: segmentation
plus algorithm) is compared with it:

* **sizes**: the cup and the stem, exact and within one catalogue size (size steps apart);
* **predicted changes** of leg length and total offset: against what the *same components*
  change on the true geometry (:func:`.plan.describe`) — the error of the prediction the
  surgeon reads — and, apart, against the true plan's changes (which also differ where the
  sizes, variant or neck differ).

The published accuracy of manual and AI-assisted 2D templating (:data:`PUBLISHED`) is shown
beside it in the benchmark, the report and docs/templating.md.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import numpy as np

from ..io import write_json, write_text
from .catalogue import Catalogue
from .plan import NotPlanned, components_of, describe
from .truth import truth_geometries, truth_plans

# Published agreement of the planned with the implanted size in patients (exact %, within one
# size %; None: not reported there)
MEDICAD = (
    "Mirghaderi et al. 2022, J Orthop Surg Res 17:222, doi:10.1186/s13018-022-03086-5 "
    "(391 patients)"
)
AI_HIP = (
    "Value of 3D preoperative planning for primary total hip arthroplasty based on "
    "artificial intelligence technology, J Orthop Surg Res 2021, "
    "doi:10.1186/s13018-021-02294-9 (59 hips)"
)
PUBLISHED = (
    {"method": "manual 2D digital templating (mediCAD)", "reference": MEDICAD,
     "cup": (28.9, 63.9), "stem": (27.2, 61.0)},
    {"method": "manual 2D digital templating", "reference": AI_HIP,
     "cup": (40.7, None), "stem": (49.2, None)},
    {"method": "AI planner on CT (AI HIP, 3D)", "reference": AI_HIP,
     "cup": (74.6, None), "stem": (71.2, None)},
)  # fmt: skip
TARGETS = {"cup": (90.0, 99.0), "stem": (85.0, 98.0), "change_p95_mm": 2.0}
COLUMNS = [
    "radiograph", "side", "measured", "truth", "cup_mm", "true_cup_mm", "cup_steps",
    "fill_mm", "true_fill_mm", "stem", "true_stem", "stem_steps", "variant", "head_mm",
    "neck_mm", "leg_length_change_mm",
    "true_leg_length_change_mm", "truth_plan_leg_length_change_mm", "offset_change_mm",
    "true_offset_change_mm", "truth_plan_offset_change_mm", "reason",
]  # fmt: skip


def compare(plans: dict, truth: dict, catalogue: Catalogue, radiograph: str,
            excluded=None) -> list[dict]:  # fmt: skip
    """Rows (:data:`COLUMNS`) of one radiograph's plans (``{side: plan}``) against the truth."""
    geoms = truth_geometries(truth, catalogue, excluded)
    true_plans = truth_plans(truth, catalogue, excluded)
    rows = []
    for side, tp in true_plans.items():
        m = plans.get(side) or {"status": "not templated", "reason": "no plan"}
        row = {"radiograph": radiograph, "side": side, "measured": m["status"],
               "truth": tp["status"], "reason": m.get("reason") or tp.get("reason")}  # fmt: skip
        if tp["status"] == "planned" and m["status"] == "planned":
            row.update(_sizes(m, tp, catalogue))
            try:
                same = describe(geoms[side], catalogue, components_of(m))["predicted"]
            except NotPlanned:
                same = None
            for key, name in (("leg_length_change_mm", "leg_length_change_mm"),
                              ("offset_change_mm", "offset_change_mm")):  # fmt: skip
                row[name] = m["predicted"][key]
                row[f"true_{name}"] = None if same is None else same[key]
                row[f"truth_plan_{name}"] = tp["predicted"][key]
        rows.append(row)
    return rows


def _sizes(m: dict, tp: dict, catalogue: Catalogue) -> dict:
    cups = list(catalogue.cups_mm)
    cup, true_cup = m["cup"]["outer_diameter_mm"], tp["cup"]["outer_diameter_mm"]
    return {
        "cup_mm": cup, "true_cup_mm": true_cup,
        "cup_steps": cups.index(cup) - cups.index(true_cup),
        "fill_mm": m["cup"]["fill_diameter_mm"], "true_fill_mm": tp["cup"]["fill_diameter_mm"],
        "stem": m["stem"]["size"], "true_stem": tp["stem"]["size"],
        "stem_steps": m["stem"]["index"] - tp["stem"]["index"],
        "variant": m["stem"]["variant"], "head_mm": m["head"]["diameter_mm"],
        "neck_mm": m["head"]["neck_length_mm"],
    }  # fmt: skip


def _pct(flags) -> float | None:
    return None if not len(flags) else 100.0 * float(np.mean(flags))


def _errors(values) -> dict:
    e = np.abs(np.array([v for v in values if v is not None], float))
    if not e.size:
        return {"n": 0, "mae": None, "p95": None, "max": None}
    return {"n": int(e.size), "mae": float(e.mean()), "p95": float(np.percentile(e, 95)),
            "max": float(e.max())}  # fmt: skip


def summarise(rows: list[dict]) -> dict:
    """Agreement and change errors over the hips both the truth and the label map planned."""
    both = [r for r in rows if r["truth"] == "planned" and r["measured"] == "planned"]
    out = {"hips": len(rows), "truth_planned": sum(r["truth"] == "planned" for r in rows),
           "planned": len(both),
           "not_planned": [f"{r['radiograph']} {r['side']}: {r['reason']}" for r in rows
                           if r["truth"] == "planned" and r["measured"] != "planned"]}  # fmt: skip
    for part in ("cup", "stem"):
        steps = [abs(r[f"{part}_steps"]) for r in both]
        out[part] = {"exact_percent": _pct([s == 0 for s in steps]),
                     "within_one_percent": _pct([s <= 1 for s in steps]),
                     "target": TARGETS[part]}  # fmt: skip
        if part == "cup":
            out[part]["fill_error_mm"] = _errors(
                [r["fill_mm"] - r["true_fill_mm"] for r in both])  # fmt: skip
    for key in ("leg_length_change_mm", "offset_change_mm"):
        out[key] = {
            "same_components": _errors([None if r[f"true_{key}"] is None
                                        else r[key] - r[f"true_{key}"] for r in both]),
            "truth_plan": _errors([r[key] - r[f"truth_plan_{key}"] for r in both]),
            "target_p95_mm": TARGETS["change_p95_mm"],
        }  # fmt: skip
    return out


def write_rows(path: Path, rows: list[dict]) -> None:
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    write_text(path, buf.getvalue())


def write_summary(path: Path, result: dict) -> None:
    write_json(path, {**result, "published": [dict(p) for p in PUBLISHED]})


def _labels(path: Path) -> np.ndarray:
    from ..io import read_image_2d

    lab, _ = read_image_2d(path)
    return lab.astype(np.uint8)


def _plan_labels(lab, truth: dict, catalogue: Catalogue, excluded: dict, statement=None):
    """Plans of a label map in the truth's millimetres, or in a calibration's (``statement``)."""
    from ..measure.record import measure_label_map
    from .record import template_radiograph

    right_left = truth.get("patient_right_on", "image_left") == "image_left"
    if statement is None:
        spacing = tuple(truth["spacing_mm"])
        statement = {"source": "synthetic truth", "calibrated": True,
                     "spacing_mm": list(spacing)}  # fmt: skip
    else:
        spacing = tuple(statement["spacing_mm"])
    record = measure_label_map(lab, spacing, right_on_image_left=right_left, excluded=excluded,
                               calibration=statement)  # fmt: skip
    return template_radiograph(lab, record, catalogue, right_on_image_left=right_left)["hips"]


def validate_set(truth_dir, labels_dir, out_dir, catalogue: Catalogue, *, segmented=None,
                 ids=None, calibrations=None, overlays: int = 2) -> dict:  # fmt: skip
    """Plans of the ground-truth label maps (in the truth's millimetres; with ``calibrations``
    {id: statement}, or the calibration ``segmented`` made, also in each radiograph's calibrated
    millimetres) and, with ``segmented`` (a ``hipseg segment --template`` output folder), its
    plans, against the truth. Writes
    ``templating_<kind>.csv`` and ``templating.json`` into ``out_dir``; returns the summary."""
    from ..measure.validate import read_truth

    truth_dir, labels_dir, out_dir = Path(truth_dir), Path(labels_dir), Path(out_dir)
    if ids is None:
        ids = sorted(p.stem for p in truth_dir.glob("*.json"))
    rows: dict[str, list] = {"ground_truth": [], "ground_truth_calibrated": [], "predicted": []}
    shown = []
    for rid in ids:
        truth = read_truth(truth_dir / f"{rid}.json")
        excluded = {s: f"implant ({h['hardware']})" for s, h in truth["hips"].items()
                    if h["hardware"]}  # fmt: skip
        lab = _labels(labels_dir / f"{rid}.png")
        rows["ground_truth"] += compare(_plan_labels(lab, truth, catalogue, excluded), truth,
                                        catalogue, rid)  # fmt: skip
        if calibrations and rid in calibrations:
            plans = _plan_labels(lab, truth, catalogue, excluded, calibrations[rid])
            rows["ground_truth_calibrated"] += compare(plans, truth, catalogue, rid)
        if segmented is not None:
            folder = Path(segmented) / rid
            statement = _calibration_of(folder / "measurements.json")
            if calibrations is None and statement is not None:
                plans = _plan_labels(lab, truth, catalogue, excluded, statement)
                rows["ground_truth_calibrated"] += compare(plans, truth, catalogue, rid)
            plans = _read_plans(folder / "templating.json")
            rows["predicted"] += compare(plans, truth, catalogue, rid)
            if len(shown) < overlays and (folder / "templating.png").is_file():
                shown.append(_copy_overlay(folder / "templating.png", out_dir, rid))
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"catalogue": catalogue.describe(), "radiographs": len(ids), "overlays": shown}
    for kind, kind_rows in rows.items():
        if not kind_rows:
            result[kind] = None
            continue
        write_rows(out_dir / f"templating_{kind}.csv", kind_rows)
        result[kind] = summarise(kind_rows)
    write_summary(out_dir / "templating.json", result)
    return result


def _calibration_of(path: Path) -> dict | None:
    """The calibration statement hipseg segment made (None: uncalibrated or none)."""
    import json

    try:
        statement = json.loads(path.read_text(encoding="utf-8")).get("calibration")
    except (OSError, ValueError):
        return None
    return statement if statement and statement.get("calibrated") else None


def _read_plans(path: Path) -> dict:
    import json

    from ..errors import InputError

    try:
        return json.loads(path.read_text(encoding="utf-8"))["hips"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(path, f"is not a templating record of hipseg segment ({exc})") from exc


def _copy_overlay(src: Path, out_dir: Path, rid: str) -> dict:
    from ..io import atomic_path

    dst = out_dir / "overlays" / f"templating_{rid}.png"
    with atomic_path(dst, suffix=".png") as tmp:
        tmp.write_bytes(src.read_bytes())
    return {"id": rid, "file": f"overlays/templating_{rid}.png"}


def catalogue_of(name: str | None, segmented=None) -> Catalogue | None:
    """The catalogue to check templating with: ``name``, else the one the ``segmented`` run
    (a ``hipseg segment`` output folder) used; None when there is none."""
    import json

    from ..errors import InputError
    from .catalogue import load

    if name is None and segmented is not None:
        path = Path(segmented) / "run.json"
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot be read ({exc})") from exc
        name = (run.get("options") or {}).get("template") or None
    return None if not name else load(name)


def print_summary(result: dict) -> None:
    """One line per kind of label map: hips planned, cup and stem exact."""
    for kind in ("ground_truth", "ground_truth_calibrated", "predicted"):
        s = result.get(kind)
        if s:
            cup, stem = s["cup"]["exact_percent"], s["stem"]["exact_percent"]
            print(f"templating {kind:23s} {s['planned']} of {s['truth_planned']} hips planned; "
                  f"cup exact {'—' if cup is None else f'{cup:.1f} %'}, stem exact "
                  f"{'—' if stem is None else f'{stem:.1f} %'}")  # fmt: skip
