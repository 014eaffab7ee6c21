"""The report's templating section: each test hip's plan and, on the generator, its accuracy.

Input: ``templating.json`` of ``hipseg validate-measurements`` (:mod:`hipseg.templating.validate`)
beside ``validation.json``, with ``templating_<kind>.csv`` (one row per hip) and the overlays.
The published accuracy of manual and AI-assisted templating is shown beside it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..templating.validate import PUBLISHED
from . import data
from .figures import png_file_uri

KINDS = {
    "ground_truth": "(a) ground-truth label maps",
    "ground_truth_calibrated": "(a') ground-truth label maps, calibrated as hipseg does",
    "predicted": "(b) predicted label maps (hipseg segment)",
}


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def _mm(e: dict | None) -> str:
    return "—" if not e or e.get("mae") is None else f"{e['mae']:.2f} / {e['p95']:.2f}"


def _accuracy(t: dict) -> list[dict]:
    rows = []
    for kind, title in KINDS.items():
        s = t.get(kind)
        if not s:
            continue
        rows.append({
            "method": f"{title}, {s['planned']} hips",
            "cup": f"{_pct(s['cup']['exact_percent'])} / {_pct(s['cup']['within_one_percent'])}",
            "stem": f"{_pct(s['stem']['exact_percent'])} / "
                    f"{_pct(s['stem']['within_one_percent'])}",
            "leg": _mm(s["leg_length_change_mm"]["same_components"]),
            "offset": _mm(s["offset_change_mm"]["same_components"]),
            "not_planned": len(s["not_planned"]), "published": False, "reference": None,
        })  # fmt: skip
    for p in PUBLISHED:
        rows.append({"method": p["method"], "reference": p["reference"],
                     "cup": f"{_pct(p['cup'][0])} / {_pct(p['cup'][1])}",
                     "stem": f"{_pct(p['stem'][0])} / {_pct(p['stem'][1])}", "leg": "",
                     "offset": "", "not_planned": "", "published": True})  # fmt: skip
    return rows


def _plans(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))

    def num(v, fmt="+.1f"):
        return "—" if v in ("", None) else format(float(v), fmt)

    out = []
    for r in rows:
        if r["measured"] != "planned":
            out.append({"id": r["radiograph"], "side": r["side"], "planned": False,
                        "reason": r["reason"]})  # fmt: skip
            continue
        out.append({
            "id": r["radiograph"], "side": r["side"], "planned": True,
            "cup": f"{float(r['cup_mm']):g}", "true_cup": f"{float(r['true_cup_mm']):g}",
            "stem": f"{r['stem']} {r['variant'].replace('_', ' ')}", "true_stem": r["true_stem"],
            "head": f"{float(r['head_mm']):g} mm, {float(r['neck_mm']):+g}",
            "leg": num(r["leg_length_change_mm"]), "true_leg": num(r["true_leg_length_change_mm"]),
            "offset": num(r["offset_change_mm"]),
            "true_offset": num(r["true_offset_change_mm"]),
        })  # fmt: skip
    return out


def templating_view(path: str | Path) -> dict | None:
    """The section's context, or None when the run did not template."""
    path = Path(path)
    if not path.is_file():
        return None
    t = data.read_json(path, "templating validation")
    kind = "predicted" if t.get("predicted") else "ground_truth"
    return {
        "catalogue": t["catalogue"]["name"],
        "accuracy": _accuracy(t),
        "plans": _plans(path.parent / f"templating_{kind}.csv"),
        "plans_of": KINDS[kind],
        "overlays": [
            {"id": o["id"], "uri": png_file_uri(path.parent / o["file"], "templating overlay")}
            for o in t.get("overlays", [])
        ],  # fmt: skip
    }
