"""The proximal femur: head, neck, trochanters and diaphysis (L1 and L2).

Path lengths are analytic: the head is a sphere with a thin shell, the neck a tapered capsule
from the head centre to its junction with the shaft axis, the greater trochanter an ellipsoid,
the diaphysis a tube (bright cortices, darker canal that turns from trabecular to fatty marrow)
with a trochanteric cone, the lesser trochanter a posteromedial ellipsoid that is more prominent
with external rotation. L1 is the femoral head + neck interior + greater trochanter + medullary
cavity; L2 the inferior neck cortex (calcar) + both diaphyseal cortices + lesser trochanter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .anatomy import L_CORTEX, L_HEAD, Hip
from .findings import _arthroplasty, _fixation, _head_osteophyte
from .geometry import _chord, _ellipse_q, _Frame
from .physics import MU_CORT, MU_MARROW, MU_METAL, MU_TRAB


@dataclass(frozen=True)
class _FemurAxes:
    """Shaft and neck axes of one femur in the hip's canonical frame (mm)."""

    sx: float  # unit vector down the anatomical shaft axis
    sy: float
    nx: float  # unit vector up the neck axis, towards the head centre
    ny: float
    ln: float  # apparent neck length (head centre to J)
    Jx: float  # J: junction of neck axis and shaft axis
    Jy: float
    rs: float  # outer radius of the diaphysis
    cort: float  # diaphyseal cortical thickness
    flare: float  # extra radius of the trochanteric cone at J
    Lc: float  # length of the trochanteric cone
    shell: float  # thickness of thin cortical shells


class _HeadNeck(NamedTuple):
    rho2: np.ndarray  # squared distance from the head centre
    h_out: np.ndarray  # path length through the head and through its interior
    h_in: np.ndarray
    tn: np.ndarray  # position along the neck: 0 at J, 1 at the head centre
    rho_n: np.ndarray  # distance from the neck axis
    rn: np.ndarray  # neck radius
    n_out: np.ndarray  # path length through the neck and through its interior
    n_in: np.ndarray
    side_inf: np.ndarray  # > 0 on the inferior side of the neck


class _Shaft(NamedTuple):
    t: np.ndarray  # position along the shaft axis from J
    medial: np.ndarray  # medial of the shaft axis
    rho_s: np.ndarray  # distance from the shaft axis (from J above it)
    r_out: np.ndarray  # outer radius (cone + diaphysis)
    c_side: np.ndarray  # cortical thickness of the medial / lateral wall
    in_band: np.ndarray  # inside the wall seen tangentially
    s_out: np.ndarray  # path length through the shaft and through its interior
    s_in: np.ndarray
    s_cort: np.ndarray
    marrow: np.ndarray  # 0 trabecular to 1 fatty marrow
    t_lat: float  # the lateral cortex starts here


class _Trochanters(NamedTuple):
    q_gt: np.ndarray  # greater trochanter: ellipse quadric, path lengths outside / inside
    g_out: np.ndarray
    g_in: np.ndarray
    q_lt: np.ndarray  # lesser trochanter: ellipse quadric, path length
    lt: np.ndarray


def _femur_axes(hip: Hip, rot: float) -> _FemurAxes:
    """Axes of the femur at external rotation ``rot`` (deg)."""
    ang = math.radians(7.0)  # anatomical shaft axis: going down it moves medially
    sx, sy = math.sin(ang), math.cos(ang)
    nsa = math.radians(hip.nsa + 0.15 * rot)
    nx = sx * math.cos(nsa) + sy * math.sin(nsa)  # rotate shaft-down vector by the NSA
    ny = -sx * math.sin(nsa) + sy * math.cos(nsa)
    if nx < 0:
        nx = sx * math.cos(nsa) - sy * math.sin(nsa)
        ny = sx * math.sin(nsa) + sy * math.cos(nsa)
    # apparent neck length: anteversion (~15 deg) plus external rotation foreshortens the neck
    ln = hip.neck_len * math.cos(math.radians(np.clip(15.0 + rot, 0.0, 60.0)))
    rs = hip.shaft_r
    return _FemurAxes(
        sx=sx, sy=sy, nx=nx, ny=ny, ln=ln, Jx=-nx * ln, Jy=-ny * ln, rs=rs, cort=hip.cort,
        flare=0.55 * rs, Lc=2.6 * rs, shell=1.3,
    )  # fmt: skip


