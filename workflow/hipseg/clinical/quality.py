"""Quality flags: is a result plausible enough to leave unreviewed?

A result is marked **needs review** (in the SR, the presentation state, the overlay and
``run.json``) when any check fails; every failed check is one reason, in words:

* **label missing**: a segmented hip has less than ``min_label_area_mm2`` of a label;
* **label in pieces**: a label of a hip has more sizeable parts (each at least
  ``piece_fraction`` of the label's area) than the anatomy has: one for L1, L3, L4 and L5, two
  for L2 (the medial and lateral cortex of the shaft are apart on an AP radiograph);
* **measurement outside its physiological range** (:data:`RANGES`): a femoral head diameter
  below 35 or above 65 mm (adult heads are about 40–60 mm; uncalibrated millimetres include up
  to 20 % magnification), a centre-edge angle below −20° or above 60°, a Sharp angle below 25°
  or above 70° (severe dysplasia reaches 60°), a femoral offset outside 15–70 mm, a leg-length
  difference over 25 mm, a teardrop line tilted more than 8° (a rotated or oblique radiograph);
* **measurement missing**: a hip that was segmented but whose head, teardrop or rim was not
  found (so its measurements have no value);
* **ensemble disagreement**: with an ensemble model, the folds' label maps agree less than
  ``ensemble_dice_min`` (mean pairwise Dice over the labels of both hips).

A hip excluded for an implant (or in the sheet) is not flagged: it was not measured on purpose.
The thresholds are :class:`QualityRules` (the ``listen.quality`` config keys override them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..labels import LABELS
from ..measure.fit import bbox
from ..measure.plausible import EXPECTED_PIECES
from ..measure.quantities import BY_NAME, SIDES

# measurement -> (low, high) plausible values (mm or degrees; "abs": of the absolute value)
RANGES: dict[str, tuple[float, float]] = {
    "head_diameter": (35.0, 65.0),
    "lateral_centre_edge_angle": (-20.0, 60.0),
    "sharp_angle": (25.0, 70.0),
    "femoral_offset": (15.0, 70.0),
    "leg_length_difference_lesser_trochanter": (-25.0, 25.0),
    "leg_length_difference_head_centre": (-25.0, 25.0),
    "teardrop_line_angle": (-8.0, 8.0),
}
# measurements whose absence on a segmented hip means the segmentation failed
REQUIRED = ("head_diameter", "lateral_centre_edge_angle", "sharp_angle")


@dataclass(frozen=True)
class QualityRules:
    min_label_area_mm2: float = 10.0
    piece_fraction: float = 0.05
    ranges: dict = field(default_factory=lambda: dict(RANGES))
    ensemble_dice_min: float = 0.8

    @classmethod
    def from_config(cls, values: dict | None) -> QualityRules:
        values = dict(values or {})
        ranges = dict(RANGES)
        ranges.update({k: tuple(v) for k, v in (values.pop("ranges", None) or {}).items()})
        return cls(ranges=ranges, **values)


def _halves(shape, split_at: float, right_on_image_left: bool) -> dict[str, slice]:
    c = int(round(split_at * shape[1]))
    left, right = slice(0, c), slice(c, shape[1])
    return {"right": left, "left": right} if right_on_image_left else {"right": right, "left": left}


def label_checks(
    labels: np.ndarray,
    spacing_xy,
    split_at: float,
    right_on_image_left: bool,
    excluded: dict,
    rules: QualityRules,
) -> tuple[list[str], dict]:
    """Reasons (missing or fragmented labels) and the per-hip numbers behind them."""
    pixel_mm2 = float(spacing_xy[0]) * float(spacing_xy[1])
    reasons, numbers = [], {}
    for side, cols in _halves(labels.shape, split_at, right_on_image_left).items():
        if excluded.get(side):
            continue
        half = labels[:, cols]
        numbers[side] = {}
        for lab in LABELS:
            mask = half == lab.value
            area = float(mask.sum()) * pixel_mm2
            parts, n = ndimage.label(mask[bbox(mask, pad=0)])
            sizes = np.bincount(parts.ravel())[1:] if n else np.zeros(0)
            pieces = int((sizes >= rules.piece_fraction * max(sizes.sum(), 1)).sum())
            numbers[side][lab.name] = {"area_mm2": round(area, 1), "pieces": pieces}
            if area < rules.min_label_area_mm2:
                reasons.append(
                    f"{side} hip: label {lab.name} ({lab.description}) missing ({area:.0f} mm²)"
                )
            elif pieces > EXPECTED_PIECES[lab.value]:
                reasons.append(
                    f"{side} hip: label {lab.name} in {pieces} pieces "
                    f"(expected {EXPECTED_PIECES[lab.value]})"
                )
    return reasons, numbers


def measurement_checks(record: dict, rules: QualityRules) -> list[str]:
    reasons = []
    scopes = [(s, record["hips"][s]) for s in SIDES] + [("both", record["radiograph"])]
    for side, values in scopes:
        hip = record["landmarks"].get(side, {})
        for name, v in values.items():
            where = "" if side == "both" else f"{side} hip: "
            if v["value"] is None:
                if side != "both" and not hip.get("excluded") and name in REQUIRED:
                    reasons.append(f"{where}{BY_NAME[name].title.lower()} missing ({v['reason']})")
                continue
            low, high = rules.ranges.get(name, (-np.inf, np.inf))
            if not low <= v["value"] <= high:
                unit = BY_NAME[name].unit
                reasons.append(
                    f"{where}{BY_NAME[name].title.lower()} {v['value']:.1f} {unit} "
                    f"outside {low:g} to {high:g} {unit}"
                )
    return reasons


def dice_agreement(maps: list[np.ndarray]) -> float | None:
    """Mean pairwise Dice (over the labels present in either map) of the folds' label maps."""
    if len(maps) < 2:
        return None
    scores = []
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            for lab in LABELS:
                a, b = maps[i] == lab.value, maps[j] == lab.value
                total = int(a.sum() + b.sum())
                if total:
                    scores.append(2.0 * float((a & b).sum()) / total)
    return float(np.mean(scores)) if scores else None


def assess(
    labels: np.ndarray,
    record: dict,
    spacing_xy,
    *,
    split_at: float = 0.5,
    right_on_image_left: bool = True,
    excluded: dict | None = None,
    agreement: float | None = None,
    rules: QualityRules | None = None,
) -> dict:
    """The quality statement of one result: ``needs_review``, ``reasons`` and the numbers."""
    rules = rules or QualityRules()
    reasons, numbers = label_checks(
        labels, spacing_xy, split_at, right_on_image_left, excluded or {}, rules
    )
    reasons += measurement_checks(record, rules)
    if agreement is not None and agreement < rules.ensemble_dice_min:
        reasons.append(
            f"ensemble disagreement: folds agree with mean Dice {agreement:.2f} "
            f"(< {rules.ensemble_dice_min:g})"
        )
    return {
        "needs_review": bool(reasons),
        "reasons": reasons,
        "labels": numbers,
        "ensemble_dice": agreement,
    }
