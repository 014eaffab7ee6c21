"""The content check: does the predicted label map show two adult hips?

A network trained on hip crops paints hip labels on anything it is given — a chest film, a
hand, a child's pelvis. What it paints there is not anatomy, and these checks say so from the
label map alone, before and after the landmarks are found:

Before measuring (:func:`label_reasons`; each hip that is not excluded for an implant):

* **the femur (L1), its neck and cortex (L2) and the pelvis (L5) present**, between
  ``MIN_AREA_FRACTION`` and ``MAX_AREA_FRACTION`` of an adult hip's typical area
  (:data:`TYPICAL_AREA_MM2`, from the generator's adult anatomy); the teardrop (L3) and the
  joint region (L4) no larger than that. The small ones may be missing or scattered: that is a
  poor segmentation of a pelvis (the quality flags say so), not a film that is no pelvis;
* **in one piece**: the largest part of L1 and L5 holds at least ``gate.min_main_part`` of the
  label (L2 is two cortices: its two largest parts; :func:`hipseg.measure.plausible.pieces`,
  which also screens labels before measuring);
* **in its place**: the femur L1 lateral to the pelvis L5; where they were segmented, the joint
  region L4 touching the femur L1 and the pelvis L5 with the neck and shaft L2 below it, and
  the teardrop L3 medial to the femur L1 (also in an acetabular protrusion, where the head
  passes it).

After measuring (:func:`record_reasons`):

* **a femoral head** found on every hip that is not excluded, of adult size
  (``gate.min_head_diameter_mm`` to ``gate.max_head_diameter_mm``);
* **two hips of one pelvis**: the heads' centres ``gate.head_distance_mm`` apart and at most
  ``gate.max_head_height_difference_mm`` apart in height.

The thresholds are the ``gate:`` section's; what they let through and what they stop is measured
by ``bench/gate.py`` on the demo's trained models (good films of new seeds, real non-pelvis
films from public packages, generated wrong films) and written in docs/hospital-use.md.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..labels import BY_VALUE
from ..measure.plausible import EXPECTED_PIECES, pieces
from . import GateOptions

# median area (mm²) of each label in one adult hip of the synthetic generator (demo preset,
# 2 mm/px; 24 hips of 12 patients): the scale the areas are compared with
TYPICAL_AREA_MM2 = {1: 8300.0, 2: 2400.0, 3: 450.0, 4: 610.0, 5: 19000.0}
# the least and most of that typical area a hip may have. On 138 hips of the generator (demo
# preset, seeds 31-33) the least were 0.74 (L1), 0.82 (L2), 0.12 (L3: a teardrop an acetabular
# protrusion overlaps), 0.74 (L4: the joint space of severe osteoarthritis), 0.81 (L5), the most
# 1.36; the bounds leave room for real patients' sizes and the radiographic magnification
MIN_AREA_FRACTION = {1: 0.3, 2: 0.3, 3: 0.03, 4: 0.2, 5: 0.3}
MAX_AREA_FRACTION = 3.0
# the structures that make a hip a hip: the femur (L1), its neck and cortex (L2) and the pelvis
# (L5). The teardrop (L3) and the joint region (L4) are small and the hardest to segment: a
# model that misses or scatters them on a real pelvis has segmented badly (a quality flag:
# needs review), which is not the same as a film that is not a pelvis.
STRUCTURES = (1, 2, 5)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def _hip_reasons(half: np.ndarray, pixel_mm2: float, lateral: int, side: str,
                 options: GateOptions) -> list[str]:  # fmt: skip
    """The reasons one hip's half of the label map is not a hip ([] if it is)."""
    found = []
    masks = {v: half == v for v in BY_VALUE}
    for v, mask in masks.items():
        area = float(mask.sum()) * pixel_mm2
        name = BY_VALUE[v].name
        low, high = (f * TYPICAL_AREA_MM2[v] for f in (MIN_AREA_FRACTION[v], MAX_AREA_FRACTION))
        if v not in STRUCTURES:
            if area > high:
                found.append(f"{side} hip: {name} covers {area:.0f} mm², more than an adult "
                             f"hip's ({high:.0f} mm² at most)")  # fmt: skip
            continue
        if area < low:
            found.append(f"{side} hip: {name} ({BY_VALUE[v].description}) covers {area:.0f} mm², "
                         f"less than an adult hip's ({low:.0f} mm² or more)")  # fmt: skip
            continue
        if area > high:
            found.append(f"{side} hip: {name} covers {area:.0f} mm², more than an adult hip's "
                         f"({high:.0f} mm² at most)")  # fmt: skip
        n, share, _, _ = pieces(mask, EXPECTED_PIECES[v])
        if share < options.min_main_part:
            which = "one" if EXPECTED_PIECES[v] == 1 else str(EXPECTED_PIECES[v])
            found.append(f"{side} hip: {name} is scattered ({n} pieces, the main {which} "
                         f"{share:.0%} of it)")  # fmt: skip
    if found:
        return found
    return _relations(masks, lateral, side)


