"""The patient's age at the examination, as a radiograph's header gives it: read by the gate
(:mod:`hipseg.gate.header`: children are not assessed) and by de-identification (its age band
for the subgroup analysis, :mod:`hipseg.deid.characteristics`). Neither writes the age."""

from __future__ import annotations

import datetime as dt
import re

from pydicom.dataset import Dataset

# Patient's Age (AS): nnnD, nnnW, nnnM or nnnY
_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_DAYS_PER = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}
# the date an age is counted to, first present wins
STUDY_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
# dates before this are the placeholders de-identifiers write (00010101, 19000101), not dates
FIRST_REAL_DATE = dt.date(1900, 1, 2)


def header_date(value) -> dt.date | None:
    """A DICOM date (or the date of a date-time) as a date; None when it is none, or a
    placeholder."""
    text = str(value or "").strip()
    try:
        d = dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None
    return d if d is not None and d >= FIRST_REAL_DATE else None


def age_years(ds: Dataset) -> float | None:
    """The patient's age in years at the study: Patient's Age (``038Y``, ``006M``, ``010W``,
    ``020D``), else the birth date to the first of the study's dates; None when the header
    does not say (or its dates make no sense)."""
    match = _AGE.match(str(ds.get("PatientAge", "") or ""))
    if match:
        return int(match.group(1)) * _DAYS_PER[match.group(2).upper()] / 365.25
    birth = header_date(ds.get("PatientBirthDate"))
    study = next((d for k in STUDY_DATES if (d := header_date(ds.get(k))) is not None), None)
    if birth is None or study is None or study < birth:
        return None
    return (study - birth).days / 365.25
