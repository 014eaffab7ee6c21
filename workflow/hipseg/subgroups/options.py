"""The ``subgroups:`` section of the config (types, defaults and descriptions in the schema)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import HipsegError
from ..options import StageOptions

# the characteristics the de-identification may record (hipseg.deid.characteristics.FIELDS)
CHARACTERISTICS = ("sex", "age_band", "device")


@dataclass(frozen=True)
class SubgroupOptions(StageOptions):
    """The ``subgroups:`` section of the config."""

    SECTION: ClassVar[str] = "subgroups"
    columns: tuple[str, ...] = ()
    characteristics: tuple[str, ...] = CHARACTERISTICS
    side: bool = True
    spacing_bands_mm: tuple[float, ...] = ()
    min_patients: int = 3
    worst_cases: int = 1
    boundary_mm: float = 5.0
    head_offset: float = 0.5
    merge_fraction: float = 0.5

    def __post_init__(self):
        edges = [float(e) for e in self.spacing_bands_mm]
        if edges != sorted(set(edges)):
            raise HipsegError(
                f"subgroups.spacing_bands_mm: {edges} must be increasing (mm), e.g. [0.12, 0.16]"
            )
