"""De-identification to DICOM PS3.15 Annex E: the Basic Application Level Confidentiality Profile
with options, keyed pseudonyms and a per-image audit trail.

* **The profile table** (PS3.15 Table E.1-1, the action per attribute) is data from the
  maintained package ``dicom-anonymizer`` (its ``dicomfields_2026c`` table: edition 2026c of the
  standard); :data:`TABLE_EDITION` records which. Its actions are applied recursively into every
  sequence item that is kept and to the file meta; compound actions take the strictest choice
  that keeps the file valid (X/Z → removed, Z/D → emptied, X/Z/U* → kept with UIDs replaced).
  Only its table is used, not its UID generation (that differs between processes).
* **Pseudonyms** come from a keyed HMAC-SHA256: patient name/ID become ``P`` + 10 hex digits of
  the sample sheet's patient value; every UID that is not a well-known DICOM UID becomes
  ``2.25.<int>`` of the original UID (Study, Series, SOP Instance, Frame of Reference and all
  references to them, identical in every process and run); dates move by a per-patient shift.
* **Options** (:class:`Options`): Retain Longitudinal Temporal Information with Modified Dates
  (dates shifted per patient, times kept; on), Retain Patient Characteristics (a configurable
  list; age, sex, size and weight by default), Retain Device Identity (off), a vetted allow-list
  of private tags (empty: all private tags are removed).
* **Burned-in annotation**: BurnedInAnnotation is honoured, a simple detector flags pixels that
  likely contain text, configurable regions can be blanked; the decision is recorded per image.
  Pixel data is otherwise copied bit for bit.
* **Audit**: per image, every action as (path, tag, keyword, table action, what was done) —
  never an original value; :func:`summarise` counts them for the report.

The key comes from ``HIPSEG_DEID_KEY`` or the file named by ``HIPSEG_DEID_KEY_FILE``, never from
the config or logs. The synthetic demo uses :data:`DEMO_KEY`, and the report says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib import import_module
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import ClassVar

import numpy as np
import pydicom
from pydicom.datadict import dictionary_has_tag, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID_dictionary
from scipy import ndimage

from .dicomio import read_dataset
from .errors import HipsegError, InputError
from .io import atomic_path, write_json
from .options import StageOptions

DEMO_KEY = b"hipseg-demo-key--synthetic-data-only"
KEY_ENV = "HIPSEG_DEID_KEY"
KEY_FILE_ENV = "HIPSEG_DEID_KEY_FILE"

# ------------------------------------------------------------------------------------------------
# The profile table, as data from dicom-anonymizer
# ------------------------------------------------------------------------------------------------
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
_NEVER_SHIFTED = {tag_for_keyword("PatientBirthDate"), tag_for_keyword("PatientBirthTime")}
# UIDs that name a class, a syntax or a coding scheme, never an instance: kept.
_CLASS_UIDS = {
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
# File meta attributes that only describe the transfer (AE titles, addresses, private info).
_META_REMOVE = {
    0x00020016,  # Source Application Entity Title
    0x00020017,  # Sending Application Entity Title
    0x00020018,  # Receiving Application Entity Title
    0x00020026,  # Source Presentation Address
    0x00020027,  # Sending Presentation Address
    0x00020028,  # Receiving Presentation Address
    0x00020031,  # RTV Meta Information Version
    0x00020032,  # RTV Communication SOP Class UID
    0x00020033,  # RTV Communication SOP Instance UID
    0x00020035,  # RTV Source Identifier
    0x00020036,  # RTV Flow Identifier
    0x00020037,  # RTV Flow RTP Sampling Rate
    0x00020038,  # RTV Flow Actual Frame Duration
    0x00020100,  # Private Information Creator UID
    0x00020102,  # Private Information
}


def option_attributes_missing_from_table() -> list[str]:
    """Keywords named by the options that the profile table lacks (none in a sound install)."""
    return [
        k for k in (*PATIENT_CHARACTERISTICS, *DEVICE_IDENTITY) if tag_for_keyword(k) not in TABLE
    ]


@dataclass(frozen=True)
class Options(StageOptions):
    """The profile's options (``deid:`` in config/config.yaml; types and defaults in the schema)."""

    SECTION: ClassVar[str] = "deid"
    use_demo_key: bool = False  # which key, not how: not part of the profile description
    retain_longitudinal: bool = True
    retain_patient_characteristics: tuple[str, ...] = DEFAULT_PATIENT_CHARACTERISTICS
    retain_device_identity: bool = False
    keep_private: tuple[str, ...] = ()  # "GGGG,EE,Private Creator" (vetted allow-list)
    blank_regions: tuple[tuple[float, float, float, float], ...] = ()  # x0, y0, x1, y1 fractions
    on_burned_in: str = "flag"  # "flag" or "error"
    _private: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        unknown = set(self.retain_patient_characteristics) - set(PATIENT_CHARACTERISTICS)
        if unknown:
            raise HipsegError(
                f"deid.retain_patient_characteristics: {sorted(unknown)} are not patient "
                f"characteristics of the profile (allowed: {', '.join(PATIENT_CHARACTERISTICS)})"
            )
        if self.on_burned_in not in ("flag", "error"):
            raise HipsegError(f"deid.on_burned_in must be flag or error, not {self.on_burned_in!r}")
        for region in self.blank_regions:
            x0, y0, x1, y1 = (float(v) for v in region)
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise HipsegError(
                    f"deid.blank_regions: {list(region)} is not [x0, y0, x1, y1] with "
                    "0 ≤ x0 < x1 ≤ 1 and 0 ≤ y0 < y1 ≤ 1 (fractions of width and height)"
                )
        for entry in self.keep_private:
            parts = str(entry).split(",", 2)
            try:
                group, offset = int(parts[0], 16), int(parts[1], 16)
                creator = parts[2].strip()
            except (IndexError, ValueError):
                creator, group, offset = "", 0, -1
            if not (group % 2 == 1 and 0 <= offset <= 0xFF and creator):
                raise HipsegError(
                    f"deid.keep_private: {entry!r} is not 'GGGG,EE,Private Creator' "
                    "(odd group, element offset 00–FF, creator name)"
                )
            self._private[(group, creator)] = self._private.get((group, creator), set()) | {offset}

    def keeps(self, tag: int) -> bool:
        """Whether an option retains this (table) attribute."""
        keyword = keyword_for_tag(tag)
        if keyword in self.retain_patient_characteristics:
            return True
        return self.retain_device_identity and keyword in DEVICE_IDENTITY

    def code_items(self) -> list[Dataset]:
        """De-identification Method Code Sequence (CID 7050) items."""
        chosen = [codes.DCM.BasicApplicationConfidentialityProfile]
        if self.retain_longitudinal:
            chosen.append(codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption)
        if self.retain_patient_characteristics:
            chosen.append(codes.DCM.RetainPatientCharacteristicsOption)
        if self.retain_device_identity:
            chosen.append(codes.DCM.RetainDeviceIdentityOption)
        if self.keep_private:
            chosen.append(codes.DCM.RetainSafePrivateOption)
        if self.blank_regions:
            chosen.append(codes.DCM.CleanPixelDataOption)
        items = []
        for c in chosen:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator = c.value, c.scheme_designator
            item.CodeMeaning = c.meaning
            items.append(item)
        return items

    def describe(self) -> dict:
        d = asdict(self)
        d.pop("_private")
        d.pop("use_demo_key")
        d["retain_patient_characteristics"] = list(self.retain_patient_characteristics)
        d["keep_private"] = list(self.keep_private)
        d["blank_regions"] = [list(r) for r in self.blank_regions]
        return d


