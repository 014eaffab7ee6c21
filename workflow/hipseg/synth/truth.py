"""The known geometry of every synthetic hip: ``truth/<id>.json`` beside the DICOM and labels.

The generator builds each hip from parameters, so it knows the landmarks that
:mod:`hipseg.measure` looks for in label maps. This module recomputes them from the same objects
(:func:`.pelvis._acetabulum`, :func:`.pelvis._outline`, :func:`.femur._femur_axes`,
:func:`.femur._trochanters`) without drawing anything and without touching the radiograph's
random stream, so the images and label maps stay byte-identical.

Coordinates are the measurement module's: millimetres from the centre of the top-left pixel,
``x = column × spacing`` to the image right, ``y = row × spacing`` down.

Landmarks of one hip (canonical frame of :mod:`.geometry`: origin the head centre, ``u`` towards
the midline, ``v`` towards the feet):

``head_centre``, ``head_radius``
    the sphere of the femoral head;
``teardrop_inferior``
    the lowest point (largest ``y``) of the teardrop ellipse (L3);
``lesser_trochanter_tip``
    the point of the lesser-trochanter ellipse (in L2) furthest from the shaft axis on its
    medial side;
``shaft_axis``
    the anatomical axis of the diaphysis (a point on it and its unit direction, downwards);
``acetabular_rim``
    the lateral end of the acetabular roof as the label map shows it (the lateral edge of L5
    above the head): of the hemipelvis outline with the marginal osteophyte of a hip with
    osteoarthritis, outside the femoral head (painted over the pelvis), the point closest in
    angle to the vertical through the head centre — the rim vertex, or where the outline
    emerges from under the head or meets the osteophyte. ``rim_vertex`` is the polygon's rim
    vertex itself (see :func:`_rim`).
``planning``
    what 2D templating needs (:mod:`.planning_truth`): the acetabular circle to the subchondral
    line, the teardrop ellipse, the canal widths below the lesser trochanter, the native
    femoral offset.
"""

from __future__ import annotations

import math

import numpy as np

from .. import __version__
from ..io import write_json
from .anatomy import Hip, Patient, Pose
from .femur import _femur_axes, _trochanters
from .findings import _rim_osteophyte
from .geometry import _ellipse_q, _Frame
from .pelvis import _acetabulum, _outline
from .planning_truth import hip_planning_truth
from .projection import Projection

SIDES = (("right", 1), ("left", -1))  # patient side and its sign in the hip frame


