"""One-joint cropping: each AP pelvis radiograph becomes a left and a right hip image.

The radiograph is split at a vertical line (the image midline by default, ``split_at`` of the
width), optionally trimmed to a row range, and the joints of one side are mirrored so that every
joint has the same orientation. The label map is cropped identically. Excluded hips are not
written. Images are **2D** NIfTI with the true pixel spacing (nnU-Net 2D needs 2D images).

Side convention: standard AP display, the patient's right on the image left
(``patient_right_on: image_left``); set ``image_right`` for images displayed the other way.
Reading the radiograph (decoders, spacing, grey values, orientation checks) is
:mod:`hipseg.intake`; its options are the intake keys of this section. The joints of one
radiograph are written into a temporary folder that replaces ``out_dir`` only when all of them
were written: nothing half-written is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .errors import HipsegError, InputError
from .intake import IntakeOptions, read_radiograph
from .io import write_image_2d, write_json
from .labels import VALUES
from .options import StageOptions


@dataclass(frozen=True)
class CropRule(StageOptions):
    """The ``crop:`` section of the config (types, ranges and defaults in the config schema)."""

    SECTION: ClassVar[str] = "crop"
    split_at: float = 0.5  # vertical split line as a fraction of the width
    rows: tuple[float, float] = (0.0, 1.0)  # kept row range as fractions of the height
    mirror: str = "right"  # which side is mirrored: right, left or none
    patient_right_on: str = "image_left"
    # intake (hipseg.intake): what the stage accepts and how it reads the header
    orientation: str = "flip"  # PatientOrientation disagreeing: flip or error
    multi_frame: str = "error"  # error or first
    colour: str = "error"  # error or luminance
    voi_lut: bool = False
    fallback_spacing: tuple[float, float] | None = None  # [row, column] mm

    def __post_init__(self):
        if not self.rows[0] < self.rows[1]:
            raise HipsegError(f"crop.rows must be [start, stop] with start < stop, got {self.rows}")

    def intake(self) -> IntakeOptions:
        return IntakeOptions(
            patient_right_on=self.patient_right_on,
            orientation=self.orientation,
            multi_frame=self.multi_frame,
            colour=self.colour,
            voi_lut=self.voi_lut,
            fallback_spacing=None
            if self.fallback_spacing is None
            else tuple(self.fallback_spacing),
        )


def split_joints(
    image: np.ndarray, labels: np.ndarray, rule: CropRule
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return {"right": (img, lab), "left": (img, lab)} (patient sides), mirrored per rule."""
    rows, cols = image.shape
    r0, r1 = int(round(rule.rows[0] * rows)), int(round(rule.rows[1] * rows))
    c = int(round(rule.split_at * cols))
    halves = {
        "image_left": (image[r0:r1, :c], labels[r0:r1, :c]),
        "image_right": (image[r0:r1, c:], labels[r0:r1, c:]),
    }
    other = "image_right" if rule.patient_right_on == "image_left" else "image_left"
    joints = {"right": halves[rule.patient_right_on], "left": halves[other]}
    if rule.mirror != "none":
        img, lab = joints[rule.mirror]
        joints[rule.mirror] = (img[:, ::-1], lab[:, ::-1])
    return {k: (np.ascontiguousarray(i), np.ascontiguousarray(la)) for k, (i, la) in joints.items()}


def crop_case(
    case_id: str,
    dicom_path: str | Path,
    labels_path: str | Path,
    hips: str,
    out_dir: str | Path,
    rule: CropRule,
    patient: str,
    split: str = "",
    note: str = "",
    mapping=None,
) -> dict:
    """Crop one radiograph; write ``<case>_<R|L>_img.nii.gz`` / ``_lab.nii.gz`` and
    ``manifest.json`` into ``out_dir`` (all or nothing). Returns the manifest."""
    out_dir = Path(out_dir)
    rad = read_radiograph(dicom_path, rule.intake())
    from .masks import read_mask

    labels = rad.orient(read_mask(labels_path, shape=rad.stored_shape, names=mapping))
    joints = split_joints(rad.pixels, labels, rule)
    use = {"both": ("right", "left"), "left": ("left",), "right": ("right",), "none": ()}[hips]
    intake = rad.describe()
    entries = []
    with _atomic_dir(out_dir) as tmp:
        for side in ("right", "left"):
            case = f"{case_id}_{side[0].upper()}"
            entry = {
                "case": case,
                "radiograph": case_id,
                "side": side,
                "patient": patient,
                "split": split,
                "mirrored": rule.mirror == side,
                "excluded": side not in use,
                "note": note,
                "spacing_source": intake["spacing_source"],
            }
            if side in use:
                img, lab = joints[side]
                write_image_2d(tmp / f"{case}_img.nii.gz", img.astype(np.float32), rad.spacing_xy)
                write_image_2d(tmp / f"{case}_lab.nii.gz", lab, rad.spacing_xy)
                entry.update(
                    image=f"{case}_img.nii.gz",
                    labels=f"{case}_lab.nii.gz",
                    rows=int(img.shape[0]),
                    cols=int(img.shape[1]),
                    spacing=list(rad.spacing_xy),
                    label_pixels={str(v): int((lab == v).sum()) for v in VALUES},
                )
            entries.append(entry)
        manifest = {
            "radiograph": case_id,
            "photometric": rad.photometric,
            "intake": intake,
            "joints": entries,
        }
        write_json(tmp / "manifest.json", manifest)
    return manifest