# ------------------------------------------------------------------------------------------------
# Key and pseudonyms
# ------------------------------------------------------------------------------------------------
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


def _shift_date(value: str, days: int) -> str | None:
    try:
        d = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None
    return (d + dt.timedelta(days=days)).strftime("%Y%m%d") + value[8:]


# ------------------------------------------------------------------------------------------------
# Applying the profile
# ------------------------------------------------------------------------------------------------
_DUMMY = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMOUS",
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": "ANONYMOUS",
    "LT": "ANONYMOUS",
    "PN": "ANONYMOUS",
    "SH": "ANONYMOUS",
    "ST": "ANONYMOUS",
    "TM": "000000",
    "UC": "ANONYMOUS",
    "UR": "",
    "UT": "ANONYMOUS",
}


def _tag_str(tag) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _table_action(tag: int) -> str | None:
    action = TABLE.get(tag)
    if action is None:
        group, elem = tag >> 16, tag & 0xFFFF
        for g, e, gm, em, a in TABLE_MASKED:
            if group & gm == g and elem & em == e:
                return a
    return action


class _Run:
    """One de-identification: key, patient shift, options and the audit list."""

    def __init__(self, key: bytes, pseudo: str, shift: int, options: Options):
        self.key, self.pseudo, self.shift, self.options = key, pseudo, shift, options
        self.actions: list[dict] = []

    def log(self, path: str, elem: DataElement, rule: str, done: str) -> None:
        self.actions.append(
            {
                "path": path,
                "tag": _tag_str(elem.tag),
                "keyword": elem.keyword or "",
                "rule": rule,
                "action": done,
            }
        )

    # -- values -----------------------------------------------------------------------------
    def _uid(self, value) -> str:
        return pseudo_uid(self.key, str(value))

    def _map_values(self, elem: DataElement, fn) -> bool:
        """Apply ``fn`` to every value of a (multi-valued) element; False if one fails."""
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        new = [fn(str(v)) for v in values]
        if any(v is None for v in new):
            return False
        elem.value = new if elem.VM > 1 else new[0]
        return True

    def _shift(self, elem: DataElement) -> str:
        if elem.value in (None, ""):
            return "kept (empty)"
        if self._map_values(elem, lambda v: _shift_date(v, self.shift)):
            return "date shifted"
        elem.value = None
        return "emptied (unparseable date)"

    def _replace_uid(self, elem: DataElement) -> str:
        if elem.value in (None, ""):
            return "kept (empty)"
        self._map_values(elem, self._uid)
        return "replaced (keyed UID)"

    def _dummy(self, elem: DataElement) -> str:
        vr = elem.VR
        if vr == "SQ":
            elem.value = Sequence()
            return "emptied (sequence)"
        if vr == "UI":
            return self._replace_uid(elem)
        if vr in ("DA", "DT") and self.options.retain_longitudinal:
            if elem.tag not in _NEVER_SHIFTED:
                return self._shift(elem)
        if vr in _DUMMY:
            elem.value = _DUMMY[vr]
        elif vr in ("US", "SS", "UL", "SL", "UV", "SV"):
            elem.value = 0
        elif vr in ("FL", "FD"):
            elem.value = 0.0
        else:  # OB, OW, UN, …
            elem.value = b"\x00\x00"
        return "replaced (dummy)"

    # -- the walk ---------------------------------------------------------------------------
    def walk(self, ds: Dataset, path: str = "") -> None:
        private_kept = self._private_blocks(ds)
        for elem in list(ds):
            tag = int(elem.tag)
            if elem.tag.is_private:
                if tag in private_kept:
                    self.log(path, elem, "private", "kept (allow-list)")
                    if elem.VR == "SQ":
                        self._items(elem, path)
                else:
                    del ds[elem.tag]
                    self.log(path, elem, "private", "removed")
                continue
            if elem.tag.group == 0x0000:  # command elements do not belong in a stored dataset
                del ds[elem.tag]
                self.log(path, elem, "command group", "removed")
                continue
            rule = _table_action(tag)
            if rule is None:
                self._unlisted(ds, elem, path)
            else:
                self._listed(ds, elem, rule, path)

    def _items(self, elem: DataElement, path: str) -> None:
        name = elem.keyword or _tag_str(elem.tag)
        for i, item in enumerate(elem.value):
            self.walk(item, f"{path}{name}[{i}].")

    def _listed(self, ds: Dataset, elem: DataElement, rule: str, path: str) -> None:
        tag, vr = int(elem.tag), elem.VR
        if tag == 0x00100010 or tag == 0x00100020:  # Patient's Name / ID, nested ones too
            elem.value = self.pseudo
            self.log(path, elem, rule, "replaced (keyed pseudonym)")
            return
        if self.options.keeps(tag):
            self.log(path, elem, rule, "kept (option)")
            return
        if (
            self.options.retain_longitudinal
            and vr in ("DA", "DT", "TM")
            and tag not in _NEVER_SHIFTED
        ):
            done = self._shift(elem) if vr != "TM" else "kept (time; option)"
            self.log(path, elem, rule, done)
            return
        if rule == "U":
            done = self._replace_uid(elem) if vr == "UI" else self._dummy(elem)
        elif rule == "X/Z/U*":
            if vr == "SQ":
                self._items(elem, path)
                done = "kept (items de-identified)"
            else:
                done = self._replace_uid(elem) if vr == "UI" else "emptied"
                if vr != "UI":
                    elem.value = None
        elif rule.startswith("X"):
            del ds[elem.tag]
            done = "removed"
        elif rule.startswith("Z"):
            elem.value = Sequence() if vr == "SQ" else None
            done = "emptied"
        else:  # D
            done = self._dummy(elem)
        self.log(path, elem, rule, done)

    def _unlisted(self, ds: Dataset, elem: DataElement, path: str) -> None:
        """Attributes the table does not name are kept, with these safeguards."""
        vr, tag = elem.VR, int(elem.tag)
        if vr == "SQ":
            self._items(elem, path)
        elif vr == "UI" and elem.value and tag not in _CLASS_UIDS:
            values = list(elem.value) if elem.VM > 1 else [elem.value]
            if any(str(v) not in UID_dictionary for v in values):
                self._map_values(
                    elem, lambda v: v if v in UID_dictionary else pseudo_uid(self.key, v)
                )
                self.log(path, elem, "not in table: instance UID", "replaced (keyed UID)")
        elif vr in ("DA", "DT") and elem.value:
            if self.options.retain_longitudinal:
                self.log(path, elem, "not in table: date", self._shift(elem))
            else:
                elem.value = None
                self.log(path, elem, "not in table: date", "emptied")
        elif vr == "PN" and elem.value:
            del ds[elem.tag]
            self.log(path, elem, "not in table: person name", "removed")
        elif not dictionary_has_tag(tag) and not elem.tag.is_private:
            del ds[elem.tag]  # an unknown public element: its meaning cannot be checked
            self.log(path, elem, "not in table: unknown element", "removed")

    def _private_blocks(self, ds: Dataset) -> set[int]:
        """Tags of allow-listed private elements in ``ds`` and of their creators."""
        keep: set[int] = set()
        if not self.options._private:
            return keep
        for elem in ds:
            tag = int(elem.tag)
            if elem.tag.is_private_creator:
                creator = str(elem.value).strip()
                offsets = self.options._private.get((elem.tag.group, creator))
                if offsets:
                    block = elem.tag.element & 0xFF
                    found = {(elem.tag.group << 16) | (block << 8) | o for o in offsets}
                    found = {t for t in found if t in ds}
                    if found:
                        keep |= found | {tag}
        return keep

    def meta(self, meta: FileMetaDataset, sop_uid: str) -> None:
        for elem in list(meta):
            tag = int(elem.tag)
            if tag in (0x00020000, 0x00020001, 0x00020002, 0x00020010):
                continue  # group length, version, SOP class, transfer syntax
            if tag == 0x00020003:
                meta.MediaStorageSOPInstanceUID = sop_uid
                self.log("file_meta.", elem, _table_action(tag) or "", "replaced (keyed UID)")
            elif tag in (0x00020012, 0x00020013):
                continue  # implementation class/version: set below
            else:
                del meta[elem.tag]
                self.log("file_meta.", elem, "file meta", "removed")
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]


