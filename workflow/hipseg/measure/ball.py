"""The calibration ball: found and measured in a radiograph (:mod:`.calibration` uses it).

Ball detection (:func:`find_ball`)
    On a copy of the image averaged to about 1 mm pixels, the pixels brighter than bone
    (normalised as :func:`hipseg.segment.intake.detect_metal` does: ``z ≥ BALL_Z``) form
    connected parts; a part is a ball candidate if it is a filled disc (``BALL_FILL`` of its
    pixels within its fitted circle and of that circle, inside the image, covered by it) whose
    diameter is that of the ball magnified by ``MAGNIFICATION_RANGE``. Then, at full resolution,
    the edge is found on ``RAYS`` radial profiles from the centre (the steepest descent of the
    lightly smoothed image, to a fraction of a pixel by a parabola through the three samples
    around it), rays that leave the image are dropped, and a circle is fitted to the edge points
    in millimetres with outliers trimmed (:func:`.fit.robust_circle`), twice. A ball cut by
    the field's edge is fitted on its visible arc if that covers ``MIN_COVERAGE`` of the
    circle; such a ball is reported but not used (on an arc the fit is not reliable enough:
    about 2 % small on the paper preset's), and the next source applies.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .fit import boundary_points, fit_circle, robust_circle

BALL_Z = 2.0
MAGNIFICATION_RANGE = (0.9, 1.6)
BALL_FILL = 0.9
MIN_COVERAGE = 0.4
SEARCH_MM = 1.0
EDGE_LEVEL = 0.2  # of the way from the surrounding tissue to the ball (see _level_edges)
COARSE_EDGE_LEVEL = 0.35  # the same for pixels coarser than 0.5 mm (see _level_edges)
AIR_EDGE_LEVEL = 0.03  # the same where the surround is the clipped direct beam
COARSE_AIR_EDGE_LEVEL = 0.2  # and that for pixels coarser than 0.5 mm
BORDER_MM = 8.0  # edge points this close to the image border are not used


def _block_mean(img: np.ndarray, k: int) -> np.ndarray:
    if k <= 1:
        return img.astype(np.float32, copy=False)
    h, w = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    return img[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3), dtype=np.float32)


def _candidates(pixels: np.ndarray, spacing_xy, diameter_mm: float) -> list[dict]:
    """Disc-shaped bright parts of the image (centre and radius in full-resolution pixels)."""
    sx, sy = spacing_xy
    k = max(1, int(SEARCH_MM / max(sx, sy)))
    small = _block_mean(pixels, k)
    top = float(pixels.max())
    below = small[small < top]
    if below.size < 100:
        return []
    p50, p90 = np.percentile(below, [50, 90])
    if p90 <= p50:
        return []
    bright = ndimage.binary_fill_holes((small - p50) / (p90 - p50) >= BALL_Z)
    parts, _ = ndimage.label(bright)
    ssx, ssy = sx * k, sy * k
    r_lo, r_hi = (diameter_mm / 2 * m for m in MAGNIFICATION_RANGE)
    out = []
    for j, box in enumerate(ndimage.find_objects(parts), start=1):
        h_mm, w_mm = (box[0].stop - box[0].start) * ssy, (box[1].stop - box[1].start) * ssx
        if max(h_mm, w_mm) > 2 * r_hi + 4 * max(ssx, ssy) or max(h_mm, w_mm) < r_lo:
            continue
        pad = (slice(max(box[0].start - 2, 0), box[0].stop + 2),
               slice(max(box[1].start - 2, 0), box[1].stop + 2))  # fmt: skip
        mask = parts[pad] == j
        border = np.zeros_like(mask)  # outer pixels beyond the image edge do not count
        border[0, :], border[-1, :] = pad[0].start == 0, pad[0].stop >= parts.shape[0]
        border[:, 0] |= pad[1].start == 0
        border[:, -1] |= pad[1].stop >= parts.shape[1]
        pts = boundary_points(mask, (ssx, ssy), outside=~mask & ~border)
        if len(pts) < 12:
            continue
        edge = ndimage.binary_dilation(border, iterations=1)
        rr, cc = pts[:, 1] / ssy, pts[:, 0] / ssx
        ok = ~edge[np.clip(np.rint(rr).astype(int), 0, mask.shape[0] - 1),
                   np.clip(np.rint(cc).astype(int), 0, mask.shape[1] - 1)]  # fmt: skip
        if ok.sum() < 12:
            continue
        centre, radius = fit_circle(pts[ok])
        if not r_lo - 2 * max(ssx, ssy) <= radius <= r_hi + 2 * max(ssx, ssy):
            continue
        r, c = np.mgrid[: mask.shape[0], : mask.shape[1]]
        d = np.hypot(c * ssx - centre[0], r * ssy - centre[1])
        disc = d <= radius
        inside = (mask & (d <= radius + 1.5 * max(ssx, ssy))).sum() / max(mask.sum(), 1)
        covered = (mask & disc).sum() / max(disc.sum(), 1)
        # the disc's part beyond the image edge cannot be covered: count only what lies inside
        cx, cy = centre[0] / ssx + pad[1].start, centre[1] / ssy + pad[0].start
        if inside < BALL_FILL or covered < BALL_FILL * _inside_fraction(
            parts.shape, cy, cx, radius / ssy, radius / ssx
        ):
            continue
        out.append({"row": (cy + 0.5) * k - 0.5, "col": (cx + 0.5) * k - 0.5,
                    "radius_mm": float(radius), "fill": float(inside)})  # fmt: skip
    return out


def _inside_fraction(shape, rc, cc, ry, rx) -> float:
    """The fraction of an ellipse's area that lies inside an image of ``shape``."""
    t = np.linspace(0, 1, 41)
    r, c = np.meshgrid(rc + (2 * t - 1) * ry, cc + (2 * t - 1) * rx, indexing="ij")
    inside = (((r - rc) / ry) ** 2 + ((c - cc) / rx) ** 2) <= 1
    within = (r >= -0.5) & (r <= shape[0] - 0.5) & (c >= -0.5) & (c <= shape[1] - 0.5)
    return float((inside & within).sum() / max(inside.sum(), 1))


