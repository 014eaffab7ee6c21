"""TID 1500 Measurement Report (highdicom Comprehensive 3D SR) of one radiograph's measurements.

Content tree (DICOM PS3.16 TID 1500):

* observation context: the device observer (hipseg, its version and model);
* procedure reported: SCT 168537006 Plain radiography;
* Image Library: the source radiograph (TID 1601 entry with its modality, view, spacing);
* one *Measurement Group* (TID 1501) per hip, tracked as "right hip" / "left hip" (a UID per
  source image and side), finding site the hip joint with its laterality, and one for the
  both-hip measurements (leg-length differences, teardrop line tilt). Each holds:

  - every measurement with a value as a NUM (TID 300) with UCUM units (``mm``, ``deg``), its
    finding site and INFERRED FROM 2D SCOORDs on the source image (the head circle, the lines
    the angle is measured between, the perpendicular and the teardrop line;
    :mod:`.geometry`); a measurement without a value (a landmark not found) is left out;
  - qualitative evaluations: the pixel spacing's calibration state and source (the record's
    ``spacing`` statement, whatever source the intake chose), and the review status
    (:mod:`.quality`), with every reason as TEXT.

Codes: :mod:`.coding` (standard ones where they exist, ``99HIPSEG`` for the rest). The SR keeps
the patient and study of the source (DICOM requires it; a clinical result belongs in the
patient's record), as thin as the source's header is (:mod:`hipseg.dicomref`: absent Type 2
attributes empty, PatientOrientation derived where absent or empty); the Image Library entry
describes the radiograph's detector spacing and orientation (TID 1603) only where its header
has an ImagerPixelSpacing. UIDs derive from the source's SOP Instance UID and the model, so the same
radiograph with the same model gives the same SR.
"""

from __future__ import annotations

import unicodedata
import warnings

import numpy as np
import pydicom

from .. import __version__
from ..dicomref import reference, values
from ..measure.quantities import SIDES
from . import coding, srtemplating
from .geometry import ImageFrame, measurement_graphics

MANUFACTURER = "hipseg"
SR_SERIES_NUMBER = 902


def uid(source_uid: str, model: str, kind: str) -> str:
    return pydicom.uid.generate_uid(entropy_srcs=[str(source_uid), model, kind])


def _coding_scheme():
    ds = pydicom.Dataset()
    ds.CodingSchemeDesignator = coding.SCHEME
    ds.CodingSchemeVersion = coding.SCHEME_VERSION
    ds.CodingSchemeName = coding.SCHEME_NAME
    ds.CodingSchemeResponsibleOrganization = "hipseg (see hipseg.clinical.coding)"
    return ds


def ascii_text(text: str) -> str:
    """Text safe in any DICOM character set (the source's is copied; it may be ASCII only)."""
    for a, b in (("²", "2"), ("°", " deg"), ("−", "-"), ("…", "..."), ("×", "x"), ("–", "-")):
        text = text.replace(a, b)
    text = unicodedata.normalize("NFKD", text)  # Köhler -> Ko + combining diaeresis
    return text.encode("ascii", "ignore").decode("ascii")


def _text(hd, name, value: str):
    return hd.sr.TextContentItem(
        name=name,
        value=ascii_text(value)[:1024],
        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
    )


def library_entry(source: pydicom.Dataset) -> pydicom.Dataset:
    """The radiograph as the SR's Image Library describes it. highdicom's TID 1603 descriptors
    of a projection radiograph read PatientOrientation and ImagerPixelSpacing unchecked; a
    header without a usable ImagerPixelSpacing (an older CR with PixelSpacing only, a spacing
    from crop.fallback_spacing) gets an entry without them (they are optional there)."""
    if len(values(source, "ImagerPixelSpacing")) == 2:
        return source
    entry = pydicom.Dataset()
    for keyword in ("SOPClassUID", "SOPInstanceUID", "Rows", "Columns", "FrameOfReferenceUID"):
        if keyword in source:
            setattr(entry, keyword, source[keyword].value)
    entry.Modality = ""  # no projection descriptors
    return entry


