"""Magnification calibration: millimetres at the hip plane instead of the detector's.

On an AP pelvis radiograph the hips are magnified by ``M = SID / SOD`` (source–detector over
source–object distance), about 1.1–1.25. ImagerPixelSpacing is the detector's; a length at the
hip plane is the detector length ÷ ``M``. The factor comes, by this precedence:

1. ``calibration_ball``: a calibration ball (a metal sphere of known diameter, placed at the
   height of the hip) found in the image (:func:`find_ball`): ``M`` = its fitted diameter in
   detector millimetres ÷ its known diameter (``segment.ball_diameter_mm``);
2. ``user_factor``: a factor given by the user (``segment.magnification``);
3. the header: ``header_factor`` (EstimatedRadiographicMagnificationFactor, which
   :mod:`hipseg.intake.spacing` already applies), ``header_distances``
   (DistanceSourceToDetector ÷ DistanceSourceToPatient), ``header_pixel_spacing`` (a
   PixelSpacing the modality calibrated);
4. ``uncalibrated``: the detector's millimetres (values still reported, marked as such).

With ``segment.calibration_ball: required`` a radiograph without a usable ball is an error
naming the file; a ball whose factor differs from the header's by more than
``segment.magnification_tolerance`` (relative) is a warning in the record, the run log and the
report. Every record carries the statement (:func:`calibrate`): the method, the factor, the
spacing the measurements used, the ball, the header's factor and the warnings.

The ball is found and measured by :mod:`.ball` (re-exported here: :func:`find_ball`,
:func:`ball_pixels`, :func:`ball_mask`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .ball import ball_mask, ball_pixels, find_ball

__all__ = ["CalibrationOptions", "ball_mask", "ball_pixels", "calibrate", "find_ball",
           "header_magnification", "spacing_of"]  # fmt: skip

METHODS = {
    "calibration_ball": "calibration ball found in the image",
    "user_factor": "magnification factor given by the user (segment.magnification)",
    "header_factor": "the header's EstimatedRadiographicMagnificationFactor",
    "header_distances": "the header's DistanceSourceToDetector ÷ DistanceSourceToPatient",
    "header_pixel_spacing": "the header's PixelSpacing, calibrated by the modality",
    "uncalibrated": "not calibrated: detector-plane millimetres",
}
CALIBRATED_METHODS = tuple(k for k in METHODS if k != "uncalibrated")


@dataclass(frozen=True)
class CalibrationOptions:
    ball: str = "auto"  # "auto", "required" or "none"
    ball_diameter_mm: float = 25.0
    magnification: float | None = None
    tolerance: float = 0.03


# --------------------------------------------------------------------------- the header
def header_magnification(ds, spacing) -> dict | None:
    """The header's magnification factor (relative to the detector), or None.

    ``spacing``: the intake's :class:`hipseg.intake.Spacing` (which already applied an
    EstimatedRadiographicMagnificationFactor or a calibrated PixelSpacing)."""
    if spacing.source == "imager_spacing_magnification_corrected":
        return {"method": "header_factor", "factor": float(spacing.factor),
                "detail": spacing.detail}  # fmt: skip
    if spacing.source == "pixel_spacing_calibrated":
        return {"method": "header_pixel_spacing", "factor": float(spacing.factor),
                "detail": spacing.detail}  # fmt: skip
    dsd, dsp = (_number(ds, k) for k in ("DistanceSourceToDetector", "DistanceSourceToPatient"))
    if dsd and dsp and 1.0 <= dsd / dsp <= 3.0:
        detail = f"DistanceSourceToDetector {dsd:g} ÷ DistanceSourceToPatient {dsp:g}"
        return {"method": "header_distances", "factor": dsd / dsp, "detail": detail}
    return None


def _number(ds, keyword: str) -> float | None:
    if ds is None or keyword not in ds:
        return None
    try:
        v = float(ds[keyword].value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


# --------------------------------------------------------------------------- the statement
def calibrate(
    path: str | Path, spacing, ds=None, ball: dict | None = None,
    options: CalibrationOptions | None = None, searched: bool = True,
) -> dict:  # fmt: skip
    """The calibration statement of one radiograph (see the module docstring).

    ``spacing``: the intake's spacing; ``ball``: :func:`find_ball`'s result on the image in that
    spacing (``searched`` False: not looked for); ``ds``: the header. Raises
    :class:`InputError` naming ``path`` if a ball is required and none was found."""
    opt = options or CalibrationOptions()
    sx, sy = spacing.xy
    f0 = float(spacing.factor)
    detector = [sx * f0, sy * f0]
    header = header_magnification(ds, spacing)
    _require_ball(path, ball, opt)
    ball_info = _ball_statement(ball, opt, f0, searched)
    method, factor = _magnification(ball_info, opt, header)
    used = [sx, sy] if factor is None else [d / factor for d in detector]
    disagreement, warnings = _disagreement(method, factor, header, opt)
    return {
        "method": method,
        "calibrated": method != "uncalibrated",
        "magnification": factor,
        "spacing_mm": [float(v) for v in used],
        "detector_spacing_mm": [float(v) for v in detector],
        "intake": {
            "source": spacing.source,
            "spacing_mm": [float(sx), float(sy)],
            "detail": spacing.detail,
        },  # fmt: skip
        "ball": ball_info,
        "user_factor": None if not opt.magnification else float(opt.magnification),
        "header": header,
        "disagreement": disagreement,
        "warnings": warnings,
        "note": _note(method, factor, used, spacing, ball_info),
    }


def _require_ball(path: str | Path, ball: dict | None, opt: CalibrationOptions) -> None:
    """With ``segment.calibration_ball: required``, a radiograph without a ball that can be
    measured (none found, or one partly outside the field) is an error naming the file."""
    if opt.ball == "required" and ball is None:
        raise InputError(path, "has no calibration ball that could be measured (segment."
                         "calibration_ball is required; a "
                         f"{opt.ball_diameter_mm:g} mm ball was looked for)")  # fmt: skip
    if opt.ball == "required" and ball is not None and ball["partial"]:
        raise InputError(path, "has a calibration ball partly outside the field, which cannot be "
                         "measured reliably (segment.calibration_ball is required)")  # fmt: skip


def _ball_statement(
    ball: dict | None, opt: CalibrationOptions, f0: float, searched: bool
) -> dict | None:
    """The statement's ``ball``: what was found and its magnification, whether it is used; None
    when no ball was looked for."""
    ball_info = None
    if ball is not None:
        m_ball = ball["diameter_mm"] * f0 / opt.ball_diameter_mm
        ball_info = {"found": True, "used": opt.ball != "none" and not ball["partial"],
                     "diameter_mm": opt.ball_diameter_mm,
                     "measured_diameter_mm": ball["diameter_mm"] * f0, "magnification": m_ball,
                     **{k: ball[k] for k in ("centre_px", "coverage", "partial",
                                             "residual_mm", "edge_points")}}  # fmt: skip
    elif searched:
        ball_info = {"found": False, "used": False, "diameter_mm": opt.ball_diameter_mm}
    return ball_info


def _magnification(
    ball_info: dict | None, opt: CalibrationOptions, header: dict | None
) -> tuple[str, float | None]:
    """The method and factor the measurements use, by the module docstring's precedence."""
    if ball_info is not None and ball_info["used"]:
        method, factor = "calibration_ball", ball_info["magnification"]
    elif opt.magnification:
        method, factor = "user_factor", float(opt.magnification)
    elif header is not None:
        method, factor = header["method"], header["factor"]
    else:
        method, factor = "uncalibrated", None
    return method, factor


