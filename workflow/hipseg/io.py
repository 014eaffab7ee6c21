"""Small I/O helpers shared by the stages: atomic writes and 2D image files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Nothing half-written is ever left at ``path``: on an exception the temporary file is removed.
    ``suffix`` keeps the extension so that writers which dispatch on it (SimpleITK) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(path.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_image_2d(path: str | Path, array: np.ndarray, spacing_xy: tuple[float, float]) -> None:
    """Write a 2D array (rows, cols) as a **2D** image with spacing (sx, sy) in mm."""
    if array.ndim != 2:
        raise ValueError(f"expected a 2D array, got shape {array.shape}")
    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing((float(spacing_xy[0]), float(spacing_xy[1])))
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)


def read_image_2d(path: str | Path) -> tuple[np.ndarray, tuple[float, float]]:
    """Read a 2D image (NIfTI, NRRD, PNG, …); singleton axes of a 3D file are squeezed.

    Returns the array (rows, cols) and the spacing (sx, sy).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file does not exist")
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        msg = str(exc).strip().splitlines()[-1]
        raise InputError(path, f"cannot be read as an image ({msg})") from exc
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, f"has {img.GetNumberOfComponentsPerPixel()} channels, expected 1")
    arr = sitk.GetArrayFromImage(img)
    spacing = img.GetSpacing()
    if arr.ndim == 3:
        if arr.shape[0] != 1:
            raise InputError(path, f"is 3D with shape {arr.shape}, expected a 2D image")
        arr = arr[0]
    return arr, (float(spacing[0]), float(spacing[1]))


def image_size_2d(path: str | Path) -> tuple[int, int]:
    """(rows, cols) of an image file, read from its header only; a file of more than one
    channel or more than one slice is an :class:`InputError`."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        msg = str(exc).strip().splitlines()[-1]
        raise InputError(path, f"cannot be read as an image ({msg})") from exc
    if reader.GetNumberOfComponents() != 1:
        raise InputError(path, f"has {reader.GetNumberOfComponents()} channels, expected 1")
    size = reader.GetSize()
    if len(size) == 3 and size[2] != 1:
        raise InputError(path, f"is 3D with size {size}, expected a 2D image")
    return int(size[1]), int(size[0])