def _edges(img: np.ndarray, spacing_xy, centre_rc, radius_mm: float, span: float):
    """Edge points (x, y mm of the full image) on radial profiles from ``centre_rc``, and the
    fraction of the rays that found one."""
    sx, sy = spacing_xy
    r_px = radius_mm / min(sx, sy)
    n = int(np.clip(2 * math.pi * r_px, 90, 720))
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    step = 0.25
    t = np.arange((1 - span) * r_px, (1 + span) * r_px + step, step)
    # in pixels, an ellipse when the pixels are not square
    rows = centre_rc[0] + np.sin(theta)[:, None] * t[None, :] * (min(sx, sy) / sy)
    cols = centre_rc[1] + np.cos(theta)[:, None] * t[None, :] * (min(sx, sy) / sx)
    inside = (rows >= 0) & (rows <= img.shape[0] - 1) & (cols >= 0) & (cols <= img.shape[1] - 1)
    valid = inside.all(axis=1)
    prof = ndimage.map_coordinates(img, [rows.ravel(), cols.ravel()], order=1,
                                   mode="nearest").reshape(rows.shape)  # fmt: skip
    grad = np.gradient(prof, axis=1)
    j = np.argmin(grad[:, 1:-1], axis=1) + 1
    g0, g1, g2 = (grad[np.arange(n), j + d] for d in (-1, 0, 1))
    denom = g0 - 2 * g1 + g2
    frac = np.where(np.abs(denom) > 1e-12, 0.5 * (g0 - g2) / np.where(denom == 0, 1, denom), 0)
    frac = np.clip(frac, -0.5, 0.5)
    strength = -g1
    valid &= strength > 0
    if valid.any():
        valid &= strength >= 0.3 * np.median(strength[valid])
    tt = (j + frac) * step + t[0]
    r_e = centre_rc[0] + np.sin(theta) * tt * (min(sx, sy) / sy)
    c_e = centre_rc[1] + np.cos(theta) * tt * (min(sx, sy) / sx)
    pts = np.stack([c_e * sx, r_e * sy], axis=1)[valid]
    return pts, float(valid.mean())


