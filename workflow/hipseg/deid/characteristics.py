"""Coarse characteristics of a radiograph for the subgroup analysis, computed inside the
de-identification step: the patient's sex, an **age band** and the device (manufacturer and
model). They leave the step in the audit record (``characteristics``), which the subgroup
analysis (:mod:`hipseg.subgroups`) reads; nothing else of them does.

Only what the profile keeps is recorded: the sex where the de-identified image still carries
Patient's Sex (``deid.retain_patient_characteristics`` lists it), the device where it still
carries Manufacturer or Manufacturer's Model Name (the Basic Profile does not remove them), the
age band only where ``retain_patient_characteristics`` lists Patient's Age. The band is computed
here from Patient's Age, or, where the header has none, from the original birth date and the
study's date (read before the dates are shifted or removed, held in memory only); the exact age
and the dates are never written by this module. Bands are ``deid.age_bands`` (years, e.g.
``[50, 65, 80]`` → ``<50``, ``50–64``, ``65–79``, ``≥80``): the top band is open, so a very old
patient is never singled out by an exact age.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

# the fields, in the order the subgroup analysis shows them
FIELDS = ("sex", "age_band", "device")
SEXES = {"M": "male", "F": "female", "O": "other"}
MAX_TEXT = 64  # device names longer than this are cut (free text of the header)


def age_band(years: float, edges: Sequence[int]) -> str:
    """The band of ``years`` between the ``edges`` (whole years, increasing): ``<50``,
    ``50–64``, …, ``≥80``; one edge gives two bands."""
    edges = [int(e) for e in edges]
    if not edges:
        raise ValueError("no age band edges")
    if years < edges[0]:
        return f"<{edges[0]}"
    for low, high in zip(edges, edges[1:], strict=False):
        if years < high:
            return f"{low}–{high - 1}"
    return f"≥{edges[-1]}"


def _text(value) -> str:
    text = " ".join(str(value or "").split())
    return "".join(c for c in text if c.isprintable())[:MAX_TEXT]


def characteristics(original_age: float | None, output: Dataset, options) -> dict[str, str]:
    """The characteristics of one image: ``original_age`` is
    :func:`hipseg.intake.patient.age_years` of the original header (before the profile ran),
    ``output`` the de-identified dataset, ``options`` the
    profile's :class:`~hipseg.deid.options.Options`. Fields the profile does not keep, or the
    header lacks, are left out."""
    out: dict[str, str] = {}
    sex = str(output.get("PatientSex", "") or "").strip().upper()
    if sex in SEXES:
        out["sex"] = sex
    if "PatientAge" in options.retain_patient_characteristics and original_age is not None:
        out["age_band"] = age_band(original_age, options.age_bands)
    device = " ".join(
        t for t in (_text(output.get(k)) for k in ("Manufacturer", "ManufacturerModelName")) if t
    )
    if device:
        out["device"] = device
    return out
