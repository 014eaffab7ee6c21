"""Which format an annotation file is (from its content; the extension only for MetaImage),
and the reader of each: :func:`read_mask` and :func:`describe` (formats: :mod:`hipseg.masks`)."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import InputError
from .dicom_seg import _dicom_header, _read_dicom_seg
from .images import (
    _open_pillow,
    _pillow_array,
    _png_bit_depth,
    _sitk_array,
    _sitk_format,
    _sitk_info,
)
from .slicer import _is_slicer, _read_slicer, _slicer_segments
from .values import _check_shape, _count, _map_values


def read_mask(
    path: str | Path,
    *,
    shape: tuple[int, int] | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[int, int] | None = None,
    reference: str | Path | None = None,
) -> np.ndarray:
    """The hipseg label map (uint8, rows × cols, stored orientation) of an annotation file.

    ``shape``: the image's (rows, cols); ``names``: annotation name → hipseg label name (named
    segment formats); ``values``: file value → hipseg value (value-coded formats);
    ``reference``: the DICOM radiograph a DICOM SEG must reference.
    """
    path = Path(path)
    if shape is not None:
        shape = (int(shape[0]), int(shape[1]))
    kind = _kind(path)
    if kind == "dicom":
        mask = _read_dicom_seg(path, shape, names, reference)
    elif kind in ("nrrd", "sitk"):
        reader = _sitk_info(path)
        if kind == "nrrd" and _is_slicer(path, reader):
            mask = _read_slicer(path, reader, shape, names)
        else:
            mask = _map_values(path, _sitk_array(path, reader), values)
    else:
        mask = _map_values(path, _pillow_array(path, kind), values)
    _check_shape(path, mask.shape, shape)
    return mask


def describe(path: str | Path) -> str:
    """A short text of the file's format, e.g. "3D Slicer segmentation (.seg.nrrd), 5 segments"."""
    path = Path(path)
    kind = _kind(path)
    if kind == "dicom":
        ds = _dicom_header(path)
        n = len(ds.get("SegmentSequence", []))
        typ = str(ds.get("SegmentationType", "")).lower() or "unknown type"
        return f"DICOM SEG ({typ}), {_count(n, 'segment')}"
    if kind in ("nrrd", "sitk"):
        reader = _sitk_info(path)
        if kind == "nrrd" and _is_slicer(path, reader):
            segments = _slicer_segments(path, reader)
            layers = len({s.layer for s in segments})
            text = f"3D Slicer segmentation (.seg.nrrd), {_count(len(segments), 'segment')}"
            return text + (f" in {layers} layers" if layers > 1 else "")
        fmt = {"nrrd": "NRRD"}.get(kind) or _sitk_format(path)
        return f"{fmt} label map"
    with _open_pillow(path, kind) as img:
        fmt = {"PNG": "PNG", "TIFF": "TIFF", "BMP": "BMP", "GIF": "GIF"}[img.format]
        if img.mode in ("P", "PA"):
            return f"{fmt} palette label map"
        if img.mode in ("RGB", "RGBA", "RGBX"):
            return f"{fmt} {img.mode} label map (colour channels must be equal)"
        bits = {"1": 1, "L": 8, "LA": 8}.get(img.mode, 16 if img.mode.startswith("I;16") else 0)
        if kind == "png":
            bits = _png_bit_depth(path) or bits
        depth = f" ({bits}-bit)" if bits else f" (mode {img.mode})"
        return f"{fmt} greyscale label map{depth}"


def _kind(path: Path) -> str:
    if not path.exists():
        raise InputError(path, "file does not exist")
    if not path.is_file():
        raise InputError(path, "is not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(352)
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise InputError(path, "file is empty")
    name = path.name.lower()
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"NRRD000"):
        return "nrrd"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x00\x00\x00\x0cjP  "):
        raise InputError(path, "is a JPEG image: lossy compression changes label values; "
                               "save the mask as PNG (palette or greyscale)")  # fmt: skip
    if _is_nifti(path, head) or name.endswith((".mha", ".mhd")):
        return "sitk"
    raise InputError(path, "is not a label mask of a known format (PNG, TIFF, NIfTI, NRRD, "
                           "3D Slicer .seg.nrrd, DICOM SEG)")  # fmt: skip


def _is_nifti(path: Path, head: bytes) -> bool:
    if head.startswith(b"\x1f\x8b"):  # gzip: look at the NIfTI header inside
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(352)
        except (OSError, EOFError):
            return False
    return head[344:348] in (b"n+1\x00", b"ni1\x00", b"n+2\x00", b"ni2\x00") or (
        head[4:8] in (b"n+2\x00", b"ni2\x00")  # NIfTI-2 keeps its magic at byte 4
    )
