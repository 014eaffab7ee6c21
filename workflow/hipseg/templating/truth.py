"""The true plan of a synthetic radiograph: :mod:`.plan`'s rules on the generator's geometry.

``truth/<id>.json`` (:mod:`hipseg.synth.truth`) holds, per hip, the landmarks
:mod:`hipseg.measure` looks for and, under ``planning`` (:mod:`hipseg.synth.planning_truth`),
the acetabular circle, the teardrop ellipse and the canal widths below the lesser trochanter.
:func:`truth_geometries` turns them into the same :class:`~.plan.Geometry` a label map gives
(the teardrop's lateral edge: the support of the ellipse less the femoral head painted over it;
the canal at the catalogue's levels: the profile interpolated), so that the correct size for a
catalogue is the one the rules choose on the true geometry, and the truth of a plan made on a
label map is its components placed on it (:func:`.plan.describe`).
"""

from __future__ import annotations

import numpy as np

from ..measure.quantities import SIDES, Frame
from ..measure.validate import truth_hips
from .catalogue import Catalogue
from .inputs import geometry
from .plan import Geometry, NotPlanned, plan_hip


def teardrop_lateral(ellipse: dict, head_centre, head_radius: float, lateral) -> list[float]:
    """The point of the teardrop ellipse, less the head disc, furthest along ``lateral``."""
    c, q = np.asarray(ellipse["centre"], float), np.asarray(ellipse["conic"], float)
    w, vec = np.linalg.eigh(q)
    t = np.linspace(0.0, 2 * np.pi, 40000, endpoint=False)
    ring = c + np.stack([np.cos(t) / np.sqrt(w[0]), np.sin(t) / np.sqrt(w[1])], axis=1) @ vec.T
    h, r = np.asarray(head_centre, float), float(head_radius)
    pts = ring[np.hypot(*(ring - h).T) >= r]
    circle = h + r * np.stack([np.cos(t), np.sin(t)], axis=1)
    d = circle - c
    inside = np.einsum("ni,ij,nj->n", d, q, d) <= 1.0
    pts = np.concatenate([pts, circle[inside]])
    return pts[int(np.argmax(pts @ np.asarray(lateral, float)))].tolist()


def canal_at(profile: dict, levels_below_lt) -> list[float | None]:
    """The canal widths of the truth's profile at these levels below the lesser trochanter
    (linear interpolation; None where the profile has no width on either side)."""
    lv = np.asarray(profile["levels_mm"], float)
    w = np.array([np.nan if v is None else v for v in profile["widths_mm"]], float)
    out = []
    for level in levels_below_lt:
        k = int(np.searchsorted(lv, level))
        if k >= len(lv) or (level < lv[k] and k == 0):
            out.append(None)
            continue
        if lv[k] == level:
            out.append(None if np.isnan(w[k]) else float(w[k]))
            continue
        a, b = w[k - 1], w[k]
        f = (level - lv[k - 1]) / (lv[k] - lv[k - 1])
        out.append(None if np.isnan(a) or np.isnan(b) else float(a + f * (b - a)))
    return out


def truth_extra(truth: dict, side: str, lateral, catalogue: Catalogue) -> dict:
    h = truth["hips"][side]
    pl = h["planning"]
    stem = catalogue.stem
    below_lt = [lv - stem.cut_above_lt_mm for lv in stem.levels_mm]
    return {
        "missing": {},
        "acetabulum": pl["acetabulum"],
        "kohler": teardrop_lateral(pl["teardrop_ellipse"], h["head_centre"], h["head_radius"],
                                   lateral),
        "canal_mm": dict(zip(stem.levels_mm, canal_at(pl["canal"], below_lt), strict=True)),
    }  # fmt: skip


def truth_geometries(truth: dict, catalogue: Catalogue, excluded=None) -> dict:
    """{side: Geometry or the reason it cannot be planned} on the true geometry. ``excluded``:
    {side: reason} of further hips to leave out (as a label map without them would)."""
    hips = truth_hips(truth)
    for side, reason in (excluded or {}).items():
        hips[side] = {**hips[side], "excluded": hips[side]["excluded"] or reason}
    right_left = truth.get("patient_right_on", "image_left") == "image_left"
    frame = Frame(hips, right_left)
    out: dict[str, Geometry | str] = {}
    for side in SIDES:
        if hips[side]["excluded"]:
            out[side] = f"{side} hip excluded: {hips[side]['excluded']}"
            continue
        try:
            extra = truth_extra(truth, side, frame.lateral(side), catalogue)
            out[side] = geometry(hips, side, extra, right_left)
        except NotPlanned as exc:
            out[side] = str(exc)
    return out


def truth_plans(truth: dict, catalogue: Catalogue, excluded=None) -> dict:
    """{side: the plan of the rules on the true geometry, or {status, reason}}."""
    out = {}
    for side, g in truth_geometries(truth, catalogue, excluded).items():
        if isinstance(g, str):
            out[side] = {"status": "not templated", "reason": g}
            continue
        try:
            out[side] = plan_hip(g, catalogue)
        except NotPlanned as exc:
            out[side] = {"status": "not templated", "reason": str(exc)}
    return out
