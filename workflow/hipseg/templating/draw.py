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
from PIL import Image, ImageDraw, ImageFont

from .catalogue import Catalogue
from .plan import INCLINATION_DEG, Geometry, neck_direction

CUP, STEM, HEAD = (255, 80, 200), (80, 200, 255), (255, 200, 40)


def _cup(g: Geometry, plan: dict) -> list[list[float]]:
    c, r = np.asarray(plan["cup"]["centre"], float), plan["cup"]["outer_diameter_mm"] / 2
    i = math.radians(INCLINATION_DEG)
    t = np.linspace(i, i + math.pi, 48)  # the dome, from the superolateral rim over the top
    pts = [c + r * (math.cos(a) * g.lat + math.sin(a) * g.up) for a in t]
    return [p.tolist() for p in [*pts, pts[0]]]  # closed by the opening


def _stem(g: Geometry, catalogue: Catalogue, plan: dict) -> tuple[list, list]:
    """The stem's body with its neck (closed) and the neck's axis in the head, image mm."""
    size = catalogue.stem.sizes[plan["stem"]["index"]]
    t0 = plan["stem"]["reference_t_mm"]
    levels, widths = list(catalogue.stem.levels_mm), list(size.widths_mm)
    w_ref = widths[0]
    if len(levels) > 1:  # the width at the reference, continued from the first two levels
        w_ref -= (widths[1] - widths[0]) / (levels[1] - levels[0]) * levels[0]
    tip = levels[-1] + 0.3 * max(levels[-1], 30.0)
    rows = [(0.0, w_ref), *zip(levels, widths, strict=True), (tip, 0.35 * widths[-1])]
    p, d, m = g.axis_point, g.axis_dir, g.medial
    head = np.asarray(plan["stem"]["head_centre"], float)
    n = neck_direction(g, plan["stem"]["neck_shaft_angle_deg"])
    upper = np.array([-n[1], n[0]])  # the neck's upper (lateral) side
    upper = upper if upper @ m < 0 else -upper
    base = head - (plan["stem"]["offset_mm"] / max(float(n @ m), 0.2)) * n  # on the stem axis
    half = 0.22 * plan["head"]["diameter_mm"]  # the neck's half width
    collar = head - 0.5 * plan["head"]["diameter_mm"] * n
    shoulder = p + float((base - p) @ d) * d - 0.5 * w_ref * m
    lateral = [p + (t0 + t) * d - 0.5 * w * m for t, w in rows]
    medial = [p + (t0 + t) * d + 0.5 * w * m for t, w in rows]
    body = [*lateral[::-1], shoulder, base + half * upper, collar + half * upper,
            collar - half * upper, medial[0], *medial[1:], lateral[-1]]  # fmt: skip
    return [q.tolist() for q in body], [collar.tolist(), head.tolist()]


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
    size = max(11, int(img.width / 60))
    font = ImageFont.load_default(size=size)
    for k, text in enumerate(lines):
        xy0 = (4, img.height - (size + 4) * (len(lines) - k) - 2)
        draw.text(xy0, text, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return img
