"""The templating plan in the SR (:func:`hipseg.clinical.sr.build_sr` with ``templating``): one
TID 1501 measurement group per hip, "<side> hip templating" — the planned components and the
predicted changes as NUMs with UCUM units and the SCOORD of the outline each is read from; the
stem size and variant, the catalogue and notes as TEXT; a hip not templated says why."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import coding
from .geometry import ImageFrame

# templating values: (code key, where in a plan, unit, graphic of the outline it is read from)
TEMPLATING_VALUES = (
    ("cup_outer_diameter", ("cup", "outer_diameter_mm"), "mm", "cup"),
    ("cup_fill_diameter", ("cup", "fill_diameter_mm"), "mm", None),
    ("cup_inclination", ("cup", "inclination_deg"), "deg", "cup"),
    ("cup_centre_lateral", ("cup", "centre_from_teardrop_mm", "lateral"), "mm", "centre"),
    ("cup_centre_up", ("cup", "centre_from_teardrop_mm", "up"), "mm", "centre"),
    ("planned_head_diameter", ("head", "diameter_mm"), "mm", "head"),
    ("neck_length", ("head", "neck_length_mm"), "mm", None),
    ("stem_offset", ("stem", "offset_mm"), "mm", "stem"),
    ("leg_length_change", ("predicted", "leg_length_change_mm"), "mm", "reduction"),
    ("offset_change", ("predicted", "offset_change_mm"), "mm", "reduction"),
    ("femoral_offset_change", ("predicted", "femoral_offset_change_mm"), "mm", None),
    ("acetabular_offset_change", ("predicted", "acetabular_offset_change_mm"), "mm", None),
)
SUFFIX = " hip templating"


@dataclass(frozen=True)
class Context:
    """What every templating content item of one SR refers to."""

    hd: object  # the highdicom module
    frame: ImageFrame
    src_uid: str
    model: str
    region_src: object
    group_src: object
    algorithm: object


def _get(plan: dict, path: tuple):
    for key in path:
        plan = plan[key]
    return plan


def _graphic(ctx: Context, kind, outline):
    """The SCOORD a templating value is read from (in the stored image's pixels)."""
    hd = ctx.hd
    if kind is None or not outline:
        return None
    if kind == "head":
        c, r = outline["head"]["centre"], outline["head"]["radius"]
        points, gtype = [c, [c[0] + r, c[1]]], hd.sr.GraphicTypeValues.CIRCLE
    elif kind == "centre":
        points, gtype = [outline["centre_of_rotation"]], hd.sr.GraphicTypeValues.POINT
    elif kind == "reduction":  # the stem's head centre to the cup's centre
        points = [outline["head"]["centre"], outline["centre_of_rotation"]]
        gtype = hd.sr.GraphicTypeValues.POLYLINE
    else:
        points, gtype = outline[kind], hd.sr.GraphicTypeValues.POLYLINE
    px = ctx.frame.pixels(points).astype(np.float32)
    return [hd.sr.CoordinatesForMeasurement(gtype, px, ctx.region_src)]


def templating_groups(ctx: Context, templating: dict, text, uid) -> list:
    """One measurement group per hip (``text``, ``uid``: the SR's TEXT item and UID makers)."""
    from pydicom.sr.codedict import codes

    hd, groups = ctx.hd, []
    for side, plan in templating["hips"].items():
        lat = {"right": codes.SCT.Right, "left": codes.SCT.Left}[side]
        site = [hd.sr.FindingSite(codes.SCT.HipJoint, laterality=lat)]
        measurements = []
        if plan["status"] == "planned":
            for key, path, unit, graphic in TEMPLATING_VALUES:
                measurements.append(hd.sr.Measurement(
                    name=coding.TEMPLATING_CODES[key], value=float(_get(plan, path)),
                    unit=coding.unit(unit), finding_sites=site, algorithm_id=ctx.algorithm,
                    referenced_coordinates=_graphic(ctx, graphic, plan.get("outline")),
                ))  # fmt: skip
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=uid(ctx.src_uid, ctx.model, f"tracking {side} templating"),
                identifier=f"{side}{SUFFIX}",
            ),
            finding_type=coding.TEMPLATING_GROUP, finding_sites=site, algorithm_id=ctx.algorithm,
            measurements=measurements or None, source_images=[ctx.group_src],
        )  # fmt: skip
        items = group[0].ContentSequence
        texts = [("catalogue", templating["catalogue"]["name"])]
        if plan["status"] == "planned":
            texts += [
                ("stem_size", str(plan["stem"]["size"])),
                ("stem_variant", plan["stem"]["variant"].replace("_", " ")),
            ]
            texts += [("note", n) for n in plan.get("notes", [])]
        else:
            texts.append(("not_templated", plan.get("reason") or "not templated"))
        for key, value in texts:
            items.append(text(hd, coding.TEMPLATING_TEXT[key], value))
        groups.append(group)
    return groups


def read_templating(group) -> dict:
    """A templating group read back: {name: value} of its NUMs and TEXTs."""
    out: dict = {"notes": []}
    for m in group.get_measurements():
        out[coding.name_of(m.name)] = (float(m.value), m.unit.value)
    texts = {c.value: k for k, c in coding.TEMPLATING_TEXT.items()}
    for item in group[0].ContentSequence:
        if item.ValueType != "TEXT":
            continue
        name = texts.get(item.ConceptNameCodeSequence[0].CodeValue)
        if name == "note":
            out["notes"].append(str(item.TextValue))
        elif name is not None:
            out[name] = str(item.TextValue)
    return out
