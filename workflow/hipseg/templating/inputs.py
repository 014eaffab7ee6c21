"""A hip's :class:`~.plan.Geometry` from the landmarks of both hips, wherever they come from.

The landmarks are those of :mod:`hipseg.measure` (head centre, teardrop's inferior point, shaft
axis, lesser-trochanter tip, per hip, with ``excluded`` and ``missing``) plus what templating
adds (``acetabulum``, ``kohler``, ``canal_mm``): found in a label map (:mod:`.landmarks`) or
stated by the synthetic generator (:mod:`.truth`). The frame is :class:`hipseg.measure.
quantities.Frame`'s: the teardrop line, or the image axes when one teardrop is missing (a hip
excluded for an implant has none), which the plan then notes.
"""

from __future__ import annotations

import numpy as np

from ..measure.quantities import SIDES, Frame
from .plan import Geometry, NotPlanned

NEEDED = {
    "head_centre": "the femoral head",
    "teardrop_inferior": "the teardrop",
    "shaft_axis": "the shaft axis",
    "lesser_trochanter_tip": "the lesser trochanter",
}


def _arr(v) -> np.ndarray:
    return np.asarray(v, float)


def _why(hip: dict, key: str) -> str:
    return hip.get("missing", {}).get(key) or f"no {key.replace('_', ' ')}"


def _require(hip: dict, side: str, extra: dict) -> None:
    for key, what in NEEDED.items():
        if hip.get(key) is None:
            raise NotPlanned(f"{side} hip: {what} was not found ({_why(hip, key)})")
    for key, what in (("acetabulum", "the acetabular roof"), ("kohler", "the teardrop's edge")):
        if extra.get(key) is None:
            reason = extra.get("missing", {}).get(key, "not found")
            raise NotPlanned(f"{side} hip: {what} was not found ({reason})")


def _contra(hips: dict, side: str, frame: Frame) -> dict | None:
    """Total offset and lesser-trochanter depth of the other hip, where it has them."""
    other = SIDES[1 - SIDES.index(side)]
    hip = hips[other]
    if hip.get("excluded") or frame.missing is not None:
        return None
    out = {"side": other, "total_offset": None, "lesser_trochanter_below": None}
    if hip.get("lesser_trochanter_tip") is not None:
        out["lesser_trochanter_below"] = frame.below(_arr(hip["lesser_trochanter_tip"]))
    c, axis, td = hip.get("head_centre"), hip.get("shaft_axis"), hip.get("teardrop_inferior")
    if c is not None and axis is not None and td is not None:
        d = _arr(axis["direction"]) / np.hypot(*axis["direction"])
        femoral = abs(float((_arr(c) - _arr(axis["point"])) @ np.array([d[1], -d[0]])))
        out["total_offset"] = float((_arr(c) - _arr(td)) @ frame.lateral(other)) + femoral
    return out


def geometry(hips: dict, side: str, extra: dict, right_on_image_left: bool = True) -> Geometry:
    """The geometry of ``side`` (:class:`NotPlanned` naming what is missing)."""
    hip = hips[side]
    if hip.get("excluded"):
        raise NotPlanned(f"{side} hip excluded: {hip['excluded']}")
    _require(hip, side, extra)
    frame = Frame(hips, right_on_image_left)
    axis = hip["shaft_axis"]
    d = _arr(axis["direction"])
    notes = []
    contra = _contra(hips, side, frame)
    if frame.missing is not None:
        notes.append(f"{frame.missing}: the cup is placed on the image axes and the targets "
                     "are the hip's own length and offset")  # fmt: skip
    elif contra is None or None in (contra["total_offset"], contra["lesser_trochanter_below"]):
        notes.append("the contralateral hip lacks a landmark: a target is the hip's own")
    return Geometry(
        side=side, origin=_arr(hip["teardrop_inferior"]), lat=frame.lateral(side),
        up=-frame.e2, head=_arr(hip["head_centre"]), axis_point=_arr(axis["point"]),
        axis_dir=d / np.hypot(*d), lesser_trochanter=_arr(hip["lesser_trochanter_tip"]),
        acetabulum_centre=_arr(extra["acetabulum"]["centre"]),
        acetabulum_radius=float(extra["acetabulum"]["radius"]), kohler=_arr(extra["kohler"]),
        canal_mm=dict(extra["canal_mm"]), contra=contra, notes=notes,
    )  # fmt: skip