def _measurements(hd, codes, record: dict, frame, region_src, algorithm) -> dict[str, list]:
    """Every measurement with a value as a TID 300 NUM, by scope (right, left, both)."""
    by_scope: dict[str, list] = {s: [] for s in (*SIDES, "both")}
    for m in measurement_graphics(record):
        concept, site = coding.measurement_name(m["name"])
        lat = {"right": codes.SCT.Right, "left": codes.SCT.Left}.get(m["side"])
        scoords = [
            hd.sr.CoordinatesForMeasurement(
                g.kind, frame.pixels(g.points_mm).astype(np.float32), region_src
            )
            for g in m["graphics"]
        ]
        by_scope[m["side"]].append(
            hd.sr.Measurement(
                name=concept,
                value=float(m["value"]),
                unit=coding.unit(m["unit"]),
                finding_sites=[hd.sr.FindingSite(site, laterality=lat)],
                referenced_coordinates=scoords or None,
                algorithm_id=algorithm,
            )
        )
    return by_scope


def _evaluations(hd, spacing: dict, quality: dict) -> list:
    return [
        hd.sr.QualitativeEvaluation(
            coding.CALIBRATION,
            coding.CALIBRATED if spacing.get("calibrated") else coding.UNCALIBRATED,
        ),
        hd.sr.QualitativeEvaluation(
            coding.SPACING_SOURCE, coding.spacing_source_code(str(spacing.get("source")))
        ),
        hd.sr.QualitativeEvaluation(
            coding.REVIEW, coding.NEEDS_REVIEW if quality["needs_review"] else coding.NO_REVIEW_FLAG
        ),
    ]


def _groups(hd, codes, record, quality, by_scope, algorithm, group_src, src_uid, model) -> list:
    """One TID 1501 Measurement Group per hip (not excluded) and one for both hips."""
    spacing, groups = record["spacing"], []
    evaluations = _evaluations(hd, spacing, quality)
    for scope, measurements in by_scope.items():
        hip = record["landmarks"].get(scope, {})
        if scope != "both" and hip.get("excluded"):
            continue
        lat = {"right": codes.SCT.Right, "left": codes.SCT.Left}.get(scope)
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=uid(src_uid, model, f"tracking {scope}"),
                identifier="both hips" if scope == "both" else f"{scope} hip",
            ),
            finding_type=coding.RADIOGRAPH_GROUP if scope == "both" else coding.HIP_GROUP,
            finding_sites=[hd.sr.FindingSite(codes.SCT.HipJoint, laterality=lat)],
            algorithm_id=algorithm,
            measurements=measurements or None,
            qualitative_evaluations=evaluations,
            source_images=[group_src],
        )
        items = group[0].ContentSequence
        if spacing.get("note"):
            items.append(_text(hd, coding.SPACING_NOTE, str(spacing["note"])))
        for reason in quality["reasons"]:
            items.append(_text(hd, coding.REVIEW_REASON, reason))
        groups.append(group)
    return groups


def _observer(hd, codes, src_uid: str, model: str):
    """(the algorithm, the observation context): hipseg and its model as the device observer."""
    algorithm = hd.sr.AlgorithmIdentification(
        name=f"hipseg nnU-Net v2 ({model})", version=__version__
    )
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=uid(src_uid, model, "device"),
        name="hipseg",
        manufacturer_name=MANUFACTURER,
        model_name=f"hipseg nnU-Net v2 {model}",
    )
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(codes.cid270.Device, device)
    )
    return algorithm, context


def _document(hd, codes, source, context, groups, model: str, description: str):
    """The Comprehensive 3D SR of a TID 1500 report of ``groups`` on ``source``."""
    src_uid = str(source.SOPInstanceUID)
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.PlainRadiography,
        imaging_measurements=groups,
        referenced_images=[library_entry(source)],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        sr = hd.sr.Comprehensive3DSR(
            evidence=[source],
            content=report[0],
            series_instance_uid=uid(src_uid, model, "sr series"),
            series_number=SR_SERIES_NUMBER,
            sop_instance_uid=uid(src_uid, model, "sr"),
            instance_number=1,
            manufacturer=MANUFACTURER,
            is_complete=True,
            series_description=description,
        )
    sr.CodingSchemeIdentificationSequence = [_coding_scheme()]
    return sr


