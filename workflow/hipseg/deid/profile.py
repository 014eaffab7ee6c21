"""Applying the profile to one dataset: the walk through every element (nested sequence items
too) and the file meta, each action recorded as (path, tag, keyword, table action, what was
done), never a value."""

from __future__ import annotations

import pydicom
from pydicom.datadict import dictionary_has_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID_dictionary

from ..keys import date_problem, pseudo_uid, shift_date
from .options import Options
from .table import CLASS_UIDS, NEVER_SHIFTED, table_action, tag_str

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


class ProfileRun:
    """One de-identification: key, patient shift, options and the audit list."""

    def __init__(self, key: bytes, pseudo: str, shift: int, options: Options):
        self.key, self.pseudo, self.shift, self.options = key, pseudo, shift, options
        self.actions: list[dict] = []

    def log(self, path: str, elem: DataElement, rule: str, done: str) -> None:
        self.actions.append(
            {
                "path": path,
                "tag": tag_str(elem.tag),
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
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        problem = next(filter(None, (date_problem(str(v)) for v in values)), "")
        if problem:  # a placeholder another de-identifier wrote, or not a date: emptied
            elem.value = None
            return f"emptied ({problem})"
        self._map_values(elem, lambda v: shift_date(v, self.shift))
        return "date shifted"

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
            if elem.tag not in NEVER_SHIFTED:
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
            rule = table_action(tag)
            if rule is None:
                self._unlisted(ds, elem, path)
            else:
                self._listed(ds, elem, rule, path)

    def _items(self, elem: DataElement, path: str) -> None:
        name = elem.keyword or tag_str(elem.tag)
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
            and tag not in NEVER_SHIFTED
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
        elif vr == "UI" and elem.value and tag not in CLASS_UIDS:
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
                self.log("file_meta.", elem, table_action(tag) or "", "replaced (keyed UID)")
            elif tag in (0x00020012, 0x00020013):
                continue  # implementation class/version: set below
            else:
                del meta[elem.tag]
                self.log("file_meta.", elem, "file meta", "removed")
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