# ------------------------------------------------------------------------------------------------
# Burned-in text
# ------------------------------------------------------------------------------------------------
def text_score(pixels: np.ndarray) -> int:
    """A simple detector of burned-in text: the length of the longest row of character-sized
    blobs at the extreme grey values (annotations are drawn in pure white or black). Text
    gives 3 or more; anatomy, collimation and noise give fewer."""
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0:
        return 0
    rows = arr.shape[0]
    lo, hi = arr.min(), arr.max()
    if hi <= lo:
        return 0
    tol = (float(hi) - float(lo)) * 0.002
    best = 0
    for mask in (arr >= hi - tol, arr <= lo + tol):
        if mask.mean() > 0.5:  # the background, not annotations
            continue
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        if n == 0 or n > 20000:
            continue
        boxes = []
        areas = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
        for sl, area in zip(ndimage.find_objects(labels), areas, strict=True):
            h = sl[0].stop - sl[0].start
            w = sl[1].stop - sl[1].start
            fill = area / (h * w)
            if max(5, 0.004 * rows) <= h <= 0.08 * rows and w <= 2.0 * h and 0.12 <= fill <= 0.9:
                boxes.append((sl[0].start, sl[0].stop, sl[1].start, sl[1].stop))
        boxes.sort(key=lambda b: b[2])
        for i, (t, b, _, r) in enumerate(boxes):
            h, count, right = b - t, 1, r
            for t2, b2, l2, r2 in boxes[i + 1 :]:
                h2 = b2 - t2
                if l2 - right > 2 * h:
                    break
                if abs((t + b) - (t2 + b2)) <= h and 0.5 <= h2 / h <= 2:
                    count += 1
                    right = max(right, r2)
            best = max(best, count)
    return best


