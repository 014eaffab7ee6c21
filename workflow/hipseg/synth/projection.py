"""Projection geometry: source–detector distance, patient thickness, magnification, the ball.

An AP pelvis radiograph is a central projection: an object at height ``h`` above the detector
is magnified by ``M = SID / (SID − h)`` (SID: source–detector distance). The generator draws the
anatomy as lying in one plane, the *hip plane* through the femoral heads, at
``h = table gap + hip depth`` (the detector lies ``table gap`` below the table top, the heads
``hip depth`` above it: about half the patient's AP thickness). So every radiograph has one true
magnification at the hip plane; the anatomy is rasterised at the patient-plane spacing
``detector spacing / M`` (:func:`.radiograph.render_radiograph`), the detector, its blur and
noise, the lead markers and the burned-in text stay in the detector plane.

Header (:meth:`Projection.header`), where a real device would write it
    ``factor``: DistanceSourceToDetector, DistanceSourceToPatient and
    EstimatedRadiographicMagnificationFactor = SID / DistanceSourceToPatient, where the device
    estimates the patient plane at the table top plus ``NOMINAL_HIP_DEPTH_MM`` (it does not
    know the patient's thickness: off by a few per cent); ``distances``: the two distances
    only; ``table_factor``: a device that puts the object plane at the table top (the
    factor is about 10 % too small: the radiograph whose ball disagrees with its header);
    ``""``: none of them (most CR readers).

Calibration ball (:func:`place_ball`)
    a steel sphere (``ball_diameter_mm``, default 25 mm) taped at the height of the hip plane,
    so it is magnified as the hips are: ``inside`` beside the greater trochanter of one hip or
    between the thighs below the pubic symphysis, clear of the labelled anatomy; ``partial``
    beside the trochanter and cut by the edge of the field; ``bone`` over the greater
    trochanter (one radiograph of a set); ``air`` beside the thigh wholly over the direct beam
    (the unattenuated region outside the body) and ``half_air`` on the skin line beside the
    greater trochanter, partly over it (:func:`place_air_ball`); ``""``: no ball.

Direct beam (:func:`skin_line`, :func:`slim`)
    The generator's soft tissue is as wide as the field, so there is hardly any direct beam.
    Beside an ``air`` or ``half_air`` ball the patient is slim: on the ball's side, from
    ``SLIM_ROWS_MM`` above it to as far below, the skin follows the bones' lateral outline
    (smoothed along the rows) at ``SKIN_MM`` (12–24 mm) outside it. (Slim everywhere, the
    direct beam would be a seventh of the image and move the grey-value statistics that the
    implant and ball detectors normalise with.) Outside the skin the detector sees the direct
    beam: the CR processing's large kernel makes it, and the ball's halo in it, black, clipped
    by the window, as a reader does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .geometry import _chord

NOMINAL_HIP_DEPTH_MM = 100.0  # the device's assumed hip plane above the table top
MU_BALL = 0.60  # steel, excess over soft tissue (1/mm), as the implants
BALL_CLEARANCE_MM = 4.0  # free space between a placed ball and the labelled anatomy
AIR_STATES = ("air", "half_air")  # balls over the direct beam: the patient is slim
SKIN_MM = (12.0, 24.0)  # a slim patient's soft tissue lateral of the bones
FIELD_MARGIN_MM = 11.0  # an air ball clears the field edge by this much (detector mm)
SLIM_ROWS_MM = 40.0  # the soft tissue is slim this far above and below such a ball
SUPERSAMPLE = 3  # the ball's edge is integrated over each pixel (3 × 3 samples)


@dataclass(frozen=True)
class Projection:
    """The acquisition geometry of one radiograph (mm) and its calibration ball."""

    sid: float  # source to detector
    table_gap: float  # detector below the table top
    thickness: float  # the patient's AP thickness at the hips
    hip_depth: float  # the hip plane above the table top
    header: str = ""  # "factor", "distances", "table_factor" or ""
    ball: str = ""  # "inside", "partial", "bone", "air", "half_air" or ""
    ball_diameter: float = 25.0
    ball_draws: tuple[float, ...] = (0.5, 0.5, 0.5, 0.5)  # uniform numbers for the placement

    @property
    def hip_height(self) -> float:
        return self.table_gap + self.hip_depth

    @property
    def magnification(self) -> float:
        return self.sid / (self.sid - self.hip_height)

    def header_values(self) -> dict:
        """The DICOM attributes a device would write (empty for a CR reader without them)."""
        if not self.header:
            return {}
        depth = 0.0 if self.header == "table_factor" else NOMINAL_HIP_DEPTH_MM
        dsp = self.sid - self.table_gap - depth
        out = {"DistanceSourceToDetector": round(self.sid, 1),
               "DistanceSourceToPatient": round(dsp, 1)}  # fmt: skip
        if self.header != "distances":
            out["EstimatedRadiographicMagnificationFactor"] = round(self.sid / dsp, 4)
        return out

    def truth(self) -> dict:
        return {
            "source_detector_mm": self.sid,
            "table_detector_mm": self.table_gap,
            "patient_thickness_mm": self.thickness,
            "hip_plane_above_table_mm": self.hip_depth,
            "hip_plane_above_detector_mm": self.hip_height,
            "magnification": self.magnification,
            "header": self.header_values(),
            "header_kind": self.header or None,
        }


def projection(pre: dict, rng, thickness: float, header: str, ball: str) -> Projection:
    """Draw the geometry of one radiograph (its own stream ``rng``)."""
    sid = float(rng.choice(pre["source_detector_mm"]))
    gap = float(rng.uniform(*pre["table_detector_mm"]))
    depth = float(rng.uniform(*pre["hip_depth_fraction"])) * thickness
    draws = tuple(float(v) for v in rng.random(4))
    return Projection(sid, gap, thickness, depth, header, ball, float(pre["ball_diameter_mm"]),
                      draws)  # fmt: skip


def _clear(bone: np.ndarray, rc: float, cc: float, r_px: float, margin_px: float) -> bool:
    """No labelled pixel within ``r_px + margin_px`` of (rc, cc)."""
    reach = r_px + margin_px
    r0, r1 = max(int(rc - reach) - 1, 0), min(int(rc + reach) + 2, bone.shape[0])
    c0, c1 = max(int(cc - reach) - 1, 0), min(int(cc + reach) + 2, bone.shape[1])
    if r1 <= r0 or c1 <= c0:
        return True
    rr, cc_ = np.nonzero(bone[r0:r1, c0:c1])
    return not ((rr + r0 - rc) ** 2 + (cc_ + c0 - cc) ** 2 < reach * reach).any()


def _inside(shape, rc: float, cc: float, r_px: float, margin_px: float) -> bool:
    return (rc - r_px >= margin_px and cc - r_px >= margin_px
            and rc + r_px <= shape[0] - 1 - margin_px
            and cc + r_px <= shape[1] - 1 - margin_px)  # fmt: skip


def _lateral_edge(bone: np.ndarray, rc: float, r_px: float, on_left: bool) -> float | None:
    """Column of the most lateral labelled pixel in the rows the ball would cover."""
    r0, r1 = max(int(rc - r_px), 0), min(int(rc + r_px) + 1, bone.shape[0])
    half = bone.shape[1] // 2
    band = bone[r0:r1, :half] if on_left else bone[r0:r1, half:]
    cols = np.nonzero(band.any(axis=0))[0]
    if not cols.size:
        return None
    return float(cols.min()) if on_left else float(cols.max() + half)


def place_ball(proj: Projection, labels: np.ndarray, spp: float, heads: dict) -> dict | None:
    """Where the ball goes, in pixels of the label map (spacing ``spp`` at the hip plane).

    ``heads``: {side: (row, col)} of the femoral head centres. Returns ``{"row", "col",
    "radius_px", "placement", "inside_field", "overlaps_labels"}`` or None (no ball, or no room
    for one clear of the anatomy)."""
    if not proj.ball or proj.ball in AIR_STATES:
        return None
    bone = labels > 0
    u = proj.ball_draws
    r_px = proj.ball_diameter / 2 / spp
    clear_px = BALL_CLEARANCE_MM / spp
    sides = ("right", "left") if u[0] < 0.5 else ("left", "right")

    def beside(side: str, gap_mm: float):
        hr, _ = heads[side]
        rc = hr + (12.0 + 18.0 * u[1]) / spp  # the greater trochanter's level
        on_left = side == "right"  # the patient's right hip is on the image left
        edge = _lateral_edge(bone, rc, r_px + clear_px, on_left)
        if edge is None:
            return None
        off = r_px + gap_mm / spp
        return rc, edge - off if on_left else edge + off, on_left

    found = None
    if proj.ball == "bone":
        for side in sides:
            spot = beside(side, -0.45 * proj.ball_diameter)  # centre inside the bone's edge
            if spot is not None:
                found = (spot[0], spot[1], f"over the {side} greater trochanter")
                break
    elif proj.ball == "partial":
        a = 0.15 + 0.5 * u[2]  # the centre lies a·r inside the field's edge
        for side in sides:
            spot = beside(side, BALL_CLEARANCE_MM)
            if spot is None:
                continue
            rc, _, on_left = spot
            cc = a * r_px if on_left else labels.shape[1] - 1 - a * r_px
            if _clear(bone, rc, cc, r_px, clear_px):
                found = (rc, cc, f"beside the {side} greater trochanter, cut by the field edge")
                break
    else:
        if u[3] < 0.45:  # beside a greater trochanter, where it fits in the field
            for side in sides:
                spot = beside(side, BALL_CLEARANCE_MM + 6.0 * u[2])
                if spot is None:
                    continue
                rc, cc, _ = spot
                if _inside(labels.shape, rc, cc, r_px, 2.0 / spp) and _clear(
                    bone, rc, cc, r_px, clear_px
                ):
                    found = (rc, cc, f"beside the {side} greater trochanter")
                    break
        if found is None:  # between the thighs, below the pubic symphysis
            cc = 0.5 * (heads["right"][1] + heads["left"][1]) + (u[2] - 0.5) * 16.0 / spp
            rc = max(heads["right"][0], heads["left"][0]) + 45.0 / spp
            while rc + r_px < labels.shape[0] - 2.0 / spp:
                if _clear(bone, rc, cc, r_px, clear_px) and _inside(labels.shape, rc, cc, r_px,
                                                                     2.0 / spp):  # fmt: skip
                    found = (rc, cc, "between the thighs")
                    break
                rc += 2.0 / spp
    if found is None:
        return None
    rc, cc, where = found
    return {
        "row": float(rc), "col": float(cc), "radius_px": float(r_px), "placement": where,
        "inside_field": "full" if _inside(labels.shape, rc, cc, r_px, 0.0) else "partial",
        "overlaps_labels": not _clear(bone, rc, cc, r_px, 0.0),
    }  # fmt: skip


def add_ball(mu: np.ndarray, ball: dict, spp: float, diameter: float) -> None:
    """Add the ball's attenuation (path length × :data:`MU_BALL`) to ``mu`` in place; at its
    edge a pixel transmits the mean of ``SUPERSAMPLE²`` samples (the detector integrates
    photons over the pixel)."""
    rc, cc, r_px = ball["row"], ball["col"], ball["radius_px"]
    r0, r1 = max(int(math.floor(rc - r_px)) - 1, 0), min(int(math.ceil(rc + r_px)) + 2, mu.shape[0])
    c0, c1 = max(int(math.floor(cc - r_px)) - 1, 0), min(int(math.ceil(cc + r_px)) + 2, mu.shape[1])
    if r1 <= r0 or c1 <= c0:
        return
    n = SUPERSAMPLE
    sub = (np.arange(n) + 0.5) / n - 0.5
    rows = (np.arange(r0, r1)[:, None] + sub[None, :]).ravel()
    cols = (np.arange(c0, c1)[:, None] + sub[None, :]).ravel()
    rho2 = ((rows[:, None] - rc) ** 2 + (cols[None, :] - cc) ** 2) * spp * spp
    path = _chord((diameter / 2) ** 2 - rho2)
    trans = np.exp(-MU_BALL * path).reshape(r1 - r0, n, c1 - c0, n).mean(axis=(1, 3))
    mu[r0:r1, c0:c1] += (-np.log(np.maximum(trans, 1e-30))).astype(np.float32)


def skin_line(bone: np.ndarray, spp: float, margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A slim patient's skin: per row, the image columns (left, right) of the bones' lateral
    outline, widened by its running extreme over ±30 mm of rows, smoothed (σ 10 mm) and moved
    ``margin_mm`` outwards. ``bone``: where there is bone (at the hip plane's spacing ``spp``)."""
    rows = bone.any(axis=1)
    if not rows.any():
        return np.full(bone.shape[0], -1.0), np.full(bone.shape[0], float(bone.shape[1]))
    idx = np.arange(bone.shape[0])
    left = np.where(rows, np.argmax(bone, axis=1), np.nan)
    right = np.where(rows, bone.shape[1] - 1 - np.argmax(bone[:, ::-1], axis=1), np.nan)
    out = []
    for cols, extreme in ((left, ndimage.minimum_filter1d), (right, ndimage.maximum_filter1d)):
        cols = np.interp(idx, idx[rows], cols[rows])  # rows without bone: the nearest with it
        cols = extreme(cols, size=2 * int(30.0 / spp) + 1, mode="nearest")
        out.append(ndimage.gaussian_filter1d(cols, 10.0 / spp, mode="nearest"))
    m = margin_mm / spp
    return out[0] - m, out[1] + m


