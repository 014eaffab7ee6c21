"""The hemipelvis (L5) with the acetabular fossa (L4) and Köhler's teardrop (L3); the sacrum.

The hemipelvis (ilium, acetabular roof, ischium, pubis) is a polygon in the hip's canonical frame
with the obturator foramen cut out; its thickness along the ray is an EDT dome (a plate thicker
around the acetabulum and at the rami, thin in the iliac fossa) with a cortical rim seen
tangentially, a dense sourcil over the roof and the ilioischial line. The fossa is a thinner part
of the pelvic wall: the crescent between cup and head plus the medial joint space down to the
teardrop; the teardrop is a dense ellipsoid shell. The sacrum is *not* labelled and is separated
from the ilium by the sacro-iliac joint space.

Demo enlargement: at the demo's ~2 mm/px, a true-size teardrop (~7 x 18 mm) and fossa would be a
handful of pixels. The preset keys ``teardrop_scale`` (both axes of the teardrop) and
``fossa_scale`` (width of the fossa crescent) enlarge them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .anatomy import L_FOSSA, L_PELVIS, L_TEARDROP, Hip, Patient, Pose
from .findings import _joint_space, _protrusion_shift, _rim_osteophyte, _sourcil
from .geometry import _chord, _edt_mm, _ellipse_poly, _ellipse_q, _Frame, _largest, _upsample
from .physics import MU_CORT, MU_PELVIS, MU_TRAB


@dataclass(frozen=True)
class _Acetabulum:
    """Cup, teardrop and tilt of one hip, in its canonical frame (mm; angles in radians)."""

    cup_u: float  # cup centre (medial of the head centre by the joint space)
    cup_v: float
    cup_r: float  # cup radius: head radius + joint space at the lateral roof
    td_w: float  # teardrop width and height
    td_h: float
    td_u0: float  # lateral edge of the teardrop = medial wall of the fossa
    td_cu: float  # teardrop centre
    td_cv: float
    td_ang: float
    shift: float  # medial displacement of head and cup by protrusion
    ce: float  # centre-edge angle
    rim: tuple[float, float]  # lateral rim of the acetabulum
    tilt: float  # pelvic tilt

    @property
    def td_med(self) -> float:
        """Medial edge of the teardrop without protrusion: the pelvic outline keeps its place
        (the wall bulges)."""
        return self.td_u0 + self.shift + self.td_w

    def sv(self, v):
        """Pelvic tilt stretches the pubis / ischium and compresses the wing."""
        v = np.asarray(v, float)
        return np.where(v > 0, v * (1.0 + self.tilt), v * (1.0 - 0.5 * self.tilt))


def _acetabulum(hip: Hip, tilt: float, pre: dict) -> _Acetabulum:
    """Acetabulum, fossa (L4) and teardrop (L3) geometry, with osteoarthritis and protrusion."""
    R, s = hip.R, hip.scale
    ts, fs = pre["teardrop_scale"], pre["fossa_scale"]
    g0, dcup, cup_v = _joint_space(hip.oa, fs)
    cup_u, cup_r = dcup, R + g0
    td_w, td_h = 6.5 * ts * s, 18.0 * ts * s
    # the ilioischial line runs through the teardrop; protrusion moves the head (and cup)
    # medially until the head's medial edge lies ``hip.protrusion`` mm medial of that line
    shift = _protrusion_shift(hip.protrusion, dcup, g0, td_w)
    td_u0 = cup_u + cup_r - 1.0 - shift
    ce = math.radians(hip.ce)
    return _Acetabulum(
        cup_u=cup_u,
        cup_v=cup_v,
        cup_r=cup_r,
        td_w=td_w,
        td_h=td_h,
        td_u0=td_u0,
        td_cu=td_u0 + td_w / 2,
        td_cv=0.42 * R + 4.0 * tilt * 10 / 1.2,
        td_ang=math.radians(-8.0),
        shift=shift,
        ce=ce,
        rim=(cup_u - cup_r * math.sin(ce), cup_v - cup_r * math.cos(ce)),
        tilt=tilt,
    )


def _outline(hip: Hip, ac: _Acetabulum, flare: float):
    """Polygon of the hemipelvis and the obturator foramen (its hole), canonical (u, v) mm."""
    R, s, D = hip.R, hip.scale, hip.D
    sac_top, sac_bot = 44.0 * s, 30.0 * s
    td_med, td_cv, td_h = ac.td_med, ac.td_cv, ac.td_h
    pts = [
        ac.rim,
        (-24 * s, -40 * s), (-21 * s, -50 * s), (-47 * s, -70 * s), (-60 * s, -92 * s),
        (-56 * s, -114 * s), (-36 * s, -129 * s), (-6 * s, -138 * s), (24 * s, -136 * s),
        (D - sac_top - 3.0, -122 * s), (D - sac_bot - 3.0, -64 * s),
        (td_med + 9 * s, td_cv - td_h / 2 - 14 * s), (td_med + 3 * s, td_cv - td_h / 2),
        (td_med + 6 * s, td_cv + 0.1 * td_h), (td_med + 18 * s, td_cv + 0.1 * td_h + 1),
        (D - 20 * s, 12 * s), (D - 2.0, 15 * s), (D - 2.0, 47 * s), (D - 16 * s, 55 * s),
        (58 * s, 73 * s), (36 * s, 90 * s), (14 * s, 89 * s), (2 * s, 73 * s), (-4 * s, 46 * s),
        (-10 * s, 26 * s), (-0.66 * R, 0.0), (-0.66 * R, -0.5 * R),
    ]  # fmt: skip
    poly = np.array(pts, float)
    poly[:, 1] = ac.sv(poly[:, 1])
    wing = poly[:, 1] < -40 * s  # iliac wing: its lateral flare is a per-patient shape parameter
    poly[wing, 0] = np.where(poly[wing, 0] < 0, poly[wing, 0] * flare, poly[wing, 0])
    obt_cu = 0.5 * (td_med + 6 * s + 2 * s) + 0.25 * (D - 20 * s)
    obt = _ellipse_poly(
        obt_cu, float(ac.sv(43 * s)), 19 * s, 17 * s * (1 + ac.tilt), math.radians(-15)
    )
    return poly, obt


def _plate(U, V, m5, sp: float, hip: Hip, ac: _Acetabulum, rng):
    """Thickness (mm) of the pelvic plate and of its cortical rim seen tangentially, and the
    distance of every pixel from the cup centre."""
    R, s = hip.R, hip.scale
    # plate thickness: EDT dome computed on a ~1 mm grid, then upsampled
    edt = _edt_mm(m5, sp)
    E = 12.0 * s
    dome = np.sqrt(np.clip(edt / E, 0, 1) * (2 - np.clip(edt / E, 0, 1)))
    plate = (3.5 + 6.0 * dome) * m5
    rimt = 5.0 * np.exp(-edt / 1.5) * m5  # cortical rim seen tangentially
    # thicker acetabular body around the cup, thin wing further up
    rho_c = np.hypot(U - ac.cup_u, V - ac.cup_v)
    plate *= 1.0 + 0.6 * np.exp(-(((rho_c - R) / (0.9 * R)) ** 2))
    # thin iliac fossa in the middle of the wing, thick pubic / ischial rami
    q_fos = _ellipse_q(U, V, -12 * s, -92 * s, 34 * s, 26 * s, math.radians(-20))
    plate *= 1.0 - 0.45 * np.clip(1.0 - q_fos, 0.0, 1.0)
    # low-frequency thickness texture (bone density varies)
    tex = _upsample(rng.normal(0.0, 1.0, (6, 6)), U.shape)
    plate *= 1.0 + 0.12 * tex
    return plate, rimt, rho_c


def _fossa(U, V, m5, R: float, ac: _Acetabulum, rho_c, q_td):
    """Mask of the fossa (L4): the crescent inside the cup, plus the joint space medial to the
    head down to the teardrop, above the teardrop's lower third."""
    head_rho = np.hypot(U, V)
    crescent = (rho_c < ac.cup_r) & (U > -0.2 * R)
    medial_gap = (U > 0) & (U < ac.td_cu) & (V >= ac.td_cv - 0.3 * ac.td_h) & (V >= ac.cup_v)
    return (crescent | medial_gap) & (head_rho >= R) & (V < ac.td_cv + 0.15 * ac.td_h) & m5