TEXT_THRESHOLD = 3


def _pixels(ds: Dataset, path: Path) -> np.ndarray:
    try:
        return ds.pixel_array
    except Exception as exc:
        raise InputError(path, f"pixel data cannot be decoded ({exc})") from exc


def _blank(ds: Dataset, arr: np.ndarray, regions, path: Path) -> list[list[int]]:
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        raise InputError(path, "blanking regions needs uncompressed pixel data; decompress first")
    if arr.ndim != 2:
        raise InputError(path, f"blanking regions needs a single 2D frame, got {arr.shape}")
    arr = arr.copy()
    rows, cols = arr.shape
    dark = arr.max() if ds.get("PhotometricInterpretation") == "MONOCHROME1" else arr.min()
    boxes = []
    for x0, y0, x1, y1 in regions:
        box = [int(x0 * cols), int(y0 * rows), int(np.ceil(x1 * cols)), int(np.ceil(y1 * rows))]
        arr[box[1] : box[3], box[0] : box[2]] = dark
        boxes.append(box)
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    return boxes


def _burned_in(ds: Dataset, path: Path, options: Options) -> dict:
    attribute = str(ds.get("BurnedInAnnotation", "") or "").upper() or "absent"
    arr = _pixels(ds, path)
    boxes = _blank(ds, arr, options.blank_regions, path) if options.blank_regions else []
    if boxes:
        arr = _pixels(ds, path)
    score = text_score(arr if arr.ndim == 2 else arr[0])
    detected = score >= TEXT_THRESHOLD
    flagged = detected or (attribute == "YES" and not boxes)
    reasons = []
    if attribute == "YES":
        reasons.append("BurnedInAnnotation is YES")
    if detected:
        reasons.append("pixels likely contain text")
    if flagged:
        decision = "flagged: " + " and ".join(reasons)
    elif boxes:
        decision = f"blanked {len(boxes)} region(s)" + (f" ({reasons[0]})" if reasons else "")
    else:
        decision = "no burned-in text indicated or detected"
    if flagged and options.on_burned_in == "error":
        raise InputError(
            path,
            f"{decision}; blank it (deid.blank_regions) or accept it (deid.on_burned_in: flag)",
        )
    return {
        "burned_in_annotation": attribute,
        "text_score": score,
        "text_detected": detected,
        "blanked_regions": boxes,
        "flagged": flagged,
        "decision": decision,
    }


