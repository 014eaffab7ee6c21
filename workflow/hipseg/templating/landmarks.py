"""What templating finds in a label map beyond :mod:`hipseg.measure`'s landmarks (image mm).

acetabulum
    the subchondral line of the acetabular roof: the outline between the fossa (L4) and the
    pelvis (L5) above the head centre (within ``0.7–1.7`` head radii of it), a circle fitted to it
    with outliers trimmed (:func:`hipseg.measure.fit.robust_circle`); it must span at least
    ``MIN_ARC_DEG`` of arc.
kohler
    the teardrop's (L3) lateral edge along the teardrop line: the acetabular floor, which the cup's
    medial wall may reach (:mod:`.plan`).
canal widths
    at each level of the stem (mm below its reference along the shaft axis): the medullary canal
    (L1) between the medial and lateral diaphyseal cortex (L2). The L1–L2 edge points (midpoints
    between the pixels, unbiased on average: :mod:`hipseg.measure.fit`) within ``±band`` of the
    level on each side of the axis give the mean distance of each wall from the axis; the width is
    their sum. ``band`` is ``CANAL_BAND_MM`` or two pixels, whichever is larger.
"""

from __future__ import annotations

import numpy as np

from ..measure.fit import (
    bbox,
    boundary_points,
    extreme_point,
    largest_component,
    offset,
    robust_circle,
)
from ..measure.landmarks import _FOSSA as FOSSA
from ..measure.landmarks import CORTEX, HEAD, PELVIS, TEARDROP, Missing, head_window

MIN_ARC_DEG = 45.0
CANAL_BAND_MM = 2.5
MIN_WALL_POINTS = 3


def find_acetabulum(lab: np.ndarray, spacing, head_centre, head_radius, up) -> dict:
    """Centre and radius of the acetabular roof's subchondral circle (see the module docstring)."""
    c, R = np.asarray(head_centre, float), float(head_radius)
    box = head_window(lab.shape, c, 1.8 * R, spacing)
    sub = lab[box]
    if not (sub == FOSSA).any():
        raise Missing("no fossa (L4) near the head")
    pts = boundary_points(sub == FOSSA, spacing, outside=sub == PELVIS) + offset(box, spacing)
    d = pts - c
    dist = np.hypot(d[:, 0], d[:, 1])
    pts = pts[(d @ np.asarray(up) > 0) & (dist > 0.7 * R) & (dist < 1.7 * R)]
    if len(pts) < 12:
        raise Missing(f"the fossa's (L4) outline against the roof (L5) has {len(pts)} points")
    centre, radius, keep = robust_circle(pts, tolerance=1.5 * max(spacing))
    span = arc_span(pts[keep] - centre)
    if span < MIN_ARC_DEG:
        raise Missing(f"the roof's subchondral outline spans {span:.0f}° of arc "
                      f"(< {MIN_ARC_DEG:g}°)")  # fmt: skip
    return {"centre": centre.tolist(), "radius": float(radius), "points": int(keep.sum())}


def arc_span(vectors: np.ndarray) -> float:
    """Degrees of a circle that directions from its centre cover (360° less the largest gap)."""
    if len(vectors) < 2:
        return 0.0
    ang = np.sort(np.degrees(np.arctan2(vectors[:, 1], vectors[:, 0])))
    gaps = np.diff(np.concatenate([ang, ang[:1] + 360.0]))
    return float(360.0 - gaps.max())


def find_kohler(lab: np.ndarray, spacing, lateral) -> list[float]:
    """The lateral edge of the teardrop L3 along ``lateral`` (a unit vector)."""
    l3 = largest_component(lab == TEARDROP)
    if not l3.any():
        raise Missing("no teardrop (L3) in this hip")
    box = bbox(l3)
    pts = boundary_points(l3[box], spacing) + offset(box, spacing)
    return np.asarray(extreme_point(pts, np.asarray(lateral, float), cap=0.5 * max(spacing)),
                      float).tolist()  # fmt: skip


def canal_points(lab: np.ndarray, spacing) -> np.ndarray:
    """The L1–L2 edge points of a hip (image mm)."""
    femur = (lab == HEAD) | (lab == CORTEX)
    if not femur.any():
        return np.zeros((0, 2))
    box = bbox(femur, pad=1)
    sub = lab[box]
    return boundary_points(sub == HEAD, spacing, outside=sub == CORTEX) + offset(box, spacing)


def canal_width(points, axis_point, axis_dir, medial, t: float, spacing) -> float:
    """The canal's width at ``t`` mm down the shaft axis from ``axis_point`` (Missing if a wall
    has fewer than ``MIN_WALL_POINTS`` edge points there)."""
    band = max(CANAL_BAND_MM, 2 * max(spacing))
    d = np.asarray(points, float) - np.asarray(axis_point, float)
    along, across = d @ np.asarray(axis_dir, float), d @ np.asarray(medial, float)
    sel = (np.abs(along - t) <= band) & (np.abs(across) < 40.0)
    med, lat = across[sel & (across > 0)], across[sel & (across < 0)]
    if len(med) < MIN_WALL_POINTS or len(lat) < MIN_WALL_POINTS:
        which = "medial" if len(med) < MIN_WALL_POINTS else "lateral"
        raise Missing(f"no {which} canal wall (L1 against L2) {t:.0f} mm down the shaft axis")
    return float(med.mean() - lat.mean())
