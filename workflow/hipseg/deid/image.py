"""De-identifying one DICOM file: check it, decide on burned-in text, apply the profile, set the
boundary marker (Patient Identity Removed, De-identification Method), write atomically and
check that the output reads back."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from ..dicomio import read_dataset
from ..errors import HipsegError, InputError
from ..intake.patient import age_years
from ..io import atomic_path
from ..keys import date_shift_days, pseudonym
from .characteristics import characteristics
from .options import Options, method_values
from .pixels import burned_in
from .profile import ProfileRun
from .table import TABLE_EDITION, TABLE_NAME, TABLE_SOURCE


def check_pixels(ds: Dataset, path: Path) -> None:
    if "PixelData" not in ds:
        raise InputError(path, "has no pixel data")
    if ds.file_meta.get("TransferSyntaxUID") is None:
        raise InputError(path, "has no Transfer Syntax UID in its file meta")
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        try:
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            expected = (
                int(ds.Rows)
                * int(ds.Columns)
                * int(ds.get("SamplesPerPixel", 1))
                * frames
                * int(ds.BitsAllocated)
                // 8
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(path, f"image attributes missing or invalid ({exc})") from exc
        if len(ds.PixelData) < expected:
            raise InputError(
                path, f"pixel data truncated ({len(ds.PixelData)} of {expected} bytes)"
            )


def deidentify(
    in_path: str | Path,
    out_path: str | Path,
    key: bytes,
    patient: str,
    options: Options | None = None,
) -> dict:
    """De-identify one DICOM file into ``out_path`` (atomically; nothing is written on error).

    ``patient`` is the value the pseudonym and the date shift derive from (the sample sheet's
    patient). Returns the audit record: the pseudonym, the profile and options, the burned-in
    decision, every action taken — never an original value — and the coarse characteristics of
    the subgroup analysis that the profile keeps (:mod:`.characteristics`: sex, age band,
    device)."""
    options = options or Options()
    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise InputError(in_path, "refusing to overwrite the original")
    ds = read_dataset(in_path)
    check_pixels(ds, in_path)
    original_pixels = ds.PixelData
    burned = burned_in(ds, in_path, options)

    pseudo = pseudonym(key, patient)
    age = age_years(ds)  # from the original header, in memory only (the band is recorded)
    run = ProfileRun(key, pseudo, date_shift_days(key, patient), options)
    run.walk(ds)
    ds.PatientName = pseudo
    ds.PatientID = pseudo
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = method_values(options, burned)
    cleaned = burned["pixel_data"] != "original bytes"
    ds.DeidentificationMethodCodeSequence = options.code_items(cleaned)
    ds.LongitudinalTemporalInformationModified = (
        "MODIFIED" if options.retain_longitudinal else "REMOVED"
    )
    if "SOPInstanceUID" not in ds:
        raise InputError(in_path, "has no SOP Instance UID")
    run.meta(ds.file_meta, ds.SOPInstanceUID)

    with atomic_path(out_path, suffix=".dcm") as tmp:
        ds.save_as(tmp, enforce_file_format=True)
        try:  # the output must stay readable, pixels included
            check = pydicom.dcmread(tmp)
            check.pixel_array  # noqa: B018
        except Exception as exc:
            raise HipsegError(f"{out_path}: de-identified output is not readable ({exc})") from exc
        if not cleaned and check.PixelData != original_pixels:
            raise HipsegError(f"{out_path}: pixel data changed during de-identification")
    return {
        "patient": pseudo,
        "date_shift_applied": options.retain_longitudinal,
        "profile": {"table": TABLE_NAME, "edition": TABLE_EDITION, "source": TABLE_SOURCE},
        "options": options.describe(),
        "burned_in": burned,
        "characteristics": characteristics(age, ds, options),
        "actions": run.actions,
    }
