"""Geometry on label masks in millimetres: boundary points, circle and line fits, extreme points.

Points are (x, y) in mm from the centre of the top-left pixel (``x = column × sx``,
``y = row × sy``, y down), so non-square pixels are handled. A mask's boundary is sampled at the
midpoints between each pixel inside and each 4-neighbour outside: with labels rasterised at pixel
centres these points lie on the true outline to within half a pixel, without bias on average.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def boundary_points(
    mask: np.ndarray, spacing: tuple[float, float], outside: np.ndarray | None = None
) -> np.ndarray:
    """Edge midpoints (N, 2) between ``mask`` pixels and 4-neighbours not in it.

    ``outside``: only edges whose outer pixel is in this mask count (e.g. background only)."""
    mask = np.asarray(mask, bool)
    if outside is None:
        outside = ~mask
    outside = np.asarray(outside, bool) & ~mask
    sx, sy = spacing
    pts = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nb = np.zeros_like(outside)
        src = (slice(max(dr, 0), mask.shape[0] + min(dr, 0)),
               slice(max(dc, 0), mask.shape[1] + min(dc, 0)))  # fmt: skip
        dst = (slice(max(-dr, 0), mask.shape[0] + min(-dr, 0)),
               slice(max(-dc, 0), mask.shape[1] + min(-dc, 0)))  # fmt: skip
        nb[dst] = outside[src]  # nb[r, c] = outside[r + dr, c + dc]
        r, c = np.nonzero(mask & nb)
        pts.append(np.stack([(c + dc / 2) * sx, (r + dr / 2) * sy], axis=1))
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def pixel_points(mask: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    """Pixel centres (N, 2) of a mask in mm."""
    r, c = np.nonzero(mask)
    return np.stack([c * spacing[0], r * spacing[1]], axis=1).astype(float)


def bbox(mask: np.ndarray, pad: int = 1) -> tuple[slice, slice]:
    """Slices of the bounding box of a mask (padded, clipped to the array)."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not rows.size:
        return slice(0, 0), slice(0, 0)
    return (slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, mask.shape[0])),
            slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, mask.shape[1])))  # fmt: skip


def offset(box: tuple[slice, slice], spacing) -> np.ndarray:
    """The mm position of a box's top-left pixel (add it to points found inside the box)."""
    return np.array([box[1].start * spacing[0], box[0].start * spacing[1]], float)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected part of a mask (labelled on its bounding box only)."""
    mask = np.asarray(mask, bool)
    box = bbox(mask, pad=0)
    lab, n = ndimage.label(mask[box])
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    out = np.zeros_like(mask)
    out[box] = lab == int(np.argmax(sizes)) + 1
    return out


def fit_circle(points: np.ndarray, iterations: int = 20) -> tuple[np.ndarray, float]:
    """Least-squares circle (geometric distance): algebraic start, Gauss–Newton refinement."""
    x, y = points[:, 0], points[:, 1]
    design = np.stack([x, y, np.ones_like(x)], axis=1)
    a, b, c = np.linalg.lstsq(design, x * x + y * y, rcond=None)[0]
    centre = np.array([a / 2, b / 2])
    radius = float(np.sqrt(max(c + centre @ centre, 1e-12)))
    for _ in range(iterations):
        d = points - centre
        dist = np.hypot(d[:, 0], d[:, 1])
        dist = np.where(dist > 1e-12, dist, 1e-12)
        jac = np.column_stack([-d[:, 0] / dist, -d[:, 1] / dist, -np.ones_like(dist)])
        step = np.linalg.lstsq(jac, -(dist - radius), rcond=None)[0]
        centre, radius = centre + step[:2], radius + float(step[2])
        if np.abs(step).max() < 1e-9:
            break
    return centre, radius


def robust_circle(
    points: np.ndarray, tolerance: float, rounds: int = 4
) -> tuple[np.ndarray, float, np.ndarray]:
    """Circle fit that drops points further than ``max(tolerance, 3 × MAD)`` from it and refits.

    Returns centre, radius and the mask of the points kept."""
    keep = np.ones(len(points), bool)
    centre, radius = fit_circle(points)
    for _ in range(rounds):
        res = np.abs(np.hypot(*(points - centre).T) - radius)
        mad = 1.4826 * np.median(res[keep])
        new = res <= max(tolerance, 3 * mad)
        if new.sum() < 5 or (new == keep).all():
            break
        keep = new
        centre, radius = fit_circle(points[keep])
    return centre, radius, keep


def fit_line(points: np.ndarray, tolerance: float, rounds: int = 4):
    """Total-least-squares line with outlier trimming: (point, unit direction, kept mask)."""
    keep = np.ones(len(points), bool)
    for _ in range(rounds + 1):
        centre = points[keep].mean(axis=0)
        _, _, vt = np.linalg.svd(points[keep] - centre, full_matrices=False)
        direction = vt[0]
        normal = np.array([-direction[1], direction[0]])
        res = np.abs((points - centre) @ normal)
        mad = 1.4826 * np.median(res[keep])
        new = res <= max(tolerance, 3 * mad)
        if new.sum() < 3 or (new == keep).all():
            break
        keep = new
    return centre, direction, keep


def extreme_point(points: np.ndarray, direction: np.ndarray, cap: float) -> np.ndarray | None:
    """The point of a curve furthest along ``direction``, to sub-pixel precision.

    A quadratic ``h(s)`` (height along ``direction`` against the position ``s`` across it) is
    fitted to the points within ``cap`` of the highest one; its vertex is returned (the highest
    point itself when the cap is too narrow for a fit or the fit is not a cap)."""
    if len(points) == 0:
        return None
    d = np.asarray(direction, float) / np.hypot(*direction)
    across = np.array([-d[1], d[0]])
    h, s = points @ d, points @ across
    top = int(np.argmax(h))
    near = h >= h[top] - cap
    if near.sum() < 5 or np.ptp(s[near]) <= 0:
        return points[top].astype(float)
    s0 = s[near].mean()
    a, b, c = np.polyfit(s[near] - s0, h[near], 2)
    if a >= 0:  # not a cap: keep the highest point
        return points[top].astype(float)
    s_v = -b / (2 * a)
    s_v = float(np.clip(s_v, s[near].min() - s0, s[near].max() - s0))
    h_v = a * s_v * s_v + b * s_v + c
    return d * h_v + across * (s_v + s0)
