"""Measurements against the synthetic generator's known geometry: errors, MAE and 95th percentile.

For each radiograph with a ``truth/<id>.json`` (:mod:`hipseg.synth.truth`) the same measurement
code runs on the true landmarks and on those found in a label map (the ground-truth labels: the
error of the measurement algorithm; a model's prediction: segmentation plus algorithm). The
head centre is compared as a distance, the head diameter also in per cent.
"""

from __future__ import annotations

import csv
import io as _io
import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import write_json, write_text
from .quantities import BY_NAME, SIDES, measure

# Targets on full-resolution ground truth (issue 14); None: reported without a target.
TARGETS: dict[str, tuple[float, str]] = {
    "head_centre": (0.5, "mm"),
    "head_diameter_percent": (1.0, "%"),
    "lateral_centre_edge_angle": (1.0, "deg"),
    "sharp_angle": (1.0, "deg"),
    "teardrop_line_angle": (1.0, "deg"),
    "leg_length_difference_lesser_trochanter": (1.0, "mm"),
    "leg_length_difference_head_centre": (1.0, "mm"),
}
ERROR_COLUMNS = ["radiograph", "side", "quantity", "unit", "truth", "measured", "error", "reason"]
QUANTITIES = ("head_centre", "head_diameter", "head_diameter_percent") + tuple(
    d.name for d in BY_NAME.values() if d.name != "head_diameter"
)


