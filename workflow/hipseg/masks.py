"""Label masks made by annotation tools, read as hipseg label maps.

:func:`read_mask` returns a ``uint8`` array (rows, cols) of hipseg's label values
(:mod:`hipseg.labels`: background 0, labels 1…5) in the orientation of the radiograph's
*stored* pixels: row 0 is the first stored row, column 0 the first stored column, as in every
other label map of hipseg. Nothing is resampled or reoriented by physical geometry; every format
is placed by its pixel (voxel) indices.

The format is found from the content (the extension only for MetaImage):

Value-coded label maps (each pixel holds a label value)
    PNG, TIFF, BMP, GIF (Pillow): palette images (their palette *indices* are the values),
    greyscale 8/16-bit (and 1/2/4-bit PNG, whose raw sample values are used, not Pillow's
    display scaling to 0–255), and RGB/RGBA images whose three colour channels are equal
    (alpha is ignored). A real colour image, a multi-page TIFF or an animated PNG is refused;
    so is JPEG (lossy compression changes label values). NIfTI (.nii, .nii.gz), NRRD
    (.nrrd, .nhdr) and MetaImage (.mha, .mhd) through SimpleITK, whose array is [z, y, x]:
    rows are y and columns x (as :func:`hipseg.io.read_image_2d`); leading singleton axes are
    squeezed, true 3D data is refused. Values must be hipseg's values, or ``values`` maps the
    file's values to them (e.g. from an nnU-Net dataset.json); 0 is background unless mapped.

3D Slicer segmentations (.seg.nrrd, any NRRD with ``Segment{N}_ID`` fields)
    Segments are named (``Segment{N}_Name``), stored in layers (``Segment{N}_Layer``; the file
    is 3D, x × y × 1, with one layer, or 4D with a first ``list`` axis of layers when segments
    overlap) under a value (``Segment{N}_LabelValue``) within their ``Segment{N}_Extent``
    (relative to the stored array). NRRD's first axis is the fastest (x = column), so
    mask[row, col] = data[col, row]. Slicer crops the array to the segments' extent: it lies at
    ``Segmentation_ReferenceImageExtentOffset`` ("i j k") in the reference image's voxel grid,
    whose extent is in the ``Reference image geometry`` conversion parameter when Slicer wrote
    one (it is checked against ``shape``). This assumes the reference image's voxel grid is the
    radiograph's stored pixel grid (i = column, j = row), which is how Slicer loads a DICOM or
    PNG radiograph. A pixel in two segments of different hipseg labels is an error.

DICOM SEG (Segmentation Storage, found by the 'DICM' preamble, any extension)
    Read with highdicom: binary, fractional (a pixel belongs to a segment from half the
    maximum fractional value up) and label-map segmentations of one radiograph, in the pixel
    grid of its stored pixels. Absent segments and frames are background. The SEG must
    reference ``reference`` (the radiograph, by SOP Instance UID; messages never print UIDs).

Segment names map to hipseg labels: hipseg's own names ("L1") are always accepted; ``names``
maps the tool's names (compared after strip + casefold; it wins over hipseg's names) to
hipseg's names; this is the config key ``source.labels``. A DICOM SEG segment is matched by its
SegmentLabel, then by its SegmentDescription. Every problem is an :class:`InputError` naming
the file.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import labels
from .errors import InputError

__all__ = ["describe", "read_mask"]

NAMES_KEY = "source.labels"  # the config key that maps annotation names to hipseg's
MAX_SHOWN = 8  # bad values listed in a message
FRACTIONAL_THRESHOLD = 0.5  # of the maximum fractional value
SEG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation Storage",
}
_ALLOWED = frozenset((labels.BACKGROUND, *labels.VALUES))
_UID_RE = re.compile(r"\b\d+(?:\.\d+){3,}\b")  # DICOM UIDs in library messages


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


# ------------------------------------------------------------------------------------------------
# Format detection
# ------------------------------------------------------------------------------------------------
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


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ------------------------------------------------------------------------------------------------
# Values: checks and mapping
# ------------------------------------------------------------------------------------------------
def _shown(vals) -> str:
    vals = list(vals)
    text = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals[:MAX_SHOWN])
    return text + (f", … ({len(vals)} in all)" if len(vals) > MAX_SHOWN else "")


def _integers(path: Path, arr: np.ndarray) -> np.ndarray:
    """The array as int64; non-integer values are an error."""
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(path, f"mask has pixels of type {arr.dtype}, not integer label values")
    bad = ~np.isfinite(arr) | (np.mod(arr, 1) != 0)
    if bad.any():
        examples = np.unique(arr[bad])
        raise InputError(path, f"mask has non-integer values: {_shown(examples.tolist())}")
    return arr.astype(np.int64)


def _map_values(path: Path, arr: np.ndarray, values: Mapping[int, int] | None) -> np.ndarray:
    arr = _integers(path, arr)
    present = np.unique(arr)
    if values is None:
        bad = [int(v) for v in present if int(v) not in _ALLOWED]
        if bad:
            raise InputError(path, f"label values outside {labels.VALUE_RANGE}: {_shown(bad)}")
        return arr.astype(np.uint8)
    table = {labels.BACKGROUND: labels.BACKGROUND}
    for src, dst in values.items():
        if int(dst) not in _ALLOWED:
            raise InputError(path, f"the value mapping sends {src} to {dst}, which is not a "
                                   f"hipseg label value ({labels.VALUE_RANGE})")  # fmt: skip
        table[int(src)] = int(dst)
    bad = [int(v) for v in present if int(v) not in table]
    if bad:
        known = ", ".join(str(v) for v in sorted(table))
        raise InputError(path, f"label values not in the value mapping: {_shown(bad)} "
                               f"(mapped values: {known})")  # fmt: skip
    keys = np.array(sorted(table), np.int64)
    targets = np.array([table[k] for k in keys], np.uint8)
    return targets[np.searchsorted(keys, arr)]


def _check_shape(path: Path, got: tuple[int, ...], shape: tuple[int, int] | None, note=""):
    if shape is not None and tuple(got) != tuple(shape):
        raise InputError(path, f"mask size {got[0]}×{got[1]} (rows×cols{note}) ≠ image size "
                               f"{shape[0]}×{shape[1]}")  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Segment names
# ------------------------------------------------------------------------------------------------
def _norm(name: str) -> str:
    return str(name).strip().casefold()


def _name_table(path: Path, names: Mapping[str, str] | None) -> dict[str, int]:
    table: dict[str, int] = {}
    for key, target in (names or {}).items():
        if target not in labels.BY_NAME:
            raise InputError(path, f"{NAMES_KEY} maps {str(key)!r} to {str(target)!r}, which is "
                                   f"not a hipseg label ({', '.join(labels.NAMES)})")  # fmt: skip
        value = labels.BY_NAME[target].value
        if table.setdefault(_norm(key), value) != value:
            raise InputError(path, f"{NAMES_KEY} maps {str(key).strip()!r} to two labels")
    return table


def _label_of(name: str, table: dict[str, int]) -> int | None:
    if _norm(name) in table:
        return table[_norm(name)]
    if name in labels.BY_NAME:
        return labels.BY_NAME[name].value
    return None


def _resolve(path: Path, candidates: list[list[str]], names) -> list[int]:
    """Each segment's hipseg value from its candidate names (the first that resolves)."""
    table = _name_table(path, names)
    out, unknown = [], []
    for cands in candidates:
        found = [v for v in (_label_of(c, table) for c in cands if c) if v is not None]
        out.append(found[0] if found else -1)
        if not found:
            unknown.append(cands[0] if cands and cands[0] else "(no name)")
    if unknown:
        listed = ", ".join(f'"{u}"' for u in dict.fromkeys(unknown))
        raise InputError(path, f"segment names not known: {listed}; hipseg's labels are "
                               f"{', '.join(labels.NAMES)}: map the names to them with the "
                               f"config key {NAMES_KEY}")  # fmt: skip
    return out


