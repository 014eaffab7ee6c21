"""Reading radiographs from DICOM: pixel values, display polarity and pixel spacing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut

from .errors import InputError


@dataclass
class Radiograph:
    pixels: np.ndarray  # float32 (rows, cols), bone bright (MONOCHROME2 polarity)
    spacing_xy: tuple[float, float]  # (column spacing, row spacing) in mm
    photometric: str


def read_dataset(path: str | Path, stop_before_pixels: bool = False) -> pydicom.Dataset:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "DICOM file does not exist")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise InputError(path, f"not a DICOM file ({exc})") from exc
    except Exception as exc:  # truncated or corrupt files raise a variety of errors
        raise InputError(path, f"cannot be read as DICOM ({type(exc).__name__}: {exc})") from exc
    return ds


def dicom_size(path: str | Path) -> tuple[int, int]:
    """(rows, cols) from the header."""
    ds = read_dataset(path, stop_before_pixels=True)
    if "Rows" not in ds or "Columns" not in ds:
        raise InputError(path, "has no Rows/Columns: not an image")
    return int(ds.Rows), int(ds.Columns)


def pixel_spacing_xy(ds: pydicom.Dataset, path: str | Path) -> tuple[float, float]:
    """(sx, sy) in mm from PixelSpacing, else ImagerPixelSpacing (DICOM order is row, column)."""
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(kw)
        if value is not None and len(value) == 2 and all(float(v) > 0 for v in value):
            row_spacing, col_spacing = (float(v) for v in value)
            return col_spacing, row_spacing
    raise InputError(path, "has neither PixelSpacing nor ImagerPixelSpacing: physical size unknown")


def read_radiograph(path: str | Path) -> Radiograph:
    ds = read_dataset(path)
    if "PixelData" not in ds:
        raise InputError(path, "has no pixel data")
    try:
        arr = ds.pixel_array
    except Exception as exc:
        raise InputError(path, f"pixel data cannot be decoded ({exc})") from exc
    if arr.ndim != 2:
        raise InputError(path, f"expected a single 2D greyscale frame, got shape {arr.shape}")
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "MONOCHROME1":
        values = values.max() + values.min() - values
    elif photometric != "MONOCHROME2":
        raise InputError(path, f"unsupported PhotometricInterpretation {photometric}")
    return Radiograph(values, pixel_spacing_xy(ds, path), photometric)