def _head_neck(U, V, R: float, ax: _FemurAxes) -> _HeadNeck:
    """Head: sphere with a thin shell; neck: tapered capsule from the head centre to J."""
    shell = ax.shell
    rho2 = U * U + V * V
    h_out, h_in = _chord(R * R - rho2), _chord((R - shell) ** 2 - rho2)
    du, dv = U - ax.Jx, V - ax.Jy  # from J
    nx, ny, ln = ax.nx, ax.ny, ax.ln
    tn = np.clip((du * nx + dv * ny) / ln, 0.0, 1.0)  # 0 at J, 1 at head centre
    pn = du - tn * nx * ln, dv - tn * ny * ln
    rho_n = np.hypot(*pn)
    rn = (0.62 + 0.22 * (1 - tn)) * R
    n_out, n_in = _chord(rn * rn - rho_n**2), _chord((rn - shell) ** 2 - rho_n**2)
    # inferior side of the neck: normal pointing down (+v)
    inf_n = (-ny, nx) if nx > 0 else (ny, -nx)
    side_inf = pn[0] * inf_n[0] + pn[1] * inf_n[1]
    return _HeadNeck(rho2, h_out, h_in, tn, rho_n, rn, n_out, n_in, side_inf)


def _shaft(U, V, ax: _FemurAxes) -> _Shaft:
    """Trochanteric cone + diaphysis along the shaft axis from J."""
    sx, sy, Lc, shell, cort = ax.sx, ax.sy, ax.Lc, ax.shell, ax.cort
    du, dv = U - ax.Jx, V - ax.Jy  # from J
    t = du * sx + dv * sy
    tc = np.maximum(t, 0.0)  # the cone has a rounded cap of radius rs + flare at J
    perp_m = du * sy - dv * sx  # along the medial normal (sy, -sx)
    medial = perp_m > 0
    rho_s = np.hypot(perp_m, t - tc)
    r_out = ax.rs + ax.flare * np.clip(1.0 - tc / Lc, 0.0, 1.0)
    t_lat = 0.75 * Lc
    c_med = np.where(t < 0.45 * Lc, 3.5 + (cort - 3.5) * np.clip(t / (0.45 * Lc), 0, 1), cort)
    c_med = np.where(t < 0, shell, c_med)
    c_lat = np.where(t < t_lat, shell, cort)
    c_side = np.where(medial, c_med, c_lat)
    c_fb = np.where(t < t_lat, shell + (cort - shell) * np.clip(t / t_lat, 0, 1), cort)
    r_in = r_out - c_side
    o2 = r_out * r_out - rho_s**2
    s_out = _chord(o2)
    in_band = rho_s >= r_in
    s_in = np.where(~in_band, _chord((r_out - c_fb) ** 2 - rho_s**2), 0.0)
    s_cort = s_out - s_in
    marrow = np.clip((t - 0.6 * Lc) / (0.6 * Lc), 0.0, 1.0)  # trabecular -> fatty marrow
    return _Shaft(t, medial, rho_s, r_out, c_side, in_band, s_out, s_in, s_cort, marrow, t_lat)


def _trochanters(U, V, ax: _FemurAxes, rot: float, s: float) -> _Trochanters:
    """Greater trochanter (ellipsoid lateral-superior to J) and lesser trochanter
    (posteromedial, more prominent with external rotation)."""
    rs, shell, Lc, Jx, Jy, sx, sy = ax.rs, ax.shell, ax.Lc, ax.Jx, ax.Jy, ax.sx, ax.sy
    gt_cu, gt_cv, gt_a, gt_b = Jx - 0.55 * rs, Jy - 0.45 * rs, 1.15 * rs, 1.75 * rs
    q_gt = _ellipse_q(U, V, gt_cu, gt_cv, gt_a, gt_b, math.radians(-10))
    q_gti = _ellipse_q(U, V, gt_cu, gt_cv, gt_a - shell, gt_b - shell, math.radians(-10))
    g_out, g_in = 1.1 * rs * _chord(1 - q_gt) / 2, (1.1 * rs - shell) * _chord(1 - q_gti) / 2
    prot = float(np.clip(3.0 + 0.3 * rot, 0.5, 10.0)) * s
    t_lt = 0.8 * Lc
    r_lt = rs + ax.flare * max(0.0, 1 - t_lt / Lc)
    lt_cu = Jx + sx * t_lt + sy * (r_lt + prot - 6.5 * s)
    lt_cv = Jy + sy * t_lt - sx * (r_lt + prot - 6.5 * s)
    q_lt = _ellipse_q(U, V, lt_cu, lt_cv, 8.5 * s, 12.0 * s, math.radians(-35))
    lt = 14.0 * s * _chord(1 - q_lt) / 2
    return _Trochanters(q_gt, g_out, g_in, q_lt, lt)