def _level_edges(img: np.ndarray, spacing_xy, centre_rc, radius_mm: float, limits, floor):
    """Edge points where each radial profile crosses :data:`EDGE_LEVEL` between the ball's
    level just inside its edge and the tissue's just outside, and the fraction of rays kept.

    The image is log-encoded (CR, DR): the detector blurs the photons (linear), the reader
    takes their logarithm. An opaque ball's edge is where half the photons are stopped; in the
    log domain that lies at ``ln(2 / (1 + 1/C)) / ln C`` of the way from the tissue's level
    to the ball's (``C``: the contrast in exposure, 10–45 behind a pelvis: 0.26–0.18),
    whatever the blur; the steepest slope or the half-way level lie up to a blur's width
    inside it. :data:`EDGE_LEVEL` 0.2 is used. For pixels coarser than 0.5 mm (the demo's
    1.3–2.3 mm) a pixel's partial volume, not the blur, makes the edge, and the profile is
    interpolated between pixel centres in the log domain, which moves the crossing outwards:
    :data:`COARSE_EDGE_LEVEL` 0.35 there (measured on the demo preset: within about 2 %).

    Over the direct beam (a ball beside the body) ``C`` is in the hundreds, so the edge lies
    near the foot of the profile, about ln 2 above the air's level; but the reader's window
    clips the air (and the dark halo its processing puts around the ball) to the image's
    ``floor``, so the tissue level is not seen and a level of the visible contrast lies inside
    the edge (0.2 of it: 1.2–2 % small on the paper preset). A ray whose outer samples lie
    mostly at the floor takes :data:`AIR_EDGE_LEVEL` 0.03 instead: where the profile leaves
    the floor (measured on the paper preset's balls over the direct beam: within 0.35 %;
    :data:`COARSE_AIR_EDGE_LEVEL` 0.2 for coarse pixels, on the demo preset's: within 1.2 %)."""
    sx, sy = spacing_xy
    px = min(sx, sy)
    w_mm = max(1.5, 3 * max(sx, sy))
    r_px = radius_mm / px
    n = int(np.clip(2 * math.pi * r_px, 90, 720))
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    step = 0.25
    t = np.arange(r_px - w_mm / px, r_px + w_mm / px + step, step)
    rows = centre_rc[0] + np.sin(theta)[:, None] * t[None, :] * (px / sy)
    cols = centre_rc[1] + np.cos(theta)[:, None] * t[None, :] * (px / sx)
    r_lo, r_hi, c_lo, c_hi = limits  # the image less BORDER_MM, in the window's pixels
    inside = (rows >= r_lo) & (rows <= r_hi) & (cols >= c_lo) & (cols <= c_hi)
    valid = inside.all(axis=1)
    prof = ndimage.map_coordinates(img, [rows.ravel(), cols.ravel()], order=1,
                                   mode="nearest").reshape(rows.shape)  # fmt: skip
    d = (t - r_px) * px
    ball = prof[:, d <= -w_mm / 2].mean(axis=1)
    outside = prof[:, d >= w_mm / 2]
    tissue = outside.mean(axis=1)
    contrast = ball - tissue
    valid &= contrast > 0
    if valid.any():
        valid &= contrast >= 0.3 * np.median(contrast[valid])
    # over the direct beam the surround is clipped to the image's floor (see the docstring)
    air = (outside <= floor + 0.01 * np.abs(contrast)[:, None]).mean(axis=1) >= 0.5
    fine = max(sx, sy) <= 0.5
    levels = (AIR_EDGE_LEVEL, EDGE_LEVEL) if fine else (COARSE_AIR_EDGE_LEVEL, COARSE_EDGE_LEVEL)
    level = tissue + np.where(air, *levels) * contrast
    above = prof >= level[:, None]
    # the outermost sample at or above the level, then the crossing between it and the next
    j = np.where(above.any(axis=1), above.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1), 0)
    j = np.clip(j, 0, len(t) - 2)
    idx = np.arange(n)
    v0, v1 = prof[idx, j], prof[idx, j + 1]
    frac = np.where(v0 != v1, (v0 - level) / np.where(v0 == v1, 1, v0 - v1), 0.0)
    valid &= (j > 0) & (j < len(t) - 2)
    tt = t[j] + np.clip(frac, 0, 1) * step
    r_e = centre_rc[0] + np.sin(theta) * tt * (px / sy)
    c_e = centre_rc[1] + np.cos(theta) * tt * (px / sx)
    return np.stack([c_e * sx, r_e * sy], axis=1)[valid], float(valid.mean())


