"""The de-identification key and what derives from it: keyed pseudonyms (HMAC-SHA256), remapped
UIDs and the per-patient date shift. It lies below the sample sheet (whose validated copy
carries the pseudonyms) and :mod:`hipseg.deid`, which both use it. The key comes from
``$HIPSEG_DEID_KEY`` or the file named by ``$HIPSEG_DEID_KEY_FILE``, never from the config or
logs; the synthetic demo uses :data:`DEMO_KEY`."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from pathlib import Path

from .errors import HipsegError, InputError
from .intake.patient import FIRST_REAL_DATE

DEMO_KEY = b"hipseg-demo-key--synthetic-data-only"
KEY_ENV = "HIPSEG_DEID_KEY"
KEY_FILE_ENV = "HIPSEG_DEID_KEY_FILE"


def load_key(use_demo_key: bool) -> tuple[bytes, str]:
    """Return (key, source). ``source`` is ``demo``, ``env`` or ``file`` (never the key itself)."""
    if use_demo_key:
        return DEMO_KEY, "demo"
    if os.environ.get(KEY_ENV):
        key = os.environ[KEY_ENV].encode()
        if len(key) < 16:
            raise HipsegError(f"de-identification key in ${KEY_ENV} is shorter than 16 bytes")
        return key, "env"
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
    return "2.25." + str(int.from_bytes(_digest(key, "uid", uid.strip())[:16], "big"))


def date_shift_days(key: bytes, patient: str) -> int:
    """A per-patient shift between −3650 and −365 days."""
    return -365 - int.from_bytes(_digest(key, "dateshift", patient)[:4], "big") % 3286


# Dates before FIRST_REAL_DATE are the placeholders other de-identifiers write instead of a
# date (dicom-anonymizer: 00010101; many tools and PACS: 19000101), not dates: shifting them
# would make a placeholder look like a real date (and 0001-01-01 cannot move back at all).


def date_problem(value: str) -> str:
    """Why a DICOM date (DA, or the date part of a DT) cannot be shifted ("" if it can): a
    placeholder, unparseable, or out of range once shifted. PS3.15 lets such a value be emptied
    (the audit and the summary count it)."""
    try:
        d = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return "unparseable date"
    if d < FIRST_REAL_DATE:
        return "placeholder date"
    if d.year > 9000:
        return "date out of range"
    return ""


def shift_date(value: str, days: int) -> str | None:
    """A DICOM date (or the date part of a date-time) moved by ``days`` (|days| < 3650); None if
    it cannot be shifted (:func:`date_problem`)."""
    if date_problem(value):
        return None
    d = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    return (d + dt.timedelta(days=days)).strftime("%Y%m%d") + value[8:]
