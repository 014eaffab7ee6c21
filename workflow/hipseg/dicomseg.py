"""DICOM Segmentation objects (SEG) of a predicted full-image label map, with highdicom.

One binary segment per label of :mod:`hipseg.labels` (its name, description and overlay colour),
one frame per segment that has pixels. The SEG references its source radiograph (same study,
the source's SOP Instance UID in the frame's derivation and in ReferencedSeriesSequence) and
copies the source's patient and study attributes, as DICOM requires: a SEG made from an
identified radiograph identifies the patient too. CR/DX images have no plane position or
orientation, so highdicom needs the source's PatientOrientation and an explicit
PixelMeasuresSequence (the source's spacing). A thin header is taken as it is
(:mod:`hipseg.dicomref`): absent Type 2 patient and study attributes are empty in the SEG, an
absent or empty PatientOrientation is derived from the intake's assumption (``L\\F``), and the
SEG's ImageComments say so. No frame of reference, so no SliceThickness (PS3.3 C.7.6.16.2.1:
Type 1C, required only with a Frame of Reference UID); :func:`read_seg` reads such a SEG back.

UIDs are derived from the source's SOP Instance UID and the model, so the same radiograph
segmented by the same model gets the same series and instance UIDs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom

from . import __version__
from .dicomref import reference, set_series_body_part
from .errors import HipsegError, InputError
from .io import atomic_path
from .labels import BACKGROUND, LABELS

MANUFACTURER = "hipseg"
SERIES_NUMBER = 901  # a series number away from the modality's own


def _property_type(name: str, description: str):
    """SNOMED CT code of what a label covers (by its description; generic otherwise)."""
    from pydicom.sr.codedict import codes

    text = f"{name} {description}".lower()
    for words, code in ((("region between", "joint space"), codes.SCT.HipJoint),
                        (("teardrop", "acetabul"), codes.SCT.Acetabulum),
                        (("femoral", "femur", "trochanter"), codes.SCT.Femur),
                        (("pelvic", "pelvis"), codes.SCT.BoneStructureOfPelvis)):  # fmt: skip
        if any(w in text for w in words):
            return code
    return codes.SCT.AnatomicalStructure


def segment_descriptions(model: str):
    """One highdicom SegmentDescription per label, numbered 1… in the order of LABELS."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(
        name=f"hipseg nnU-Net v2 ({model})",
        family=codes.cid7162.ArtificialIntelligence,
        version=__version__,
    )
    return [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=lab.name,
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=_property_type(lab.name, lab.description),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_id=f"{lab.name}: {lab.description}",
            tracking_uid=pydicom.uid.generate_uid(entropy_srcs=["hipseg", lab.name]),
            display_color=hd.color.CIELabColor.from_rgb(*(int(c * 255) for c in lab.color)),
        )
        for number, lab in enumerate(LABELS, start=1)
    ]


def _segment_numbers(labels: np.ndarray) -> np.ndarray:
    """Label values → segment numbers (1… in the order of LABELS; background 0)."""
    lut = np.zeros(max(int(labels.max()), max(lab.value for lab in LABELS)) + 1, np.uint8)
    for number, lab in enumerate(LABELS, start=1):
        lut[lab.value] = number
    lut[BACKGROUND] = 0
    return lut[labels]


