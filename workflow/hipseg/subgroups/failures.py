"""Failure modes of one test joint, named from its reference and predicted label maps.

A mode is what a reader of the overlay would say went wrong:

* ``missing`` — a label of the reference is absent from the prediction;
* ``spurious`` — the prediction has a label the reference lacks;
* ``pieces`` — a predicted label has more sizeable parts (each at least ``PIECE_FRACTION`` of
  the label's predicted area) than the anatomy has (one; two for L2, the medial and lateral
  cortex: :data:`hipseg.clinical.quality.EXPECTED_PIECES`) and than the reference has;
* ``boundary`` — the label's HD95 exceeds ``boundary_mm`` (labels in both maps);
* ``teardrop_merged`` — at least ``merge_fraction`` of the reference teardrop is predicted as
  pelvis;
* ``head_outside`` — the predicted femoral head is not where the acetabulum holds it: its centre
  (the circle fitted to its articular arc, :func:`hipseg.measure.landmarks.find_head`) lies more
  than ``head_offset`` reference head radii from the reference head's centre, or the prediction
  has no head to fit. The acetabulum is concentric with the reference head, so this is a head
  outside its socket.

The maps are read at their own resolution, coarsened to about 0.5 mm for the head fit (paper
resolution would make it slow and gains nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..clinical.quality import EXPECTED_PIECES
from ..labels import BY_VALUE, LABELS
from ..measure.landmarks import HEAD, PELVIS, TEARDROP, Missing, find_head

PIECE_FRACTION = 0.05  # as the quality flags of hipseg segment (QualityRules.piece_fraction)
HEAD_FIT_MM = 0.5  # the head is fitted on maps coarsened to about this pixel size


@dataclass(frozen=True)
class Mode:
    code: str
    title: str
    definition: str


def modes(boundary_mm: float, merge_fraction: float, head_offset: float) -> tuple[Mode, ...]:
    """The failure modes with their definitions at the configured thresholds."""
    td, pelvis = BY_VALUE[TEARDROP], BY_VALUE[PELVIS]
    return (
        Mode("missing", "label missing", "a label of the reference is absent from the prediction"),
        Mode(
            "spurious",
            "label where there is none",
            "the prediction has a label the reference lacks",
        ),
        Mode(
            "pieces",
            "label in pieces",
            f"a predicted label has more parts of at least {PIECE_FRACTION:.0%} of its area "
            "than the anatomy (one; two for L2) and the reference have",
        ),
        Mode(
            "boundary",
            f"boundary off > {boundary_mm:g} mm",
            f"HD95 of a label above {boundary_mm:g} mm",
        ),
        Mode(
            "teardrop_merged",
            "teardrop merged into the pelvis",
            f"at least {merge_fraction:.0%} of the reference teardrop ({td.name}) predicted as "
            f"pelvis ({pelvis.name})",
        ),
        Mode(
            "head_outside",
            "head outside the acetabulum",
            f"the predicted head's centre more than {head_offset:g} head radii from the "
            "reference head's centre (the acetabulum's), or no head in the prediction",
        ),
    )


def pieces(mask: np.ndarray) -> int:
    """Parts of a mask of at least :data:`PIECE_FRACTION` of its area (4-connected)."""
    parts, n = ndimage.label(mask)
    if not n:
        return 0
    sizes = np.bincount(parts.ravel())[1:]
    return int((sizes >= PIECE_FRACTION * sizes.sum()).sum())


def _lateral(gt: np.ndarray) -> int | None:
    """Image x direction of the joint's lateral side: away from the teardrop (medial of the
    head), from the reference; None without head or teardrop."""
    head, td = np.nonzero(gt == HEAD)[1], np.nonzero(gt == TEARDROP)[1]
    if not head.size or not td.size:
        return None
    return 1 if head.mean() > td.mean() else -1


def _coarse(lab: np.ndarray, spacing_xy) -> tuple[np.ndarray, tuple[float, float]]:
    step = max(1, int(HEAD_FIT_MM // max(min(spacing_xy), 1e-6)))
    return lab[::step, ::step], (spacing_xy[0] * step, spacing_xy[1] * step)


def head_offset_radii(gt: np.ndarray, pred: np.ndarray, spacing_xy) -> float | None:
    """Distance of the predicted head's centre from the reference head's, in reference head
    radii (``inf``: no head in the prediction); None where the reference gives no head."""
    lateral = _lateral(gt)
    if lateral is None:
        return None
    gt_c, spacing = _coarse(gt, spacing_xy)
    pred_c, _ = _coarse(pred, spacing_xy)
    try:
        ref = find_head(gt_c, spacing, lateral)
    except Missing:
        return None
    try:
        got = find_head(pred_c, spacing, lateral)
    except Missing:
        return math.inf
    return float(np.hypot(*(got["centre"] - ref["centre"])) / ref["radius"])


def joint_failures(
    gt: np.ndarray, pred: np.ndarray, spacing_xy, hd95: dict[str, float], options
) -> list[dict]:
    """Every failure of one joint: ``{mode, label, value, threshold}`` rows. ``hd95``: the
    label's HD95 (metrics.csv) by label name; ``options``: boundary_mm, merge_fraction and
    head_offset (:class:`~hipseg.subgroups.SubgroupOptions`)."""
    rows = []
    for lab in LABELS:
        ref, got = gt == lab.value, pred == lab.value
        if ref.any() and not got.any():
            rows.append({"mode": "missing", "label": lab.name, "value": 0.0, "threshold": 0.0})
        elif got.any() and not ref.any():
            rows.append(
                {"mode": "spurious", "label": lab.name, "value": float(got.sum()), "threshold": 0.0}
            )
        if not (ref.any() and got.any()):
            continue
        n, allowed = pieces(got), max(EXPECTED_PIECES[lab.value], pieces(ref))
        if n > allowed:
            rows.append(
                {
                    "mode": "pieces",
                    "label": lab.name,
                    "value": float(n),
                    "threshold": float(allowed),
                }
            )
        h = hd95.get(lab.name, math.nan)
        if math.isfinite(h) and h > options.boundary_mm:
            rows.append(
                {
                    "mode": "boundary",
                    "label": lab.name,
                    "value": h,
                    "threshold": options.boundary_mm,
                }
            )
    td = gt == TEARDROP
    if td.any():
        merged = float((pred[td] == PELVIS).mean())
        if merged >= options.merge_fraction:
            rows.append(
                {
                    "mode": "teardrop_merged",
                    "label": BY_VALUE[TEARDROP].name,
                    "value": merged,
                    "threshold": options.merge_fraction,
                }
            )
    offset = head_offset_radii(gt, pred, spacing_xy)
    if offset is not None and offset > options.head_offset:
        rows.append(
            {
                "mode": "head_outside",
                "label": BY_VALUE[HEAD].name,
                "value": offset,
                "threshold": options.head_offset,
            }
        )
    return rows
