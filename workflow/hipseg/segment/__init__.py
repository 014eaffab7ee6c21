"""Segment new radiographs with a trained model: full-image label maps, DICOM SEG, measurements.

``hipseg segment IN... -o OUT`` takes DICOM files, folders of them or a sheet of new
radiographs. Each radiograph goes through the training intake (:mod:`.intake`: decode, spacing,
polarity, both hips cropped at the midline with the crop rule, one side mirrored; hips with metal
implants detected and excluded), the chosen model predicts each hip (:mod:`.model`: nnU-Net's
predictor, loaded once per run), the hips are un-mirrored and pasted back into one full-image
label map, and :mod:`.outputs` writes the label map (NIfTI, PNG), an overlay, a DICOM SEG and
the measurements of :mod:`hipseg.measure`. :mod:`.run` drives a run and writes ``run.json``.
"""

from __future__ import annotations

from importlib import import_module

from .sources import Source, collect, read_sheet, sheet_inputs

# the run (nnU-Net, torch, the measurements) is imported when first used, so that the workflow
# can read a sheet of new radiographs (sheet_inputs) without importing torch
_FROM_RUN = ("SegmentOptions", "segment", "test_radiographs")


def __getattr__(name: str):
    if name in _FROM_RUN:
        return getattr(import_module(".run", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SegmentOptions",
    "Source",
    "collect",
    "read_sheet",
    "segment",
    "sheet_inputs",
    "test_radiographs",
]