def slim(t_soft: np.ndarray, sl, skin, spp: float, ball: dict) -> None:
    """Thin the soft tissue ``t_soft`` (the image window ``sl``) to nothing at the skin on the
    ball's side, in place: as a cylinder's chord over the last 20 mm inside it, in the rows of
    the ball and ``SLIM_ROWS_MM`` above and below it (blended back over 30 mm), so that the
    direct beam is beside the ball and the rest of the radiograph keeps its soft tissue."""
    rows = np.arange(sl[0].start, sl[0].stop)[:, None]
    cols = np.arange(sl[1].start, sl[1].stop)[None, :]
    on_left = ball["col"] < t_soft.shape[1] / 2
    inside = (cols - skin[0][rows]) if on_left else (skin[1][rows] - cols)  # pixels
    taper = np.sqrt(np.clip(inside * spp / 20.0, 0.0, 1.0))
    beyond = np.abs(rows - ball["row"]) * spp - (ball["radius_px"] * spp + SLIM_ROWS_MM)
    w = 0.5 + 0.5 * np.cos(np.pi * np.clip(beyond / 30.0, 0.0, 1.0))
    t_soft *= (1.0 - w * (1.0 - taper)).astype(t_soft.dtype)


def place_air_ball(
    proj: Projection, labels: np.ndarray, spp: float, heads: dict, skin
) -> dict | None:  # fmt: skip
    """Where an ``air`` or ``half_air`` ball goes (see :func:`place_ball` for the result):
    ``half_air`` centred within 0.3 radii of the skin line, ``air`` a 2–8 mm gap lateral of the
    skin; at the first row, from the greater trochanter's level down the thigh (120 mm), where
    the ball lies inside the field by ``FIELD_MARGIN_MM``. None: no room on either side."""
    u = proj.ball_draws
    r_px = proj.ball_diameter / 2 / spp
    edge = FIELD_MARGIN_MM / (spp * proj.magnification)
    sides = ("right", "left") if u[0] < 0.5 else ("left", "right")
    step = max(1, int(round(2.0 / spp)))
    for side in sides:
        on_left = side == "right"  # the patient's right hip is on the image left
        line = skin[0] if on_left else skin[1]
        start = int(heads[side][0] + (12.0 + 18.0 * u[1]) / spp)
        for rc in range(start, min(start + int(120.0 / spp), labels.shape[0]), step):
            band = line[max(int(rc - r_px), 0) : int(rc + r_px) + 1]
            if proj.ball == "half_air":
                off = (0.6 * u[2] - 0.3) * r_px  # + outwards
                cc = line[rc] - off if on_left else line[rc] + off
            else:
                off = r_px + (2.0 + 6.0 * u[2]) / spp
                cc = band.min() - off if on_left else band.max() + off
            if _inside(labels.shape, rc, cc, r_px, edge) and _clear(
                labels > 0, rc, cc, r_px, BALL_CLEARANCE_MM / spp
            ):
                where = "over" if proj.ball == "air" else "on the skin, partly over"
                where = f"beside the {side} thigh, {where} the direct beam"
                return {"row": float(rc), "col": float(cc), "radius_px": float(r_px),
                        "placement": where, "inside_field": "full",
                        "overlaps_labels": False}  # fmt: skip
    return None


def direct_beam_fraction(t_soft: np.ndarray, ball: dict) -> float:
    """The fraction of the ball's disc (in the image ``t_soft`` covers) over the direct beam."""
    rc, cc, r = ball["row"], ball["col"], ball["radius_px"]
    r0, c0 = max(int(rc - r) - 1, 0), max(int(cc - r) - 1, 0)
    win = t_soft[r0 : int(rc + r) + 2, c0 : int(cc + r) + 2]
    rr, cols = np.ogrid[: win.shape[0], : win.shape[1]]
    disc = (rr + r0 - rc) ** 2 + (cols + c0 - cc) ** 2 <= r * r
    n = int(disc.sum())
    return float((win[disc] <= 0).sum() / n) if n else 0.0
