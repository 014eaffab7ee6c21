"""Landmarks of one hip found in a full-image label map (values of :mod:`hipseg.labels`).

Every finder returns its landmark in image millimetres (see :mod:`.fit`) or raises
:class:`Missing` with the reason; nothing is extrapolated. The hip is one half of the radiograph
(the crop rule's split line); ``lateral`` is the image x direction of the patient's lateral side
(-1 for the patient's right hip in standard display, on the image left).

head
    L1 is the head with neck, greater trochanter and medullary cavity. A first centre is the
    largest circle inside L1 touching its topmost and its most medial point; the *articular arc*
    is the part of L1's outline on the side away from the neck (within ``ARC_HALF_ANGLE`` of the
    direction opposite the mass of L1 beyond the head), and a circle is fitted to it with
    outliers (osteophytes, the neck) trimmed.
teardrop
    the inferior point of L3: the vertex of a parabola through L3's outline points within a
    thin cap above its lowest point.
shaft axis
    the line through the midpoints of the femur's (L1 ∪ L2) outer edges, row by row, on the
    diaphysis from ``SHAFT_START_RADII`` head radii below the head centre down to the end of the
    femur in the image.
lesser trochanter tip
    L2 is the calcar, the diaphyseal cortex and the lesser trochanter; only the trochanter is
    thicker than a disc of ``LT_OPENING_RADII`` head radii, so a morphological opening with that
    disc keeps it alone (the largest such part medial of the shaft axis, from half a head radius
    to ``LT_SEARCH_RADII`` radii below the head centre and within ``LT_MEDIAL_RADII`` radii of
    the axis; the opening reads L2 only there and ``LT_MARGIN_RADII`` around). The tip is its
    outline's point furthest from the shaft axis.
acetabular rim
    the lateral end of the acetabular roof: among L5's outline points that face the background
    lateral of and above the head centre (within 1.5 head radii of it), the one closest in angle
    to the head centre's vertical. Lateral of it, the ilium's outline climbs away from the head.
    Sub-pixel: the rim is where a line fitted to that climbing outline meets a line fitted to the
    outline running down to the head, or, where the head hides that, the head circle.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from ..labels import BACKGROUND, LABELS
from .fit import (
    bbox,
    boundary_points,
    extreme_point,
    fit_line,
    largest_component,
    offset,
    robust_circle,
)

# The labels' roles, in the order of hipseg.labels (the paper's Fig. 2): femoral head etc.,
# femoral cortex with the lesser trochanter, teardrop, fossa (unused here), pelvis.
HEAD, CORTEX, TEARDROP, _FOSSA, PELVIS = (lab.value for lab in LABELS)
ARC_HALF_ANGLE = 90.0  # degrees either side of the direction away from the neck
SHAFT_START_RADII = 3.5  # the diaphysis rows start this many head radii below the head centre
SHAFT_MIN_MM = 20.0  # shortest diaphysis that defines an axis
LT_SEARCH_RADII = 4.0
LT_OPENING_RADII = 0.18  # L2 opened with a disc of this many head radii: the cortex goes
LT_MEDIAL_RADII = 2.5  # the trochanter lies within this many head radii medial of the axis
LT_MARGIN_RADII = 1.0  # L2 is opened in the search region and this many head radii around
RIM_MAX_RADII = 1.5


class Missing(Exception):
    """A landmark that is not in the label map; the message says why."""


def _min_pixels(spacing) -> float:
    return float(max(spacing))


def find_head(lab: np.ndarray, spacing, lateral: int) -> dict:
    """Centre (x, y) and radius of the femoral head, and the arc points it was fitted to."""
    l1 = largest_component(lab == HEAD)
    if l1.sum() < 20:
        raise Missing("no femoral head: L1 is absent or tiny")
    px = _min_pixels(spacing)
    box = bbox(l1)
    l1, shift = l1[box], offset(box, spacing)
    centre, radius = _head_start(l1, spacing, lateral)
    centre = centre + shift
    outline = boundary_points(l1, spacing) + shift
    arc = np.zeros((0, 2))
    for _ in range(3):
        d = _points_within(l1, spacing, shift, centre, 2.5 * radius) - centre
        dist = np.hypot(d[:, 0], d[:, 1])
        beyond = (dist > 1.2 * radius) & (dist < 2.5 * radius)
        if not beyond.any():
            raise Missing("no femoral neck below the head in L1: cannot tell the articular arc")
        away = -d[beyond].mean(axis=0)
        away /= np.hypot(*away)
        o = outline - centre
        r = np.hypot(o[:, 0], o[:, 1])
        cos = (o @ away) / np.maximum(r, 1e-9)
        on_arc = (r > 0.6 * radius) & (r < 1.5 * radius)
        on_arc &= cos >= math.cos(math.radians(ARC_HALF_ANGLE))
        arc = outline[on_arc]
        if len(arc) < 12:
            raise Missing(f"articular arc of the head has {len(arc)} outline points (< 12)")
        centre, radius, keep = robust_circle(arc, tolerance=1.5 * px)
        arc = arc[keep]
    return {"centre": centre, "radius": float(radius), "arc": arc}


def _points_within(mask: np.ndarray, spacing, shift, centre, reach: float) -> np.ndarray:
    """``pixel_points(mask) + shift`` of the pixels in the box of ``reach`` mm around
    ``centre`` (all of them where that is not finite), in the same order and values: only the
    box is read, however large the mask."""
    sx, sy = spacing
    local = np.asarray(centre, float) - shift
    box = (slice(0, mask.shape[0]), slice(0, mask.shape[1]))
    rows = (local[1] - reach) / sy, (local[1] + reach) / sy
    cols = (local[0] - reach) / sx, (local[0] + reach) / sx
    if np.isfinite([*rows, *cols]).all():
        box = (slice(int(np.clip(np.floor(rows[0]) - 1, 0, mask.shape[0])),
                     int(np.clip(np.ceil(rows[1]) + 2, 0, mask.shape[0]))),
               slice(int(np.clip(np.floor(cols[0]) - 1, 0, mask.shape[1])),
                     int(np.clip(np.ceil(cols[1]) + 2, 0, mask.shape[1]))))  # fmt: skip
    r, c = np.nonzero(mask[box])
    r, c = r + box[0].start, c + box[1].start
    return np.stack([c * sx, r * sy], axis=1).astype(float) + shift


def _head_start(l1: np.ndarray, spacing, lateral: int) -> tuple[np.ndarray, float]:
    """The largest circle inside L1 that touches its topmost and its most medial pixel."""
    sx, sy = spacing
    edt = ndimage.distance_transform_edt(l1, sampling=(sy, sx))
    rows, cols = np.nonzero(l1)
    y_top = (rows.min() - 0.5) * sy
    x_med = (cols.max() + 0.5) * sx if lateral < 0 else (cols.min() - 0.5) * sx
    best = None
    for r in np.linspace(2 * max(sx, sy), float(edt.max()) * 1.5, 80):
        cx, cy = x_med + lateral * r, y_top + r
        ri, ci = int(round(cy / sy)), int(round(cx / sx))
        if 0 <= ri < l1.shape[0] and 0 <= ci < l1.shape[1] and edt[ri, ci] >= 0.85 * r:
            best = (np.array([cx, cy]), float(r))
    if best is None:
        ri, ci = np.unravel_index(int(np.argmax(edt)), edt.shape)
        best = (np.array([ci * sx, ri * sy]), float(edt.max()))
    return best


def find_teardrop(lab: np.ndarray, spacing) -> np.ndarray:
    """The inferior point (largest y) of the teardrop L3."""
    l3 = largest_component(lab == TEARDROP)
    if not l3.any():
        raise Missing("no teardrop (L3) in this hip")
    box = bbox(l3)
    pts = boundary_points(l3[box], spacing) + offset(box, spacing)
    return extreme_point(pts, np.array([0.0, 1.0]), cap=max(0.5, 0.5 * spacing[1]))


def find_shaft_axis(lab: np.ndarray, spacing, head: dict) -> dict:
    """Point and unit direction (downwards) of the diaphysis' midline."""
    sx, sy = spacing
    femur = largest_component((lab == HEAD) | (lab == CORTEX))
    start = head["centre"][1] + SHAFT_START_RADII * head["radius"]
    rows = np.nonzero(femur.any(axis=1))[0]
    rows = rows[(rows * sy >= start) & (rows < rows.max() - 1)] if rows.size else rows
    mids = []
    for r in rows:
        cols = np.nonzero(femur[r])[0]
        if cols.min() == 0 or cols.max() == femur.shape[1] - 1:
            continue  # cut by the image or the split line
        mids.append((((cols.min() - 0.5) + (cols.max() + 0.5)) / 2 * sx, r * sy))
    mids = np.array(mids).reshape(-1, 2)
    if len(mids) < 3 or np.ptp(mids[:, 1]) < SHAFT_MIN_MM:
        length = float(np.ptp(mids[:, 1])) if len(mids) else 0.0
        raise Missing(
            f"femoral shaft visible over {length:.0f} mm below {SHAFT_START_RADII:g} head radii "
            f"(< {SHAFT_MIN_MM:g} mm)"
        )
    point, direction, _ = fit_line(mids, tolerance=max(sx, sy))
    if direction[1] < 0:
        direction = -direction
    return {"point": point, "direction": direction, "midpoints": mids}


