"""One radiograph read for cropping: checked, decoded, turned into grey values and oriented."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import decode, geometry, pixels, spacing


@dataclass(frozen=True)
class IntakeOptions:
    """What the crop stage accepts (the intake keys of ``crop:``; see config/README.md)."""

    patient_right_on: str = "image_left"
    orientation: str = "flip"  # flip or error
    multi_frame: str = "error"  # error or first
    colour: str = "error"  # error or luminance
    voi_lut: bool = False
    fallback_spacing: tuple[float, float] | None = None  # (row, column) mm


@dataclass
class Radiograph:
    pixels: np.ndarray  # float32 (rows, cols), bone bright, in the crop's orientation
    spacing: spacing.Spacing  # in the crop's orientation
    photometric: str
    stored_shape: tuple[int, int]  # (rows, cols) as stored: the label map's shape
    orientation: geometry.Orientation = field(default_factory=geometry.Orientation)
    transfer_syntax: str = ""
    lossy: bool = False
    details: dict = field(default_factory=dict)

    @property
    def spacing_xy(self) -> tuple[float, float]:
        return self.spacing.xy

    def orient(self, arr: np.ndarray) -> np.ndarray:
        """A label map of the stored image → the orientation of :attr:`pixels`."""
        return self.orientation.apply(arr)

    def describe(self) -> dict:
        """The intake record of the crop manifest."""
        return {
            "transfer_syntax": self.transfer_syntax,
            "lossy": self.lossy,
            "spacing_mm": [self.spacing.row, self.spacing.col],
            "spacing_source": self.spacing.source,
            "spacing": self.spacing.label,
            "spacing_detail": self.spacing.detail,
            "orientation": self.orientation.note,
            "orientation_changed": self.orientation.changed,
            **self.details,
        }


def read_radiograph(path: str | Path, options: IntakeOptions | None = None) -> Radiograph:
    """Read one radiograph; every problem is an :class:`InputError` naming the file."""
    options = options or IntakeOptions()
    path = Path(path)
    ds = decode.read_dataset(path)
    geometry.check_laterality(ds, path)
    found = spacing.pixel_spacing(ds, path, options.fallback_spacing)
    turn = geometry.orientation(ds, path, options.patient_right_on, options.orientation)
    arr = decode.decode(ds, path)
    arr = pixels.single_frame(arr, ds, path, options.multi_frame)
    values, details = pixels.greyscale(arr, ds, path, options.colour, options.voi_lut)
    stored_shape = (int(values.shape[0]), int(values.shape[1]))
    if turn.transpose:
        found = spacing.Spacing(found.col, found.row, found.source, found.detail, found.factor)
    ts = ds.file_meta.TransferSyntaxUID
    lossy = decode.SYNTAXES.get(ts, ("", False))[1]
    lossy = lossy or str(ds.get("LossyImageCompression", "") or "").strip() == "01"
    return Radiograph(
        pixels=turn.apply(values),
        spacing=found,
        photometric=str(ds.get("PhotometricInterpretation", "")),
        stored_shape=stored_shape,
        orientation=turn,
        transfer_syntax=decode.syntax_name(ts),
        lossy=lossy,
        details=details,
    )


def dicom_size(path: str | Path) -> tuple[int, int]:
    """(rows, cols) from the header."""
    ds = decode.read_dataset(path, stop_before_pixels=True)
    if "Rows" not in ds or "Columns" not in ds:
        raise InputError(path, "has no Rows/Columns: not an image")
    return int(ds.Rows), int(ds.Columns)


def inspect(path: str | Path) -> tuple[tuple[int, int], str]:
    """What the sample-sheet validation checks before anything runs, whatever the crop
    options: the file reads as DICOM, its pixel data is there, whole and of the header's size,
    bits and spacing values are sane (a spacing that is present must be usable), it shows both
    sides and its PatientOrientation, if any, is usable. Returns
    ((rows, cols), SOPInstanceUID) for the label-map and duplicate checks."""
    path = Path(path)
    ds = decode.read_dataset(path)
    g = decode.check_pixel_data(ds, path)
    decode.check_decoder(ds, path)
    spacing.pixel_spacing(ds, path, fallback=(1.0, 1.0))  # absence is the crop's decision
    geometry.check_laterality(ds, path)
    geometry.orientation(ds, path, "image_left", "flip")  # unusable whatever the options
    sop = str(ds.get("SOPInstanceUID", "") or "").strip()
    return (g["rows"], g["cols"]), sop
