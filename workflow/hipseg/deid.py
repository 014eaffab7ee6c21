"""De-identification of radiographs (basic; the full PS3.15 Annex E profile is a later stage).

What it does, per file, never touching the original:

* the patient's name and ID become a keyed pseudonym (HMAC-SHA256 of the sample sheet's
  ``patient`` value), identical in every run and every process for the same key;
* every non-standard UID (Study, Series, SOP Instance, Frame of Reference and references to
  them, in nested sequences too) is replaced by ``2.25.<int>`` derived from the same key, so
  references stay consistent;
* dates are shifted by a per-patient offset derived from the key (intervals between a patient's
  studies are kept), birth date and identifying attributes of people, institutions and devices
  are removed, all private tags are removed;
* Patient Identity Removed = YES and De-identification Method are set.

The key comes from ``HIPSEG_DEID_KEY`` or the file named by ``HIPSEG_DEID_KEY_FILE``, never from
the config or logs. The synthetic demo uses :data:`DEMO_KEY`, and says so in the report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections import Counter
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from .dicomio import read_dataset
from .errors import HipsegError, InputError
from .io import atomic_path, write_json

DEMO_KEY = b"hipseg-demo-key--synthetic-data-only"
KEY_ENV = "HIPSEG_DEID_KEY"
KEY_FILE_ENV = "HIPSEG_DEID_KEY_FILE"
METHOD = "hipseg basic: keyed pseudonyms, 2.25 UIDs, shifted dates"

# Attributes removed outright (keywords).
REMOVE = [
    "PatientBirthDate",
    "PatientBirthTime",
    "OtherPatientIDs",
    "OtherPatientNames",
    "OtherPatientIDsSequence",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "MilitaryRank",
    "EthnicGroup",
    "Occupation",
    "AdditionalPatientHistory",
    "PatientComments",
    "MedicalRecordLocator",
    "ReferencedPatientSequence",
    "PatientBirthName",
    "ResponsiblePerson",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "InstitutionCodeSequence",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "PhysiciansOfRecord",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "OperatorsName",
    "RequestingPhysician",
    "ScheduledPerformingPhysicianName",
    "StationName",
    "DeviceSerialNumber",
    "PlateID",
    "CassetteID",
    "DetectorID",
    "AccessionNumber",
    "StudyID",
    "RequestAttributesSequence",
    "StudyDescription",
    "PerformedProcedureStepID",
    "ScheduledProcedureStepID",
    "IssuerOfPatientID",
    "ImageComments",
    "RequestedProcedureID",
    "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest",
    "AdmissionID",
    "CurrentPatientLocation",
]
DATE_VRS = ("DA",)
DATETIME_VRS = ("DT",)


def load_key(use_demo_key: bool) -> tuple[bytes, str]:
    """Return (key, source). ``source`` is ``demo``, ``env`` or ``file`` (never the key itself)."""
    if use_demo_key:
        return DEMO_KEY, "demo"
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode(), "env"
    if os.environ.get(KEY_FILE_ENV):
        path = Path(os.environ[KEY_FILE_ENV])
        if not path.is_file():
            raise InputError(path, f"de-identification key file (from ${KEY_FILE_ENV}) not found")
        key = path.read_bytes().strip()
        if len(key) < 16:
            raise InputError(path, "de-identification key is shorter than 16 bytes")
        return key, "file"
    raise HipsegError(
        f"no de-identification key: set ${KEY_ENV} or ${KEY_FILE_ENV} (a file outside the "
        "repository); only the synthetic demo may use the built-in demo key (deid.use_demo_key)"
    )


def _digest(key: bytes, kind: str, value: str) -> bytes:
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, patient: str) -> str:
    return "P" + _digest(key, "patient", patient).hex()[:10].upper()


def pseudo_uid(key: bytes, uid: str) -> str:
    return "2.25." + str(int.from_bytes(_digest(key, "uid", uid)[:16], "big"))


def date_shift_days(key: bytes, patient: str) -> int:
    """A per-patient shift between −3650 and −365 days."""
    return -365 - int.from_bytes(_digest(key, "dateshift", patient)[:4], "big") % 3286


def _shift_date(value: str, days: int) -> str:
    try:
        d = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (d + dt.timedelta(days=days)).strftime("%Y%m%d")


def _walk(ds: Dataset, key: bytes, shift: int, actions: dict[str, str]) -> None:
    for elem in list(ds):
        if elem.tag.is_private:
            del ds[elem.tag]
            actions[_name(elem)] = "removed (private)"
            continue
        if elem.VR == "SQ":
            for item in elem.value:
                _walk(item, key, shift, actions)
            continue
        if elem.keyword in REMOVE:
            del ds[elem.tag]
            actions[elem.keyword] = "removed"
        elif elem.VR == "UI" and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            if any(not str(v).startswith("1.2.840.10008.") for v in values):
                new = [
                    v if str(v).startswith("1.2.840.10008.") else pseudo_uid(key, str(v))
                    for v in values
                ]
                elem.value = new if elem.VM > 1 else new[0]
                actions[elem.keyword or _name(elem)] = "replaced (keyed UID)"
        elif elem.VR in DATE_VRS and elem.value:
            elem.value = _shift_date(str(elem.value), shift)
            actions[elem.keyword] = "shifted"
        elif elem.VR in DATETIME_VRS and elem.value:
            value = str(elem.value)
            elem.value = _shift_date(value, shift) + value[8:] if len(value) >= 8 else ""
            actions[elem.keyword] = "shifted"
        elif elem.VR == "PN" and elem.value and elem.keyword not in ("PatientName",):
            del ds[elem.tag]
            actions[elem.keyword] = "removed (person name)"


def _name(elem) -> str:
    return elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"


def deidentify(in_path: str | Path, out_path: str | Path, key: bytes, patient: str) -> dict:
    """De-identify one DICOM file into ``out_path`` (atomically). Returns the audit record:
    the pseudonym and, per attribute keyword, the action taken — never an original value."""
    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise InputError(in_path, "refusing to overwrite the original")
    ds = read_dataset(in_path)
    if "PixelData" not in ds:
        raise InputError(in_path, "has no pixel data")
    pseudo = pseudonym(key, patient)
    shift = date_shift_days(key, patient)
    actions: dict[str, str] = {}
    _walk(ds, key, shift, actions)
    ds.PatientName = pseudo
    ds.PatientID = pseudo
    actions["PatientName"] = actions["PatientID"] = "replaced (keyed pseudonym)"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    meta = ds.file_meta
    if "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for elem in list(meta):
        if elem.tag.is_private or elem.keyword in ("SourceApplicationEntityTitle",):
            del meta[elem.tag]
    with atomic_path(out_path, suffix=".dcm") as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    pydicom.dcmread(out_path, stop_before_pixels=True)  # the output must stay readable
    return {"patient": pseudo, "date_shift_applied": True, "actions": dict(sorted(actions.items()))}


def summarise(audits: list[str | Path], out: str | Path) -> dict:
    """Summary of the audit records for the report: counts only, never values."""
    actions: Counter[str] = Counter()
    sources = set()
    patients = set()
    for a in audits:
        rec = json.loads(Path(a).read_text())
        sources.add(rec.get("key_source", "unknown"))
        patients.add(rec["patient"])
        actions.update(v.split(" (")[0] for v in rec["actions"].values())
    summary = {
        "n_images": len(audits),
        "n_pseudonymous_patients": len(patients),
        "key_source": "demo" if sources == {"demo"} else ",".join(sorted(sources)),
        "method": METHOD,
        "actions": dict(sorted(actions.items())),
    }
    write_json(out, summary)
    return summary