def find_lesser_trochanter(lab: np.ndarray, spacing, head: dict, axis: dict, lateral: int):
    """The tip of the lesser trochanter in L2 (see the module docstring)."""
    l2 = lab == CORTEX
    if not l2.any():
        raise Missing("no L2 (femoral cortex and lesser trochanter) in this hip")
    sx, sy = spacing
    R = head["radius"]
    d = axis["direction"]
    medial = np.array([d[1], -d[0]])
    if medial[0] * lateral > 0:
        medial = -medial
    t0 = (head["centre"] - axis["point"]) @ d
    box = _search_box(bbox(l2, pad=2), spacing, axis["point"] + t0 * d, d, medial, R)
    best = None
    if l2[box].any():
        blobs, n = ndimage.label(_opening(l2[box], LT_OPENING_RADII * R, spacing))
        shift = offset(box, spacing)
        best = _trochanter_blob(blobs, n, spacing, shift - axis["point"], d, medial, t0, R)
    if best is None:
        raise Missing(
            "no lesser trochanter: no part of L2 medial of the shaft below the head "
            "is thicker than the cortex"
        )
    outline = boundary_points(blobs == best, spacing) + shift
    return extreme_point(outline, medial, cap=max(sx, sy, 0.5))


def _search_box(box, spacing, origin, d, medial, R: float) -> tuple[slice, slice]:
    """``box`` (slices of L2's bounding box) cut to where the lesser trochanter is looked for:
    ``LT_SEARCH_RADII`` along the axis below the head and ``LT_MEDIAL_RADII`` medial of it,
    ``LT_MARGIN_RADII`` around (so the opening, the costliest step, reads only this much)."""
    m = LT_MARGIN_RADII * R
    ts, ps = (0.5 * R - m, LT_SEARCH_RADII * R + m), (-m, LT_MEDIAL_RADII * R + m)
    corners = np.array([origin + t * d + p * medial for t in ts for p in ps])
    if not np.isfinite(corners).all():
        return box
    lo = np.floor(corners.min(axis=0) / spacing) - 2
    hi = np.ceil(corners.max(axis=0) / spacing) + 3
    rows = (
        max(box[0].start, int(np.clip(lo[1], 0, box[0].stop))),
        min(box[0].stop, int(np.clip(hi[1], 0, box[0].stop))),
    )
    cols = (max(box[1].start, int(np.clip(lo[0], 0, box[1].stop))),
            min(box[1].stop, int(np.clip(hi[0], 0, box[1].stop))))  # fmt: skip
    return slice(rows[0], max(rows)), slice(cols[0], max(cols))