def _relations(masks: dict, lateral: int, side: str) -> list[str]:
    """Where the labels lie relative to each other (the teardrop and the joint region only
    where they were segmented)."""
    found = []
    femur, pelvis = _centroid(masks[1]), _centroid(masks[5])
    if (femur[0] - pelvis[0]) * lateral < 0:
        found.append(f"{side} hip: the femur L1 lies medial to the pelvis L5")
    if masks[4].any():
        grown = ndimage.binary_dilation(masks[4], iterations=2)
        for v in (1, 5):
            if not (grown & masks[v]).any():
                found.append(f"{side} hip: the joint region L4 does not touch "
                             f"{BY_VALUE[v].name} ({BY_VALUE[v].description})")  # fmt: skip
        if _centroid(masks[2])[1] < _centroid(masks[4])[1]:
            found.append(f"{side} hip: the neck and shaft L2 lie above the joint region L4")
    if masks[3].any() and (_centroid(masks[3])[0] - femur[0]) * lateral > 0:
        found.append(f"{side} hip: the teardrop L3 lies lateral to the femur L1")  # (medial
        # to the head even in an acetabular protrusion, where the head passes it)
    return found


def label_reasons(labels: np.ndarray, spacing_xy, *, split_at: float = 0.5,
                  right_on_image_left: bool = True, excluded: dict | None = None,
                  options: GateOptions | None = None) -> list[str]:  # fmt: skip
    """Why a full-image label map (standard AP display) shows no adult hips ([] if it does)."""
    options = options or GateOptions()
    pixel_mm2 = float(spacing_xy[0]) * float(spacing_xy[1])
    c = int(round(split_at * labels.shape[1]))
    image_left, image_right = (slice(0, c), 1), (slice(c, labels.shape[1]), -1)
    # (columns, lateral direction in x): the right hip's lateral side is away from the midline
    halves = {"right": image_left, "left": image_right}
    if not right_on_image_left:
        halves = {"right": image_right, "left": image_left}
    found, excluded = [], excluded or {}
    if all(excluded.get(side) for side in halves):  # nothing here shows it is a pelvis
        return ["no hip to assess (" + "; ".join(f"{side} hip excluded: {excluded[side]}"
                                                 for side in halves) + ")"]  # fmt: skip
    for side, (cols, towards_midline) in halves.items():
        if excluded.get(side):
            continue
        found += _hip_reasons(labels[:, cols], pixel_mm2, -towards_midline, side, options)
    return found


def record_reasons(record: dict, options: GateOptions | None = None) -> list[str]:
    """Why the landmarks found are not two adult hips of one pelvis ([] if they are)."""
    options = options or GateOptions()
    low, high = options.min_head_diameter_mm, options.max_head_diameter_mm
    found, centres = [], []
    for side, hip in record["landmarks"].items():
        if hip.get("excluded"):
            continue
        if hip.get("head_radius") is None:
            why = hip.get("missing", {}).get("head_centre", "not found")
            found.append(f"{side} hip: no femoral head ({why})")
            continue
        diameter = 2.0 * float(hip["head_radius"])
        if not low <= diameter <= high:
            found.append(f"{side} hip: a femoral head of {diameter:.0f} mm is not an adult's "
                         f"({low:g}–{high:g} mm, gate.min/max_head_diameter_mm)")  # fmt: skip
        centres.append(np.asarray(hip["head_centre"], float))
    if len(centres) == 2 and not found:
        near, far = (float(v) for v in options.head_distance_mm)
        distance = float(np.hypot(*(centres[0] - centres[1])))
        if not near <= distance <= far:
            found.append(f"the femoral heads are {distance:.0f} mm apart, not the {near:g}–"
                         f"{far:g} mm of one adult pelvis (gate.head_distance_mm)")  # fmt: skip
        height = abs(float(centres[0][1] - centres[1][1]))
        if height > options.max_head_height_difference_mm:
            found.append(f"the femoral heads' centres differ by {height:.0f} mm in height "
                         f"(more than {options.max_head_height_difference_mm:g} mm: not an AP "
                         "pelvis, or rotated)")  # fmt: skip
    return found