def read_truth(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the synthetic truth ({exc})") from exc


def truth_hips(truth: dict) -> dict:
    """The true landmarks in the form :func:`hipseg.measure.measure` takes."""
    hips = {}
    for side in SIDES:
        h = truth["hips"][side]
        hips[side] = {
            "excluded": h["hardware"] or None,
            "missing": {},
            **{k: h[k] for k in ("head_centre", "head_radius", "teardrop_inferior",
                                 "lesser_trochanter_tip", "shaft_axis", "acetabular_rim")},
        }  # fmt: skip
    return hips


def truth_record(truth: dict) -> dict:
    hips = truth_hips(truth)
    right_left = truth.get("patient_right_on", "image_left") == "image_left"
    return {"landmarks": hips, **measure(hips, right_left)}


def _scale_landmarks(hips: dict, k: float) -> dict:
    """Landmarks (mm) of both hips scaled by ``k`` (another spacing of the same pixels)."""
    out = {}
    for side, h in hips.items():
        h = dict(h)
        for key in ("head_centre", "teardrop_inferior", "lesser_trochanter_tip",
                    "acetabular_rim"):  # fmt: skip
            if h.get(key) is not None:
                h[key] = [k * v for v in h[key]]
        if h.get("head_radius") is not None:
            h["head_radius"] = k * h["head_radius"]
        if h.get("shaft_axis") is not None:
            h["shaft_axis"] = {
                **h["shaft_axis"],
                "point": [k * v for v in h["shaft_axis"]["point"]],
            }
        out[side] = h
    return out


def at_truth_scale(record: dict, truth: dict) -> dict:
    """The record re-measured in the truth's millimetres (the true magnification), so that its
    errors are the landmarks' alone; a record in other millimetres (a calibration, or none) has
    its landmarks rescaled by the ratio of the spacings."""
    used = (record.get("spacing") or {}).get("spacing_mm")
    if not used:
        return record
    k = float(truth["spacing_mm"][0]) / float(used[0])
    if abs(k - 1.0) < 1e-9:
        return record
    hips = _scale_landmarks(record["landmarks"], k)
    right_left = truth.get("patient_right_on", "image_left") == "image_left"
    return {**record, "landmarks": hips, **measure(hips, right_left)}


def compare(record: dict, truth: dict, radiograph: str) -> list[dict]:
    """Error rows (:data:`ERROR_COLUMNS`) of one measured record against the truth, in the
    truth's millimetres (:func:`at_truth_scale`; calibration errors: :func:`calibration_rows`)."""
    ref = truth_record(truth)
    record = at_truth_scale(record, truth)
    rows = []

    def row(side, quantity, t, m, reason=None):
        unit = "%" if quantity.endswith("percent") else (
            BY_NAME[quantity].unit if quantity in BY_NAME else "mm")  # fmt: skip
        err = None if t is None or m is None else float(m) - float(t)
        rows.append({"radiograph": radiograph, "side": side, "quantity": quantity,
                     "unit": unit, "truth": t, "measured": m, "error": err,
                     "reason": None if err is not None else reason})  # fmt: skip

    for side in SIDES:
        if ref["landmarks"][side]["excluded"]:
            continue
        lm, tl = record["landmarks"][side], ref["landmarks"][side]
        why = lm.get("excluded") or lm.get("missing", {}).get("head_centre")
        if lm.get("head_centre") is None:
            row(side, "head_centre", 0.0, None, why)
        else:
            d = np.subtract(lm["head_centre"], tl["head_centre"])
            row(side, "head_centre", 0.0, float(np.hypot(*d)))
        m_hd = record["hips"][side]["head_diameter"]["value"]
        t_hd = ref["hips"][side]["head_diameter"]["value"]
        row(side, "head_diameter_percent", 0.0,
            None if m_hd is None else 100 * (m_hd - t_hd) / t_hd, why)  # fmt: skip
        for name, t in ref["hips"][side].items():
            if t["value"] is None:  # not defined for this hip (e.g. no teardrop line)
                continue
            m = record["hips"][side][name]
            row(side, name, t["value"], m["value"], m.get("reason"))
    for name, t in ref["radiograph"].items():
        if t["value"] is None:
            continue
        m = record["radiograph"][name]
        row("both", name, t["value"], m["value"], m.get("reason"))
    return rows


def summarise(rows: list[dict], spacing_mm: float | None = None) -> list[dict]:
    """Per quantity: n, missing, MAE and 95th percentile of |error| (and in pixels), target."""
    out = []
    for quantity in QUANTITIES:
        sel = [r for r in rows if r["quantity"] == quantity]
        if not sel:
            continue
        errs = np.array([abs(r["error"]) for r in sel if r["error"] is not None], float)
        unit = sel[0]["unit"]
        target = TARGETS.get(quantity)
        mae = float(errs.mean()) if errs.size else None
        p95 = float(np.percentile(errs, 95)) if errs.size else None
        entry = {
            "quantity": quantity, "unit": unit, "n": int(errs.size),
            "missing": len(sel) - int(errs.size), "mae": mae, "p95": p95,
            "target": target[0] if target else None,
            "met": None if target is None or p95 is None else bool(mae <= target[0]),
        }  # fmt: skip
        if spacing_mm and unit == "mm" and mae is not None:
            entry["mae_px"], entry["p95_px"] = mae / spacing_mm, p95 / spacing_mm
        out.append(entry)
    return out


# --------------------------------------------------------------------------- calibration
LENGTHS = ("head_diameter", "femoral_offset", "leg_length_difference_lesser_trochanter",
           "leg_length_difference_head_centre")  # fmt: skip
RELATIVE = ("head_diameter", "femoral_offset")  # errors also in per cent of the true value
CALIBRATION_COLUMNS = ["radiograph", "side", "quantity", "truth", "calibrated", "uncalibrated",
                       "method", "magnification", "true_magnification"]  # fmt: skip
BALL_COLUMNS = ["radiograph", "planned", "present", "inside_field", "overlaps_labels",
                "direct_beam_fraction", "placement", "found", "used", "measured_diameter_mm",
                "true_diameter_mm", "error_mm", "error_percent"]  # fmt: skip
# where a ball lies (:func:`ball_placement`), for the errors by placement
PLACEMENTS = ("over tissue", "partly over the direct beam", "over the direct beam", "over bone",
              "cut by the field edge")  # fmt: skip


def calibrate_file(path: str | Path, options=None) -> dict:
    """The calibration statement of a DICOM file as ``hipseg segment`` makes it."""
    from ..intake import read_dataset, read_radiograph
    from .calibration import CalibrationOptions, calibrate, find_ball

    options = options or CalibrationOptions()
    ds = read_dataset(path, stop_before_pixels=True)
    rad = read_radiograph(path)
    ball = find_ball(rad.pixels, rad.spacing_xy, options.ball_diameter_mm)
    return calibrate(path, rad.spacing, ds, ball, options)


def calibration_rows(gt: dict, truth: dict, statement: dict, radiograph: str) -> list[dict]:
    """Lengths of a ground-truth record (measured in the truth's millimetres) as the calibration
    of ``statement`` gives them and uncalibrated (detector millimetres), beside the truth."""
    ref = truth_record(truth)
    s_true = float(truth["spacing_mm"][0])
    k_cal = float(statement["spacing_mm"][0]) / s_true
    k_unc = float(statement["detector_spacing_mm"][0]) / s_true
    rows = []
    scopes = [(side, ref["hips"][side], gt["hips"][side]) for side in SIDES]
    scopes.append(("both", ref["radiograph"], gt["radiograph"]))
    for side, t_values, m_values in scopes:
        for name in LENGTHS:
            if name not in t_values or t_values[name]["value"] is None:
                continue
            m = m_values[name]["value"]
            rows.append({
                "radiograph": radiograph, "side": side, "quantity": name,
                "truth": t_values[name]["value"],
                "calibrated": None if m is None else m * k_cal,
                "uncalibrated": None if m is None else m * k_unc,
                "method": statement["method"], "magnification": statement["magnification"],
                "true_magnification": float(truth.get("magnification", 1.0)),
            })  # fmt: skip
    return rows


def _stats(errors: list[float]) -> dict:
    e = np.abs(np.array(errors, float))
    if not e.size:
        return {"n": 0, "mae": None, "p95": None}
    return {"n": int(e.size), "mae": float(e.mean()), "p95": float(np.percentile(e, 95))}


def summarise_calibration(rows: list[dict], radiographs: list[dict]) -> dict:
    """Length errors calibrated (by method, and all calibrated radiographs) and uncalibrated
    (the same radiographs in detector millimetres), and the magnification errors by method."""
    groups = {"calibrated": lambda r: r["method"] != "uncalibrated"}
    for method in sorted({r["method"] for r in rows}):
        groups[method] = lambda r, m=method: r["method"] == m
    lengths = []
    for group, pick in groups.items():
        for name in LENGTHS:
            sel = [
                r for r in rows if r["quantity"] == name and pick(r) and r["calibrated"] is not None
            ]
            if not sel:
                continue
            entry = {
                "group": group,
                "quantity": name,
                "radiographs": len({r["radiograph"] for r in sel}),
            }
            for kind in ("calibrated", "uncalibrated"):
                if group == "uncalibrated" and kind == "calibrated":
                    continue
                entry[kind] = _stats([r[kind] - r["truth"] for r in sel])
                if name in RELATIVE:
                    entry[kind]["percent"] = _stats(
                        [100 * (r[kind] - r["truth"]) / r["truth"] for r in sel])  # fmt: skip
            lengths.append(entry)
    factors = []
    for method in sorted({r["method"] for r in radiographs}):
        sel = [r for r in radiographs if r["method"] == method and r["magnification"]]
        n = sum(r["method"] == method for r in radiographs)
        errors = [r["magnification_error_percent"] for r in sel]
        factors.append({"method": method, "radiographs": n, "percent": _stats(errors)})
    return {"lengths": lengths, "magnification": factors}


def ball_row(statement: dict, truth: dict, radiograph: str) -> dict:
    """The calibration ball of one radiograph: the truth and what was found."""
    tb = truth.get("ball") or {"present": False}
    found = statement.get("ball") or {}
    measured = found.get("measured_diameter_mm") if found.get("found") else None
    true_d = tb.get("projected_diameter_mm")
    err = None if measured is None or true_d is None else measured - true_d
    return {"radiograph": radiograph, "planned": tb.get("planned"), "present": tb["present"],
            "inside_field": tb.get("inside_field"), "overlaps_labels": tb.get("overlaps_labels"),
            "direct_beam_fraction": tb.get("direct_beam_fraction"),
            "placement": ball_placement(tb), "found": bool(found.get("found")),
            "used": bool(found.get("used")),
            "measured_diameter_mm": measured, "true_diameter_mm": true_d, "error_mm": err,
            "error_percent": None if err is None else 100 * err / true_d}  # fmt: skip


def ball_placement(tb: dict) -> str | None:
    """Where the generator's ball lies (:data:`PLACEMENTS`): cut by the field's edge, over bone,
    or by the share of its disc over the direct beam (outside the body: at least 95 %, more
    than 5 %, else over tissue); None without a ball."""
    if not tb.get("present"):
        return None
    if tb.get("inside_field") == "partial":
        return "cut by the field edge"
    if tb.get("overlaps_labels"):
        return "over bone"
    air = tb.get("direct_beam_fraction") or 0.0
    return PLACEMENTS[2] if air >= 0.95 else PLACEMENTS[1] if air > 0.05 else PLACEMENTS[0]


def summarise_balls(rows: list[dict]) -> dict:
    """Detection recall (all balls, inside the field, partly outside, over bone), false
    detections, the fitted diameter's error (balls inside the field, and partial ones), and
    by placement (:data:`PLACEMENTS`) the balls found and used and the used ones' error."""
    present = [r for r in rows if r["present"]]
    out = {"radiographs": len(rows), "with_ball": len(present),
           "false_detections": sum(r["found"] and not r["present"] for r in rows)}  # fmt: skip
    cats = {"all": present,
            "inside": [r for r in present
                       if r["inside_field"] == "full" and not r["overlaps_labels"]],
            "over_bone": [r for r in present if r["overlaps_labels"]],
            "partial": [r for r in present if r["inside_field"] == "partial"]}  # fmt: skip
    out["recall"] = {k: {"n": len(v), "found": sum(r["found"] for r in v),
                         "used": sum(r["used"] for r in v),
                         "recall": None if not v else sum(r["found"] for r in v) / len(v)}
                     for k, v in cats.items()}  # fmt: skip
    for k in ("used", "partial"):
        sel = [r for r in present if (r["used"] if k == "used" else r["inside_field"] == "partial")
               and r["error_mm"] is not None]  # fmt: skip
        out[f"diameter_error_{k}"] = {
            "mm": _stats([r["error_mm"] for r in sel]),
            "percent": _stats([r["error_percent"] for r in sel]),
        }
    # the calibration error of the balls used (their diameter's error is the magnification's)
    out["by_placement"] = {}
    for cat in PLACEMENTS:
        sel = [r for r in present if r["placement"] == cat]
        used = [r for r in sel if r["used"] and r["error_percent"] is not None]
        if sel:
            errors = [r["error_percent"] for r in used]
            out["by_placement"][cat] = {"n": len(sel), "found": sum(r["found"] for r in sel),
                                        "used": len(used), "percent": _stats(errors)}  # fmt: skip
    return out


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def write_errors(rows: list[dict], summary: list[dict], csv_path: Path, json_path: Path,
                 meta: dict) -> None:  # fmt: skip
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ERROR_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(csv_path, buf.getvalue())
    write_json(json_path, {**meta, "summary": summary})


def _measure_file(labels_path: Path, truth: dict, excluded: dict) -> dict:
    from ..io import read_image_2d
    from .record import measure_label_map

    lab, _ = read_image_2d(labels_path)
    spacing = tuple(truth["spacing_mm"])
    right_left = truth.get("patient_right_on", "image_left") == "image_left"
    return measure_label_map(lab.astype(np.uint8), spacing, right_on_image_left=right_left,
                             excluded=excluded)  # fmt: skip


def validate_set(truth_dir: str | Path, labels_dir: str | Path, out_dir: str | Path,
                 segmented: str | Path | None = None, ids: list[str] | None = None,
                 overlays: int = 4, dicom_dir: str | Path | None = None,
                 calibration_options=None) -> dict:  # fmt: skip
    """Errors of the measurements from ground-truth label maps ``labels_dir/<id>.png`` and, with
    ``segmented`` (a ``hipseg segment`` output folder), from its predicted label maps.

    ``ids``: the radiographs (default: every ``truth_dir/<id>.json``; with ``segmented``: the
    radiographs it segmented). Writes ``errors_ground_truth.csv``, ``errors_predicted.csv``,
    ``validation.json`` and overlays of up to ``overlays`` radiographs into ``out_dir``.

    Calibration: each radiograph's calibration (from ``segmented``'s records, or made from the
    DICOM files in ``dicom_dir`` as ``hipseg segment`` makes it, with
    ``calibration_options``) is applied to the lengths measured on the ground-truth label maps
    and compared with the truth beside the uncalibrated lengths (``errors_calibration.csv``),
    and its ball with the generator's (``balls.csv``); ``validation.json`` holds the summaries
    and every radiograph's calibration under ``calibration``."""
    truth_dir, labels_dir, out_dir = Path(truth_dir), Path(labels_dir), Path(out_dir)
    run, ids, done, refused = _radiographs(truth_dir, segmented, ids)
    rows = {"ground_truth": [], "predicted": []}
    cal_rows, balls, cal_list = [], [], []
    spacings, shown = [], []
    for k, rid in enumerate(ids):
        truth = read_truth(truth_dir / f"{rid}.json")
        spacings.append(float(truth["spacing_mm"][0]))
        excluded = {s: f"implant ({h['hardware']})" for s, h in truth["hips"].items()
                    if h["hardware"]}  # fmt: skip
        gt = _measure_file(labels_dir / f"{rid}.png", truth, excluded)
        rows["ground_truth"] += compare(gt, truth, rid)
        statement = None
        if segmented is not None and rid in done:
            pred = json.loads(_read(Path(segmented) / rid / "measurements.json"))
            rows["predicted"] += compare(pred, truth, rid)
            statement = pred.get("calibration")
            if k < overlays:
                shown.append(_overlay(Path(segmented), rid, pred, truth, out_dir))
        elif dicom_dir is not None:
            statement = calibrate_file(Path(dicom_dir) / f"{rid}.dcm", calibration_options)
        if statement is not None:
            cal_rows += calibration_rows(gt, truth, statement, rid)
            balls.append(ball_row(statement, truth, rid))
            cal_list.append(_calibration_entry(statement, truth, rid))
    sp = float(np.median(spacings))
    result = {
        "radiographs": ids,
        "spacing_mm": {"median": sp, "min": min(spacings), "max": max(spacings)},
        "targets": {k: {"value": v, "unit": u} for k, (v, u) in TARGETS.items()},
        "model": None if run is None else run["model"]["name"],
        "overlays": shown,
        "not_assessable": refused,
    }
    for kind, kind_rows in rows.items():
        if kind == "predicted" and segmented is None:
            result[kind] = None
            continue
        summary = summarise(kind_rows, sp)
        write_errors(kind_rows, summary, out_dir / f"errors_{kind}.csv",
                     out_dir / f"summary_{kind}.json", {"radiographs": len(ids)})  # fmt: skip
        result[kind] = summary
    result["calibration"] = _write_calibration(out_dir, cal_rows, balls, cal_list)
    write_json(out_dir / "validation.json", result)
    return result


def _radiographs(truth_dir: Path, segmented: str | Path | None, ids: list[str] | None):
    """The ``hipseg segment`` run (None without ``segmented``), the radiographs to validate
    (``ids``, of those the run segmented or refused, or every radiograph of ``truth_dir``), the
    ones with predicted measurements, and the films the gate found not assessable (their
    ground truth is measured, nothing predicted: ``{id, check, reasons}``)."""
    run, done, refused = None, set(), []
    if segmented is not None:
        run = json.loads(_read(Path(segmented) / "run.json"))
        entries = [e for e in run["radiographs"] if ids is None or e["name"] in ids]
        refused = [{"id": e["name"], "check": e["check"], "reasons": e["reasons"]}
                   for e in entries if e["status"] == "not_assessable"]  # fmt: skip
        ids = [e["name"] for e in entries if e["status"] in ("ok", "not_assessable")]
        done = {e["name"] for e in entries if e["status"] == "ok"}
    if ids is None:
        ids = sorted(p.stem for p in truth_dir.glob("*.json"))
    if not ids:
        raise InputError(truth_dir, "no radiographs to validate")
    return run, ids, done, refused


def _calibration_entry(statement: dict, truth: dict, rid: str) -> dict:
    """One radiograph's calibration in ``validation.json``: its statement beside the generator's
    true magnification."""
    m_true = float(truth.get("magnification", 1.0))
    m = statement["magnification"]
    return {
        "id": rid, "method": statement["method"], "magnification": m,
        "true_magnification": m_true,
        "magnification_error_percent": None if m is None else 100 * (m / m_true - 1),
        "ball": statement.get("ball"), "header": statement.get("header"),
        "warnings": statement.get("warnings", []), "note": statement.get("note"),
    }  # fmt: skip


def _write_calibration(out_dir: Path, cal_rows, balls, cal_list) -> dict | None:
    """``errors_calibration.csv`` and ``balls.csv``, and their summary for ``validation.json``
    (None when no radiograph has a calibration)."""
    if not cal_list:
        return None
    _write_csv(out_dir / "errors_calibration.csv", CALIBRATION_COLUMNS, cal_rows)
    _write_csv(out_dir / "balls.csv", BALL_COLUMNS, balls)
    return {"radiographs": cal_list, **summarise_calibration(cal_rows, cal_list),
            "balls": summarise_balls(balls)}  # fmt: skip


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc})") from exc


