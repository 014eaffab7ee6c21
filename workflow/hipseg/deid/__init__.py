"""De-identification to DICOM PS3.15 Annex E: the Basic Application Level Confidentiality Profile
with options, keyed pseudonyms and a per-image audit trail.

Where things are:

* :mod:`.table` — **the profile table** (PS3.15 Table E.1-1, the action per attribute), data
  from the maintained package ``dicom-anonymizer`` (its ``dicomfields_2026c`` table: edition
  2026c of the standard); :data:`TABLE_EDITION` records which. Only its table is used, not its
  UID generation (that differs between processes).
* :mod:`.options` — **options** (:class:`Options`): Retain Longitudinal Temporal Information
  with Modified Dates (dates shifted per patient, times kept; on), Retain Patient
  Characteristics (a configurable list; age, sex, size and weight by default), Retain Device
  Identity (off), a vetted allow-list of private tags (empty: all private tags are removed).
* :mod:`.keys` — **the key and pseudonyms**: a keyed HMAC-SHA256; patient name/ID become
  ``P`` + 10 hex digits of the sample sheet's patient value; every UID that is not a well-known
  DICOM UID becomes ``2.25.<int>`` of the original UID (identical in every process and run);
  dates move by a per-patient shift. The key comes from ``HIPSEG_DEID_KEY`` or the file named by
  ``HIPSEG_DEID_KEY_FILE``, never from the config or logs; the synthetic demo uses
  :data:`DEMO_KEY`, and the report says so.
* :mod:`.profile` — **applying the profile**: actions applied recursively into every sequence
  item that is kept and to the file meta; compound actions take the strictest choice that keeps
  the file valid (X/Z → removed, Z/D → emptied, X/Z/U* → kept with UIDs replaced).
* :mod:`.pixels` — **burned-in text**: detectors (:mod:`.textfind`: rows of character-sized
  blobs of one stored value or of thin strokes; :mod:`.ocr`: Tesseract) find text in the
  pixels; it is blanked (``deid.on_burned_in: redact``, the default), flagged or refused;
  configured regions are blanked; BurnedInAnnotation is honoured; the decision and the blanked
  boxes are recorded per image. Blanked images are written uncompressed; the pixel data of all
  others is copied bit for bit.
* :mod:`.characteristics` — **what the subgroup analysis may know**: the patient's sex, an age
  band (``deid.age_bands``, from Patient's Age or the original dates, in memory) and the device,
  only those the profile keeps; recorded in the audit (``characteristics``), never the exact age
  or a date.
* :mod:`.image` — **one file**: :func:`deidentify`.
* :mod:`.case` — **one case of the sample sheet** (the ``deid`` rule, :func:`deidentify_case`)
  and the **boundary marker** every later stage checks (:func:`require_deidentified`).
* :mod:`.summary` — **audit summary**: per image, every action as (path, tag, keyword, table
  action, what was done) — never an original value; :func:`summarise` counts them for the
  report.
* :mod:`.tree` — ``hipseg anonymise IN OUT`` (:func:`anonymise`): a file or a directory tree.
"""

from ..keys import (
    DEMO_KEY,
    KEY_ENV,
    KEY_FILE_ENV,
    date_shift_days,
    load_key,
    pseudo_uid,
    pseudonym,
)
from .case import IDENTITY_ATTRIBUTES, check_case_id, deidentify_case, require_deidentified
from .image import deidentify
from .options import DETECTORS, ON_BURNED_IN, Options, method_values
from .pixels import find_text
from .summary import summarise
from .table import (
    DEFAULT_PATIENT_CHARACTERISTICS,
    DEVICE_IDENTITY,
    PATIENT_CHARACTERISTICS,
    TABLE,
    TABLE_EDITION,
    TABLE_MASKED,
    TABLE_NAME,
    TABLE_SIZE,
    TABLE_SOURCE,
    option_attributes_missing_from_table,
)
from .textfind import text_score
from .tree import anonymise

__all__ = [
    "DEFAULT_PATIENT_CHARACTERISTICS",
    "DETECTORS",
    "DEMO_KEY",
    "DEVICE_IDENTITY",
    "IDENTITY_ATTRIBUTES",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "ON_BURNED_IN",
    "PATIENT_CHARACTERISTICS",
    "TABLE",
    "TABLE_EDITION",
    "TABLE_MASKED",
    "TABLE_NAME",
    "TABLE_SIZE",
    "TABLE_SOURCE",
    "Options",
    "anonymise",
    "check_case_id",
    "date_shift_days",
    "deidentify",
    "deidentify_case",
    "find_text",
    "load_key",
    "method_values",
    "option_attributes_missing_from_table",
    "pseudo_uid",
    "pseudonym",
    "require_deidentified",
    "summarise",
    "text_score",
]