def _compose(path: Path, seg_names: list[str], seg_values: list[int], masks) -> np.ndarray:
    """One label map from per-segment boolean masks; overlaps of different labels are errors."""
    shape = masks[0].shape if len(masks) else (0, 0)
    out = np.zeros(shape, np.uint8)
    owner = np.full(shape, -1, np.int32)
    clashes: dict[tuple[int, int], int] = {}
    for i, (value, mask) in enumerate(zip(seg_values, masks, strict=True)):
        if not mask.any():
            continue
        taken = mask & (owner >= 0)
        if taken.any():
            others, counts = np.unique(owner[taken], return_counts=True)
            for j, n in zip(others.tolist(), counts.tolist(), strict=True):
                if seg_values[j] != value:
                    clashes[(j, i)] = n
        free = mask & (owner < 0)
        owner[free] = i
        out[free] = value
    if clashes:
        parts = [f'"{seg_names[a]}" and "{seg_names[b]}" overlap in {_count(n, "pixel")}'
                 for (a, b), n in clashes.items()]  # fmt: skip
        raise InputError(path, f"segments {'; '.join(parts)} (a pixel can have one label only)")
    return out


# ------------------------------------------------------------------------------------------------
# Pillow: PNG, TIFF, BMP, GIF
# ------------------------------------------------------------------------------------------------
def _open_pillow(path: Path, kind: str):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"cannot be read as a {kind.upper()} image ({exc})") from exc
    if getattr(img, "n_frames", 1) > 1:
        img.close()
        what = "a multi-page TIFF" if kind == "tiff" else "an animated image"
        raise InputError(path, f"is {what} ({img.n_frames} frames); a mask has one image")
    return img