@contextlib.contextmanager
def _atomic_dir(out_dir: Path):
    """A temporary folder beside ``out_dir`` that replaces it only on success."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp creates 0700
    try:
        yield tmp
        if out_dir.exists():
            old = tmp.with_name(tmp.name + ".old")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def crop_deidentified(
    case_id: str,
    dicom_path: str | Path,
    audit_path: str | Path,
    labels_path: str | Path,
    out_dir: str | Path,
    rule: CropRule,
    mapping=None,
) -> dict:
    """Crop a radiograph (or take a joint image) that hipseg de-identified: the pseudonym, hips,
    split and note come from its audit record (the sample sheet's values never reach this
    stage). ``mapping`` is the ``source.labels`` config section (mask label names)."""
    from .deid import require_deidentified

    require_deidentified(dicom_path)
    try:
        audit = json.loads(Path(audit_path).read_text(encoding="utf-8"))
        case = audit["case"]
        patient = audit["patient"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(audit_path, f"is not a de-identification audit record ({exc})") from exc
    if case.get("level") == "joint":
        return crop_joint(case_id, dicom_path, labels_path, out_dir, rule, patient, case,
                          dicom=True, mapping=mapping)  # fmt: skip
    return crop_case(
        case_id,
        dicom_path,
        labels_path,
        case["hips"],
        out_dir,
        rule,
        patient,
        case["split"],
        case["note"],
        mapping=mapping,
    )


def crop_provided(
    case_id: str, sheet: str | Path, out_dir: str | Path, rule: CropRule, mapping=None
) -> dict:
    """Take a non-DICOM joint image (PNG, TIFF, NIfTI, NRRD, …) as it is: already
    de-identified by its provider. Its row comes from the validated sheet (pseudonyms)."""
    from . import samplesheet

    row = samplesheet.row(sheet, case_id)
    if row["level"] != "joint" or row["dicom"]:
        raise InputError(sheet, f"row {case_id} is not a non-DICOM joint image")
    return crop_joint(case_id, row["image"], row["labels"], out_dir, rule, row["patient"], row,
                      dicom=False, mapping=mapping)  # fmt: skip


def crop_joint(case_id: str, image_path, labels_path, out_dir, rule: CropRule, patient: str,
               case: dict, *, dicom: bool, mapping=None) -> dict:  # fmt: skip
    """One joint image of a joint sheet or an nnU-Net dataset: read, mirrored to the training
    convention when its side is ``crop.mirror`` (a dataset's joints without a side are taken
    as they are), written as the crop stage writes the joints it cuts (all or nothing)."""
    from .masks import read_mask
    from .source import SPACING_SOURCES, parse_values, read_joint_image

    out_dir = Path(out_dir)
    values = parse_values(case.get("values", ""))
    if dicom:
        rad = read_radiograph(image_path, rule.intake())
        mask = read_mask(labels_path, shape=rad.stored_shape, names=mapping, values=values)
        img, lab, spacing = rad.pixels, rad.orient(mask), rad.spacing_xy
        intake = {**rad.describe(), "deidentified_by": "hipseg"}
        photometric = rad.photometric
    else:
        img, spacing, source = read_joint_image(image_path, case.get("spacing", ""))
        lab = read_mask(labels_path, shape=img.shape, names=mapping, values=values)
        intake = {"format": Path(image_path).name.split(".", 1)[-1].lower(),
                  "spacing_mm": [spacing[1], spacing[0]], "spacing_source": source,
                  "spacing": SPACING_SOURCES[source],
                  "deidentified_by": "its provider (not DICOM: as de-identified)"}  # fmt: skip
        photometric = ""
    side = case.get("side", "")
    mirrored = bool(side) and rule.mirror == side
    if mirrored:
        img, lab = img[:, ::-1], lab[:, ::-1]
    img, lab = np.ascontiguousarray(img), np.ascontiguousarray(lab, dtype=np.uint8)
    entry = {
        "case": case_id,
        "radiograph": case.get("radiograph") or case_id,
        "side": side,
        "patient": patient,
        "split": case.get("split", ""),
        "mirrored": mirrored,
        "excluded": False,
        "note": case.get("note", ""),
        "spacing_source": intake["spacing_source"],
        "level": "joint",
        "deidentified_by": "hipseg" if dicom else "provider",
        "patient_grouped": case.get("patient_source", "sheet") != "case",
        "image": f"{case_id}_img.nii.gz",
        "labels": f"{case_id}_lab.nii.gz",
        "rows": int(img.shape[0]),
        "cols": int(img.shape[1]),
        "spacing": list(spacing),
        "label_pixels": {str(v): int((lab == v).sum()) for v in VALUES},
    }
    with _atomic_dir(out_dir) as tmp:
        write_image_2d(tmp / entry["image"], img.astype(np.float32), spacing)
        write_image_2d(tmp / entry["labels"], lab, spacing)
        manifest = {"radiograph": entry["radiograph"], "photometric": photometric,
                    "intake": intake, "joints": [entry]}  # fmt: skip
        write_json(tmp / "manifest.json", manifest)
    return manifest
