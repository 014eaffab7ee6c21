"""Intake of a new radiograph, as in training: decode, spacing, polarity, crop both hips.

Decoding, spacing, grey values and orientation are :func:`hipseg.intake.read_radiograph`'s
with the crop rule's intake options, the split into two hips (and the mirroring of one side)
is :func:`hipseg.crop.split_joints` with the crop rule the model was trained with; :func:`paste`
puts a predicted hip back into the full image, :meth:`Intake.stored` turns the full image back
into the orientation the DICOM stores (where the intake flipped it).

Implants (:func:`detect_metal`). Metal attenuates far more than bone: after burned-in text and
lead markers (at the top or bottom edge) it is the brightest thing in the radiograph. The
pixels are normalised from the image's median ``P50`` to its 90th percentile ``P90`` (bone;
both over the pixels below the image's maximum, so that saturated annotations do not count):
``z = (x − P50) / (P90 − P50)``. Candidate metal is ``z ≥ METAL_Z``; an opening with a disc of
``METAL_OPENING_MM`` removes thin bright edges; connected parts lying wholly in the top or the
bottom quarter of the image are annotations (lead markers, burned-in text) and are dropped. A
hip whose half of the image keeps at least ``implant_min_area_mm2`` of metal is excluded: it is
reported, not segmented. On 139 synthetic radiographs (125 of the demo preset, seeds 0–3 and 7;
14 of the paper preset; 28 hips with an arthroplasty, a plate or screws) the implant hips kept
1,339 mm² or more, the other hips 32 mm² at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..crop import CropRule, split_joints
from ..errors import HipsegError
from ..intake import Radiograph, Spacing, read_dataset, read_radiograph

SIDES = ("right", "left")
METAL_Z = 2.5
METAL_OPENING_MM = 1.0
ANNOTATION_ROWS = (0.25, 0.75)  # parts wholly above / below these fractions: annotations


@dataclass
class Intake:
    """One radiograph ready for prediction."""

    path: Path
    header: object  # pydicom Dataset without pixel data (the SEG references it)
    radiograph: Radiograph
    spacing: dict  # the spacing statement (:func:`spacing_statement`)
    joints: dict[str, np.ndarray]  # side -> hip image as the model sees it (mirrored per rule)
    excluded: dict[str, str] = field(default_factory=dict)  # side -> reason
    metal_mm2: dict[str, float] = field(default_factory=dict)
    ball: dict | None = None  # the calibration ball (hipseg.measure.calibration.find_ball)
    # the crop rule's side of the patient's right: assumed where PatientOrientation is absent
    patient_right_on: str = "image_left"

    @property
    def shape(self) -> tuple[int, int]:
        return self.radiograph.pixels.shape

    @property
    def spacing_xy(self) -> tuple[float, float]:
        return self.radiograph.spacing_xy

    @property
    def stored_spacing_xy(self) -> tuple[float, float]:
        """(x, y) spacing of the image as stored in the DICOM."""
        sx, sy = self.spacing_xy
        return (sy, sx) if self.radiograph.orientation.transpose else (sx, sy)

    def stored(self, labels: np.ndarray) -> np.ndarray:
        """A label map in the intake's orientation → as the DICOM stores the image (the inverse
        of :meth:`hipseg.intake.Radiograph.orient`)."""
        o = self.radiograph.orientation
        if o.flip_lr:
            labels = labels[:, ::-1]
        if o.flip_ud:
            labels = labels[::-1, :]
        if o.transpose:
            labels = labels.T
        return np.ascontiguousarray(labels)


def read(
    path: str | Path, rule: CropRule, min_metal_mm2: float | None,
    excluded: dict[str, str] | None = None, ball_diameter_mm: float = 25.0,
) -> Intake:  # fmt: skip
    """Read and crop one radiograph; look for a calibration ball of ``ball_diameter_mm``
    (:func:`hipseg.measure.calibration.find_ball`); detect implants unless ``min_metal_mm2`` is
    None (the ball's metal is not an implant's)."""
    from ..measure.calibration import ball_pixels, find_ball

    path = Path(path)
    header = read_dataset(path, stop_before_pixels=True)
    rad = read_radiograph(path, rule.intake())
    empty = np.zeros(rad.pixels.shape, np.uint8)
    joints = {side: img for side, (img, _) in split_joints(rad.pixels, empty, rule).items()}
    intake = Intake(path, header, rad, spacing_statement(rad.spacing), joints, dict(excluded or {}),
                    patient_right_on=rule.patient_right_on)  # fmt: skip
    intake.ball = find_ball(rad.pixels, rad.spacing_xy, ball_diameter_mm)
    if min_metal_mm2 is not None:
        ignore = ball_pixels(rad.pixels, rad.spacing_xy, ball_diameter_mm)
        areas = detect_metal(rad.pixels, rad.spacing_xy, rule, ignore)
        intake.metal_mm2 = areas
        for side, area in areas.items():
            if area >= min_metal_mm2 and side not in intake.excluded:
                intake.excluded[side] = f"metal implant detected ({area:.0f} mm² of metal)"
    return intake


# spacing sources of hipseg.intake.spacing that are calibrated to the patient plane (the
# magnification-corrected one with the modality's own estimate of the magnification)
CALIBRATED = ("pixel_spacing_calibrated", "imager_spacing_magnification_corrected")


def spacing_statement(spacing: Spacing) -> dict:
    """Where the pixel spacing comes from (:mod:`hipseg.intake.spacing`'s precedence) and
    whether millimetres on it are calibrated to the patient.

    ImagerPixelSpacing is measured at the detector: anatomy in an AP pelvis radiograph is
    magnified by about 15–20 %, so millimetres on it are *uncalibrated*, as are those of a
    PixelSpacing of unknown calibration and of a configured fallback."""
    calibrated = spacing.source in CALIBRATED
    note = f"{spacing.label}: {spacing.detail}"
    if not calibrated:
        note += "; not calibrated: distances include the radiographic magnification (about "
        note += "15–20 % on an AP pelvis radiograph)"
    return {"source": spacing.source, "spacing_mm": [float(v) for v in spacing.xy],
            "calibrated": calibrated, "note": note}  # fmt: skip


def detect_metal(pixels: np.ndarray, spacing_xy, rule: CropRule,
                 ignore: np.ndarray | None = None) -> dict[str, float]:  # fmt: skip
    """Area (mm²) of implant metal in each hip's half of the image (see the module docstring).

    ``ignore``: pixels that are not implants (a calibration ball)."""
    sx, sy = spacing_xy
    top = float(pixels.max())
    below = pixels[pixels < top]
    if below.size < 100:
        return dict.fromkeys(SIDES, 0.0)
    p50, p90 = np.percentile(below, [50, 90])
    if p90 <= p50:
        return dict.fromkeys(SIDES, 0.0)
    metal = (pixels - p50) / (p90 - p50) >= METAL_Z
    if ignore is not None:
        metal &= ~ignore
    sampling = (sy, sx)
    core = ndimage.distance_transform_edt(metal, sampling=sampling) > METAL_OPENING_MM
    metal = ndimage.distance_transform_edt(~core, sampling=sampling) <= METAL_OPENING_MM
    parts, _ = ndimage.label(metal)
    rows = pixels.shape[0]
    for k, box in enumerate(ndimage.find_objects(parts), start=1):
        if box[0].stop <= ANNOTATION_ROWS[0] * rows or box[0].start >= ANNOTATION_ROWS[1] * rows:
            metal[box][parts[box] == k] = False  # a lead marker or burned-in text
    halves = split_joints(metal, np.zeros(metal.shape, np.uint8), rule)
    return {side: float(halves[side][0].sum() * sx * sy) for side in SIDES}


def paste(full: np.ndarray, side: str, joint: np.ndarray, rule: CropRule) -> None:
    """Put a hip's label map (as the model saw the hip) back into the full-image map, in place:
    the inverse of :func:`hipseg.crop.split_joints`."""
    rows, cols = full.shape
    r0, r1 = int(round(rule.rows[0] * rows)), int(round(rule.rows[1] * rows))
    c = int(round(rule.split_at * cols))
    on_left = (side == "right") == (rule.patient_right_on == "image_left")
    cols_slice = slice(0, c) if on_left else slice(c, cols)
    if rule.mirror == side:
        joint = joint[:, ::-1]
    target = full[r0:r1, cols_slice]
    if joint.shape != target.shape:
        raise HipsegError(f"{side} hip: labels {joint.shape} do not fit the crop {target.shape}")
    target[...] = joint
