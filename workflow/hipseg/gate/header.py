"""The header gate: what a radiograph's DICOM header rules out before anything is computed.

Each rule gives a reason in words, never an identifying value (the patient's age is compared,
not written):

* **Modality** one of ``gate.modalities`` (``""``: absent);
* **an image**: Rows and Columns present (an SR, a presentation state or a SEG is not a film);
* **ViewPosition** one of ``gate.views`` (``""``: absent or empty, common in CR);
* **one side only**: ImageLaterality or Laterality R or L (hipseg needs both hips);
* **BodyPartExamined**, when the header names one, one of ``gate.body_parts`` (CR exports
  often leave it empty; add your site's own terms, e.g. ``BECKEN``);
* **age**: PatientAge, or PatientBirthDate and the study's date, when the header gives them,
  at least ``gate.min_age_years`` (the labels and measurements are adult anatomy);
* **colour**: an RGB, YBR or palette image unless ``crop.colour: luminance``;
* **a possible size**: a pixel spacing (PixelSpacing, ImagerPixelSpacing, …, or
  ``crop.fallback_spacing``) that is present, positive and makes both sides of the film between
  ``gate.field_mm`` (an AP pelvis film is 25–45 cm; a spacing off by a factor of ten is not).

Joint images (a sheet's already cropped hips) are checked for the same except one side only
and the film's size.
"""

from __future__ import annotations

from pathlib import Path

import pydicom

from ..errors import InputError
from ..intake.patient import age_years
from . import GateOptions, refuse

COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = "\\".join(str(v) for v in value)
    return str(value or "").strip().upper()


def _allowed(keyword: str, value: str, allowed, key: str) -> str:
    accepted = {str(v).strip().upper() for v in allowed}
    if value in accepted:
        return ""
    shown = ", ".join(v or "absent" for v in sorted(accepted))
    return f"{keyword} is {value or 'absent'}, not one of gate.{key} ({shown})"


def reasons(ds: pydicom.Dataset, path: str | Path, options: GateOptions, *,
            level: str = "radiograph", colour: str = "error",
            fallback_spacing=None) -> list[str]:  # fmt: skip
    """Every reason the header gives to refuse the film ([] when it passes)."""
    from ..intake.geometry import one_side
    from ..intake.spacing import pixel_spacing

    found = [
        _allowed("Modality", _text(ds, "Modality"), options.modalities, "modalities"),
        _allowed("ViewPosition", _text(ds, "ViewPosition"), options.views, "views"),
    ]
    if "Rows" not in ds or "Columns" not in ds:
        found.append(f"not an image (SOP class {ds.get('SOPClassUID', 'unknown')}: no Rows "
                     "and Columns)")  # fmt: skip
    body = _text(ds, "BodyPartExamined")
    if body:
        found.append(_allowed("BodyPartExamined", body, options.body_parts, "body_parts"))
    if level == "radiograph":
        found.append(one_side(ds))
    age = age_years(ds)
    if age is not None and age < float(options.min_age_years):
        found.append(f"patient younger than {options.min_age_years:g} years (gate.min_age_years): "
                     "the labels and measurements are adult anatomy")  # fmt: skip
    photometric = _text(ds, "PhotometricInterpretation")
    if colour == "error" and (photometric in COLOUR or int(ds.get("SamplesPerPixel", 1)) > 1):
        found.append(f"a colour image ({photometric or 'SamplesPerPixel > 1'}); set "
                     "crop.colour: luminance to take its luminance")  # fmt: skip
    if "Rows" in ds and "Columns" in ds:
        try:
            spacing = pixel_spacing(ds, path, fallback_spacing)
        except InputError as exc:
            found.append(exc.problem)
        else:
            found.append(_size(ds, spacing, options) if level == "radiograph" else "")
    return [r for r in found if r]


def _size(ds: pydicom.Dataset, spacing, options: GateOptions) -> str:
    low, high = (float(v) for v in options.field_mm)
    rows, cols = int(ds.Rows), int(ds.Columns)
    height, width = rows * spacing.row, cols * spacing.col
    if low <= min(height, width) and max(height, width) <= high:
        return ""
    return (f"{cols} × {rows} pixels at {spacing.col:g} × {spacing.row:g} mm ({spacing.label}) "
            f"is a film of {width:.0f} × {height:.0f} mm: impossible for an AP pelvis radiograph "
            f"(each side between {low:g} and {high:g} mm, gate.field_mm)")  # fmt: skip


def check(ds: pydicom.Dataset, path: str | Path, options: GateOptions, **kwargs) -> None:
    """:func:`reasons`, raised as :class:`hipseg.gate.NotAssessable` when there are any."""
    refuse(path, reasons(ds, path, options, **kwargs), "header")
