"""Pixel spacing of a projection radiograph, and where it came from.

Precedence (DICOM PS3.3 §10.7.1: Pixel Spacing is in the patient plane, Imager Pixel Spacing at
the detector):

1. **PixelSpacing, calibrated**: PixelSpacingCalibrationType is given, or PixelSpacing differs
   from ImagerPixelSpacing / NominalScannedPixelSpacing (the standard's sign that the modality
   corrected or calibrated it);
2. **ImagerPixelSpacing ÷ EstimatedRadiographicMagnificationFactor**, when the factor is given;
3. **ImagerPixelSpacing, detector plane, uncorrected** (a PixelSpacing equal to it is the same);
4. **PixelSpacing, calibration unknown**: PixelSpacing without ImagerPixelSpacing (older CR);
5. **the configured fallback** (``crop.fallback_spacing``);
6. else an error.

Each attribute is looked up in the dataset, then in the first item of the Shared and then the
Per-frame Functional Groups (Pixel Measures, Frame Pixel Data Properties, …): some exports carry
it only there. A present but unusable value (not two positive numbers) is an error, never
skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pydicom

from ..errors import InputError

# Source keys → the wording of the dataset summary and the report
SOURCES = {
    "pixel_spacing_calibrated": "PixelSpacing (calibrated)",
    "imager_spacing_magnification_corrected": (
        "ImagerPixelSpacing ÷ EstimatedRadiographicMagnificationFactor"
    ),
    "imager_spacing_uncorrected": "ImagerPixelSpacing (detector plane, uncorrected)",
    "pixel_spacing_unknown_calibration": "PixelSpacing (calibration unknown)",
    "fallback": "configured fallback (crop.fallback_spacing)",
}
_GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")


@dataclass(frozen=True)
class Spacing:
    row: float  # mm between rows (vertical)
    col: float  # mm between columns (horizontal)
    source: str  # a key of SOURCES
    detail: str  # which attributes, where, and the factor applied
    # the detector spacing is this many times the spacing: the magnification factor applied
    # (EstimatedRadiographicMagnificationFactor; ImagerPixelSpacing ÷ a calibrated
    # PixelSpacing), 1 where the spacing is the detector's or unknown
    factor: float = 1.0

    @property
    def xy(self) -> tuple[float, float]:
        """(x, y) = (column spacing, row spacing), the order of image writers."""
        return self.col, self.row

    @property
    def label(self) -> str:
        return SOURCES[self.source]


def _find(ds: pydicom.Dataset, keyword: str):
    """(value, where) of an attribute in the dataset or the first functional-group item."""
    if keyword in ds and ds[keyword].value not in (None, "", b""):
        return ds[keyword].value, keyword
    for group in _GROUPS:
        items = ds.get(group) or []
        if not items:
            continue
        for elem in items[0]:
            if elem.VR != "SQ" or not elem.value:
                continue
            item = elem.value[0]
            if keyword in item and item[keyword].value not in (None, "", b""):
                return item[keyword].value, f"{group}>{elem.keyword}>{keyword}"
    return None, ""


def _pair(value, where: str, path: Path) -> tuple[float, float]:
    items = list(value) if _is_multi(value) else [value]
    try:
        values = [float(v) for v in items]
    except (TypeError, ValueError):
        values = []
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        shown = "\\".join(str(v) for v in items)
        raise InputError(
            path, f"{where} is '{shown}': pixel spacing must be two positive numbers (mm)"
        )
    return values[0], values[1]


def _is_multi(value) -> bool:
    return isinstance(value, (list, tuple, pydicom.multival.MultiValue))


def pixel_spacing(
    ds: pydicom.Dataset, path: str | Path, fallback: tuple[float, float] | None = None
) -> Spacing:
    """The spacing by the precedence above; ``fallback`` is (row, column) mm or None."""
    path = Path(path)
    found = {}
    for kw in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        value, where = _find(ds, kw)
        if value is not None:
            found[kw] = (_pair(value, where, path), where)
    calibration = str(_find(ds, "PixelSpacingCalibrationType")[0] or "").strip()
    factor, factor_where = _find(ds, "EstimatedRadiographicMagnificationFactor")
    detector = found.get("ImagerPixelSpacing") or found.get("NominalScannedPixelSpacing")

    if "PixelSpacing" in found:
        (row, col), where = found["PixelSpacing"]
        if calibration or (detector and not _same((row, col), detector[0])):
            why = (
                f"PixelSpacingCalibrationType {calibration}"
                if calibration
                else f"differs from {detector[1]}"
            )
            ratio = 1.0 if not detector else 0.5 * (detector[0][0] / row + detector[0][1] / col)
            return Spacing(row, col, "pixel_spacing_calibrated", f"{where} ({why})", ratio)
    if detector:
        (row, col), where = detector
        if factor is not None:
            m = _factor(factor, factor_where, path)
            return Spacing(
                row / m,
                col / m,
                "imager_spacing_magnification_corrected",
                f"{where} ÷ {factor_where} {m:g}",
                m,
            )
        return Spacing(row, col, "imager_spacing_uncorrected", f"{where} (detector plane)")
    if "PixelSpacing" in found:
        (row, col), where = found["PixelSpacing"]
        return Spacing(row, col, "pixel_spacing_unknown_calibration", where)
    if fallback is not None:
        return Spacing(float(fallback[0]), float(fallback[1]), "fallback", "crop.fallback_spacing")
    raise InputError(
        path,
        "has no pixel spacing (neither PixelSpacing nor ImagerPixelSpacing, also not in its "
        "functional groups): its physical size is unknown; set crop.fallback_spacing "
        "[row, column] in mm if you know it",
    )


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-4) for x, y in zip(a, b, strict=True))


def _factor(value, where: str, path: Path) -> float:
    try:
        m = float(value[0] if _is_multi(value) else value)
    except (TypeError, ValueError, IndexError):
        m = float("nan")
    if not (math.isfinite(m) and 1.0 <= m <= 3.0):
        raise InputError(
            path,
            f"{where} is '{value}': a radiographic magnification factor lies between 1 and 3",
        )
    return m