# ------------------------------------------------------------------------------------------------
# One file
# ------------------------------------------------------------------------------------------------
def _check_pixels(ds: Dataset, path: Path) -> None:
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


def method_values(options: Options) -> list[str]:
    values = [f"PS3.15 {TABLE_EDITION} E.1-1 Basic Profile (hipseg)"]
    if options.retain_longitudinal:
        values.append("Retain Longitudinal Temporal Modified Dates")
    if options.retain_patient_characteristics:
        values.append("Retain Patient Characteristics")
    if options.retain_device_identity:
        values.append("Retain Device Identity")
    if options.keep_private:
        values.append("Retain Safe Private (allow-list)")
    if options.blank_regions:
        values.append("Clean Pixel Data (blanked regions)")
    return values


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
    decision and every action taken — never an original value."""
    options = options or Options()
    in_path, out_path = Path(in_path), Path(out_path)
    if in_path.resolve() == out_path.resolve():
        raise InputError(in_path, "refusing to overwrite the original")
    ds = read_dataset(in_path)
    _check_pixels(ds, in_path)
    original_pixels = ds.PixelData
    burned = _burned_in(ds, in_path, options)

    pseudo = pseudonym(key, patient)
    run = _Run(key, pseudo, date_shift_days(key, patient), options)
    run.walk(ds)
    ds.PatientName = pseudo
    ds.PatientID = pseudo
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = method_values(options)
    ds.DeidentificationMethodCodeSequence = options.code_items()
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
        if not burned["blanked_regions"] and check.PixelData != original_pixels:
            raise HipsegError(f"{out_path}: pixel data changed during de-identification")
    return {
        "patient": pseudo,
        "date_shift_applied": options.retain_longitudinal,
        "profile": {"table": TABLE_NAME, "edition": TABLE_EDITION, "source": TABLE_SOURCE},
        "options": options.describe(),
        "burned_in": burned,
        "actions": run.actions,
    }


# ------------------------------------------------------------------------------------------------
# One radiograph of the sample sheet (the workflow's ``deid`` rule)
# ------------------------------------------------------------------------------------------------
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
) -> dict:
    """De-identify the radiograph of one sample-sheet row; write the output and its audit.

    The patient value is read from the sheet here, inside the de-identification process, and
    leaves it only as a keyed pseudonym: it is never a parameter, an argument or a log line.
    The audit also carries the row's ``hips``, ``split`` and ``note`` for the later stages."""
    from . import samplesheet

    row = samplesheet.row(sheet, case_id)
    check_case_id(case_id, row["dicom"])
    key, source = load_key(options.use_demo_key)
    record = deidentify(row["dicom"], out, key, row["patient"], options)
    record.update(
        id=case_id,
        key_source=source,
        case={"hips": row["hips"], "split": row["split"], "note": row["note"]},
    )
    write_json(audit, record)
    return record


