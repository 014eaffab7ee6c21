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


def compare(record: dict, truth: dict, radiograph: str) -> list[dict]:
    """Error rows (:data:`ERROR_COLUMNS`) of one measured record against the truth."""
    ref = truth_record(truth)
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


def write_errors(rows: list[dict], summary: list[dict], csv_path: Path, json_path: Path,
                 meta: dict) -> None:  # fmt: skip
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ERROR_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(csv_path, buf.getvalue())
    write_json(json_path, {**meta, "summary": summary})
