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

from .run import (
    SegmentOptions,
    Source,
    collect,
    read_sheet,
    segment,
    sheet_inputs,
    test_radiographs,
)

__all__ = [
    "SegmentOptions",
    "Source",
    "collect",
    "read_sheet",
    "segment",
    "sheet_inputs",
    "test_radiographs",
]
