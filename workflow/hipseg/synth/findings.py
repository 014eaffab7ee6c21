"""Findings: osteoarthritis, acetabular protrusion, excluded hardware and lead side markers.

Osteoarthritis (``Hip.oa``, severity 0-1) narrows the superolateral joint space, lets the head
migrate laterally (a wider, more asymmetric medial space), thickens the sclerotic sourcil and
grows osteophytes at the acetabular rim (pelvis, L5) and the inferior head-neck junction (head,
L1). Acetabular protrusion (``Hip.protrusion`` mm) moves the head and cup medially relative to
the teardrop and the ilioischial line: the head then projects over the teardrop and the medial
joint space (L3 and L4 shrink, the head is painted on top, as annotated).

Hips with hardware (``Hip.hardware``: an arthroplasty with metal stem, ball and cup; a dynamic
hip screw with side plate; cannulated neck screws) are excluded, as in the paper: the sheet's
``hips`` column leaves them out and the label map carries no labels (0) for them. Lead side
markers ("R"/"L") are part of the exposure (they attenuate) and are not labelled.

The functions here work in a hip's canonical frame (:mod:`.geometry`); the bones that carry the
findings are drawn by :mod:`.pelvis` and :mod:`.femur`.
"""

from __future__ import annotations

import numpy as np

from .annotations import _text_height, _text_mask
from .geometry import _chord, _ellipse_q, _rod
from .physics import MU_LEAD_MARKER


# --------------------------------------------------------------------------- osteoarthritis
def _joint_space(oa: float, fs: float) -> tuple[float, float, float]:
    """Joint space at the lateral roof (narrowed by OA), medial shift of the cup (OA: the head
    migrates laterally) and height of the cup centre, in mm; ``fs``: the fossa enlargement."""
    g0 = 1.2 * fs * (1.0 - 0.75 * oa)
    dcup = 4.0 * fs * (1.0 + 0.5 * oa)
    return g0, dcup, -0.5 + 1.5 * oa


def _sourcil(oa: float, s: float) -> tuple[float, float]:
    """Width (mm) and cortical density factor of the sourcil (OA: subchondral sclerosis, wider
    and denser)."""
    return 4.5 * s * (1.0 + 0.8 * oa), 4.0 * (1.0 + 1.5 * oa)


def _rim_osteophyte(U, V, rim, ce: float, oa: float, s: float, R: float):
    """Marginal osteophyte at the lateral acetabular rim, grows with OA: (bone thickness in mm,
    mask of the pelvis it adds). ``rim``: (u, v) of the lateral rim, ``ce`` in radians."""
    if not oa > 0:
        return np.zeros(U.shape, np.float32), np.zeros(U.shape, bool)
    ou, ov = rim[0] - 2.5 * oa * s, rim[1] + 4.0 * oa * s
    q_o = _ellipse_q(U, V, ou, ov, (2.0 + 5.0 * oa) * s, (2.5 + 4.0 * oa) * s, ce)
    thick = (6.0 * oa * s * np.sqrt(np.clip(1 - q_o, 0, 1))).astype(np.float32)
    return thick, (q_o < 1) & (np.hypot(U, V) >= R)


def _head_osteophyte(U, V, oa: float, s: float, R: float):
    """Inferomedial head-neck osteophyte ("drooping" collar), part of the head (L1): (bone
    thickness in mm, or 0.0 without OA; mask of the femur it adds)."""
    if not oa > 0:
        return 0.0, np.zeros(U.shape, bool)
    q_fo = _ellipse_q(U, V, 0.45 * R, 0.9 * R, (2.0 + 5.0 * oa) * s, (2.0 + 3.0 * oa) * s, 0.6)
    thick = (5.0 * oa * s * np.sqrt(np.clip(1 - q_fo, 0, 1))).astype(np.float32)
    return thick, q_fo < 1


# --------------------------------------------------------------------------- protrusion
def _protrusion_shift(prot: float, dcup: float, g0: float, td_w: float) -> float:
    """Medial displacement (mm) of head and cup so that the head's medial edge lies ``prot`` mm
    medial of the ilioischial line, which runs through the teardrop (width ``td_w``)."""
    return (dcup + g0 - 1.0 + 0.5 * td_w + prot) if prot > 0 else 0.0


