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
        "rows": [_row(q, gt.get(q), pred.get(q)) for q in order],
        "has_predicted": bool(pred),
        "model": v.get("model"),
        "n_radiographs": len(v.get("radiographs", [])),
        "spacing": _num(sp.get("median"), 3),
        "spacing_range": f"{_num(sp.get('min'), 3)}–{_num(sp.get('max'), 3)}",
        "overlays": overlays,
        "definitions": [
            {"title": d.title, "unit": d.unit, "definition": d.definition, "reference": d.reference}
            for d in DEFINITIONS
        ],  # fmt: skip
    }
