"""DICOM SEG (binary, fractional and label-map Segmentation Storage) of one radiograph, read
with highdicom; library messages are passed on without UIDs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .segments import _compose, _resolve
from .values import _check_shape

FRACTIONAL_THRESHOLD = 0.5  # of the maximum fractional value
SEG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation Storage",
}
_UID_RE = re.compile(r"\b\d+(?:\.\d+){3,}\b")  # DICOM UIDs in library messages


def _scrub(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return _UID_RE.sub("<UID>", text[-1] if text else type(exc).__name__)


def _dicom_header(path: Path):
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:
        raise InputError(path, f"cannot be read as DICOM ({_scrub(exc)})") from exc
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class not in SEG_SOP_CLASSES or ds.get("Modality") != "SEG":
        modality = ds.get("Modality", "unknown modality")
        raise InputError(path, f"is a DICOM {modality} object, not a segmentation (DICOM SEG)")
    return ds


def _reference_header(reference: str | Path):
    import pydicom

    try:
        return pydicom.dcmread(reference, stop_before_pixels=True,
                               specific_tags=["SOPInstanceUID", "Rows", "Columns"])  # fmt: skip
    except Exception as exc:
        raise InputError(reference, f"cannot be read as DICOM ({_scrub(exc)})") from exc


def _read_dicom_seg(path: Path, shape, names, reference) -> np.ndarray:
    from ..dicomseg import segread  # hipseg's own SEGs have no SliceThickness

    _dicom_header(path)
    try:
        seg = segread(path)
    except Exception as exc:
        raise InputError(path, f"cannot be read as a DICOM SEG ({_scrub(exc)})") from exc
    sources = list(dict.fromkeys(str(uid[2]) for uid in seg.get_source_image_uids()))
    if not sources:
        raise InputError(path, "does not say which image it segments (no source image "
                               "references)")  # fmt: skip
    if reference is not None:
        ref = _reference_header(reference)
        if str(ref.get("SOPInstanceUID", "")) not in sources:
            raise InputError(path, f"is a segmentation of another image: it does not reference "
                                   f"{reference} (compare their SOP Instance UIDs)")  # fmt: skip
        source = str(ref.SOPInstanceUID)
        _check_shape(path, (int(seg.Rows), int(seg.Columns)),
                     (int(ref.Rows), int(ref.Columns)) if "Rows" in ref else None)  # fmt: skip
    elif len(sources) == 1:
        source = sources[0]
    else:
        raise InputError(path, f"segments {len(sources)} images; give the radiograph it "
                               "belongs to as the reference")  # fmt: skip
    _check_shape(path, (int(seg.Rows), int(seg.Columns)), shape)
    numbers = list(seg.get_segment_numbers())
    candidates, seg_names = [], []
    for n in numbers:
        desc = seg.get_segment_description(n)
        label = str(desc.segment_label or "")
        candidates.append([label, str(desc.get("SegmentDescription", "") or "")])
        seg_names.append(label or f"segment {n}")
    seg_values = _resolve(path, candidates, names)
    if not numbers:
        return np.zeros((int(seg.Rows), int(seg.Columns)), np.uint8)
    try:
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[source], segment_numbers=numbers, combine_segments=False
        )[0]
    except Exception as exc:
        raise InputError(path, f"its frames cannot be read ({_scrub(exc)})") from exc
    if str(seg.SegmentationType) == "FRACTIONAL":  # rescaled to 0-1 by highdicom
        masks = [pixels[..., i] >= FRACTIONAL_THRESHOLD for i in range(len(numbers))]
    else:
        masks = [pixels[..., i] > 0 for i in range(len(numbers))]
    return _compose(path, seg_names, seg_values, masks)
