"""Template one radiograph: from its label map and measurement record to ``templating.json/csv``.

:func:`template_radiograph` finds what templating needs beyond the measurements
(:mod:`.landmarks`), builds each hip's geometry (:mod:`.inputs`) and plans it (:mod:`.plan`).
It refuses an uncalibrated radiograph (its millimetres are the detector's, 10–25 % too large, and
so would be every size) unless ``allow_uncalibrated``, and one whose calibration gives an
impossible magnification (outside :data:`PLAUSIBLE_MAGNIFICATION`); a hip excluded for an
implant is not templated (the other one is); a hip whose landmarks are missing is not templated
and says why.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import numpy as np

from ..io import write_json, write_text
from ..measure.landmarks import Missing
from ..measure.quantities import Frame
from ..measure.record import _halves
from .catalogue import Catalogue
from .draw import outline, summary
from .inputs import geometry
from .landmarks import canal_points, canal_width, find_acetabulum, find_kohler
from .plan import NotPlanned, plan_hip

UNCALIBRATED = (
    "the radiograph is not calibrated (its millimetres are the detector's, 10-25 % larger than "
    "the patient's, and so would be every size): calibrate it (a calibration ball, "
    "segment.magnification) or allow it (segment.template_uncalibrated)"
)
UNCALIBRATED_NOTE = "UNCALIBRATED: sizes and distances in detector millimetres (10-25 % too large)"
# magnifications an AP pelvis radiograph can have at the hip plane (1.1-1.3 in practice): a
# calibration outside them is wrong (e.g. something else taken for the calibration ball)
PLAUSIBLE_MAGNIFICATION = (1.0, 1.5)
CSV_COLUMNS = [
    "radiograph", "side", "status", "cup_mm", "fill_diameter_mm", "head_mm", "neck_length_mm",
    "stem_size", "stem_variant", "cup_centre_lateral_mm", "cup_centre_up_mm",
    "leg_length_change_mm", "offset_change_mm", "femoral_offset_change_mm",
    "acetabular_offset_change_mm", "leg_length_target_mm", "offset_target_mm", "calibrated",
    "catalogue", "reason", "notes",
]  # fmt: skip


def _medial(axis_dir, lateral) -> np.ndarray:
    d = np.asarray(axis_dir, float) / np.hypot(*axis_dir)
    m = np.array([d[1], -d[0]])
    return m if m @ np.asarray(lateral) < 0 else -m


def find_extra(half: np.ndarray, spacing, hip: dict, lateral, up, catalogue: Catalogue) -> dict:
    """The acetabulum, the teardrop's lateral edge and the canal widths of one hip."""
    out: dict = {"missing": {}, "acetabulum": None, "kohler": None, "canal_mm": {}}
    if hip.get("head_centre") is None:
        out["missing"]["acetabulum"] = "needs the femoral head, which was not found"
    else:
        try:
            out["acetabulum"] = find_acetabulum(half, spacing, hip["head_centre"],
                                                hip["head_radius"], up)  # fmt: skip
        except Missing as exc:
            out["missing"]["acetabulum"] = str(exc)
    try:
        out["kohler"] = find_kohler(half, spacing, lateral)
    except Missing as exc:
        out["missing"]["kohler"] = str(exc)
    axis, tip = hip.get("shaft_axis"), hip.get("lesser_trochanter_tip")
    if axis is None or tip is None:
        return out
    p, d = np.asarray(axis["point"], float), np.asarray(axis["direction"], float)
    d = d / np.hypot(*d)
    t_ref = float((np.asarray(tip, float) - p) @ d) - catalogue.stem.cut_above_lt_mm
    points = canal_points(half, spacing)
    for level in catalogue.stem.levels_mm:
        try:
            out["canal_mm"][level] = canal_width(points, p, d, _medial(d, lateral),
                                                 t_ref + level, spacing)  # fmt: skip
        except Missing as exc:
            out["canal_mm"][level] = None
            out["missing"][f"canal at {level:g} mm"] = str(exc)
    return out


def _not_planned(reason: str) -> dict:
    return {"status": "not templated", "reason": reason}


