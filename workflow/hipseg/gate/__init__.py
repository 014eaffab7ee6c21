"""Which films hipseg answers for: one gate for ``hipseg segment``, ``hipseg listen`` and the
workflow's intake.

hipseg's models and measurements know one thing: adult AP pelvis radiographs with both hips.
A film that is something else gets no labels and no millimetres, only the reason why: it is
**not assessable**. Two checks decide it, both configured in the ``gate:`` section:

* **the header gate** (:mod:`.header`), before anything is computed: the modality, the view,
  one side only (ImageLaterality/Laterality R or L), the body part when the header names one,
  the patient's age when the header gives it (PatientAge, or PatientBirthDate and the study's
  date), colour images, and a pixel spacing that makes the film a physically possible size;
* **the content check** (:mod:`.content`), after the prediction, for films whose headers say
  nothing: the label map must look like two adult hips — the femur, its neck and cortex and the
  pelvis present and in one piece, every label in its anatomical place relative to the others,
  the femoral heads of adult size, both hips at a plausible distance and height, and at least
  one hip to assess.

What the header gate refuses, the workflow's intake refuses too (a named error of the
radiograph's de-identification job, before any crop); the content check needs a trained model
and runs where one predicts (``hipseg segment``, ``hipseg listen``, the workflow's test-set
segmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..errors import HipsegError
from ..options import StageOptions

NOT_ASSESSABLE_OUTPUTS = ("nothing", "report")


@dataclass(frozen=True)
class GateOptions(StageOptions):
    """The ``gate:`` section (types, defaults and descriptions in the config schema)."""

    SECTION: ClassVar[str] = "gate"
    modalities: tuple = ("CR", "DX", "")
    views: tuple = ("AP", "")
    body_parts: tuple = ("PELVIS", "HIP", "HIPS", "")
    min_age_years: float = 18.0
    field_mm: tuple = (150.0, 700.0)
    content: bool = True
    min_head_diameter_mm: float = 34.0
    max_head_diameter_mm: float = 75.0
    head_distance_mm: tuple = (120.0, 300.0)
    max_head_height_difference_mm: float = 40.0
    min_main_part: float = 0.6
    not_assessable: str = "nothing"

    def __post_init__(self):
        if self.not_assessable not in NOT_ASSESSABLE_OUTPUTS:
            allowed = ", ".join(NOT_ASSESSABLE_OUTPUTS)
            raise HipsegError(f"gate.not_assessable must be one of {allowed}, not "
                              f"{self.not_assessable!r}")  # fmt: skip
        low, high = (float(v) for v in self.field_mm)
        if not 0 < low < high:
            raise HipsegError(f"gate.field_mm: {list(self.field_mm)} is not [min, max] mm")


class NotAssessable(HipsegError):
    """A film hipseg does not answer for: the reasons, and which check said so (``header`` or
    ``content``)."""

    def __init__(self, path: str | Path, reasons: list[str], check: str = "header",
                 details: dict | None = None):  # fmt: skip
        self.path, self.reasons, self.check = str(path), list(reasons), check
        self.details = dict(details or {})
        super().__init__(f"{path}: not assessable: {'; '.join(self.reasons)}")

    def __reduce__(self):  # picklable (the node's worker process sends it back)
        return (NotAssessable, (self.path, self.reasons, self.check, self.details))


def refuse(path: str | Path, reasons: list[str], check: str, details: dict | None = None):
    """Raise :class:`NotAssessable` when there are reasons."""
    if reasons:
        raise NotAssessable(str(path), list(reasons), check, dict(details or {}))
