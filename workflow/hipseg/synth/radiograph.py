"""One radiograph: both hips, sacrum and soft tissue, exposed, processed and annotated.

The field of view is a cassette of ``field_mm``; the patient's RIGHT hip is on the IMAGE LEFT
(standard AP display). Labels are painted in this order: L5 hemipelvis, L4 fossa, L3 teardrop,
L1 femur, L2 femoral cortex (:mod:`.pelvis`, :mod:`.femur`); hips with hardware are drawn but not
painted. Soft tissue is an elliptic trunk that splits into two thighs, with a little bowel gas.
"""

from __future__ import annotations

import numpy as np

from .anatomy import Hip, Patient, Pose
from .annotations import _burn_in
from .femur import _render_femur
from .findings import _lead_marker
from .geometry import _ellipse_q, _Frame
from .pelvis import _acetabulum, _render_pelvis, _render_sacrum
from .physics import MU_SOFT, _cr_processing, _exposure
from .projection import (
    AIR_STATES,
    SKIN_MM,
    Projection,
    add_ball,
    direct_beam_fraction,
    place_air_ball,
    place_ball,
    skin_line,
    slim,
)


def _render_hip(
    fr: _Frame, hip: Hip, pose: Pose, side: str, pre: dict, A, L, paint: bool, rng, flare=1.0
):
    """Add the hip's bone attenuation to ``A`` (1/mm * mm) and paint its labels into ``L``.

    The hemipelvis with fossa and teardrop first, then the femur on top of it; osteoarthritis,
    protrusion and hardware (:mod:`.findings`) change both.
    """
    ac = _acetabulum(hip, pose.tilt, pre)
    _render_pelvis(fr, hip, ac, pre, A, L, paint, rng, flare)
    _render_femur(fr, hip, pose.rot[side], (ac.cup_u, ac.cup_v), A, L, paint)


def _soft_tissue(fp: _Frame, X, Y, pat: Patient, rng) -> np.ndarray:
    """Soft-tissue thickness (mm) in the patient frame: an elliptic trunk that splits into two
    thighs below the crotch, less a little bowel gas in the pelvic cavity / over the wings."""
    hr, hl = pat.hips["right"], pat.hips["left"]
    b = pat.body
    ab, dap = 178.0 * b, 205.0 * b
    t_body = dap * np.sqrt(np.clip(1 - (X / ab) ** 2, 0, 1))
    xc, rt = 0.5 * (hr.D + hl.D) + 12.0, 86.0 * b
    t_th = 1.7 * rt * np.sqrt(np.clip(1 - ((np.abs(X) - xc) / rt) ** 2, 0, 1))
    w = 1.0 / (1.0 + np.exp(-(Y - 95.0 * pat.hips["right"].scale) / 12.0))
    t_soft = (1 - w) * t_body + w * t_th
    for _ in range(int(rng.integers(1, 4))):
        gx, gy = rng.uniform(-70, 70), rng.uniform(-130, -20)
        ga, gb, gang, gd = (
            rng.uniform(8, 22),
            rng.uniform(6, 16),
            rng.uniform(0, 3),
            rng.uniform(8, 25),
        )
        win = fp.window(gx - 23, gx + 23, gy - 23, gy + 23)
        if win is not None:
            sl2, X2, Y2 = win
            q = _ellipse_q(X2, Y2, gx, gy, ga, gb, gang)
            t_soft[sl2] -= gd * np.sqrt(np.clip(1 - q, 0, 1))
    return t_soft


def render_radiograph(
    pat: Patient,
    pose: Pose,
    sp: float,
    field_mm: tuple[float, float],
    pre: dict,
    rng,
    marker: str = "",
    text: str = "",
    proj: Projection | None = None,
    info: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (log-attenuation image float32, label map uint8) of one radiograph.

    ``sp`` and ``field_mm`` are the detector's. ``proj`` (:mod:`.projection`): the anatomy is
    magnified by its hip-plane magnification (rasterised at ``sp / M``) and its calibration
    ball placed and exposed; where it went is put into ``info["ball"]``. Without it the
    magnification is 1 and there is no ball. ``marker`` ("R" or "L"): a lead side marker in the
    upper corner of that side, part of the exposure (it attenuates). ``text``: a label burned
    into the pixels after processing, like a CR reader's annotation (style and corner:
    :func:`.annotations.text_style`). Neither is labelled, nor is the ball.
    """
    cols, rows = int(round(field_mm[0] / sp)), int(round(field_mm[1] / sp))
    shape = (rows, cols)
    spp = sp / (proj.magnification if proj is not None else 1.0)  # at the hip plane
    A = np.zeros(shape, np.float32)
    L = np.zeros(shape, np.uint8)
    heads = {}
    for side, sgn in (("right", 1), ("left", -1)):
        hip = pat.hips[side]
        hx = -sgn * hip.D
        hy = pose.head_y + (pose.obliq / 2 if side == "right" else -pose.obliq / 2)
        fr = _Frame(shape, spp, pose, hx, hy, sgn)
        heads[side] = tuple(float(v) for v in fr.to_pix(0.0, 0.0))
        _render_hip(fr, hip, pose, side, pre, A, L, not hip.implant, rng, flare=pat.pelvis_w)

    # patient frame (origin between the heads at head height) for the sacrum and soft tissue
    fp = _Frame(shape, spp, pose, 0.0, pose.head_y, 1)
    sl, X, Y = fp.window(-field_mm[0], field_mm[0], -field_mm[1], field_mm[1])
    _render_sacrum(fp, sl, pat, pose, A)
    t_soft = _soft_tissue(fp, X, Y, pat, rng)
    ball = None
    if proj is not None and proj.ball in AIR_STATES:  # slim beside it: the direct beam
        skin = skin_line(A > 0, spp, SKIN_MM[0] + np.ptp(SKIN_MM) * proj.ball_draws[3])
        ball = place_air_ball(proj, L, spp, heads, skin)
        if ball is not None:
            slim(t_soft, sl, skin, spp, ball)
    elif proj is not None:
        ball = place_ball(proj, L, spp, heads)
    mu_total = A + MU_SOFT * np.maximum(t_soft, 0).astype(np.float32)
    if marker:
        _lead_marker(mu_total, marker, field_mm, sp)
    if ball is not None:
        ball["direct_beam"] = direct_beam_fraction(t_soft, ball)
        add_ball(mu_total, ball, spp, proj.ball_diameter)
    if info is not None:
        info["ball"] = ball
    counts, n0 = _exposure(mu_total, Y, sp, pre, rng)
    p = _cr_processing(counts, n0, sp)
    if text:  # burned-in annotation, white or grey, in one of the corners
        _burn_in(p, text, field_mm, sp)
    return p.astype(np.float32), L
