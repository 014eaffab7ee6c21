"""The radiograph as the objects made from it reference it: thin headers taken as they are.

The SEG (:mod:`hipseg.dicomseg`), the SR (:mod:`hipseg.clinical.sr`), the presentation state and
the Secondary Capture (:mod:`hipseg.clinical.pr`) copy the source's patient and study (a result
belongs in the patient's record) and say how their pixels lie. Hospital exports and
de-identification tools leave attributes out or empty that DICOM allows to be empty, so
:func:`reference` gives the builders a copy of the header in which

* every Type 2 attribute of the Patient and General Study modules (PS3.3 C.7.1.1 and C.7.2.1:
  PatientName, PatientID, PatientBirthDate, PatientSex; StudyDate, StudyTime,
  ReferringPhysicianName, StudyID, AccessionNumber) that is absent is present and empty, which
  is DICOM's "unknown": the results say no more than the radiograph did;
* an absent or empty PatientOrientation (General Image, PS3.3 C.7.6.1, Type 2C) is derived from
  the orientation the intake assumed (:mod:`hipseg.intake.geometry`): an AP view with the
  patient's right on the image left (``crop.patient_right_on: image_left``) and the feet at the
  bottom is ``L\\F`` (``R\\F`` with the right on the image right). The measurements are made in
  that orientation, so the results state the assumption they rest on; :attr:`Reference.notes`
  says what was derived or left empty (``run.json``, the log, the SEG's ImageComments);
* the Patient module's animal attributes (breed, breed registration, responsible person and
  organisation, neutered: Type 2C, required only for an animal, PS3.3 C.7.1.1), where present
  but empty in the radiograph of a patient without a species, are left out: copied empty, they
  would make the results describe an animal without a species (dciodvfy: errors).

:func:`series_body_part` gives the derived series' BodyPartExamined and Laterality (General
Series, Type 3 and Type 2C): the body part as the radiograph names it; Laterality (R or L only)
absent for an unpaired body part (PELVIS), empty for a paired or unknown one (an AP pelvis
radiograph shows both hips).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pydicom

PATIENT = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
STUDY = ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")
# unpaired body parts (PS3.16 CID 4031) an AP pelvis radiograph may be filed under: no Laterality
UNPAIRED = frozenset(
    {"PELVIS", "ABDOMEN", "ABDOMENPELVIS", "LSSPINE", "LSPINE", "SSPINE", "SPINE", "SACRUM",
     "COCCYX", "WHOLEBODY", "BLADDER", "PROSTATE", "UTERUS", "RECTUM"}
)  # fmt: skip
# required only when the patient is an animal (PatientSpecies…; PS3.3 C.7.1.1 and C.7.2.2)
SPECIES = ("PatientSpeciesDescription", "PatientSpeciesCodeSequence")
ANIMAL = (
    *SPECIES, "PatientBreedDescription", "PatientBreedCodeSequence", "BreedRegistrationSequence",
    "ResponsiblePerson", "ResponsiblePersonRole", "ResponsibleOrganization", "PatientSexNeutered",
)  # fmt: skip
PIXEL_DATA = 0x7FE00010


@dataclass(frozen=True)
class Reference:
    """The header the derived objects are made from, and what was derived or left empty."""

    dataset: pydicom.Dataset
    notes: tuple[str, ...] = ()


def values(ds: pydicom.Dataset, keyword: str) -> list[str]:
    """An attribute's values as stripped strings ([] when absent or empty)."""
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value).strip()] if str(value).strip() else []


def derived_orientation(patient_right_on: str = "image_left") -> tuple[str, str]:
    """PatientOrientation (row direction, column direction) of an AP view as the intake assumes
    it: moving right across the image goes to the patient's left when the right is on the image
    left; moving down goes to the feet."""
    return ("L" if patient_right_on == "image_left" else "R"), "F"


def reference(source: pydicom.Dataset, patient_right_on: str = "image_left") -> Reference:
    """``source`` with its thin parts made whole (see the module docstring); ``source`` itself
    when nothing is missing. ``patient_right_on``: the crop's ``patient_right_on``, which the
    intake assumed when PatientOrientation is absent or empty."""
    missing = [kw for kw in (*PATIENT, *STUDY) if kw not in source]
    derive = not values(source, "PatientOrientation")
    animal = any(_given(source, kw) for kw in SPECIES)
    drop = [] if animal else [kw for kw in ANIMAL if kw in source and not _given(source, kw)]
    if not missing and not derive and not drop:
        return Reference(source)
    ds = pydicom.Dataset()
    for elem in source:
        if elem.tag != PIXEL_DATA:
            ds.add(copy.deepcopy(elem))
    if getattr(source, "file_meta", None) is not None:
        ds.file_meta = copy.deepcopy(source.file_meta)
    notes = []
    for kw in missing:
        setattr(ds, kw, "")
    for kw in drop:
        del ds[kw]
    if drop:
        notes.append(f"empty in the radiograph of a patient without a species, left out of the "
                     f"results (DICOM: for animals only): {', '.join(drop)}")  # fmt: skip
    if missing:
        notes.append(f"absent from the radiograph, empty in the results (DICOM Type 2: "
                     f"unknown): {', '.join(missing)}")  # fmt: skip
    if derive:
        row, col = derived_orientation(patient_right_on)
        ds.PatientOrientation = [row, col]
        state = "empty" if "PatientOrientation" in source else "absent"
        side = patient_right_on.replace("image_", "image ")
        notes.append(f"PatientOrientation {state} in the radiograph: {row}\\{col} derived for "
                     f"the results (an AP view with the patient's right on the {side} and the "
                     "feet down, as the intake assumed)")  # fmt: skip
    return Reference(ds, tuple(notes))


def _given(ds: pydicom.Dataset, keyword: str) -> bool:
    """Present with a value (a sequence with an item)."""
    value = ds.get(keyword)
    if value is None or isinstance(value, (str, pydicom.valuerep.PersonName)):
        return bool(str(value or "").strip())
    try:
        return len(value) > 0
    except TypeError:  # a number
        return True


def series_body_part(source: pydicom.Dataset, unknown_laterality: bool = True) -> dict[str, str]:
    """BodyPartExamined and Laterality of a series derived from ``source`` (see the module
    docstring): {keyword: value}, a keyword left out where the attribute stays absent.
    ``unknown_laterality`` False: no empty Laterality (a SEG: dciodvfy wants none there)."""
    part = " ".join(values(source, "BodyPartExamined"))
    out = {"BodyPartExamined": part} if part else {}
    side = "".join(values(source, "Laterality")).upper()
    if side in ("R", "L"):
        out["Laterality"] = side
    elif part.upper() not in UNPAIRED and unknown_laterality:
        out["Laterality"] = ""  # a paired or unknown body part, both sides shown: unknown
    return out


def set_series_body_part(
    target: pydicom.Dataset, source: pydicom.Dataset, unknown_laterality: bool = True
) -> None:
    """Give a derived object the body part and laterality of :func:`series_body_part`."""
    for keyword, value in series_body_part(source, unknown_laterality).items():
        setattr(target, keyword, value)