def build_sr(
    source: pydicom.Dataset,
    record: dict,
    quality: dict,
    shape: tuple[int, int],
    model: str,
    patient_right_on: str = "image_left",
    templating: dict | None = None,
):
    """The SR of one record (``shape``: rows, cols of the intake's frame; ``patient_right_on``:
    what the intake assumed where the source has no PatientOrientation); with ``templating``
    (:func:`hipseg.templating.record.template_radiograph`) one more group per hip: the plan
    (:mod:`.srtemplating`)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    source = reference(source, patient_right_on).dataset
    src_uid = str(source.SOPInstanceUID)
    region_src = hd.sr.SourceImageForRegion(source.SOPClassUID, src_uid)
    group_src = hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, src_uid)
    algorithm, context = _observer(hd, codes, src_uid, model)
    frame = ImageFrame.of(record, shape)
    by_scope = _measurements(hd, codes, record, frame, region_src, algorithm)
    groups = _groups(hd, codes, record, quality, by_scope, algorithm, group_src, src_uid, model)
    if templating is not None:
        ctx = srtemplating.Context(hd, frame, src_uid, model, region_src, group_src, algorithm)
        groups += srtemplating.templating_groups(ctx, templating, _text, uid)
    description = f"hipseg {model} measurements" + (
        " (NEEDS REVIEW)" if quality["needs_review"] else ""
    )
    return _document(hd, codes, source, context, groups, model, description)


def build_not_assessed_sr(source: pydicom.Dataset, reasons: list[str], model: str,
                          patient_right_on: str = "image_left"):  # fmt: skip
    """The SR of a radiograph the gate refused (:mod:`hipseg.gate`): one measurement group,
    "both hips", without measurements, its review status *Not assessed* (HS-Q05) and every
    reason as TEXT (HS-Q06)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    source = reference(source, patient_right_on).dataset
    src_uid = str(source.SOPInstanceUID)
    algorithm, context = _observer(hd, codes, src_uid, model)
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=uid(src_uid, model, "tracking both"), identifier="both hips"
        ),
        finding_type=coding.RADIOGRAPH_GROUP,
        finding_sites=[hd.sr.FindingSite(codes.SCT.HipJoint)],
        algorithm_id=algorithm,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(coding.REVIEW, coding.NOT_ASSESSED)],
        source_images=[hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, src_uid)],
    )
    for reason in reasons:
        group[0].ContentSequence.append(_text(hd, coding.NOT_ASSESSED_REASON, reason))
    return _document(hd, codes, source, context, [group], model,
                     f"hipseg {model}: NOT ASSESSED")  # fmt: skip


def read_sr(path_or_dataset) -> dict:
    """An SR written by :func:`build_sr` read back with highdicom: its measurements
    ``[{side, name, value, unit, coordinates}]``, review status and reasons, calibration."""
    import highdicom as hd

    ds = path_or_dataset
    if not isinstance(ds, pydicom.Dataset):
        ds = pydicom.dcmread(ds)
    sr = hd.sr.Comprehensive3DSR.from_dataset(ds)
    out = {
        "measurements": [],
        "needs_review": None,
        "not_assessed": False,
        "reasons": [],
        "calibrated": None,
        "spacing_source": None,
        "source_uids": [],
    }
    out["templating"] = {}
    for group in sr.content.get_image_measurement_groups():
        if str(group.tracking_identifier).endswith(srtemplating.SUFFIX):
            side = str(group.tracking_identifier).removesuffix(srtemplating.SUFFIX)
            out["templating"][side] = srtemplating.read_templating(group)
            continue
        scope = str(group.tracking_identifier).removesuffix(" hip").removesuffix(" hips")
        scope = "both" if scope == "both" else scope
        for m in group.get_measurements():
            name = coding.name_of(m.name)
            out["measurements"].append(
                {
                    "side": scope,
                    "name": name,
                    "value": float(m.value),
                    "unit": {"mm": "mm", "deg": "deg"}[m.unit.value],
                    "coordinates": [
                        (c.graphic_type.value, c.value.tolist()) for c in m.referenced_coordinates
                    ],
                }
            )
        for ev in group.get_qualitative_evaluations():
            name, value = ev.name, ev.value
            if name.value == coding.REVIEW.value:
                out["needs_review"] = value.value == coding.NEEDS_REVIEW.value
                out["not_assessed"] = value.value == coding.NOT_ASSESSED.value
            elif name.value == coding.CALIBRATION.value:
                out["calibrated"] = value.value == coding.CALIBRATED.value
            elif name.value == coding.SPACING_SOURCE.value:
                out["spacing_source"] = value.value.removeprefix("HS-S-")
        for item in group[0].ContentSequence:
            reasons = (coding.REVIEW_REASON.value, coding.NOT_ASSESSED_REASON.value)
            if (
                item.ValueType == "TEXT"
                and item.ConceptNameCodeSequence[0].CodeValue in reasons
                and item.TextValue not in out["reasons"]
            ):
                out["reasons"].append(str(item.TextValue))
    for ev in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in ev.ReferencedSeriesSequence:
            out["source_uids"] += [
                str(i.ReferencedSOPInstanceUID) for i in series.ReferencedSOPSequence
            ]
    return out