def _cortices(U, V, m5, hip: Hip, ac: _Acetabulum, rho_c, plate, rimt, rim_osteo):
    """Attenuation of the plate with its rim, the sourcil over the roof (dense band) and the
    ilioischial line (the medial pelvic wall seen tangentially, medial of the teardrop)."""
    R, s = hip.R, hip.scale
    src_w, src_dens = _sourcil(hip.oa, s)
    m_src = (rho_c >= ac.cup_r) & (rho_c < ac.cup_r + src_w) & (V < -0.25 * R)
    m_src &= U < ac.cup_u + 4
    m_src &= m5
    att = MU_PELVIS * plate + MU_CORT * (rimt + src_dens * m_src + rim_osteo)
    td_cv, td_h = ac.td_cv, ac.td_h
    d_ili = np.abs(U - (ac.td_u0 + 0.5 * ac.td_w - 0.06 * (V - td_cv)))
    ili = (d_ili < 1.6 * s) & (V > td_cv - td_h / 2 - 35 * s) & (V < td_cv + 40 * s) & m5
    att += MU_CORT * 2.5 * ili
    return att


def _teardrop(U, V, ac: _Acetabulum, q_td, ts: float):
    """Attenuation of the teardrop: an ellipsoid shell (dense U) with a trabecular interior."""
    q_in = _ellipse_q(U, V, ac.td_cu, ac.td_cv, ac.td_w / 2 - 2.0, ac.td_h / 2 - 2.0, ac.td_ang)
    depth = 6.0 * ts
    outer, inner = depth * _chord(1 - q_td) / 2, (depth - 2.0) * _chord(1 - q_in) / 2
    return MU_CORT * (outer - inner) * 1.4 + MU_TRAB * inner


