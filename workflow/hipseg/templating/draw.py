"""The planned components as outlines in image mm, and drawn on the radiograph (``templating.png``).

:func:`outline` turns a plan into polylines a viewer can draw (the presentation state's
``TEMPLATING`` layer, :mod:`hipseg.clinical.pr`, takes them as they are): the cup (its dome and
opening), its centre (the new centre of rotation), the stem (its body from the widths the
catalogue states at its levels, tapering below the last one, and its neck to the head centre) and
the head (a circle at the stem's head centre, where the femur carries it before it is reduced
into the cup). :func:`summary` is one line of text per hip.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .catalogue import Catalogue
from .plan import INCLINATION_DEG, Geometry, neck_direction

CUP, STEM, HEAD = (255, 80, 200), (80, 255, 120), (255, 200, 40)


def _cup(g: Geometry, plan: dict) -> list[list[float]]:
    c, r = np.asarray(plan["cup"]["centre"], float), plan["cup"]["outer_diameter_mm"] / 2
    i = math.radians(INCLINATION_DEG)
    t = np.linspace(i, i + math.pi, 48)  # the dome, from the superolateral rim over the top
    pts = [c + r * (math.cos(a) * g.lat + math.sin(a) * g.up) for a in t]
    return [p.tolist() for p in [*pts, pts[0]]]  # closed by the opening


def _stem(g: Geometry, catalogue: Catalogue, plan: dict) -> tuple[list, list]:
    stem = catalogue.stem
    size = stem.sizes[plan["stem"]["index"]]
    t0 = plan["stem"]["reference_t_mm"]
    levels, widths = list(stem.levels_mm), list(size.widths_mm)
    if len(levels) > 1:  # the width at the reference, continued from the first two levels
        slope = (widths[1] - widths[0]) / (levels[1] - levels[0])
        w_ref = widths[0] - slope * levels[0]
    else:
        w_ref = widths[0]
    tip = levels[-1] + 0.3 * max(levels[-1], 30.0)
    rows = [(0.0, w_ref), *zip(levels, widths, strict=True), (tip, 0.35 * widths[-1])]
    p, d, m = g.axis_point, g.axis_dir, g.medial
    head = np.asarray(plan["stem"]["head_centre"], float)
    n = neck_direction(g, plan["stem"]["neck_shaft_angle_deg"])
    # the neck leaves the body's medial edge at the reference and runs to the head centre
    base = p + t0 * d + 0.5 * w_ref * m
    shoulder = p + (t0 - 0.55 * plan["stem"]["height_mm"]) * d - 0.5 * w_ref * m
    lateral = [p + (t0 + t) * d - 0.5 * w * m for t, w in rows]
    medial = [p + (t0 + t) * d + 0.5 * w * m for t, w in rows]
    reach = float((head - base) @ n)
    neck_top = base + max(reach - 0.5 * plan["head"]["diameter_mm"], 0.0) * n
    body = [shoulder, *lateral, *medial[::-1], neck_top, shoulder]
    return [q.tolist() for q in body], [base.tolist(), head.tolist()]


def outline(g: Geometry, catalogue: Catalogue, plan: dict) -> dict:
    """The plan's outlines in image mm (see the module docstring)."""
    stem, neck = _stem(g, catalogue, plan)
    return {
        "cup": _cup(g, plan),
        "centre_of_rotation": plan["cup"]["centre"],
        "stem": stem,
        "neck": neck,
        "head": {"centre": plan["stem"]["head_centre"], "radius": plan["head"]["diameter_mm"] / 2},
    }


def summary(side: str, plan: dict) -> str:
    """One line: the components and the predicted changes (or why the hip was not planned)."""
    tag = {"right": "R", "left": "L"}.get(side, side)
    if plan.get("status") != "planned":
        return f"{tag}: not templated - {plan.get('reason', '')}"
    p, s, h = plan["predicted"], plan["stem"], plan["head"]
    variant = s["variant"].replace("_", " ")
    parts = (f"{tag}: cup {plan['cup']['outer_diameter_mm']:g} mm",
             f"head {h['diameter_mm']:g} {h['neck_length_mm']:+g}",
             f"stem {s['size']} {variant}; leg {p['leg_length_change_mm']:+.1f} mm",
             f"offset {p['offset_change_mm']:+.1f} mm")  # fmt: skip
    return ", ".join(parts)


def draw_templating(img: Image.Image, templating: dict, spacing, scale: float = 1.0,
                    origin=(0, 0)) -> Image.Image:  # fmt: skip
    """Draw every planned hip's outlines and its summary line onto ``img`` (RGB)."""
    draw = ImageDraw.Draw(img)
    sx, sy = spacing
    width = max(1, int(round(max(img.size) / 400)))

    def xy(q):
        return ((q[0] / sx - origin[1] + 0.5) * scale, (q[1] / sy - origin[0] + 0.5) * scale)

    lines = []
    for side, plan in templating.get("hips", {}).items():
        lines.append(summary(side, plan))
        o = plan.get("outline")
        if not o:
            continue
        draw.line([xy(q) for q in o["cup"]], fill=CUP, width=width)
        draw.line([xy(q) for q in o["stem"]], fill=STEM, width=width)
        draw.line([xy(q) for q in o["neck"]], fill=STEM, width=width)
        cx, cy = xy(o["head"]["centre"])
        rx, ry = o["head"]["radius"] / sx * scale, o["head"]["radius"] / sy * scale
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), outline=HEAD, width=width)
        x, y = xy(o["centre_of_rotation"])
        r = 2.5 * width
        draw.line([(x - r, y), (x + r, y)], fill=CUP, width=width)
        draw.line([(x, y - r), (x, y + r)], fill=CUP, width=width)
    if templating.get("status") == "refused":
        lines = [f"NOT TEMPLATED: {templating.get('reason', '')}"]
    for k, text in enumerate(lines):
        draw.text((2, img.height - 12 * (len(lines) - k) - 2), text, fill=(255, 255, 255))
    return img