def _trochanter_blob(blobs, n: int, spacing, shift, d, medial, t0: float, R: float):
    """The largest blob (label in ``blobs``) whose centre lies medial of the shaft axis, from
    half a head radius to ``LT_SEARCH_RADII`` radii below the head centre, or None; ``shift``:
    the blobs' top-left pixel relative to the axis point (mm). One pass over the pixels,
    however many blobs there are."""
    if n == 0:
        return None
    flat = blobs.ravel()
    idx = np.flatnonzero(flat)
    k = flat[idx]
    rows, cols = np.divmod(idx, blobs.shape[1])
    size = np.bincount(k, minlength=n + 1)[1:]
    x = np.bincount(k, weights=cols * spacing[0], minlength=n + 1)[1:] / np.maximum(size, 1)
    y = np.bincount(k, weights=rows * spacing[1], minlength=n + 1)[1:] / np.maximum(size, 1)
    centre = np.stack([x, y], axis=1) + shift
    t, p = centre @ d - t0, centre @ medial
    ok = (0.5 * R < t) & (t < LT_SEARCH_RADII * R) & (p > 0) & (p < LT_MEDIAL_RADII * R)
    ok &= size > 0
    if not ok.any():
        return None
    return int(np.argmax(np.where(ok, size, -1))) + 1