def template_radiograph(labels: np.ndarray, record: dict, catalogue: Catalogue, *,
                        split_at: float = 0.5, right_on_image_left: bool = True,
                        allow_uncalibrated: bool = False) -> dict:  # fmt: skip
    """The templating of one radiograph (``record``: its :func:`hipseg.measure.measure_label_map`
    in the millimetres it states; ``labels``: the full-image label map)."""
    spacing = tuple(record["spacing"]["spacing_mm"])
    calibrated = bool(record["spacing"].get("calibrated"))
    out = {"catalogue": catalogue.describe(), "calibrated": calibrated,
           "calibration": (record.get("calibration") or {}).get("method")
           or record["spacing"].get("source"), "hips": {}}  # fmt: skip
    hips = record["landmarks"]
    refusal = _refusal(record, calibrated, allow_uncalibrated)
    if refusal:
        out.update(status="refused", reason=refusal)
        out["hips"] = {s: _not_planned(refusal) for s in hips}
        for side, plan in out["hips"].items():
            plan["summary"] = summary(side, plan)
        return out
    frame = Frame(hips, right_on_image_left)
    for side, (cols, _) in _halves(labels.shape, split_at, right_on_image_left).items():
        hip = hips[side]
        if hip.get("excluded"):
            out["hips"][side] = _not_planned(f"{side} hip excluded: {hip['excluded']}")
            continue
        half = np.zeros_like(labels)
        half[:, cols] = labels[:, cols]
        extra = find_extra(half, spacing, hip, frame.lateral(side), -frame.e2, catalogue)
        try:
            g = geometry(hips, side, extra, right_on_image_left)
            plan = plan_hip(g, catalogue)
            plan["outline"] = outline(g, catalogue, plan)
        except NotPlanned as exc:
            plan = _not_planned(str(exc))
        plan["landmarks"] = {k: extra[k] for k in ("acetabulum", "kohler", "missing")}
        plan["landmarks"]["canal_mm"] = {f"{k:g}": v for k, v in extra["canal_mm"].items()}
        if plan["status"] == "planned":
            plan["notes"][:0] = [UNCALIBRATED_NOTE] * (not calibrated) + [
                f"calibration warning: {w}" for w in (record.get("calibration") or {}).get(
                    "warnings", [])]  # fmt: skip
        out["hips"][side] = plan
    for side, plan in out["hips"].items():
        plan["summary"] = summary(side, plan)
    planned = any(p["status"] == "planned" for p in out["hips"].values())
    out["status"] = "planned" if planned else "not templated"
    return out


def _refusal(record: dict, calibrated: bool, allow_uncalibrated: bool) -> str | None:
    """Why the radiograph's millimetres cannot be templated on (None: they can)."""
    if not calibrated:
        return None if allow_uncalibrated else UNCALIBRATED
    m = (record.get("calibration") or {}).get("magnification")
    lo, hi = PLAUSIBLE_MAGNIFICATION
    if m is not None and not lo <= m <= hi:
        method = record["calibration"].get("method", "").replace("_", " ")
        return (f"the calibration ({method}) gives a magnification of {m:.3f}, outside the "
                f"{lo:g}-{hi:g} an AP pelvis radiograph can have: it is wrong, and so would be "
                "every size; check the calibration (segment.calibration_ball, "
                "segment.magnification)")  # fmt: skip
    return None


def _r(v, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def csv_rows(templating: dict, radiograph: str) -> list[list]:
    """One row per hip (:data:`CSV_COLUMNS`)."""
    rows = []
    cal = "yes" if templating.get("calibrated") else "no"
    name = templating["catalogue"]["name"]
    for side, p in templating["hips"].items():
        if p["status"] != "planned":
            rows.append([radiograph, side, p["status"], *[""] * 14, cal, name,
                         p.get("reason", ""), ""])  # fmt: skip
            continue
        pr, t = p["predicted"], p["targets"]
        rows.append([
            radiograph, side, "planned", f"{p['cup']['outer_diameter_mm']:g}",
            _r(p["cup"]["fill_diameter_mm"]), f"{p['head']['diameter_mm']:g}",
            f"{p['head']['neck_length_mm']:g}", p["stem"]["size"], p["stem"]["variant"],
            _r(p["cup"]["centre_from_teardrop_mm"]["lateral"]),
            _r(p["cup"]["centre_from_teardrop_mm"]["up"]), _r(pr["leg_length_change_mm"]),
            _r(pr["offset_change_mm"]), _r(pr["femoral_offset_change_mm"]),
            _r(pr["acetabular_offset_change_mm"]), _r(t["leg_length_change_mm"]),
            _r(t["offset_change_mm"]), cal, name, "", "; ".join(p.get("notes", [])),
        ])  # fmt: skip
    return rows


def csv_text(rows: list[list]) -> str:
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


def write_templating(templating: dict, radiograph: str, json_path: Path, csv_path: Path) -> None:
    write_json(json_path, {"radiograph": radiograph, **templating})
    write_text(csv_path, csv_text(csv_rows(templating, radiograph)))