def _png_bit_depth(path: Path) -> int | None:
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if len(head) == 26 and head[12:16] == b"IHDR" else None


def _pillow_array(path: Path, kind: str) -> np.ndarray:
    with _open_pillow(path, kind) as img:
        mode = img.mode
        arr = np.array(img)
    if mode in ("P", "PA", "LA"):
        return arr[..., 0] if arr.ndim == 3 else arr
    if mode in ("RGB", "RGBA", "RGBX"):
        rgb = arr[..., :3]
        if not (
            np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
        ):
            raise InputError(path, "colour image: save the mask as a palette or greyscale image")
        return rgb[..., 0]
    if mode == "L" and kind == "png":
        bits = _png_bit_depth(path)
        if bits in (2, 4):  # Pillow scales 2/4-bit grey to 0-255; the samples are the values
            return arr // (255 // (2**bits - 1))
    if arr.ndim != 2:
        raise InputError(path, f"image mode {mode}: save the mask as a palette or greyscale image")
    return arr


# ------------------------------------------------------------------------------------------------
# SimpleITK: NIfTI, NRRD, MetaImage, and Slicer segmentations
# ------------------------------------------------------------------------------------------------
def _sitk_error(path: Path, exc: Exception, what: str = "an image") -> InputError:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return InputError(path, f"cannot be read as {what} ({lines[-1].strip()})")


def _sitk_info(path: Path):
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise _sitk_error(path, exc) from exc
    return reader


def _sitk_format(path: Path) -> str:
    name = path.name.lower()
    return "MetaImage" if name.endswith((".mha", ".mhd")) else "NIfTI"


def _sitk_execute(path: Path, reader) -> np.ndarray:
    import SimpleITK as sitk

    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise _sitk_error(path, exc) from exc
    return sitk.GetArrayFromImage(img)


def _squeeze(path: Path, arr: np.ndarray, what: str = "mask") -> np.ndarray:
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise InputError(path, f"{what} is 3D with array shape {arr.shape}, expected a 2D image")
    return arr


def _sitk_array(path: Path, reader) -> np.ndarray:
    if reader.GetNumberOfComponents() != 1:
        raise InputError(path, f"has {reader.GetNumberOfComponents()} channels, expected 1")
    return _squeeze(path, _sitk_execute(path, reader))  # [z,] y, x → rows, cols


def _meta(reader, key: str) -> str | None:
    return reader.GetMetaData(key) if reader.HasMetaDataKey(key) else None


def _is_slicer(path: Path, reader) -> bool:
    keys = reader.GetMetaDataKeys()
    if "Segmentation_Extent" in keys and "Segmentation_ReferenceImageExtentOffset" not in keys:
        raise InputError(path, "is a segmentation of a 3D Slicer older than 4.11 "
                               "(Segmentation_Extent); open it in a current 3D Slicer and save "
                               "it again")  # fmt: skip
    return any(re.fullmatch(r"Segment\d+_ID", k) for k in keys) or any(
        k in keys
        for k in (
            "Segmentation_ReferenceImageExtentOffset",
            "Segmentation_MasterRepresentation",
        )  # fmt: skip
    )


@dataclass(frozen=True)
class _SlicerSegment:
    index: int
    name: str
    layer: int
    value: int
    extent: tuple[int, int, int, int, int, int] | None  # i0 i1 j0 j1 k0 k1 in the stored array


def _ints(path: Path, key: str, text: str, n: int) -> tuple[int, ...]:
    try:
        vals = tuple(int(float(v)) for v in text.split())
    except ValueError:
        vals = ()
    if len(vals) != n:
        raise InputError(path, f"header field {key} is malformed: {text!r}")
    return vals


def _slicer_segments(path: Path, reader) -> list[_SlicerSegment]:
    segments = []
    n = 0
    while reader.HasMetaDataKey(f"Segment{n}_ID"):
        key = f"Segment{n}_"
        name = _meta(reader, key + "Name") or _meta(reader, key + "ID") or ""
        layer = _meta(reader, key + "Layer")
        value = _meta(reader, key + "LabelValue")
        extent = _meta(reader, key + "Extent")
        segments.append(
            _SlicerSegment(
                index=n,
                name=name,
                layer=n if layer is None else _ints(path, key + "Layer", layer, 1)[0],
                value=1 if value is None else _ints(path, key + "LabelValue", value, 1)[0],
                extent=None if extent is None else _ints(path, key + "Extent", extent, 6),
            )
        )
        n += 1
    return segments


