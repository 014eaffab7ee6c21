"""One-joint cropping: each AP pelvis radiograph becomes a left and a right hip image.

The radiograph is split at a vertical line (the image midline by default, ``split_at`` of the
width), optionally trimmed to a row range, and the joints of one side are mirrored so that every
joint has the same orientation. The label map is cropped identically. Excluded hips are not
written. Images are **2D** NIfTI with the true pixel spacing (nnU-Net 2D needs 2D images).

Side convention: standard AP display, the patient's right on the image left
(``patient_right_on: image_left``); set ``image_right`` for images displayed the other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dicomio import read_radiograph
from .errors import InputError
from .io import read_image_2d, write_image_2d, write_json


@dataclass(frozen=True)
class CropRule:
    split_at: float = 0.5  # vertical split line as a fraction of the width
    rows: tuple[float, float] = (0.0, 1.0)  # kept row range as fractions of the height
    mirror: str = "right"  # which side is mirrored: right, left or none
    patient_right_on: str = "image_left"

    @classmethod
    def from_config(cls, cfg: dict) -> CropRule:
        rule = cls(
            split_at=float(cfg.get("split_at", 0.5)),
            rows=tuple(float(v) for v in cfg.get("rows", (0.0, 1.0))),
            mirror=str(cfg.get("mirror", "right")),
            patient_right_on=str(cfg.get("patient_right_on", "image_left")),
        )
        if not 0.1 <= rule.split_at <= 0.9:
            raise ValueError(f"crop.split_at must be within 0.1–0.9, got {rule.split_at}")
        if not (len(rule.rows) == 2 and 0.0 <= rule.rows[0] < rule.rows[1] <= 1.0):
            raise ValueError(f"crop.rows must be [start, stop] within 0–1, got {rule.rows}")
        if rule.mirror not in ("right", "left", "none"):
            raise ValueError(f"crop.mirror must be right, left or none, got {rule.mirror}")
        if rule.patient_right_on not in ("image_left", "image_right"):
            raise ValueError("crop.patient_right_on must be image_left or image_right")
        return rule


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
) -> dict:
    """Crop one radiograph; write ``<case>_<R|L>_img.nii.gz`` / ``_lab.nii.gz`` and
    ``manifest.json`` into ``out_dir``. Returns the manifest."""
    out_dir = Path(out_dir)
    rad = read_radiograph(dicom_path)
    labels, _ = read_image_2d(labels_path)
    if labels.shape != rad.pixels.shape:
        raise InputError(
            labels_path, f"label map shape {labels.shape} ≠ image shape {rad.pixels.shape}"
        )
    if labels.min() < 0 or labels.max() > 5:
        raise InputError(labels_path, "label values outside 0–5")
    joints = split_joints(rad.pixels, labels.astype(np.uint8), rule)
    use = {"both": ("right", "left"), "left": ("left",), "right": ("right",), "none": ()}[hips]
    entries = []
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
        }
        if side in use:
            img, lab = joints[side]
            write_image_2d(out_dir / f"{case}_img.nii.gz", img.astype(np.float32), rad.spacing_xy)
            write_image_2d(out_dir / f"{case}_lab.nii.gz", lab, rad.spacing_xy)
            entry.update(
                image=f"{case}_img.nii.gz",
                labels=f"{case}_lab.nii.gz",
                rows=int(img.shape[0]),
                cols=int(img.shape[1]),
                spacing=list(rad.spacing_xy),
                label_pixels={str(v): int((lab == v).sum()) for v in range(1, 6)},
            )
        entries.append(entry)
    manifest = {"radiograph": case_id, "photometric": rad.photometric, "joints": entries}
    write_json(out_dir / "manifest.json", manifest)
    return manifest
