"""One radiograph's measurement record: landmarks, measurements, spacing; as JSON and CSV rows."""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import numpy as np

from ..io import write_json, write_text
from .landmarks import (
    CORTEX,
    HEAD,
    PELVIS,
    TEARDROP,
    Missing,
    find_head,
    find_lesser_trochanter,
    find_rim,
    find_shaft_axis,
    find_teardrop,
)
from .plausible import screen
from .quantities import BY_NAME, SIDES, measure

CSV_COLUMNS = ["radiograph", "side", "measurement", "value", "unit", "calibrated", "reason", "note"]


def _halves(shape, split_at: float, right_on_image_left: bool) -> dict[str, tuple[slice, int]]:
    """Column range and lateral x direction of each patient side."""
    c = int(round(split_at * shape[1]))
    left_img, right_img = slice(0, c), slice(c, shape[1])
    if right_on_image_left:
        return {"right": (left_img, -1), "left": (right_img, 1)}
    return {"right": (right_img, 1), "left": (left_img, -1)}


def hip_landmarks(lab: np.ndarray, spacing, cols: slice, lateral: int) -> dict:
    """The landmarks of the hip in columns ``cols`` of a full-image label map (image mm).

    Missing landmarks are None with their reason under ``missing``; ``fits`` holds the points
    the head circle and the shaft axis were fitted to (for drawing). Labels that are not
    anatomy (:func:`.plausible.screen`) give no landmarks: those found on them are missing
    with the reason."""
    implausible = screen(lab, cols)
    half = np.zeros_like(lab)
    half[:, cols] = lab[:, cols]
    out: dict = {"missing": {}, "fits": {}}

    def attempt(key, needs, fn, *args):
        bad = [implausible[v] for v in needs if v in implausible]
        if bad:
            out["missing"][key] = "; ".join(bad)
            return None
        try:
            return fn(*args)
        except Missing as exc:
            out["missing"][key] = str(exc)
            return None

    head = attempt("head_centre", (HEAD,), find_head, half, spacing, lateral)
    out["head_centre"] = None if head is None else head["centre"].tolist()
    out["head_radius"] = None if head is None else head["radius"]
    td = attempt("teardrop_inferior", (TEARDROP,), find_teardrop, half, spacing)
    out["teardrop_inferior"] = None if td is None else np.asarray(td).tolist()
    axis = rim = tip = None
    if head is None:
        for key in ("shaft_axis", "lesser_trochanter_tip", "acetabular_rim"):
            out["missing"][key] = "needs the femoral head, which was not found"
    else:
        out["fits"]["head_arc"] = head["arc"].tolist()
        axis = attempt("shaft_axis", (CORTEX,), find_shaft_axis, half, spacing, head)
        rim = attempt("acetabular_rim", (PELVIS,), find_rim, half, spacing, head, lateral)
        if axis is None:
            out["missing"]["lesser_trochanter_tip"] = "needs the shaft axis, which was not found"
        else:
            out["fits"]["shaft_midpoints"] = axis["midpoints"].tolist()
            tip = attempt("lesser_trochanter_tip", (CORTEX,), find_lesser_trochanter, half,
                          spacing, head, axis, lateral)  # fmt: skip
    out["shaft_axis"] = (
        None if axis is None
        else {"point": axis["point"].tolist(), "direction": axis["direction"].tolist()}
    )  # fmt: skip
    out["acetabular_rim"] = None if rim is None else np.asarray(rim).tolist()
    out["lesser_trochanter_tip"] = None if tip is None else np.asarray(tip).tolist()
    return out


def measure_label_map(
    lab: np.ndarray,
    spacing: tuple[float, float],
    *,
    split_at: float = 0.5,
    right_on_image_left: bool = True,
    excluded: dict[str, str] | None = None,
    calibration: dict | None = None,
) -> dict:
    """Landmarks and measurements of both hips of a full-image label map.

    ``excluded``: {side: reason} for hips that were not segmented (implants); ``calibration``:
    the calibration statement (:func:`hipseg.measure.calibration.calibrate`: kept as
    ``calibration``, its spacing as ``spacing``) or a spacing statement
    (:func:`hipseg.segment.intake.spacing_statement`); millimetre values are flagged
    uncalibrated unless it says ``calibrated``. ``spacing`` must be the one it states."""
    excluded = excluded or {}
    hips = {}
    for side, (cols, lateral) in _halves(lab.shape, split_at, right_on_image_left).items():
        if excluded.get(side):
            hips[side] = {"excluded": excluded[side], "missing": {}, "fits": {}}
        else:
            hips[side] = {"excluded": None, **hip_landmarks(lab, spacing, cols, lateral)}
    result = measure(hips, right_on_image_left)
    extra = {}
    if calibration is not None and "method" in calibration:
        from .calibration import spacing_of

        extra["calibration"] = calibration
        calibration = spacing_of(calibration)
    calibration = dict(calibration or {"source": "given", "calibrated": False})
    calibration.setdefault("spacing_mm", [float(spacing[0]), float(spacing[1])])
    return {"spacing": calibration, **extra, "landmarks": hips, **result}


def csv_rows(record: dict, radiograph: str) -> list[list]:
    """The measurements of one record in long format (:data:`CSV_COLUMNS`)."""
    calibrated = bool(record["spacing"].get("calibrated"))
    rows = []
    scopes = [(s, record["hips"][s]) for s in SIDES] + [("both", record["radiograph"])]
    for side, values in scopes:
        for name, v in values.items():
            unit = BY_NAME[name].unit
            cal = "" if unit == "deg" else ("yes" if calibrated else "no")
            val = "" if v["value"] is None else f"{v['value']:.3f}"
            rows.append([radiograph, side, name, val, unit, cal, v.get("reason") or "",
                         v.get("note") or ""])  # fmt: skip
    return rows


def write_record(record: dict, radiograph: str, json_path: Path, csv_path: Path) -> None:
    """Write the record as JSON (without the fitted points) and its measurements as CSV."""
    slim = {**record, "landmarks": {
        s: {k: v for k, v in h.items() if k != "fits"} for s, h in record["landmarks"].items()
    }}  # fmt: skip
    write_json(json_path, {"radiograph": radiograph, **slim})
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(record, radiograph))
    write_text(csv_path, buf.getvalue())