def _support(conic: np.ndarray, centre: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The point of the ellipse ``{p: (p-c)ᵀ Q (p-c) = 1}`` furthest along ``direction``."""
    q_inv = np.linalg.inv(conic)
    scale = math.sqrt(float(direction @ q_inv @ direction))
    return centre + q_inv @ direction / scale


def _conic_of(
    quadric, centre_guess: tuple[float, float], step: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Matrix and centre of an ellipse given as a function ``q(U, V)`` (``q < 1`` inside).

    ``q`` is a quadratic in (u, v): six samples determine it exactly."""
    cu, cv = centre_guess
    u = cu + step * np.array([0.0, 1.0, -1.0, 0.0, 0.0, 1.0, 2.0, -2.0])
    v = cv + step * np.array([0.0, 0.0, 0.0, 1.0, -1.0, 1.0, -1.0, 2.0])
    q = np.asarray(quadric(u, v), float)
    design = np.stack([u * u, u * v, v * v, u, v, np.ones_like(u)], axis=1)
    a, b, c, d, e, f = np.linalg.lstsq(design, q, rcond=None)[0]
    mat = np.array([[a, b / 2], [b / 2, c]])
    centre = np.linalg.solve(2 * mat, -np.array([d, e]))
    level = 1.0 - (f - centre @ mat @ centre)  # q(p) - 1 = (p-c)ᵀM(p-c) - level
    return mat / level, centre


def _canonical_direction(fr: _Frame, image_dir: tuple[float, float]) -> np.ndarray:
    """A direction given in the image (x right, y down) expressed in the hip's (u, v) frame."""
    x, y = image_dir
    xp, yp = fr.c * x + fr.s * y, -fr.s * x + fr.c * y  # undo the in-plane rotation
    return np.array([fr.side * xp, yp])


def _to_mm(fr: _Frame, u, v) -> list[float]:
    row, col = fr.to_pix(u, v)
    return [float(col) * fr.sp, float(row) * fr.sp]


def _rim(fr: _Frame, hip: Hip, ac, flare: float, lateral: int) -> tuple[np.ndarray, np.ndarray]:
    """(visible rim, rim vertex) in image mm: see the module docstring.

    The hemipelvis outline (L5) near the rim is two polygon edges meeting at the rim vertex,
    joined by the marginal osteophyte (an ellipse) of a hip with osteoarthritis; the femoral head
    is painted over all of it. The visible rim is the point of that outline outside the head,
    above and lateral of the head centre, closest in angle to the image vertical through the
    head centre, found on densely sampled outlines (about 1 µm apart).

    The generator fills polygons with PIL, which samples pixel (i, j) at (i + 0.5, j + 0.5) of
    the coordinates it is given, whereas pixel centres are at (i, j) in :class:`._Frame`: the
    polygon lies half a pixel up and left of its (u, v) definition, in the label map and in the
    image alike. The truth is that outline."""
    poly, _ = _outline(hip, ac, flare)
    poly = poly + _canonical_direction(fr, (-0.5 * fr.sp, -0.5 * fr.sp))
    t = np.linspace(0.0, 1.0, 20001)[:, None]
    edges = [poly[-1] + t * (poly[0] - poly[-1]), poly[0] + t * (poly[1] - poly[0])]
    outline = np.concatenate(edges)
    if hip.oa > 0:
        conic, centre = _osteophyte(hip, ac)
        outline = outline[_quadric(conic, centre, outline) >= 1.0]
        ring = _ellipse_points(conic, centre, 40000)
        outline = np.concatenate([outline, ring[~_inside(poly, ring)]])
    outline = outline[np.hypot(outline[:, 0], outline[:, 1]) >= hip.R]
    rows, cols = fr.to_pix(outline[:, 0], outline[:, 1])
    xy = np.stack([cols, rows], axis=1) * fr.sp
    d = xy - np.array(_to_mm(fr, 0.0, 0.0))
    up, side = -d[:, 1], lateral * d[:, 0]
    dist = np.hypot(d[:, 0], d[:, 1])
    keep = (up > 0) & (side > 0) & (dist <= 1.5 * hip.R)
    rim = xy[keep][int(np.argmin(np.arctan2(side[keep], up[keep])))]
    return rim, np.array(_to_mm(fr, *poly[0]))


def _osteophyte(hip: Hip, ac) -> tuple[np.ndarray, np.ndarray]:
    """The marginal osteophyte's ellipse (conic matrix, centre) from the generator's own
    :func:`.findings._rim_osteophyte`: its thickness is ``c·sqrt(1 − q)`` inside the ellipse."""
    c = 6.0 * hip.oa * hip.scale

    def q(u, v):
        thick, _ = _rim_osteophyte(np.asarray(u, float), np.asarray(v, float), ac.rim, ac.ce,
                                   hip.oa, hip.scale, 0.0)  # fmt: skip
        return 1.0 - (np.asarray(thick, float) / c) ** 2

    probe = np.array(ac.rim) + np.array([-1.0, 1.5]) * hip.oa * hip.scale  # inside it
    return _conic_of(q, tuple(probe), step=0.1)


def _inside(poly: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Even-odd test of points against a closed polygon."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < at)).sum(axis=1) % 2 == 1


def _quadric(conic, centre, pts):
    d = pts - centre
    return np.einsum("ni,ij,nj->n", d, conic, d)


def _ellipse_points(conic, centre, n: int) -> np.ndarray:
    w, vec = np.linalg.eigh(conic)
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    circle = np.stack([np.cos(t) / np.sqrt(w[0]), np.sin(t) / np.sqrt(w[1])], axis=1)
    return centre + circle @ vec.T


def _lesser_trochanter_tip(hip: Hip, ax, rot: float) -> np.ndarray:
    def q_lt(u, v):
        return _trochanters(np.asarray(u), np.asarray(v), ax, rot, hip.scale).q_lt

    ax_pt = np.array([ax.Jx + ax.sx * 0.8 * ax.Lc, ax.Jy + ax.sy * 0.8 * ax.Lc])
    conic, centre = _conic_of(q_lt, tuple(ax_pt))
    medial = np.array([ax.sy, -ax.sx])  # the medial normal of the shaft axis
    return _support(conic, centre, medial)


def hip_truth(fr: _Frame, hip: Hip, pose: Pose, side: str, pre: dict, flare: float) -> dict:
    """The landmarks of one hip in image millimetres (see the module docstring)."""
    ac = _acetabulum(hip, pose.tilt, pre)
    td_conic, td_centre = _conic_of(
        lambda u, v: _ellipse_q(u, v, ac.td_cu, ac.td_cv, ac.td_w / 2, ac.td_h / 2, ac.td_ang),
        (ac.td_cu, ac.td_cv),
    )
    td_low = _support(td_conic, td_centre, _canonical_direction(fr, (0.0, 1.0)))
    ax = _femur_axes(hip, pose.rot[side])
    tip = _lesser_trochanter_tip(hip, ax, pose.rot[side])
    rim, vertex = _rim(fr, hip, ac, flare, -fr.side)
    p0 = _to_mm(fr, ax.Jx, ax.Jy)
    p1 = _to_mm(fr, ax.Jx + 100 * ax.sx, ax.Jy + 100 * ax.sy)
    direction = (np.subtract(p1, p0) / np.hypot(*np.subtract(p1, p0))).tolist()
    return {
        "excluded": hip.implant,
        "hardware": hip.hardware,
        "findings": hip.findings(),
        "head_centre": _to_mm(fr, 0.0, 0.0),
        "head_radius": float(hip.R),
        "teardrop_inferior": _to_mm(fr, *td_low),
        "lesser_trochanter_tip": _to_mm(fr, *tip),
        "shaft_axis": {"point": p0, "direction": direction},
        "acetabular_rim": [float(v) for v in rim],
        "rim_vertex": [float(v) for v in vertex],
        "rim_osteophyte": hip.oa > 0,
        "protrusion_mm": float(hip.protrusion),
        "planning": hip_planning_truth(fr, hip, ac, pose.rot[side], tip, fr.shape),
    }


def radiograph_truth(
    pat: Patient, pose: Pose, sp: float, field_mm: tuple[float, float], pre: dict,
    proj: Projection | None = None, ball: dict | None = None,
) -> dict:  # fmt: skip
    """The landmarks of both hips of one radiograph (the frames of :func:`render_radiograph`).

    ``sp`` and ``field_mm`` are the detector's; the coordinates are at the hip plane (spacing
    ``sp / M``, ``spacing_mm``), where the anatomy has its true size. ``proj``: the projection
    geometry and magnification (:mod:`.projection`); ``ball``: where the calibration ball went
    (:func:`.projection.place_ball`)."""
    cols, rows = int(round(field_mm[0] / sp)), int(round(field_mm[1] / sp))
    mag = 1.0 if proj is None else proj.magnification
    spp = sp / mag
    hips = {}
    for side, sgn in SIDES:
        hip = pat.hips[side]
        hy = pose.head_y + (pose.obliq / 2 if side == "right" else -pose.obliq / 2)
        fr = _Frame((rows, cols), spp, pose, -sgn * hip.D, hy, sgn)
        hips[side] = hip_truth(fr, hip, pose, side, pre, pat.pelvis_w)
    return {
        "generator": f"hipseg {__version__} synth",
        "coordinates": "mm at the hip plane from the centre of the top-left pixel; x = column × "
        "spacing (image right), y = row × spacing (down); spacing = detector spacing ÷ "
        "magnification",
        "spacing_mm": [spp, spp],
        "detector_spacing_mm": [sp, sp],
        "magnification": mag,
        "shape": [rows, cols],
        "patient_right_on": "image_left",
        "projection": None if proj is None else proj.truth(),
        "ball": _ball_truth(proj, ball, spp, sp),
        "hips": hips,
    }


def _ball_truth(proj: Projection | None, ball: dict | None, spp: float, sp: float) -> dict:
    """The calibration ball as placed (``present`` false: the radiograph has none)."""
    if proj is None or ball is None:
        return {"present": False, "planned": None if proj is None else (proj.ball or None)}
    mag = proj.magnification
    return {
        "present": True,
        "planned": proj.ball,
        "diameter_mm": proj.ball_diameter,
        "centre": [ball["col"] * spp, ball["row"] * spp],
        "centre_px": [ball["col"], ball["row"]],
        "projected_diameter_mm": proj.ball_diameter * mag,
        "projected_diameter_px": proj.ball_diameter * mag / sp,
        "placement": ball["placement"],
        "inside_field": ball["inside_field"],
        "overlaps_labels": ball["overlaps_labels"],
        "direct_beam_fraction": ball.get("direct_beam"),  # of its disc: outside the body
    }


def write_truth(path, record: dict, pre: dict) -> None:
    """Write the truth of one generated radiograph (``record``: one item of ``_radiographs``,
    with ``ball`` from rendering it)."""
    truth = radiograph_truth(record["patient"], record["pose"], record["spacing"],
                             record["field_mm"], pre, record.get("projection"),
                             record.get("ball"))  # fmt: skip
    write_json(path, {"id": record["id"], **truth})
