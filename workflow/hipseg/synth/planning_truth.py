"""What 2D templating needs from the generator's geometry (``truth/<id>.json``, per hip).

:mod:`hipseg.templating` plans a cup and a stem on a label map; to check it, the generator states
the same inputs from the parameters it drew (:func:`hip_planning_truth`), in the image
millimetres of :mod:`.truth`:

``acetabulum``
    the acetabular sphere up to its subchondral bone as the label map shows it: the circle that
    bounds the fossa (L4) against the pelvis (L5) above the head (:func:`.pelvis._fossa`'s
    ``cup`` circle: centre and radius);
``teardrop_ellipse``
    Köhler's teardrop (L3) as an ellipse ``{p: (p − c)ᵀ Q (p − c) ≤ 1}`` (``centre``,
    ``conic``); the label map shows it less the femoral head, which is painted over it;
``canal``
    the width of the medullary canal (L1) between the medial and lateral diaphyseal cortex (L2),
    perpendicular to the shaft axis, at levels below the lesser-trochanter tip (measured along
    the shaft axis from the tip's projection onto it), every ``CANAL_STEP_MM`` from 0 to
    ``CANAL_MAX_MM``; ``None`` where the canal is not bounded by L2 on both sides or the level
    lies outside the image. The widths are those of the generator's own label functions
    (:mod:`.femur`) evaluated along each level's line, edges refined by bisection to a micrometre;
``femoral_offset``
    the perpendicular distance of the head centre from the shaft axis (the native offset).

Nothing here draws or touches a random stream: the images and label maps stay byte-identical.
"""

from __future__ import annotations

import numpy as np

from .anatomy import Hip
from .femur import _cortex_l2, _femur_axes, _head_neck, _shaft, _trochanters
from .findings import _head_osteophyte
from .geometry import _Frame

CANAL_STEP_MM = 0.5
CANAL_MAX_MM = 160.0
_COARSE_MM = 0.05  # sampling of each level's line before the edges are refined


def _to_mm(fr: _Frame, u, v) -> np.ndarray:
    row, col = fr.to_pix(u, v)
    return np.stack([np.asarray(col, float) * fr.sp, np.asarray(row, float) * fr.sp], axis=-1)


def _linear(fr: _Frame) -> np.ndarray:
    """The linear part ``A`` of the map (u, v) → image mm (a rotation, mirrored for one side)."""
    o = _to_mm(fr, 0.0, 0.0)
    return np.stack([_to_mm(fr, 1.0, 0.0) - o, _to_mm(fr, 0.0, 1.0) - o], axis=1)


def femur_labels(U, V, hip: Hip, ax, rot: float) -> np.ndarray:
    """The label (0, 1 = L1, 2 = L2) the generator paints for the femur at canonical (U, V):
    :func:`.femur._render_femur`'s masks, without the attenuation."""
    R, s = hip.R, hip.scale
    hn, sh, tr = _head_neck(U, V, R, ax), _shaft(U, V, ax), _trochanters(U, V, ax, rot, s)
    m_femur = (hn.h_out > 0) | (hn.n_out > 0) | (sh.s_out > 0) | (tr.q_gt < 1) | (tr.q_lt < 1)
    m_femur |= _head_osteophyte(U, V, hip.oa, s, R)[1]
    depth = np.maximum.reduce([R - np.sqrt(hn.rho2), hn.rn - hn.rho_n, sh.r_out - sh.rho_s])
    m2 = _cortex_l2(hn, sh, m_femur, depth, R, s, ax.ln)[0] | (tr.q_lt < 1)
    return np.where(m2, 2, np.where(m_femur, 1, 0))


def _edge(f, inside: np.ndarray, outside: np.ndarray, steps: int = 30) -> np.ndarray:
    """Bisection between positions labelled 1 (``inside``) and not 1 (``outside``)."""
    a, b = inside.astype(float), outside.astype(float)
    for _ in range(steps):
        m = (a + b) / 2
        one = f(m) == 1
        a, b = np.where(one, m, a), np.where(one, b, m)
    return (a + b) / 2


