"""The report's measurements section: errors against the synthetic truth, overlays, definitions.

Input: ``validation.json`` of ``hipseg validate-measurements`` (:mod:`hipseg.measure.validate`)
with its overlay PNGs beside it. Two error tables: (a) measurements on the ground-truth label
maps — the error of the measurement algorithm; (b) on the model's label maps from
``hipseg segment`` — segmentation plus algorithm.
"""

from __future__ import annotations

from pathlib import Path

from ..measure.quantities import BY_NAME, DEFINITIONS
from . import data
from .figures import png_file_uri
from .templating import templating_view

TITLES = {
    "head_centre": ("Femoral head centre (position)", "mm"),
    "head_diameter_percent": ("Femoral head diameter (relative)", "%"),
}


def _title(quantity: str) -> str:
    if quantity in TITLES:
        return TITLES[quantity][0]
    return BY_NAME[quantity].title if quantity in BY_NAME else quantity.replace("_", " ")


def _num(v, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _row(quantity: str, gt: dict | None, pred: dict | None) -> dict:
    ref = gt or pred
    target = ref.get("target")
    unit = ref["unit"]

    def cells(e):
        if e is None:
            return {"mae": "—", "p95": "—", "n": "—", "px": "", "met": None}
        px = f"{e['mae_px']:.2f} / {e['p95_px']:.2f} px" if "mae_px" in e else ""
        n = f"{e['n']}" + (f" ({e['missing']} missing)" if e["missing"] else "")
        return {"mae": _num(e["mae"]), "p95": _num(e["p95"]), "n": n, "px": px, "met": e["met"]}

    return {"quantity": _title(quantity), "unit": unit,
            "target": "—" if target is None else f"≤ {target:g} {unit}",
            "gt": cells(gt), "pred": cells(pred)}  # fmt: skip


METHOD_TITLES = {
    "calibration_ball": "calibration ball",
    "user_factor": "factor given",
    "header_factor": "header: magnification factor",
    "header_distances": "header: distances",
    "header_pixel_spacing": "header: calibrated PixelSpacing",
    "uncalibrated": "uncalibrated",
    "calibrated": "all calibrated",
}


def _calibration(cal: dict | None) -> dict | None:
    """Per radiograph: how its millimetres were calibrated; the length errors side by side."""
    if not cal:
        return None
    rows = []
    for r in cal["radiographs"]:
        ball = r.get("ball") or {}
        if ball.get("found"):
            b = f"{ball['measured_diameter_mm']:.2f} mm"
            if ball.get("partial"):
                b += " (partial, not used)"
        else:
            b = "not found" if ball else "not looked for"
        header = r.get("header")
        rows.append({
            "id": r["id"], "method": METHOD_TITLES.get(r["method"], r["method"]),
            "factor": _num(r["magnification"], 3), "true": _num(r["true_magnification"], 3),
            "error": _num(r["magnification_error_percent"], 2), "ball": b,
            "header": "—" if not header else f"{header['factor']:.3f}",
            "warnings": r.get("warnings") or [],
        })  # fmt: skip
    lengths = []
    for e in cal.get("lengths", []):
        if e["group"] not in ("calibrated", "uncalibrated"):
            continue

        def cell(kind, e=e):
            st = e.get(kind)
            if not st or st["mae"] is None:
                return "—"
            txt = f"{st['mae']:.2f} / {st['p95']:.2f} mm"
            if "percent" in st:
                txt += f" ({st['percent']['mae']:.2f} / {st['percent']['p95']:.2f} %)"
            return txt

        lengths.append({"group": METHOD_TITLES[e["group"]], "quantity": _title(e["quantity"]),
                        "n": e["radiographs"], "calibrated": cell("calibrated"),
                        "uncalibrated": cell("uncalibrated")})  # fmt: skip
    return {"rows": rows, "lengths": lengths,
            "warnings": sum(bool(r["warnings"]) for r in rows)}  # fmt: skip


def measurements_view(validation_json: str | Path) -> dict:
    """Rows of the error table (a and b side by side), overlays and the definitions."""
    path = Path(validation_json)
    v = data.read_json(path, "measurement validation")
    gt = {e["quantity"]: e for e in v.get("ground_truth") or []}
    pred = {e["quantity"]: e for e in v.get("predicted") or []}
    order = list(gt) + [q for q in pred if q not in gt]
    overlays = [
        {"id": o["id"], "uri": png_file_uri(path.parent / o["file"], "measurement overlay")}
        for o in v.get("overlays", [])
    ]
    sp = v.get("spacing_mm", {})
    return {
        "templating": templating_view(path.parent / "templating.json"),
        "rows": [_row(q, gt.get(q), pred.get(q)) for q in order],
        "has_predicted": bool(pred),
        "model": v.get("model"),
        "n_radiographs": len(v.get("radiographs", [])),
        "spacing": _num(sp.get("median"), 3),
        "spacing_range": f"{_num(sp.get('min'), 3)}–{_num(sp.get('max'), 3)}",
        "overlays": overlays,
        "not_assessable": v.get("not_assessable") or [],
        "calibration": _calibration(v.get("calibration")),
        "definitions": [
            {"title": d.title, "unit": d.unit, "definition": d.definition, "reference": d.reference}
            for d in DEFINITIONS
        ],  # fmt: skip
    }