def _render_pelvis(fr: _Frame, hip: Hip, ac: _Acetabulum, pre: dict, A, L, paint, rng, flare):
    """Add the hemipelvis's attenuation to ``A`` and paint L5, L4 and L3 into ``L``."""
    R, s = hip.R, hip.scale
    poly, obt = _outline(hip, ac, flare)
    win = fr.window(-70 * s, hip.D + 5, -150 * s, 100 * s)
    if win is None:
        return
    sl, U, V = win
    m5 = fr.polygon_mask(sl, [poly], [obt])
    rim_osteo, m_osteo = _rim_osteophyte(U, V, ac.rim, ac.ce, hip.oa, s, R)
    m5 |= m_osteo
    plate, rimt, rho_c = _plate(U, V, m5, fr.sp, hip, ac, rng)
    q_td = _ellipse_q(U, V, ac.td_cu, ac.td_cv, ac.td_w / 2, ac.td_h / 2, ac.td_ang)
    m4 = _fossa(U, V, m5, R, ac, rho_c, q_td)
    plate = np.where(m4, plate * 0.45, plate)  # the fossa is a thinner part of the wall
    att = _cortices(U, V, m5, hip, ac, rho_c, plate, rimt, rim_osteo)
    att += _teardrop(U, V, ac, q_td, pre["teardrop_scale"])
    m3 = q_td < 1.0
    A[sl] += att.astype(np.float32)
    if paint:
        lab = L[sl]
        lab[m5] = L_PELVIS
        lab[_largest(m4 & ~m3)] = L_FOSSA  # rasterisation slivers stay pelvis
        lab[m3] = L_TEARDROP


def _render_sacrum(fp: _Frame, sl, pat: Patient, pose: Pose, A) -> None:
    """Add the sacrum (not labelled) with its foramina to ``A``, in the patient frame ``fp``
    (``sl``: the window of ``fp`` covering the whole image)."""
    s = pat.sacrum_w
    top, bot = 44.0 * s, 30.0 * s
    sac = np.array(
        [(-top, -130 * s), (top, -130 * s), (bot, -64 * s), (9 * s, -22 * s), (-9 * s, -22 * s),
         (-bot, -64 * s)],
    )  # fmt: skip
    sac[:, 1] = np.where(sac[:, 1] > 0, sac[:, 1], sac[:, 1] * (1 - 0.5 * pose.tilt))
    msac = fp.polygon_mask(sl, [sac])
    edt = _edt_mm(msac, fp.sp)
    A += (MU_PELVIS * (4.0 + 6.0 * np.clip(edt / 10.0, 0, 1)) * msac).astype(np.float32)
    # sacral foramina: small darker holes
    for k in range(4):
        for sg in (-1, 1):
            cx, cy = sg * (17 - 2 * k) * s, (-112 + 17 * k) * s
            win = fp.window(cx - 5 * s, cx + 5 * s, cy - 5 * s, cy + 5 * s)
            if win is not None:
                sl2, X2, Y2 = win
                q = _ellipse_q(X2, Y2, cx, cy, 4.5 * s, 4 * s)
                A[sl2] -= (MU_PELVIS * 4.0 * (q < 1) * msac[sl2]).astype(np.float32)