def _opening(mask: np.ndarray, radius: float, spacing) -> np.ndarray:
    """Morphological opening with a disc of ``radius`` mm (through distance transforms)."""
    sampling = (spacing[1], spacing[0])
    eroded = ndimage.distance_transform_edt(mask, sampling=sampling) > radius
    if not eroded.any():
        return eroded
    return ndimage.distance_transform_edt(~eroded, sampling=sampling) <= radius


def head_window(shape, centre, reach: float, spacing) -> tuple[slice, slice]:
    """The box of an image of ``shape`` within ``reach`` mm of ``centre`` (x, y mm) along each
    axis, clipped to the image: where the rim and the acetabular roof are looked for."""
    r0, r1 = (int((centre[1] + k * reach) / spacing[1]) for k in (-1, 1))
    c0, c1 = (int((centre[0] + k * reach) / spacing[0]) for k in (-1, 1))
    rows = slice(max(r0, 0), min(max(r1 + 2, 0), shape[0]))
    cols = slice(max(c0, 0), min(max(c1 + 2, 0), shape[1]))
    if rows.start >= rows.stop or cols.start >= cols.stop:  # the window misses the image
        return slice(0, 0), slice(0, 0)
    return rows, cols


def find_rim(lab: np.ndarray, spacing, head: dict, lateral: int) -> np.ndarray:
    """The lateral acetabular rim (see the module docstring)."""
    c, R = head["centre"], head["radius"]
    box = head_window(lab.shape, c, RIM_MAX_RADII * R + 2 * max(spacing), spacing)
    sub = lab[box]
    if not (sub == PELVIS).any():
        raise Missing("no pelvis (L5) near the head")
    pts = boundary_points(sub == PELVIS, spacing, outside=sub == BACKGROUND) + offset(box, spacing)
    d = pts - c
    dist = np.hypot(d[:, 0], d[:, 1])
    up, side = -d[:, 1], lateral * d[:, 0]
    sel = (dist >= 0.8 * R) & (dist <= RIM_MAX_RADII * R) & (up > 0) & (side > 0)
    if not sel.any():
        raise Missing("no L5 outline lateral of and above the head (acetabular rim not found)")
    pts, dist = pts[sel], dist[sel]
    k = int(np.argmin(np.arctan2(side[sel], up[sel])))
    return _rim_corner(pts, dist, k, c, R, max(spacing))


def _rim_corner(pts, dist, k, centre, R, px) -> np.ndarray:
    """Sub-pixel rim: the outline climbing laterally from the rim (a line) meets the outline
    running down to the head (another line) at the rim, or, where the head hides that, the head
    circle. Falls back to the outline point ``k`` when the lines are not clear."""
    upper = pts[(dist >= dist[k]) & (dist <= dist[k] + 0.5 * R)]
    lower = pts[dist < dist[k] - px / 2]
    if len(upper) < 4:
        return pts[k]
    pu, du, _ = fit_line(upper, tolerance=px)
    corner = None
    if len(lower) >= 4 and np.ptp(np.hypot(*(lower - centre).T)) >= 1.5 * px:
        pl, dl, _ = fit_line(lower, tolerance=px)
        corner = _intersect(pu, du, pl, dl)
    else:
        corner = _line_circle(pu, du, centre, R, pts[k])
    if corner is None or np.hypot(*(corner - pts[k])) > 2 * px:
        return pts[k]
    return corner


def _intersect(p1, d1, p2, d2):
    det = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(det) < 0.2:  # nearly parallel: no clear corner
        return None
    s = ((p2[0] - p1[0]) * d2[1] - (p2[1] - p1[1]) * d2[0]) / det
    return p1 + s * d1


def _line_circle(p, d, centre, R, near):
    f = p - centre
    b, c = 2 * f @ d, f @ f - R * R
    disc = b * b - 4 * c
    if disc < 0:
        return None
    roots = [(-b - math.sqrt(disc)) / 2, (-b + math.sqrt(disc)) / 2]
    cands = [p + s * d for s in roots]
    return min(cands, key=lambda q: np.hypot(*(q - near)))