def _overlay(segmented: Path, rid: str, record: dict, truth: dict, out_dir: Path) -> dict:
    """The radiograph with the predicted labels, the measured landmarks and (red) the truth."""
    from PIL import Image

    from ..dicomio import read_radiograph
    from ..io import read_image_2d
    from .draw import _Pen, base_image, draw_record, save_png

    run = json.loads(_read(segmented / "run.json"))
    entry = next(e for e in run["radiographs"] if e["name"] == rid)
    pixels = read_radiograph(entry["input"]).pixels
    labels, _ = read_image_2d(segmented / rid / "labels.nii.gz")
    spacing = tuple(record["spacing"]["spacing_mm"])  # the record's millimetres
    scale = max(1, int(round(900 / pixels.shape[1])))
    img = base_image(pixels, labels.astype(np.uint8))
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    draw_record(img, record, spacing, scale)
    pen = _Pen(img, tuple(truth["spacing_mm"]), scale)  # the truth's
    for h in truth["hips"].values():
        if h["hardware"]:
            continue
        for key in ("head_centre", "teardrop_inferior", "lesser_trochanter_tip", "acetabular_rim"):
            pen.dot(h[key], (230, 30, 30), r=2 * pen.width)
    save_png(img, out_dir / "overlays" / f"{rid}.png")
    return {"id": rid, "file": f"overlays/{rid}.png"}
