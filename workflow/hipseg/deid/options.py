"""The profile's options (``deid:`` in the config) and how they are declared in the output
(De-identification Method and its Code Sequence, CID 7050)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from ..errors import HipsegError
from ..options import StageOptions
from .table import (
    DEFAULT_PATIENT_CHARACTERISTICS,
    DEVICE_IDENTITY,
    PATIENT_CHARACTERISTICS,
    TABLE_EDITION,
)

# Detectors of burned-in text (hipseg.deid.textfind, hipseg.deid.ocr) and what happens to it.
DETECTORS = ("values", "strokes", "ocr")
# hipseg's own two: measured, OCR added no recall and blanked anatomy (README, De-identification)
DEFAULT_DETECTORS = ("values", "strokes")
ON_BURNED_IN = ("redact", "flag", "error")


@dataclass(frozen=True)
class Options(StageOptions):
    """The profile's options (``deid:`` in config/config.yaml; types and defaults in the schema)."""

    SECTION: ClassVar[str] = "deid"
    use_demo_key: bool = False  # which key, not how: not part of the profile description
    retain_longitudinal: bool = True
    retain_patient_characteristics: tuple[str, ...] = DEFAULT_PATIENT_CHARACTERISTICS
    retain_device_identity: bool = False
    keep_private: tuple[str, ...] = ()  # "GGGG,EE,Private Creator" (vetted allow-list)
    blank_regions: tuple[tuple[float, float, float, float], ...] = ()  # x0, y0, x1, y1 fractions
    on_burned_in: str = "redact"  # "redact", "flag" or "error"
    text_detectors: tuple[str, ...] = DEFAULT_DETECTORS
    # age bands of the subgroup analysis (hipseg.deid.characteristics), edges in years
    age_bands: tuple[int, ...] = (50, 65, 80)
    _private: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        unknown = set(self.retain_patient_characteristics) - set(PATIENT_CHARACTERISTICS)
        if unknown:
            raise HipsegError(
                f"deid.retain_patient_characteristics: {sorted(unknown)} are not patient "
                f"characteristics of the profile (allowed: {', '.join(PATIENT_CHARACTERISTICS)})"
            )
        if self.on_burned_in not in ON_BURNED_IN:
            raise HipsegError(
                f"deid.on_burned_in must be one of {', '.join(ON_BURNED_IN)}, "
                f"not {self.on_burned_in!r}"
            )
        unknown = set(self.text_detectors) - set(DETECTORS)
        if unknown:
            raise HipsegError(
                f"deid.text_detectors: {sorted(unknown)} are not text detectors "
                f"(known: {', '.join(DETECTORS)})"
            )
        edges = [int(e) for e in self.age_bands]
        if not edges or edges != sorted(set(edges)) or edges[0] < 1:
            raise HipsegError(
                f"deid.age_bands: {list(self.age_bands)} must be increasing whole years "
                "(at least one, each at least 1), e.g. [50, 65, 80]"
            )
        for region in self.blank_regions:
            x0, y0, x1, y1 = (float(v) for v in region)
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise HipsegError(
                    f"deid.blank_regions: {list(region)} is not [x0, y0, x1, y1] with "
                    "0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1 (fractions of width and height)"
                )
        for entry in self.keep_private:
            parts = str(entry).split(",", 2)
            try:
                group, offset = int(parts[0], 16), int(parts[1], 16)
                creator = parts[2].strip()
            except (IndexError, ValueError):
                creator, group, offset = "", 0, -1
            if not (group % 2 == 1 and 0 <= offset <= 0xFF and creator):
                raise HipsegError(
                    f"deid.keep_private: {entry!r} is not 'GGGG,EE,Private Creator' "
                    "(odd group, element offset 00–FF, creator name)"
                )
            self._private[(group, creator)] = self._private.get((group, creator), set()) | {offset}

    def keeps(self, tag: int) -> bool:
        """Whether an option retains this (table) attribute."""
        keyword = keyword_for_tag(tag)
        if keyword in self.retain_patient_characteristics:
            return True
        return self.retain_device_identity and keyword in DEVICE_IDENTITY

    def code_items(self, cleaned: bool = False) -> list[Dataset]:
        """De-identification Method Code Sequence (CID 7050) items; ``cleaned``: pixels of this
        image were blanked (Clean Pixel Data Option)."""
        chosen = [codes.DCM.BasicApplicationConfidentialityProfile]
        if self.retain_longitudinal:
            chosen.append(codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption)
        if self.retain_patient_characteristics:
            chosen.append(codes.DCM.RetainPatientCharacteristicsOption)
        if self.retain_device_identity:
            chosen.append(codes.DCM.RetainDeviceIdentityOption)
        if self.keep_private:
            chosen.append(codes.DCM.RetainSafePrivateOption)
        if cleaned:
            chosen.append(codes.DCM.CleanPixelDataOption)
        items = []
        for c in chosen:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator = c.value, c.scheme_designator
            item.CodeMeaning = c.meaning
            items.append(item)
        return items

    def describe(self) -> dict:
        d = asdict(self)
        d.pop("_private")
        d.pop("use_demo_key")
        d["retain_patient_characteristics"] = list(self.retain_patient_characteristics)
        d["keep_private"] = list(self.keep_private)
        d["blank_regions"] = [list(r) for r in self.blank_regions]
        d["text_detectors"] = list(self.text_detectors)
        d["age_bands"] = list(self.age_bands)
        return d


def method_values(options: Options, burned: dict | None = None) -> list[str]:
    """De-identification Method values; ``burned``: the image's burned-in record."""
    burned = burned or {}
    values = [f"PS3.15 {TABLE_EDITION} E.1-1 Basic Profile (hipseg)"]
    if options.retain_longitudinal:
        values.append("Retain Longitudinal Temporal Modified Dates")
    if options.retain_patient_characteristics:
        values.append("Retain Patient Characteristics")
    if options.retain_device_identity:
        values.append("Retain Device Identity")
    if options.keep_private:
        values.append("Retain Safe Private (allow-list)")
    if burned.get("blanked_regions"):
        values.append("Clean Pixel Data (blanked regions)")
    if burned.get("redacted"):
        values.append("Clean Pixel Data (burned-in text redacted)")
    return values
