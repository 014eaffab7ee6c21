"""One radiograph of the sample sheet (the workflow's ``deid`` rule) and the boundary marker that
every later stage checks."""

from __future__ import annotations

from pathlib import Path

import pydicom

from ..dicomio import read_dataset
from ..errors import InputError
from ..io import write_json
from ..keys import load_key
from .image import deidentify
from .options import Options

IDENTITY_ATTRIBUTES = ("PatientID", "AccessionNumber", "PatientName", "OtherPatientIDs")


def check_case_id(case_id: str, dicom: str | Path) -> None:
    """Refuse a case id that equals or contains its DICOM's identity (ids become file names).

    The message names the file and the attribute, never the value or the id."""
    ds = read_dataset(dicom, stop_before_pixels=True)
    lowered = case_id.lower()
    for keyword in IDENTITY_ATTRIBUTES:
        value = ds.get(keyword)
        if value is None:
            continue
        values = (
            list(value)
            if isinstance(value, (list, tuple, pydicom.multival.MultiValue))
            else [value]
        )
        parts = set()
        for v in values:
            text = str(v).strip()
            parts.add(text)
            if keyword == "PatientName":
                parts.update(p.strip() for p in text.replace("^", " ").split())
        if any(len(p) >= 3 and p.lower() in lowered for p in parts):
            raise InputError(
                dicom,
                f"its sample-sheet id contains the DICOM's {keyword}: ids become file names in "
                "every output, so choose ids that carry no identity (e.g. a running number)",
            )


CASE_FIELDS = ("hips", "split", "note", "level", "side", "radiograph", "values", "patient_source")


def case_fields(row: dict) -> dict:
    """What the later stages need of a sheet row besides the patient (none of it identifying:
    the sheet validation checked each value's form)."""
    return {k: row.get(k, "") for k in CASE_FIELDS}


def require_deidentified(path: str | Path) -> None:
    """Refuse a DICOM that hipseg's de-identification did not write (the boundary marker:
    Patient Identity Removed = YES and hipseg's De-identification Method), so that a raw file
    cannot reach a later stage through a configuration change."""
    ds = read_dataset(path, stop_before_pixels=True)
    removed = str(ds.get("PatientIdentityRemoved", "") or "").upper() == "YES"
    method = ds.get("DeidentificationMethod")
    methods = [
        str(m)
        for m in (
            method
            if isinstance(method, pydicom.multival.MultiValue)
            else [method]
            if method
            else []
        )
    ]
    if not (removed and any(m.endswith("(hipseg)") for m in methods)):
        raise InputError(
            path,
            "was not de-identified by hipseg (no Patient Identity Removed = YES with hipseg's "
            "De-identification Method): only the deid stage's outputs may enter later stages",
        )


def deidentify_case(
    sheet: str | Path,
    case_id: str,
    out: str | Path,
    audit: str | Path,
    options: Options,
    gate=None,
    crop=None,
) -> dict:
    """De-identify the radiograph of one sample-sheet row; write the output and its audit.

    The patient value is read from the sheet here, inside the de-identification process, and
    leaves it only as a keyed pseudonym: it is never a parameter, an argument or a log line.
    The audit also carries the row's ``hips``, ``split`` and ``note`` for the later stages.
    ``gate`` (:class:`hipseg.gate.GateOptions`): the header gate runs here, on the original
    header (its age, which de-identification may remove), with ``crop``'s colour and fallback
    spacing (:class:`hipseg.intake.IntakeOptions`); a film it refuses is a named error."""
    from .. import samplesheet

    row = samplesheet.row(sheet, case_id)
    if not row["dicom"]:
        raise InputError(row["image"], "is not a DICOM image: only DICOM files are de-identified "
                         "(other images enter as already de-identified)")  # fmt: skip
    check_case_id(case_id, row["dicom"])
    if gate is not None:
        from ..gate import header

        fallback = None if crop is None else crop.fallback_spacing
        header.check(read_dataset(row["dicom"], stop_before_pixels=True), row["dicom"], gate,
                     level=row.get("level") or "radiograph",
                     colour="error" if crop is None else crop.colour,
                     fallback_spacing=fallback)  # fmt: skip
    key, source = load_key(options.use_demo_key)
    record = deidentify(row["dicom"], out, key, row["patient"], options)
    record.update(id=case_id, key_source=source, case=case_fields(row))
    write_json(audit, record)
    return record
