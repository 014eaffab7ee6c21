"""Value-coded label maps: PNG, TIFF, BMP and GIF through Pillow; NIfTI, NRRD and MetaImage
through SimpleITK (whose readers the 3D Slicer reader shares)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError


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
