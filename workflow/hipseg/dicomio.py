"""Reading radiographs from DICOM (kept for existing imports; the code is in
:mod:`hipseg.intake`)."""

from .intake import Radiograph, dicom_size, read_dataset, read_radiograph
from .intake.spacing import pixel_spacing

__all__ = ["Radiograph", "dicom_size", "pixel_spacing", "read_dataset", "read_radiograph"]