def _reference_grid(path: Path, reader) -> tuple[int, int, int, int] | None:
    """(first row, first col, rows, cols) of the reference image's voxel grid, if recorded."""
    params = _meta(reader, "Segmentation_ConversionParameters") or ""
    for param in params.split("&"):
        parts = param.split("|")
        if parts[0].strip() == "Reference image geometry" and len(parts) > 1:
            numbers = [v for v in parts[1].split(";") if v.strip()]
            if len(numbers) != 22:
                raise InputError(path, "its reference image geometry is malformed")
            i0, i1, j0, j1, k0, k1 = _ints(path, "Reference image geometry",
                                           " ".join(numbers[16:]), 6)  # fmt: skip
            if k1 > k0:
                raise InputError(path, f"was drawn on a 3D image ({k1 - k0 + 1} slices)")
            return j0, i0, j1 - j0 + 1, i1 - i0 + 1
    return None


def _read_slicer(path: Path, reader, shape, names) -> np.ndarray:
    segments = _slicer_segments(path, reader)
    seg_values = _resolve(path, [[s.name] for s in segments], names)
    key = "Segmentation_ReferenceImageExtentOffset"
    offset = _ints(path, key, _meta(reader, key) or "0 0 0", 3)
    grid = _reference_grid(path, reader)
    if grid is not None:
        _check_shape(path, grid[2:], shape, ", the segmentation's reference geometry")
    data = _sitk_execute(path, reader)  # [z,] y, x[, layer]
    if reader.GetNumberOfComponents() == 1:
        data = data[..., None]
    while data.ndim > 3 and data.shape[0] == 1:  # z = 1 (and any further singleton axes)
        data = data[0]
    if data.ndim != 3:
        raise InputError(path, f"segmentation is 3D with array shape {data.shape[:-1]}, "
                               "expected a 2D image")  # fmt: skip
    rows, cols, _ = data.shape
    if not segments:
        local = np.zeros((rows, cols), np.uint8)
    else:
        local = _slicer_labels(path, data, segments, seg_values)
    row0, col0 = offset[1], offset[0]
    if grid is not None:
        row0, col0 = row0 - grid[0], col0 - grid[1]
        full = grid[2:]
    elif shape is not None:
        full = shape
    else:
        full = (max(row0, 0) + rows, max(col0, 0) + cols)
    return _place(path, local, row0, col0, full)


def _slicer_labels(path: Path, data: np.ndarray, segments, seg_values) -> np.ndarray:
    rows, cols, n_layers = data.shape
    data = _integers(path, data)
    masks = []
    for s in segments:
        if not 0 <= s.layer < n_layers:
            raise InputError(path, f'segment "{s.name}" is in layer {s.layer}, but the file '
                                   f"has {_count(n_layers, 'layer')}")  # fmt: skip
        mask = data[..., s.layer] == s.value
        if s.extent is not None:  # Slicer reads a segment within its extent only
            i0, i1, j0, j1 = s.extent[:4]
            window = np.zeros_like(mask)
            if i0 <= i1 and j0 <= j1:
                window[max(j0, 0) : j1 + 1, max(i0, 0) : i1 + 1] = True
            mask &= window
        masks.append(mask)
    for layer in range(n_layers):
        known = {s.value for s in segments if s.layer == layer} | {0}
        stray = sorted(set(np.unique(data[..., layer]).tolist()) - known)
        if stray:
            raise InputError(path, f"layer {layer} holds values that belong to no segment: "
                                   f"{_shown(stray)}")  # fmt: skip
    return _compose(path, [s.name for s in segments], seg_values, masks)


def _place(path: Path, local: np.ndarray, row0: int, col0: int, full) -> np.ndarray:
    """``local`` placed at (row0, col0) of a zero image of size ``full``; labelled pixels that
    fall outside are an error."""
    rows, cols = local.shape
    out = np.zeros(tuple(full), np.uint8)
    r_lo, r_hi = max(row0, 0), min(row0 + rows, full[0])
    c_lo, c_hi = max(col0, 0), min(col0 + cols, full[1])
    r_hi, c_hi = max(r_hi, r_lo), max(c_hi, c_lo)
    inside = local[r_lo - row0 : r_hi - row0, c_lo - col0 : c_hi - col0]
    outside = int(np.count_nonzero(local)) - int(np.count_nonzero(inside))
    if outside:
        where = f"the segmentation's offset is row {row0}, column {col0}"
        n = _count(outside, "labelled pixel")
        image = f"{full[0]}×{full[1]} image"
        raise InputError(path, f"{n} outside the {image} ({where}): drawn on another image?")
    out[r_lo:r_hi, c_lo:c_hi] = inside
    return out


# ------------------------------------------------------------------------------------------------
# DICOM SEG
# ------------------------------------------------------------------------------------------------
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
    from .dicomseg import segread  # hipseg's own SEGs have no SliceThickness

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
