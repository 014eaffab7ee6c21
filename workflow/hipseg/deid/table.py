"""The profile table: PS3.15 Table E.1-1 (Basic Application Level Confidentiality Profile),
the action per attribute, as data from the maintained package ``dicom-anonymizer`` (its
``dicomfields_2026c`` table); the attributes of the Retain Patient Characteristics and Retain
Device Identity options; the UIDs that name classes, never instances."""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import version as _pkg_version

from pydicom.datadict import tag_for_keyword

TABLE_PACKAGE = "dicom-anonymizer"
TABLE_MODULE = "dicomfields_2026c"
TABLE_EDITION = "2026c"
TABLE_NAME = (
    f"DICOM PS3.15 {TABLE_EDITION} Table E.1-1, Basic Application Level Confidentiality Profile"
)
# dicom-anonymizer's category lists → the action codes of Table E.1-1
_CATEGORIES = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}


def _load_table() -> tuple[dict[int, str], list[tuple[int, int, int, int, str]]]:
    module = import_module(f"dicomanonymizer.dicom_anonymization_databases.{TABLE_MODULE}")
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []  # (group, element, gmask, emask, action)
    for name, action in _CATEGORIES.items():
        for entry in getattr(module, name):
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = action
            else:  # repeating groups (50xx,xxxx), (60xx,3000), (60xx,4000)
                masked.append((*entry, action))
    return exact, masked


TABLE, TABLE_MASKED = _load_table()
TABLE_SIZE = len(TABLE) + len(TABLE_MASKED)
TABLE_SOURCE = f"{TABLE_PACKAGE} {_pkg_version(TABLE_PACKAGE)} ({TABLE_MODULE})"

# Attributes of the Retain Patient Characteristics option (PS3.15 Table E.1-1, column "Rtn. Pat.
# Chars. Opt."); which of them are kept is configurable.
PATIENT_CHARACTERISTICS = (
    "PatientAge",
    "PatientSex",
    "PatientSize",
    "PatientWeight",
    "PatientSexNeutered",
    "EthnicGroup",
    "SmokingStatus",
    "PregnancyStatus",
    "Allergies",
    "MedicalAlerts",
    "SpecialNeeds",
    "PatientState",
)
DEFAULT_PATIENT_CHARACTERISTICS = ("PatientAge", "PatientSex", "PatientSize", "PatientWeight")
# Attributes of the Retain Device Identity option (column "Rtn. Dev. Id. Opt.").
DEVICE_IDENTITY = (
    "DeviceSerialNumber",
    "StationName",
    "DetectorID",
    "DeviceUID",
    "PlateID",
    "CassetteID",
    "GantryID",
    "GeneratorID",
    "XRayDetectorID",
    "XRaySourceID",
    "DeviceLabel",
    "SourceSerialNumber",
    "PerformedStationAETitle",
)
# Never retained by the longitudinal option: the birth date identifies (Patient's Age is a
# patient characteristic instead).
NEVER_SHIFTED = {tag_for_keyword("PatientBirthDate"), tag_for_keyword("PatientBirthTime")}
# UIDs that name a class, a syntax or a coding scheme, never an instance: kept.
CLASS_UIDS = {
    tag_for_keyword(k)
    for k in (
        "SOPClassUID",
        "ReferencedSOPClassUID",
        "MediaStorageSOPClassUID",
        "ReferencedSOPClassUIDInFile",
        "TransferSyntaxUID",
        "ReferencedTransferSyntaxUIDInFile",
        "CodingSchemeUID",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
        "AffectedSOPClassUID",
        "RequestedSOPClassUID",
        "SOPClassesInStudy",
    )
}


def option_attributes_missing_from_table() -> list[str]:
    """Keywords named by the options that the profile table lacks (none in a sound install)."""
    return [
        k for k in (*PATIENT_CHARACTERISTICS, *DEVICE_IDENTITY) if tag_for_keyword(k) not in TABLE
    ]


def tag_str(tag) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def table_action(tag: int) -> str | None:
    """The table's action code for a tag (repeating groups included), None if it is not named."""
    action = TABLE.get(tag)
    if action is None:
        group, elem = tag >> 16, tag & 0xFFFF
        for g, e, gm, em, a in TABLE_MASKED:
            if group & gm == g and elem & em == e:
                return a
    return action