def build_seg(source: pydicom.Dataset, labels: np.ndarray, spacing_xy, model: str,
              patient_right_on: str = "image_left"):  # fmt: skip
    """A highdicom Segmentation of ``labels`` (rows × cols of the source) for ``source``
    (``patient_right_on``: what the intake assumed where PatientOrientation is absent)."""
    import highdicom as hd

    if labels.shape != (int(source.Rows), int(source.Columns)):
        raise HipsegError(f"label map {labels.shape} does not match the source image "
                          f"{int(source.Rows)}×{int(source.Columns)}")  # fmt: skip
    ref = reference(source, patient_right_on)
    src_uid = str(source.SOPInstanceUID)
    sx, sy = spacing_xy
    with warnings.catch_warnings():
        # pseudonymised patient names (hipseg's "P…" IDs) have a single name component
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        seg = _segmentation(hd, ref.dataset, labels, sx, sy, model, src_uid)
    # a projection radiograph has no slice thickness and the SEG no frame of reference: absent
    # (Type 1C; highdicom writes it empty)
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    if "SliceThickness" in measures:
        del measures.SliceThickness
    # no frame of reference: the General Image module's PatientOrientation says how the frames
    # lie (the source's, or the intake's assumption: rows and columns run as in the radiograph)
    seg.PatientOrientation = list(ref.dataset.PatientOrientation)
    set_series_body_part(seg, source, unknown_laterality=False)
    if ref.notes:
        seg.ImageComments = "hipseg: " + "; ".join(ref.notes)
    return seg


def _segmentation(hd, source, labels, sx, sy, model, src_uid):
    return hd.seg.Segmentation(
        source_images=[source],
        pixel_array=_segment_numbers(labels)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(model),
        series_instance_uid=pydicom.uid.generate_uid(entropy_srcs=[src_uid, model, "series"]),
        series_number=SERIES_NUMBER,
        sop_instance_uid=pydicom.uid.generate_uid(entropy_srcs=[src_uid, model, "seg"]),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=f"hipseg nnU-Net v2 {model}",
        software_versions=__version__,
        device_serial_number="none",
        series_description=f"hipseg {model} segmentation",
        content_label="HIPSEG",
        content_description="Hip structures (hipseg labels)",
        pixel_measures=hd.PixelMeasuresSequence(pixel_spacing=[sy, sx], slice_thickness=None),
    )


def write_seg(source: pydicom.Dataset, labels: np.ndarray, spacing_xy, model: str,
              path: str | Path, patient_right_on: str = "image_left") -> Path:  # fmt: skip
    """Build the SEG and write it atomically to ``path``."""
    seg = build_seg(source, labels, spacing_xy, model, patient_right_on)
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return Path(path)


def segread(path: str | Path):
    """A DICOM SEG read with highdicom (``highdicom.seg.segread``), also one without a
    SliceThickness: highdicom 0.28 reads Pixel Measures only with one, which a SEG without a
    frame of reference (hipseg's, of a projection radiograph) need not have; an empty one is
    added in memory."""
    import highdicom as hd

    ds = pydicom.dcmread(str(path))
    for group in ds.get("SharedFunctionalGroupsSequence") or []:
        for measures in group.get("PixelMeasuresSequence") or []:
            if "SliceThickness" not in measures:
                measures.SliceThickness = None
    return hd.seg.Segmentation.from_dataset(ds, copy=False)


def read_seg(path: str | Path, source_uid: str) -> tuple[np.ndarray, list[dict]]:
    """Read a SEG back: its label map (label values of :mod:`hipseg.labels`) for the source
    image and its segments (number, label, description, colour)."""
    import highdicom as hd

    try:
        seg = segread(path)
    except Exception as exc:
        raise InputError(path, f"cannot be read as a DICOM SEG ({exc})") from exc
    numbers = seg.get_segment_numbers()
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[source_uid], combine_segments=True
    )[0]
    segments = []
    lut = np.zeros(max(numbers, default=0) + 1, np.uint8)
    for n in numbers:
        desc = seg.get_segment_description(n)
        name = str(desc.segment_label)
        match = [lab for lab in LABELS if lab.name == name]
        if match:
            lut[n] = match[0].value
        lab_colour = desc.get("RecommendedDisplayCIELabValue")
        colour = hd.color.CIELabColor.from_dicom_value(lab_colour).to_rgb() if lab_colour else None
        segments.append(
            {
                "number": n,
                "label": name,
                "tracking_id": desc.tracking_id,
                "property_type": desc.segmented_property_type.meaning,
                "colour": None if colour is None else list(colour),
            }
        )
    return lut[pixels], segments
