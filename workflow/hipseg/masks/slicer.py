"""3D Slicer segmentations (.seg.nrrd, any NRRD with ``Segment{N}_ID`` fields): segments in
layers under label values within their extents, placed at the segmentation's offset in the
reference image's voxel grid."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .images import _meta, _sitk_execute
from .segments import _compose, _resolve
from .values import _check_shape, _count, _integers, _shown


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