def find_ball(pixels: np.ndarray, spacing_xy, diameter_mm: float = 25.0) -> dict | None:
    """The calibration ball in an image (bright = dense), or None: see the module docstring.

    Returns ``centre_px`` [column, row], ``diameter_mm`` (fitted, in the millimetres of
    ``spacing_xy``), ``coverage`` (the fraction of the circle the fit saw), ``partial``,
    ``residual_mm`` (RMS distance of the edge points kept) and ``candidates``."""
    cands = _candidates(pixels, spacing_xy, diameter_mm)
    if not cands:
        return None
    sx, sy = spacing_xy
    floor = float(pixels.min())  # the direct beam, clipped by the reader's window
    best = None
    for cand in cands:
        r_px = cand["radius_mm"] / min(sx, sy)
        reach = int(1.6 * r_px) + 3
        r0, c0 = max(int(cand["row"]) - reach, 0), max(int(cand["col"]) - reach, 0)
        win = pixels[r0 : int(cand["row"]) + reach + 1, c0 : int(cand["col"]) + reach + 1]
        sigma = max(0.5, 0.15 / min(sx, sy))
        img = ndimage.gaussian_filter(win.astype(np.float32), sigma)
        centre = (cand["row"] - r0, cand["col"] - c0)
        radius = cand["radius_mm"]
        kept = np.zeros(0, bool)
        # the image less BORDER_MM (the reader's processing bends the profiles there)
        b_r, b_c = BORDER_MM / sy, BORDER_MM / sx
        limits = (
            max(b_r - r0, 0),
            min(pixels.shape[0] - 1 - b_r - r0, img.shape[0] - 1),
            max(b_c - c0, 0),
            min(pixels.shape[1] - 1 - b_c - c0, img.shape[1] - 1),
        )
        for stage in ("steepest", "steepest", "level", "level"):
            if stage == "steepest":
                span = 0.35 if not kept.size else 0.15
                pts, coverage = _edges(img, spacing_xy, centre, radius, span)
            else:
                pts, coverage = _level_edges(img, spacing_xy, centre, radius, limits, floor)
            if len(pts) < 20:
                break
            c_mm, radius, kept = robust_circle(pts, tolerance=0.5 * max(sx, sy))
            centre = (c_mm[1] / sy, c_mm[0] / sx)
        else:
            res = np.hypot(*(pts[kept] - c_mm).T) - radius
            coverage *= float(kept.mean())
            lo, hi = (diameter_mm * m for m in MAGNIFICATION_RANGE)
            if coverage < MIN_COVERAGE or not lo <= 2 * radius <= hi:
                continue
            row, col = centre[0] + r0, centre[1] + c0
            reach_r, reach_c = (radius + BORDER_MM) / sy, (radius + BORDER_MM) / sx
            cut = (row < reach_r or col < reach_c or row > pixels.shape[0] - 1 - reach_r
                   or col > pixels.shape[1] - 1 - reach_c)  # fmt: skip
            found = {
                "centre_px": [float(col), float(row)],
                "diameter_mm": float(2 * radius),
                "coverage": coverage,
                "partial": bool(cut),
                "residual_mm": float(np.sqrt(np.mean(res**2))),
                "edge_points": int(kept.sum()),
                "candidates": len(cands),
            }
            if best is None or found["coverage"] > best["coverage"]:
                best = found
    return best


def ball_mask(shape, ball: dict, spacing_xy, margin_mm: float = 2.0) -> np.ndarray:
    """The pixels of a found ball (and ``margin_mm`` around it)."""
    sx, sy = spacing_xy
    r, c = np.ogrid[: shape[0], : shape[1]]
    x0, y0 = ball["centre_px"]
    rad = ball["diameter_mm"] / 2 + margin_mm
    return ((c - x0) * sx) ** 2 + ((r - y0) * sy) ** 2 <= rad * rad


def ball_pixels(pixels: np.ndarray, spacing_xy, diameter_mm: float = 25.0,
                margin_mm: float = 3.0) -> np.ndarray | None:  # fmt: skip
    """The pixels of every ball-shaped bright part (also one that cannot be measured, cut by
    the field's edge), ``margin_mm`` around them, or None: they are not implant metal."""
    cands = _candidates(pixels, spacing_xy, diameter_mm)
    if not cands:
        return None
    out = np.zeros(pixels.shape, bool)
    for c in cands:
        ball = {"centre_px": [c["col"], c["row"]], "diameter_mm": 2 * c["radius_mm"]}
        out |= ball_mask(pixels.shape, ball, spacing_xy, margin_mm)
    return out
