"""THA-planning measurements from the landmarks of both hips (definitions: :data:`DEFINITIONS`).

The landmarks come from a label map (:mod:`.landmarks`) or from the synthetic generator's known
geometry (:mod:`hipseg.synth.truth`); the same code turns either into numbers, so a comparison
tests only the landmark finding. A measurement whose landmarks are missing has no value and says
why; nothing is estimated in its place.

Frame: the *teardrop line* runs through the inferior points of both teardrops, ``e1`` along it
from the patient's right to left, ``e2`` perpendicular to it towards the feet. Distances to the
line are positive towards the feet, heights above it positive towards the head; horizontal
distances are positive laterally. Without a teardrop line (a teardrop not found, or a hip
excluded), the angles use the image axes instead and say so; distances need the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIDES = ("right", "left")


@dataclass(frozen=True)
class Definition:
    name: str
    unit: str  # "mm" or "deg"
    scope: str  # "hip" or "radiograph"
    title: str
    definition: str
    reference: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition("head_diameter", "mm", "hip", "Femoral head diameter",
               "diameter of the circle fitted to the articular arc of L1 (the outline facing "
               "away from the neck; neck, trochanter and osteophytes excluded)",
               "best-fit circle of the femoral head (Mose 1980, Clin Orthop 150:103-109)"),
    Definition("hip_centre_horizontal", "mm", "hip", "Hip centre, horizontal",
               "head centre to the ipsilateral teardrop's inferior point, along the teardrop "
               "line (positive lateral)",
               "Pagnano et al. 1996, J Bone Joint Surg Am 78:1004-1014"),
    Definition("hip_centre_vertical", "mm", "hip", "Hip centre, vertical",
               "height of the head centre above the teardrop line (perpendicular)",
               "Pagnano et al. 1996, J Bone Joint Surg Am 78:1004-1014"),
    Definition("lesser_trochanter_to_teardrop_line", "mm", "hip",
               "Lesser trochanter below the teardrop line",
               "perpendicular distance of the lesser-trochanter tip (L2) below the teardrop line",
               "Woolson et al. 1999, J Arthroplasty 14:159-164; Meermans et al. 2011, "
               "Clin Orthop Relat Res 469:1677-1682"),
    Definition("lateral_centre_edge_angle", "deg", "hip", "Lateral centre-edge angle (Wiberg)",
               "angle at the head centre between the perpendicular to the teardrop line and "
               "the line to the lateral acetabular rim (lateral edge of L5 above the head)",
               "Wiberg 1939, Acta Chir Scand 83 (Suppl 58)"),
    Definition("sharp_angle", "deg", "hip", "Sharp angle",
               "angle between the teardrop line and the line from the ipsilateral teardrop's "
               "inferior point to the lateral acetabular rim",
               "Sharp 1961, J Bone Joint Surg Br 43-B:268-272"),
    Definition("femoral_offset", "mm", "hip", "Femoral offset",
               "perpendicular distance of the head centre from the femoral shaft axis (the "
               "midline of the diaphysis in L1/L2)",
               "Lecerf et al. 2009, Orthop Traumatol Surg Res 95:210-219"),
    Definition("leg_length_difference_lesser_trochanter", "mm", "radiograph",
               "Leg-length difference (lesser trochanters)",
               "right minus left distance of the lesser-trochanter tip below the teardrop line "
               "(positive: the right leg is longer)",
               "Woolson et al. 1999; Meermans et al. 2011"),
    Definition("leg_length_difference_head_centre", "mm", "radiograph",
               "Leg-length difference (head centres)",
               "right minus left distance of the head centre below the teardrop line",
               "Meermans et al. 2011, Clin Orthop Relat Res 469:1677-1682"),
    Definition("teardrop_line_angle", "deg", "radiograph", "Teardrop line tilt",
               "angle of the teardrop line to the image horizontal (positive: the patient's "
               "left teardrop lower in the image)", "pelvic obliquity on the AP radiograph"),
)  # fmt: skip
BY_NAME = {d.name: d for d in DEFINITIONS}


def value(v: float | None, reason: str | None = None, note: str | None = None) -> dict:
    out = {"value": None if v is None else float(v), "reason": None if v is not None else reason}
    if note:
        out["note"] = note
    return out


def _get(hip: dict, key: str):
    """A landmark of a hip, or None (its reason in hip['missing'])."""
    if hip.get("excluded"):
        return None
    v = hip.get(key)
    return None if v is None else (v if isinstance(v, dict) else np.asarray(v, float))


def _why(hip: dict, key: str, side: str) -> str:
    if hip.get("excluded"):
        return f"{side} hip excluded: {hip['excluded']}"
    default = "no " + key.replace("_", " ")
    return f"{side} hip: {hip.get('missing', {}).get(key, default)}"


class Frame:
    """The teardrop-line frame of one radiograph (or the image axes when there is no line)."""

    def __init__(self, hips: dict, right_on_image_left: bool = True):
        self.sign = 1.0 if right_on_image_left else -1.0  # image x of the patient's left
        t = {s: _get(hips[s], "teardrop_inferior") for s in SIDES}
        self.points = t
        self.missing = None
        if t["right"] is None or t["left"] is None:
            side = "right" if t["right"] is None else "left"
            self.missing = "no teardrop line: " + _why(hips[side], "teardrop_inferior", side)
        elif not np.hypot(*(t["left"] - t["right"])) > 1e-6:  # also NaN
            self.missing = "no teardrop line: both teardrops at the same point"
        if self.missing is not None:
            self.e1 = np.array([self.sign, 0.0])
            self.origin = None
        else:
            e1 = t["left"] - t["right"]
            self.e1 = e1 / np.hypot(*e1)
            self.origin = t["right"]
        e2 = np.array([-self.e1[1], self.e1[0]])
        self.e2 = e2 if e2[1] > 0 else -e2  # towards the feet (image down)

    def lateral(self, side: str) -> np.ndarray:
        return -self.e1 if side == "right" else self.e1

    def below(self, p: np.ndarray) -> float:
        return float((p - self.origin) @ self.e2)

    @property
    def note(self) -> str | None:
        return None if self.missing is None else "image axes instead of the teardrop line"


def hip_measurements(hips: dict, side: str, frame: Frame) -> dict:
    """The per-hip measurements of :data:`DEFINITIONS`."""
    hip = hips[side]
    c, rad = _get(hip, "head_centre"), hip.get("head_radius")
    td, lt = _get(hip, "teardrop_inferior"), _get(hip, "lesser_trochanter_tip")
    rim, axis = _get(hip, "acetabular_rim"), _get(hip, "shaft_axis")
    no_head = _why(hip, "head_centre", side)
    out = {"head_diameter": value(2 * rad if c is not None else None, no_head)}
    lat = frame.lateral(side)
    if frame.missing is not None:
        for key in ("hip_centre_horizontal", "hip_centre_vertical"):
            out[key] = value(None, frame.missing)
        out["lesser_trochanter_to_teardrop_line"] = value(None, frame.missing)
    else:
        out["hip_centre_horizontal"] = value(
            None if c is None else float((c - frame.points[side]) @ lat), no_head
        )
        out["hip_centre_vertical"] = value(None if c is None else -frame.below(c), no_head)
        out["lesser_trochanter_to_teardrop_line"] = value(
            None if lt is None else frame.below(lt),
            _why(hip, "lesser_trochanter_tip", side))  # fmt: skip
    up = -frame.e2
    if c is None or rim is None:
        reason = no_head if c is None else _why(hip, "acetabular_rim", side)
        out["lateral_centre_edge_angle"] = value(None, reason)
    else:
        v = rim - c
        angle = math.degrees(math.atan2(float(v @ lat), float(v @ up)))
        out["lateral_centre_edge_angle"] = value(angle, note=frame.note)
    if td is None or rim is None:
        key = "teardrop_inferior" if td is None else "acetabular_rim"
        out["sharp_angle"] = value(None, _why(hip, key, side))
    else:
        w = rim - td
        angle = math.degrees(math.atan2(float(w @ up), float(w @ lat)))
        out["sharp_angle"] = value(angle, note=frame.note)
    if c is None or axis is None:
        out["femoral_offset"] = value(None, no_head if c is None else _why(hip, "shaft_axis", side))
    else:
        p, d = np.asarray(axis["point"], float), np.asarray(axis["direction"], float)
        d = d / np.hypot(*d)
        out["femoral_offset"] = value(abs(float((c - p)[0] * d[1] - (c - p)[1] * d[0])))
    return out


def radiograph_measurements(hips: dict, frame: Frame) -> dict:
    """Leg-length differences (right minus left) and the tilt of the teardrop line."""
    out = {}
    for name, key in (("leg_length_difference_lesser_trochanter", "lesser_trochanter_tip"),
                      ("leg_length_difference_head_centre", "head_centre")):  # fmt: skip
        if frame.missing is not None:
            out[name] = value(None, frame.missing)
            continue
        pts = {s: _get(hips[s], key) for s in SIDES}
        gone = [s for s in SIDES if pts[s] is None]
        if gone:
            out[name] = value(None, _why(hips[gone[0]], key, gone[0]))
        else:
            out[name] = value(frame.below(pts["right"]) - frame.below(pts["left"]))
    if frame.missing is not None:
        out["teardrop_line_angle"] = value(None, frame.missing)
    else:
        e1 = frame.e1 * frame.sign
        out["teardrop_line_angle"] = value(math.degrees(math.atan2(e1[1], e1[0])))
    return out


def measure(hips: dict, right_on_image_left: bool = True) -> dict:
    """All measurements: ``{"teardrop_line": ..., "hips": {side: {...}}, "radiograph": {...}}``."""
    frame = Frame(hips, right_on_image_left)
    line = (
        {"right": frame.points["right"].tolist(), "left": frame.points["left"].tolist()}
        if frame.missing is None
        else {"missing": frame.missing}
    )
    return {
        "teardrop_line": line,
        "hips": {s: hip_measurements(hips, s, frame) for s in SIDES},
        "radiograph": radiograph_measurements(hips, frame),
    }