def _disagreement(
    method: str, factor: float | None, header: dict | None, opt: CalibrationOptions
) -> tuple[dict | None, list[str]]:
    """The ball's factor against the header's (None unless both are there), and the warning
    when they are further apart than ``segment.magnification_tolerance``."""
    warnings = []
    disagreement = None
    if method == "calibration_ball" and header is not None:
        rel = factor / header["factor"] - 1.0
        disagreement = {"ball": factor, "header": header["factor"], "relative": rel,
                        "tolerance": opt.tolerance,
                        "exceeded": abs(rel) > opt.tolerance}  # fmt: skip
        if abs(rel) > opt.tolerance:
            warnings.append(
                f"the calibration ball gives a magnification of {factor:.3f}, "
                f"{METHODS[header['method']]} {header['factor']:.3f}: "
                f"{100 * rel:+.1f} % apart (tolerance {100 * opt.tolerance:g} %); the "
                "measurements use the ball"
            )
    return disagreement, warnings


def _note(method: str, factor: float | None, used, spacing, ball_info: dict | None) -> str:
    """The statement in words: the method, the factor and spacing, a ball that was not used."""
    note = METHODS[method]
    if factor is not None:
        note += f": magnification {factor:.4f}, spacing {used[0]:.4g} × {used[1]:.4g} mm"
    else:
        note += (f"; spacing {used[0]:.4g} × {used[1]:.4g} mm ({spacing.label}); distances "
                 "include the radiographic magnification (about 10–25 % on an AP pelvis "
                 "radiograph)")  # fmt: skip
    if ball_info and ball_info["found"] and ball_info["partial"]:
        note += ("; a calibration ball partly outside the field was not used "
                 f"({100 * ball_info['coverage']:.0f} % of its outline seen)")  # fmt: skip
    elif ball_info and ball_info["found"] and not ball_info["used"]:
        note += "; the calibration ball found was not used (segment.calibration_ball: none)"
    return note


def spacing_of(statement: dict) -> dict:
    """The record's ``spacing`` entry (the millimetres the measurements are in)."""
    return {"source": statement["method"], "spacing_mm": statement["spacing_mm"],
            "calibrated": statement["calibrated"], "note": statement["note"]}  # fmt: skip