def _cortex_l2(hn: _HeadNeck, sh: _Shaft, mF, depth, R: float, s: float, ln: float):
    """Mask of L2 without the lesser trochanter: the calcar (inferior neck cortex) and the
    medial / lateral diaphyseal cortex; and the calcar alone (it is denser)."""
    calc_th = 3.5 * s
    calcar = (hn.side_inf > 0) & (hn.rho_n >= hn.rn - calc_th) & (hn.tn < 1.0 - 0.85 * R / ln)
    calcar &= (depth < calc_th + 0.5) & (hn.rho_n < hn.rn) & (hn.rho2 >= R * R)
    t_med = 0.0
    walls = sh.in_band & ((sh.medial & (sh.t >= t_med)) | (~sh.medial & (sh.t >= sh.t_lat)))
    walls &= depth < sh.c_side + 0.5
    return ((calcar | walls) & mF), calcar


def _render_femur(fr: _Frame, hip: Hip, rot: float, cup: tuple, A, L, paint: bool) -> None:
    """Add the femur's attenuation (and its hardware) to ``A`` and paint L1 and L2 into ``L``.

    ``rot``: external rotation (deg); ``cup``: the cup centre (u, v), for an arthroplasty.
    """
    R, s = hip.R, hip.scale
    ax = _femur_axes(hip, rot)
    win = fr.window(ax.Jx - 2.5 * ax.rs - 10, R + 8, -R - 8, 400.0)
    if win is None:
        return
    sl, U, V = win
    hn, sh, tr = _head_neck(U, V, R, ax), _shaft(U, V, ax), _trochanters(U, V, ax, rot, s)
    # thin shells are less dense than the diaphyseal cortex; no neck shell inside the head
    n_sh = np.where(hn.rho2 < R * R, 0.0, hn.n_out - hn.n_in)
    g_sh = np.where(hn.rho2 < R * R, 0.0, tr.g_out - tr.g_in)
    cortical = np.maximum.reduce([0.55 * (hn.h_out - hn.h_in), 0.55 * n_sh, sh.s_cort, 0.55 * g_sh])
    inner_t = np.maximum.reduce([hn.h_in, hn.n_in, tr.g_in, sh.s_in * (1 - sh.marrow)])
    inner_m = sh.s_in * sh.marrow
    # union depth (approximate interior distance to the femur outline)
    depth = np.maximum.reduce([R - np.sqrt(hn.rho2), hn.rn - hn.rho_n, sh.r_out - sh.rho_s])
    mF = (hn.h_out > 0) | (hn.n_out > 0) | (sh.s_out > 0) | (tr.q_gt < 1) | (tr.q_lt < 1)
    osteo, m_osteo = _head_osteophyte(U, V, hip.oa, s, R)
    mF |= m_osteo
    m2, calcar = _cortex_l2(hn, sh, mF, depth, R, s, ax.ln)
    m2 = m2 | (tr.q_lt < 1)
    att = (
        MU_CORT * cortical
        + MU_TRAB * inner_t
        + MU_MARROW * inner_m
        + MU_CORT * 5.0 * calcar
        + (MU_CORT * 0.7) * tr.lt
        + MU_CORT * osteo
    )
    if hip.hardware in ("plate", "screws"):
        att = att + MU_METAL * _fixation(U, V, hip.hardware, ax, R)
    if hip.hardware == "arthroplasty":
        att = att + MU_METAL * _arthroplasty(U, V, ax, hn, sh.t, R, *cup)
    A[sl] += att.astype(np.float32)
    if paint:
        lab = L[sl]
        m1 = mF & ~m2
        lab[m1] = L_HEAD
        lab[m2] = L_CORTEX