# --------------------------------------------------------------------------- hardware
def _fixation(U, V, kind: str, ax, R: float):
    """Metal path length (mm) of a fracture fixation in the hip's canonical frame.

    ``plate``: a dynamic hip screw (lag screw along the neck into the head) with a lateral side
    plate and four cortical screws; ``screws``: three parallel cannulated screws in the neck.
    ``ax``: the femur's axes (:class:`.femur._FemurAxes`).
    """
    nx, ny, Jx, Jy, sx, sy, rs = ax.nx, ax.ny, ax.Jx, ax.Jy, ax.sx, ax.sy, ax.rs
    lat = (Jx - nx * 1.6 * rs, Jy - ny * 1.6 * rs)  # entry point at the lateral cortex
    tip = (nx * 0.55 * R, ny * 0.55 * R)  # beyond the head centre, short of the joint
    metal = np.zeros(U.shape, np.float32)
    if kind == "screws":
        pu, pv = -ny, nx  # perpendicular to the neck axis
        for off in (-0.32 * R, 0.0, 0.32 * R):
            o = (pu * off, pv * off)
            metal += _rod(U, V, (lat[0] + o[0], lat[1] + o[1]), (tip[0] + o[0], tip[1] + o[1]), 3.3)
        return metal
    metal += _rod(U, V, lat, tip, 6.0)
    # side plate on the lateral shaft surface (lateral normal is (-sy, sx)), 6 mm thick
    lu, lv = -sy, sx
    top = (lat[0] + lu * 3.0, lat[1] + lv * 3.0)
    bot = (top[0] + sx * 120.0, top[1] + sy * 120.0)
    metal += _rod(U, V, top, bot, 8.0) * 0.4
    for k in range(4):  # cortical screws across the shaft
        a = (top[0] + sx * (40.0 + 22.0 * k), top[1] + sy * (40.0 + 22.0 * k))
        b = (a[0] - lu * 2.2 * rs, a[1] - lv * 2.2 * rs)
        metal += _rod(U, V, a, b, 2.3)
    return metal


def _arthroplasty(U, V, ax, hn, t, R: float, cup_u: float, cup_v: float):
    """Metal path length (mm) of a hip arthroplasty: stem in the canal, ball at the head centre,
    cup in the acetabulum. ``ax``, ``hn``: the femur's axes and head/neck
    (:mod:`.femur`), ``t``: distance along the shaft axis from the neck junction."""
    rn, rho_n, tn, rho2 = hn.rn, hn.rho_n, hn.tn, hn.rho2
    rr = np.hypot(U - cup_u, V - cup_v)
    stem_r = np.where(t < 0, 0.45 * rn, np.clip(0.6 * ax.rs - t * 0.02, 3.0, None))
    stem_len = 130.0
    tt = np.clip(t, -ax.ln * 0.8, stem_len)
    px, py = ax.Jx + ax.sx * tt, ax.Jy + ax.sy * tt
    d_stem = np.hypot(U - px, V - py)
    stem = _chord(stem_r**2 - d_stem**2)
    # neck part of the stem: capsule from head centre to J
    stem = np.maximum(stem, _chord((0.35 * rn) ** 2 - rho_n**2) * (tn > 0.05))
    ball = _chord((0.6 * R) ** 2 - rho2)
    cup = (_chord((R + 4) ** 2 - rr**2) - _chord(R**2 - rr**2)) * (V < cup_v + 2)
    return stem + ball + 0.6 * cup


# --------------------------------------------------------------------------- lead markers
def _lead_marker(mu_total: np.ndarray, marker: str, field_mm, sp: float) -> None:
    """Add a lead letter ("R" or "L"), 1.5 mm thick, in the upper corner of the patient's side
    to the attenuation ``mu_total`` (in place)."""
    x = 0.06 * field_mm[0] if marker == "R" else 0.94 * field_mm[0]
    item = (marker, x, 0.05 * field_mm[1], 3 * _text_height(sp), "mt")
    lead = _text_mask(mu_total.shape, sp, [item])
    mu_total += (MU_LEAD_MARKER * lead).astype(np.float32)