def _run_ends(lab: np.ndarray, i0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the first and last index of the run of 1s through ``i0``, and whether the run
    is bounded by 2s on both sides (the cortex)."""
    n, m = lab.shape
    not1 = lab != 1
    left, right = not1[:, i0::-1], not1[:, i0:]
    has_l, has_r = left.any(axis=1), right.any(axis=1)
    lo = i0 - np.argmax(left, axis=1) + 1
    hi = i0 + np.argmax(right, axis=1) - 1
    ok = (lab[:, i0] == 1) & has_l & has_r
    rows = np.arange(n)
    ok &= lab[rows, np.clip(lo - 1, 0, m - 1)] == 2
    ok &= lab[rows, np.clip(hi + 1, 0, m - 1)] == 2
    return lo, hi, ok


def canal_profile(fr: _Frame, hip: Hip, rot: float, tip_uv, shape) -> dict:
    """Canal widths below the lesser-trochanter tip ``tip_uv`` (see the module docstring)."""
    ax = _femur_axes(hip, rot)
    s_dir, m_dir = np.array([ax.sx, ax.sy]), np.array([ax.sy, -ax.sx])  # down, medial
    joint = np.array([ax.Jx, ax.Jy])
    t_tip = float((np.asarray(tip_uv) - joint) @ s_dir)
    levels = np.arange(0.0, CANAL_MAX_MM + 1e-9, CANAL_STEP_MM)
    centres = joint + (t_tip + levels)[:, None] * s_dir  # on the axis, (n, 2)
    reach = ax.rs + ax.flare + 5.0
    w = np.arange(-reach, reach + 1e-9, _COARSE_MM)

    def lab_at(c, ws):  # labels at offsets ``ws`` (medial +) across the lines through ``c``
        p = c + ws[..., None] * m_dir
        return femur_labels(p[..., 0], p[..., 1], hip, ax, rot)

    lab = lab_at(centres[:, None, :], np.broadcast_to(w, (len(levels), len(w))))
    lo, hi, ok = _run_ends(lab, int(np.argmin(np.abs(w))))
    c = centres[ok]
    lo_w = _edge(lambda x: lab_at(c, x), w[lo[ok]], w[lo[ok] - 1])
    hi_w = _edge(lambda x: lab_at(c, x), w[hi[ok]], w[hi[ok] + 1])
    ends = np.concatenate([c + lo_w[:, None] * m_dir, c + hi_w[:, None] * m_dir])
    rows, cols = fr.to_pix(ends[:, 0], ends[:, 1])
    inside = (rows >= 0) & (rows <= shape[0] - 1) & (cols >= 0) & (cols <= shape[1] - 1)
    widths = np.full(len(levels), np.nan)
    widths[np.nonzero(ok)[0][inside[: len(c)] & inside[len(c) :]]] = (hi_w - lo_w)[
        inside[: len(c)] & inside[len(c) :]
    ]
    return {
        "reference": "lesser-trochanter tip, projected onto the shaft axis",
        "levels_mm": [float(v) for v in levels],
        "widths_mm": [float(v) if np.isfinite(v) else None for v in widths],
    }


def hip_planning_truth(fr: _Frame, hip: Hip, ac, rot: float, tip_uv, shape) -> dict:
    """The templating inputs of one hip in image millimetres (see the module docstring)."""
    a = _linear(fr)
    td_q = np.diag([1 / (ac.td_w / 2) ** 2, 1 / (ac.td_h / 2) ** 2])
    c, s = np.cos(ac.td_ang), np.sin(ac.td_ang)
    rot_m = np.array([[c, -s], [s, c]])  # the ellipse's axes in (u, v)
    conic_uv = rot_m @ td_q @ rot_m.T
    conic = a @ conic_uv @ a.T  # ``a`` is orthogonal: Q_xy = A Q_uv Aᵀ
    ax = _femur_axes(hip, rot)
    offset = abs(-ax.Jx * ax.sy + ax.Jy * ax.sx)  # |(head − J) × s|, the head at the origin
    return {
        "acetabulum": {"centre": _to_mm(fr, ac.cup_u, ac.cup_v).tolist(),
                       "radius": float(ac.cup_r)},
        "teardrop_ellipse": {"centre": _to_mm(fr, ac.td_cu, ac.td_cv).tolist(),
                             "conic": conic.tolist()},
        "canal": canal_profile(fr, hip, rot, tip_uv, shape),
        "femoral_offset": float(offset),
    }  # fmt: skip
