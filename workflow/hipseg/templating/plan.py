"""The templating rules: cup, stem, head and neck of one hip from its geometry and a catalogue.

The same functions plan a hip from the landmarks found in a label map (:mod:`.record`) and from
the synthetic generator's known geometry (:mod:`.truth`), so that the truth is "the plan these
rules make on the true anatomy". Points are image millimetres (x right, y down); each hip is
planned in the frame of its teardrop: origin the ipsilateral teardrop's inferior point ``T``,
``lat`` along the teardrop line towards the hip's lateral side, ``up`` perpendicular to it
towards the head (without a teardrop line: the image axes, and the plan says so).

Cup (:func:`place_cup`)
    A hemisphere at ``INCLINATION_DEG`` (40°) to the teardrop line, its inferomedial edge on the
    teardrop line and its medial wall at the teardrop's lateral edge (the acetabular floor, lateral
    of Köhler's ilioischial line, which the label map does not show: the cup is never medial of
    it). Placed so, a cup of outer radius ``r`` has its centre at ``(x_K + r, r·sin 40°)``; its
    dome reaches the acetabulum's subchondral line (the circle bounding the fossa L4 against the
    pelvis L5) when its top meets that circle above its centre: the *fill diameter* ``D*`` solves
    ``r(1 + sin 40°) = a_up + √(ρ² − (x_K + r − a_lat)²)``. The planned cup is the largest one in
    the catalogue not larger than ``D*`` (it reaches, and does not breach, the subchondral bone);
    its centre is the new centre of rotation.
Stem (:func:`stem_size`, :func:`head_centre`)
    Centred on the shaft axis and seated at the catalogue's reference (the lesser-trochanter tip,
    or the neck cut above it): the planned size is the largest whose width at each stated level
    does not exceed the canal's width there (the medullary cavity, L1, between the diaphyseal
    cortices, L2). Its head centre lies ``height`` up the axis from the reference and ``offset``
    medial of it, moved along the neck axis (at the variant's neck-shaft angle) by the head's
    neck length.
Offset variant and neck length (:func:`choose_neck`)
    The femur will move so that the stem's head sits in the cup: the leg lengthens by the height
    of the stem's head centre above the cup's centre, and the total offset (hip centre to the
    teardrop plus femoral offset) changes by the cup's horizontal move plus the change of femoral
    offset. The variant and neck length chosen are those that bring both closest (least squares)
    to the contralateral hip: leg length equal at the lesser trochanters, total offset equal.
    Without a contralateral hip the targets are the hip's own length and offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .catalogue import Catalogue

INCLINATION_DEG = 40.0


class NotPlanned(Exception):
    """A hip the rules cannot plan; the message says why."""


@dataclass
class Geometry:
    """One hip, everything in image mm (see the module docstring for the frame)."""

    side: str
    origin: np.ndarray  # T, the ipsilateral teardrop's inferior point
    lat: np.ndarray  # unit, along the teardrop line towards this hip's lateral side
    up: np.ndarray  # unit, perpendicular, towards the head
    head: np.ndarray  # the native head centre
    axis_point: np.ndarray
    axis_dir: np.ndarray  # unit, down the shaft
    lesser_trochanter: np.ndarray
    acetabulum_centre: np.ndarray
    acetabulum_radius: float
    kohler: np.ndarray  # the teardrop's lateral edge
    canal_mm: dict  # level (mm below the catalogue's reference) -> canal width (mm) or None
    contra: dict | None = None  # {"total_offset", "lesser_trochanter_below"} of the other hip
    notes: list = field(default_factory=list)

    def xy(self, p) -> tuple[float, float]:
        d = np.asarray(p, float) - self.origin
        return float(d @ self.lat), float(d @ self.up)

    @property
    def medial(self) -> np.ndarray:
        """Unit normal of the shaft axis towards the midline."""
        d = self.axis_dir
        m = np.array([d[1], -d[0]])
        return m if m @ self.lat < 0 else -m

    def along(self, p) -> float:
        return float((np.asarray(p, float) - self.axis_point) @ self.axis_dir)

    @property
    def femoral_offset(self) -> float:
        return abs(float((self.head - self.axis_point) @ self.medial))

    @property
    def total_offset(self) -> float:
        """Hip centre to the teardrop along the line, plus the femoral offset (global offset)."""
        return self.xy(self.head)[0] + self.femoral_offset

    @property
    def lesser_trochanter_below(self) -> float:
        return -self.xy(self.lesser_trochanter)[1]


# ----------------------------------------------------------------------------------- cup
def fill_diameter(g: Geometry) -> float:
    """``D*``: the outer diameter of the cup whose dome just reaches the subchondral line."""
    k = 1.0 + math.sin(math.radians(INCLINATION_DEG))
    x_k = g.xy(g.kohler)[0]
    a_lat, a_up = g.xy(g.acetabulum_centre)
    rho = g.acetabulum_radius

    def gap(r: float) -> float:  # dome top minus the roof above the cup centre
        dx = x_k + r - a_lat
        return r * k - a_up - math.sqrt(max(rho * rho - dx * dx, 0.0))

    lo, hi = max(2.0, a_lat - x_k - rho), a_lat - x_k + rho
    if not (lo < hi and gap(lo) < 0 < gap(hi)):
        raise NotPlanned(
            "no cup placed at the teardrop and its lateral edge reaches the acetabular roof "
            f"(acetabulum of {2 * rho:.1f} mm, its centre {a_up:.1f} mm above the teardrop line)"
        )
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
    return lo + hi  # 2 r


def cup_size(fill: float, catalogue: Catalogue) -> tuple[float, str | None]:
    """The largest cup not larger than the fill diameter (and a note at the catalogue's ends)."""
    fits = [c for c in catalogue.cups_mm if c <= fill + 1e-9]
    if not fits:
        return catalogue.cups_mm[0], (
            f"the acetabulum takes {fill:.1f} mm, less than the smallest cup "
            f"({catalogue.cups_mm[0]:g} mm)"
        )
    if fits[-1] == catalogue.cups_mm[-1] and fill - fits[-1] > 2 * _step(catalogue.cups_mm):
        return fits[-1], f"the acetabulum takes {fill:.1f} mm, more than the largest cup"
    return fits[-1], None


def _step(values) -> float:
    return float(np.min(np.diff(values))) if len(values) > 1 else 2.0


def place_cup(g: Geometry, outer_mm: float) -> np.ndarray:
    """The centre of a cup of this outer diameter placed by the rules (the new hip centre)."""
    r = outer_mm / 2
    x_k = g.xy(g.kohler)[0]
    s = math.sin(math.radians(INCLINATION_DEG))
    return g.origin + (x_k + r) * g.lat + r * s * g.up


# ----------------------------------------------------------------------------------- stem
def stem_size(g: Geometry, catalogue: Catalogue) -> tuple[int, dict]:
    """Index of the largest stem that fits the canal at every level measured, and the fit."""
    stem = catalogue.stem
    known = [(k, lv, g.canal_mm.get(lv)) for k, lv in enumerate(stem.levels_mm)]
    known = [(k, lv, w) for k, lv, w in known if w is not None]
    if not known:
        raise NotPlanned("the canal was not found at any level of the stem "
                         f"({', '.join(f'{v:g}' for v in stem.levels_mm)} mm)")  # fmt: skip
    fitting = [i for i, s in enumerate(stem.sizes)
               if all(s.widths_mm[k] <= w + 1e-9 for k, _, w in known)]  # fmt: skip
    note = None
    if not fitting:
        index = 0
        note = "the canal is narrower than the smallest stem: size " + stem.sizes[0].size
    else:
        index = fitting[-1]
        if index == len(stem.sizes) - 1:
            gaps = [w - stem.sizes[index].widths_mm[k] for k, _, w in known]
            if min(gaps) > _step([s.widths_mm[known[0][0]] for s in stem.sizes]):
                note = "the canal is wider than the largest stem fills"
    missing = [lv for lv in stem.levels_mm if g.canal_mm.get(lv) is None]
    fit = {"levels_mm": [lv for _, lv, _ in known], "canal_mm": [w for _, _, w in known],
           "stem_mm": [stem.sizes[index].widths_mm[k] for k, _, _ in known],
           "missing_levels_mm": missing, "fits": bool(fitting), "note": note}  # fmt: skip
    return index, fit


def neck_direction(g: Geometry, neck_shaft_angle: float) -> np.ndarray:
    beta = math.radians(180.0 - neck_shaft_angle)
    return math.cos(beta) * (-g.axis_dir) + math.sin(beta) * g.medial


def reference_t(g: Geometry, catalogue: Catalogue) -> float:
    """Position of the stem's reference along the shaft axis (mm, down positive)."""
    return g.along(g.lesser_trochanter) - catalogue.stem.cut_above_lt_mm


def head_centre(g: Geometry, catalogue: Catalogue, index: int, variant: str, neck: float):
    """The stem's head centre (image mm) for a size, variant and neck length."""
    stem = catalogue.stem
    size = stem.sizes[index]
    t = reference_t(g, catalogue) - size.height_mm[variant]
    base = g.axis_point + t * g.axis_dir + size.offset_mm[variant] * g.medial
    return base + neck * neck_direction(g, stem.neck_shaft_angle_deg[variant])


# ----------------------------------------------------------------------------------- outcome
def outcome(g: Geometry, cup_centre, stem_head) -> dict:
    """Predicted changes when the stem's head is reduced into the cup (module docstring)."""
    stem_head = np.asarray(stem_head, float)
    leg = float((stem_head - cup_centre) @ g.up)
    femoral = abs(float((stem_head - g.axis_point) @ g.medial)) - g.femoral_offset
    acetabular = float((cup_centre - g.head) @ g.lat)
    out = {
        "leg_length_change_mm": leg,
        "offset_change_mm": acetabular + femoral,
        "femoral_offset_change_mm": femoral,
        "acetabular_offset_change_mm": acetabular,
        "centre_of_rotation_change_mm": {"lateral": acetabular,
                                         "up": float((cup_centre - g.head) @ g.up)},
    }  # fmt: skip
    if g.contra is not None:
        if g.contra.get("lesser_trochanter_below") is not None:
            before = g.lesser_trochanter_below - g.contra["lesser_trochanter_below"]
            out["leg_length_difference_after_mm"] = before + leg
        if g.contra.get("total_offset") is not None:
            out["offset_difference_after_mm"] = (
                g.total_offset + out["offset_change_mm"] - g.contra["total_offset"]
            )
    return out


def targets(g: Geometry) -> dict:
    """The changes that restore leg length and total offset to the contralateral hip's."""
    c = g.contra or {}
    leg = offset = 0.0
    basis = {"leg_length": "the hip's own", "offset": "the hip's own"}
    if c.get("lesser_trochanter_below") is not None:
        leg = -(g.lesser_trochanter_below - c["lesser_trochanter_below"])
        basis["leg_length"] = "the contralateral hip"
    if c.get("total_offset") is not None:
        offset = c["total_offset"] - g.total_offset
        basis["offset"] = "the contralateral hip"
    return {"leg_length_change_mm": leg, "offset_change_mm": offset, "basis": basis}


def choose_neck(g: Geometry, catalogue: Catalogue, index: int, head, cup_centre, goal: dict):
    """(variant, neck length) whose outcome is closest to the targets (least squares; ties: the
    variant listed first, the shorter neck)."""
    best, best_cost = None, math.inf
    necks = sorted(head.neck_lengths_mm, key=lambda n: (abs(n), n))
    for variant in catalogue.stem.variants:
        for neck in necks:
            o = outcome(g, cup_centre, head_centre(g, catalogue, index, variant, neck))
            cost = (o["leg_length_change_mm"] - goal["leg_length_change_mm"]) ** 2 + (
                o["offset_change_mm"] - goal["offset_change_mm"]
            ) ** 2
            if cost < best_cost - 1e-9:
                best, best_cost = (variant, neck), cost
    return best


# ----------------------------------------------------------------------------------- the plan
def plan_hip(g: Geometry, catalogue: Catalogue) -> dict:
    """The plan of one hip: the components the rules choose, where they sit, what changes."""
    fill = fill_diameter(g)
    cup_mm, cup_note = cup_size(fill, catalogue)
    heads = catalogue.heads_for(cup_mm)
    head = heads[-1] if heads else catalogue.heads[0]
    index, fit = stem_size(g, catalogue)
    goal = targets(g)
    variant, neck = choose_neck(g, catalogue, index, head, place_cup(g, cup_mm), goal)
    components = {"cup_mm": cup_mm, "head_mm": head.diameter_mm, "stem_index": index,
                  "variant": variant, "neck_mm": neck}  # fmt: skip
    out = describe(g, catalogue, components)
    out["cup"]["fill_diameter_mm"] = fill
    out["stem"]["fit"] = fit
    out["targets"] = goal
    notes = list(g.notes) + [n for n in (cup_note, fit["note"]) if n]
    if not heads:
        notes.append(f"no head of the catalogue fits a {cup_mm:g} mm cup: "
                     f"{head.diameter_mm:g} mm shown")  # fmt: skip
    if fit["missing_levels_mm"]:
        notes.append("canal not found at " + ", ".join(f"{v:g}" for v in fit["missing_levels_mm"])
                     + " mm: the stem is sized on the other levels")  # fmt: skip
    out["notes"] = notes
    return out


def describe(g: Geometry, catalogue: Catalogue, components: dict) -> dict:
    """Where the given components sit on this hip and the changes they make (no choosing: the
    truth of a plan made elsewhere is its components described on the true geometry)."""
    stem = catalogue.stem
    size = stem.sizes[components["stem_index"]]
    variant, neck = components["variant"], components["neck_mm"]
    cup_centre = place_cup(g, components["cup_mm"])
    stem_head = head_centre(g, catalogue, components["stem_index"], variant, neck)
    x, y = g.xy(cup_centre)
    return {
        "status": "planned",
        "cup": {"outer_diameter_mm": components["cup_mm"], "inclination_deg": INCLINATION_DEG,
                "acetabulum_diameter_mm": 2 * g.acetabulum_radius,
                "centre": cup_centre.tolist(),
                "centre_from_teardrop_mm": {"lateral": x, "up": y}},
        "head": {"diameter_mm": components["head_mm"], "neck_length_mm": neck},
        "stem": {"size": size.size, "index": components["stem_index"], "variant": variant,
                 "neck_shaft_angle_deg": stem.neck_shaft_angle_deg[variant],
                 "offset_mm": size.offset_mm[variant], "height_mm": size.height_mm[variant],
                 "head_centre": stem_head.tolist(),
                 "reference_t_mm": reference_t(g, catalogue)},
        "native": {"femoral_offset_mm": g.femoral_offset, "total_offset_mm": g.total_offset,
                   "head_centre": g.head.tolist(),
                   "lesser_trochanter_below_teardrop_line_mm": g.lesser_trochanter_below},
        "predicted": outcome(g, cup_centre, stem_head),
    }  # fmt: skip


def components_of(plan: dict) -> dict:
    """The components of a plan (:func:`plan_hip`), for :func:`describe`."""
    return {"cup_mm": plan["cup"]["outer_diameter_mm"], "head_mm": plan["head"]["diameter_mm"],
            "stem_index": plan["stem"]["index"], "variant": plan["stem"]["variant"],
            "neck_mm": plan["head"]["neck_length_mm"]}  # fmt: skip