# ------------------------------------------------------------------------------------------------
# Summary for the report
# ------------------------------------------------------------------------------------------------
def _kind(action: str) -> str:
    word = action.split(" (")[0]
    if action.startswith("replaced (keyed UID"):
        return "UIDs replaced"
    if action.startswith("replaced (keyed pseudonym"):
        return "names/IDs pseudonymised"
    return {
        "removed": "removed",
        "emptied": "emptied",
        "replaced": "replaced",
        "date shifted": "dates shifted",
        "kept": "kept",
    }.get(word, word)


def summarise(audits: list[str | Path], out: str | Path) -> dict:
    """Summary of the audit records for the report: counts only, never values."""
    counts: Counter[str] = Counter()
    sources, patients, flagged, methods, options = set(), set(), [], set(), None
    private = 0
    for a in audits:
        try:
            rec = json.loads(Path(a).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(a, f"cannot read the audit record ({exc})") from exc
        sources.add(rec.get("key_source", "unknown"))
        patients.add(rec["patient"])
        for act in rec["actions"]:
            counts[_kind(act["action"])] += 1
            private += act["rule"] == "private" and act["action"] == "removed"
        if rec.get("burned_in", {}).get("flagged"):
            flagged.append(rec.get("id", Path(a).name))
        if "profile" in rec:
            methods.add(rec["profile"]["table"] + " (" + rec["profile"]["source"] + ")")
        options = rec.get("options", options)
    summary = {
        "n_images": len(audits),
        "n_pseudonymous_patients": len(patients),
        "key_source": "demo" if sources == {"demo"} else ",".join(sorted(sources)),
        "profile": "; ".join(sorted(methods)),
        "table_attributes": TABLE_SIZE,
        "options": options or {},
        "attributes": dict(sorted(counts.items())),
        "private_tags_removed": private,
        "n_images_flagged_burned_in": len(flagged),
        "images_flagged_burned_in": sorted(flagged),
    }
    write_json(out, summary)
    return summary


# ------------------------------------------------------------------------------------------------
# ``hipseg anonymise IN OUT``: a file or a directory tree
# ------------------------------------------------------------------------------------------------
def _patient_of(path: Path) -> str:
    ds = read_dataset(path, stop_before_pixels=True)
    patient = str(ds.get("PatientID", "") or "").strip()
    if not patient:
        raise InputError(path, "has no Patient ID: no pseudonym can be derived from it")
    issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
    return f"{issuer}\x00{patient}" if issuer else patient


def anonymise(
    src: str | Path, dst: str | Path, key: bytes, key_source: str, options: Options | None = None
) -> tuple[int, list[str]]:
    """De-identify a file (``dst`` is the output file) or every file under a directory (``dst``
    mirrors the tree). The pseudonym and date shift derive from each file's Patient ID (and
    Issuer of Patient ID). Each output gets ``<name>.audit.json`` beside it; a directory also
    gets ``deid_summary.json``. Returns (number written, one error line per failed file)."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise InputError(src, "does not exist")
    if src.is_dir():
        if dst.resolve() == src.resolve() or dst.resolve().is_relative_to(src.resolve()):
            raise InputError(dst, "the output directory must lie outside the input directory")
        pairs = [
            (f, dst / f.relative_to(src))
            for f in sorted(src.rglob("*"))
            if f.is_file() and f.name != "DICOMDIR" and not f.name.startswith(".")
        ]
    else:
        pairs = [(src, dst / src.name if dst.is_dir() else dst)]
    audits, errors = [], []
    for f, out in pairs:
        try:
            record = deidentify(f, out, key, _patient_of(f), options)
        except HipsegError as exc:
            errors.append(str(exc))
            continue
        record.update(id=out.name, key_source=key_source)
        audit = out.with_name(out.name + ".audit.json")
        write_json(audit, record)
        audits.append(audit)
    if src.is_dir() and audits:
        summarise(audits, dst / "deid_summary.json")
    return len(audits), errors
