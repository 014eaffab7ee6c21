"""What ``hipseg segment`` writes for one radiograph, into ``OUT/<name>/``.

``labels.nii.gz``  the full-image label map (2D NIfTI with the radiograph's spacing), in the
                   orientation the DICOM stores the image
``labels.png``     the same as an 8-bit PNG (label values of :mod:`hipseg.labels`)
``overlay.png``    the radiograph with the labels, the fitted head circles, the teardrop line,
                   the rims, shaft axes and lesser trochanters, in the intake's orientation
                   (standard AP display; the same unless the intake flipped the image), which
                   is also the frame of the measurements' coordinates
``seg.dcm``        a DICOM Segmentation referencing the source radiograph (:mod:`hipseg.dicomseg`)
``sr.dcm``         a TID 1500 Measurement Report of the measurements (:mod:`hipseg.clinical.sr`)
``pr.dcm``         a presentation state drawing the label outlines and the measurements on the
                   source radiograph (:mod:`hipseg.clinical.pr`)
``measurements.json`` / ``measurements.csv``  landmarks and measurements (:mod:`hipseg.measure`)
``templating.json`` / ``templating.csv`` / ``templating.png``  with ``--template``: the planned
                   components and predicted changes (:mod:`hipseg.templating`) and their outlines
                   on the radiograph; the SR and the presentation state carry them too

A result that fails a quality check (:mod:`hipseg.clinical.quality`) says "NEEDS REVIEW" and why
in the overlay, the SR and the presentation state.

The folder is written as ``.<name>.partial`` and renamed when complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..clinical.pr import build_gsps, review_banner
from ..clinical.sr import build_sr
from ..dicomseg import write_seg
from ..io import write_image_2d
from ..measure.draw import base_image, draw_record, save_png
from ..measure.record import write_record

FILES = {
    "labels_nifti": "labels.nii.gz",
    "labels_png": "labels.png",
    "overlay": "overlay.png",
    "seg": "seg.dcm",
    "sr": "sr.dcm",
    "pr": "pr.dcm",
    "measurements_json": "measurements.json",
    "measurements_csv": "measurements.csv",
}
TEMPLATING_FILES = {
    "templating_json": "templating.json",
    "templating_csv": "templating.csv",
    "templating_png": "templating.png",
}


def write_outputs(out_dir: Path, name: str, intake, labels: np.ndarray, record: dict,
                  model: str, quality: dict | None = None,
                  templating: dict | None = None) -> dict[str, str]:  # fmt: skip
    """Write every output of one radiograph; return {kind: path relative to ``out_dir``}."""
    final = out_dir / name
    tmp = out_dir / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        stored, stored_spacing = intake.stored(labels), intake.stored_spacing_xy
        write_image_2d(tmp / FILES["labels_nifti"], stored, stored_spacing)
        save_png(stored, tmp / FILES["labels_png"])
        overlay = base_image(intake.radiograph.pixels, labels)
        spacing = tuple(record["spacing"]["spacing_mm"])  # the measurements' millimetres
        quality = quality or {"needs_review": False, "reasons": []}
        overlay = review_banner(draw_record(overlay, record, spacing), quality)
        save_png(overlay, tmp / FILES["overlay"])
        # the SEG lies pixel on pixel on its source: the source's PixelSpacing, not the
        # intake's (which may be divided by a magnification factor)
        ps = intake.header.get("PixelSpacing")
        seg_spacing = stored_spacing if not ps else (float(ps[1]), float(ps[0]))
        # a thin header is taken as it is (hipseg.dicomref); the orientation the intake assumed
        right_on = intake.patient_right_on
        write_seg(intake.header, stored, seg_spacing, model, tmp / FILES["seg"], right_on)
        build_sr(intake.header, record, quality, labels.shape, model, right_on,
                 templating=templating).save_as(tmp / FILES["sr"])  # fmt: skip
        build_gsps(intake.header, record, quality, labels, model, right_on,
                   templating=templating).save_as(tmp / FILES["pr"])  # fmt: skip
        write_record(record, name, tmp / FILES["measurements_json"],
                     tmp / FILES["measurements_csv"])  # fmt: skip
        files = dict(FILES)
        if templating is not None:
            _write_templating(tmp, name, intake, templating, spacing)
            files.update(TEMPLATING_FILES)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {kind: f"{name}/{file}" for kind, file in files.items()}


def _write_templating(folder: Path, name: str, intake, templating: dict, spacing) -> None:
    from ..templating.draw import draw_templating
    from ..templating.record import write_templating

    write_templating(templating, name, folder / TEMPLATING_FILES["templating_json"],
                     folder / TEMPLATING_FILES["templating_csv"])  # fmt: skip
    from PIL import Image

    image = base_image(intake.radiograph.pixels)
    scale = max(1, int(round(900 / image.width)))  # a demo radiograph is 200 pixels wide
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)
    save_png(draw_templating(image, templating, spacing, scale),
             folder / TEMPLATING_FILES["templating_png"])  # fmt: skip
