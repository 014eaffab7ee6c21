"""Boundary metrics in millimetres: HD95, ASSD and NSD at a tolerance τ (Metrics Reloaded).

The surface distances come from MedPy (``medpy.metric.binary``, the routine behind its ``hd``,
``hd95``, ``asd`` and ``assd``): the border of a mask is its pixels with a 4-connected background
neighbour (``connectivity=1``; outside the image counts as background), and the distance of a
border pixel of A to B is the Euclidean distance, in mm from the pixel spacing, to the nearest
border pixel of B (``scipy.ndimage.distance_transform_edt`` with ``sampling``). From the two
directed distance sets ``d(A→B)`` and ``d(B→A)`` hipseg computes:

* **HD95** = max(P95 d(A→B), P95 d(B→A)), the larger of the two directed 95th percentiles
  (``numpy.percentile``, linear interpolation). MedPy's own ``hd95`` takes one percentile of the
  pooled distances instead, which is smaller when one direction is much worse.
* **ASSD** = (Σ d(A→B) + Σ d(B→A)) / (|∂A| + |∂B|), the mean over all border pixels of both
  (Metrics Reloaded's ASSD; MedPy 0.5's ``assd``). Not the mean of the two directed means,
  which Metrics Reloaded calls MASD (and older MedPy versions called ASSD).
* **NSD(τ)** = (#{d(A→B) ≤ τ} + #{d(B→A) ≤ τ}) / (|∂A| + |∂B|), the fraction of border pixels
  within τ mm of the other border (normalized surface Dice on pixel borders, not on surfels;
  ``≤ τ`` up to :data:`ROUNDING_MM`).

Empty masks (see :data:`CONVENTIONS`): absent from both → every metric undefined (NaN) and left
out of the means, as Dice; absent from one only → HD95 and ASSD are the image diagonal in mm (the
largest distance the image allows; a missed or spurious structure is the worst boundary error,
not a missing value), NSD 0 and Dice 0.

Only the bounding box of the two masks plus one pixel is passed to MedPy: the distances of
border pixels to the nearest border pixel do not depend on the image outside it, so the result
is that of the whole image, in a fraction of the time on paper-size images.
"""

from __future__ import annotations

import importlib.metadata
import math
from dataclasses import dataclass

import numpy as np
from medpy.metric import binary as _medpy_binary

# MedPy's directed surface distances (module-private, behind its public hd/hd95/asd/assd; the
# tests check that hipseg's distances reproduce those public functions).
_surface_distances = getattr(_medpy_binary, "__surface_distances")
CONNECTIVITY = 1
HD_PERCENTILE = 95
# A distance counts as within τ when d ≤ τ + ROUNDING_MM: distances of whole pixel steps equal τ
# exactly in theory (2 mm = 20 × 0.1 mm) but not always in floating point.
ROUNDING_MM = 1e-9

NONE, REFERENCE, PREDICTION, BOTH = "none", "reference", "prediction", "both"
CONVENTIONS = {
    BOTH: "label absent from reference and prediction: Dice, HD95, ASSD and NSD undefined (NaN),"
    " left out of every mean",
    REFERENCE: "label absent from the reference only: Dice 0, NSD 0, HD95 and ASSD = the image"
    " diagonal in mm",
    PREDICTION: "label absent from the prediction only: Dice 0, NSD 0, HD95 and ASSD = the image"
    " diagonal in mm",
}


def tool() -> str:
    """The library that computes the surface distances, with its version."""
    try:
        version = importlib.metadata.version("medpy")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        version = "unknown"
    return f"MedPy {version} (medpy.metric.binary, connectivity {CONNECTIVITY})"


@dataclass(frozen=True)
class Boundary:
    """Boundary metrics of one label in one image."""

    hd95: float
    assd: float
    nsd: float
    empty: str  # NONE, REFERENCE, PREDICTION or BOTH


def _bbox(mask: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of the True pixels plus one pixel on every side (clipped to the image)."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        box.append(slice(max(int(idx[0]) - 1, 0), min(int(idx[-1]) + 2, mask.shape[axis])))
    return tuple(box)


def directed_distances(
    a: np.ndarray, b: np.ndarray, spacing_rc: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Distances in mm from every border pixel of ``a`` to the border of ``b``, and back.

    ``spacing_rc`` is the spacing along the array axes (rows, columns). Both masks must be
    non-empty."""
    box = _bbox(a | b)
    a, b = a[box], b[box]
    spacing = tuple(float(s) for s in spacing_rc)
    return (
        np.asarray(_surface_distances(a, b, spacing, CONNECTIVITY), dtype=float),
        np.asarray(_surface_distances(b, a, spacing, CONNECTIVITY), dtype=float),
    )


def diagonal_mm(shape: tuple[int, ...], spacing_rc: tuple[float, float]) -> float:
    """The image diagonal in mm (the penalty of a one-sided empty mask)."""
    return float(math.hypot(*(n * s for n, s in zip(shape, spacing_rc, strict=True))))


def boundary_metrics(
    reference: np.ndarray,
    prediction: np.ndarray,
    spacing_rc: tuple[float, float],
    tolerance_mm: float,
) -> Boundary:
    """HD95, ASSD (mm) and NSD at ``tolerance_mm`` of two binary masks of one label."""
    reference = np.asarray(reference, dtype=bool)
    prediction = np.asarray(prediction, dtype=bool)
    if reference.shape != prediction.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {prediction.shape}")
    has_ref, has_pred = bool(reference.any()), bool(prediction.any())
    if not has_ref and not has_pred:
        return Boundary(math.nan, math.nan, math.nan, BOTH)
    if not (has_ref and has_pred):
        worst = diagonal_mm(reference.shape, spacing_rc)
        return Boundary(worst, worst, 0.0, PREDICTION if has_ref else REFERENCE)
    d_rp, d_pr = directed_distances(reference, prediction, spacing_rc)
    n = d_rp.size + d_pr.size
    hd95 = max(np.percentile(d_rp, HD_PERCENTILE), np.percentile(d_pr, HD_PERCENTILE))
    assd = (d_rp.sum() + d_pr.sum()) / n
    limit = tolerance_mm + ROUNDING_MM
    within = np.count_nonzero(d_rp <= limit) + np.count_nonzero(d_pr <= limit)
    return Boundary(float(hd95), float(assd), float(within / n), NONE)
