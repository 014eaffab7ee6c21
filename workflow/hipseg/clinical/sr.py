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
patient's record). UIDs derive from the source's SOP Instance UID and the model, so the same
radiograph with the same model gives the same SR.
"""

from __future__ import annotations

import unicodedata
import warnings
from dataclasses import dataclass

import numpy as np
import pydicom

from .. import __version__
from ..measure.quantities import SIDES
from . import coding
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


@dataclass(frozen=True)
class _Context:
    """What every content item of one SR refers to."""

    hd: object  # the highdicom module
    frame: ImageFrame
    src_uid: str
    model: str
    region_src: object
    group_src: object
    algorithm: object


def _by_scope(ctx: _Context, record: dict) -> dict[str, list]:
    """The measurements with a value, per hip and for both hips, as highdicom NUMs."""
    from pydicom.sr.codedict import codes

    hd, by_scope = ctx.hd, {s: [] for s in (*SIDES, "both")}
    for m in measurement_graphics(record):
        concept, site = coding.measurement_name(m["name"])
        lat = {"right": codes.SCT.Right, "left": codes.SCT.Left}.get(m["side"])
        scoords = [
            hd.sr.CoordinatesForMeasurement(
                g.kind, ctx.frame.pixels(g.points_mm).astype(np.float32), ctx.region_src
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
                algorithm_id=ctx.algorithm,
            )
        )
    return by_scope


def _measurement_groups(ctx: _Context, record: dict, quality: dict) -> list:
    """One group per segmented hip and one for both hips, with the qualitative evaluations
    (calibration, spacing source, review status) and the reasons as TEXT."""
    from pydicom.sr.codedict import codes

    hd, spacing = ctx.hd, record["spacing"]
    evaluations = [
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
    groups = []
    for scope, measurements in _by_scope(ctx, record).items():
        hip = record["landmarks"].get(scope, {})
        if scope != "both" and hip.get("excluded"):
            continue
        lat = {"right": codes.SCT.Right, "left": codes.SCT.Left}.get(scope)
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=uid(ctx.src_uid, ctx.model, f"tracking {scope}"),
                identifier="both hips" if scope == "both" else f"{scope} hip",
            ),
            finding_type=coding.RADIOGRAPH_GROUP if scope == "both" else coding.HIP_GROUP,
            finding_sites=[hd.sr.FindingSite(codes.SCT.HipJoint, laterality=lat)],
            algorithm_id=ctx.algorithm,
            measurements=measurements or None,
            qualitative_evaluations=evaluations,
            source_images=[ctx.group_src],
        )
        items = group[0].ContentSequence
        if spacing.get("note"):
            items.append(_text(hd, coding.SPACING_NOTE, str(spacing["note"])))
        for reason in quality["reasons"]:
            items.append(_text(hd, coding.REVIEW_REASON, reason))
        groups.append(group)
    return groups


def build_sr(
    source: pydicom.Dataset,
    record: dict,
    quality: dict,
    shape: tuple[int, int],
    model: str,
    templating: dict | None = None,
):
    """The SR of one record (``shape``: rows, cols of the intake's frame); with ``templating``
    (:func:`hipseg.templating.record.template_radiograph`) one more group per hip: the plan."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    src_uid = str(source.SOPInstanceUID)
    ctx = _Context(
        hd, ImageFrame.of(record, shape), src_uid, model,
        hd.sr.SourceImageForRegion(source.SOPClassUID, src_uid),
        hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, src_uid),
        hd.sr.AlgorithmIdentification(name=f"hipseg nnU-Net v2 ({model})", version=__version__),
    )  # fmt: skip
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=uid(src_uid, model, "device"),
        name="hipseg",
        manufacturer_name=MANUFACTURER,
        model_name=f"hipseg nnU-Net v2 {model}",
    )
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(codes.cid270.Device, device)
    )
    groups = _measurement_groups(ctx, record, quality)
    if templating is not None:
        groups += _templating_groups(ctx, templating)
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.PlainRadiography,
        imaging_measurements=groups,
        referenced_images=[source],
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
            series_description=f"hipseg {model} measurements"
            + (" (NEEDS REVIEW)" if quality["needs_review"] else ""),
        )
    sr.CodingSchemeIdentificationSequence = [_coding_scheme()]
    return sr


# templating values: (code key, where in a plan, unit, graphic of the outline it is read from)
TEMPLATING_VALUES = (
    ("cup_outer_diameter", ("cup", "outer_diameter_mm"), "mm", "cup"),
    ("cup_fill_diameter", ("cup", "fill_diameter_mm"), "mm", None),
    ("cup_inclination", ("cup", "inclination_deg"), "deg", "cup"),
    ("cup_centre_lateral", ("cup", "centre_from_teardrop_mm", "lateral"), "mm", "centre"),
    ("cup_centre_up", ("cup", "centre_from_teardrop_mm", "up"), "mm", "centre"),
    ("planned_head_diameter", ("head", "diameter_mm"), "mm", "head"),
    ("neck_length", ("head", "neck_length_mm"), "mm", None),
    ("stem_offset", ("stem", "offset_mm"), "mm", "stem"),
    ("leg_length_change", ("predicted", "leg_length_change_mm"), "mm", "reduction"),
    ("offset_change", ("predicted", "offset_change_mm"), "mm", "reduction"),
    ("femoral_offset_change", ("predicted", "femoral_offset_change_mm"), "mm", None),
    ("acetabular_offset_change", ("predicted", "acetabular_offset_change_mm"), "mm", None),
)


def _get(plan: dict, path: tuple):
    for key in path:
        plan = plan[key]
    return plan


def _templating_graphic(ctx: _Context, kind, outline):
    """The SCOORD a templating value is read from (in the stored image's pixels)."""
    hd = ctx.hd
    if kind is None or not outline:
        return None
    if kind == "head":
        c, r = outline["head"]["centre"], outline["head"]["radius"]
        points, gtype = [c, [c[0] + r, c[1]]], hd.sr.GraphicTypeValues.CIRCLE
    elif kind == "centre":
        points, gtype = [outline["centre_of_rotation"]], hd.sr.GraphicTypeValues.POINT
    elif kind == "reduction":  # the stem's head centre to the cup's centre
        points = [outline["head"]["centre"], outline["centre_of_rotation"]]
        gtype = hd.sr.GraphicTypeValues.POLYLINE
    else:
        points, gtype = outline[kind], hd.sr.GraphicTypeValues.POLYLINE
    px = ctx.frame.pixels(points).astype(np.float32)
    return [hd.sr.CoordinatesForMeasurement(gtype, px, ctx.region_src)]


def _templating_groups(ctx: _Context, templating: dict) -> list:
    """One measurement group per hip: the planned components and predicted changes (NUM, UCUM
    units), stem size and variant and the catalogue as TEXT; a hip not templated says why."""
    from pydicom.sr.codedict import codes

    hd, groups = ctx.hd, []
    for side, plan in templating["hips"].items():
        lat = {"right": codes.SCT.Right, "left": codes.SCT.Left}[side]
        site = [hd.sr.FindingSite(codes.SCT.HipJoint, laterality=lat)]
        measurements = []
        if plan["status"] == "planned":
            for key, path, unit, graphic in TEMPLATING_VALUES:
                measurements.append(hd.sr.Measurement(
                    name=coding.TEMPLATING_CODES[key], value=float(_get(plan, path)),
                    unit=coding.unit(unit), finding_sites=site, algorithm_id=ctx.algorithm,
                    referenced_coordinates=_templating_graphic(ctx, graphic, plan.get("outline")),
                ))  # fmt: skip
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=uid(ctx.src_uid, ctx.model, f"tracking {side} templating"),
                identifier=f"{side} hip templating",
            ),
            finding_type=coding.TEMPLATING_GROUP, finding_sites=site, algorithm_id=ctx.algorithm,
            measurements=measurements or None, source_images=[ctx.group_src],
        )  # fmt: skip
        items = group[0].ContentSequence
        texts = [("catalogue", templating["catalogue"]["name"])]
        if plan["status"] == "planned":
            texts += [
                ("stem_size", str(plan["stem"]["size"])),
                ("stem_variant", plan["stem"]["variant"].replace("_", " ")),
            ]
            texts += [("note", n) for n in plan.get("notes", [])]
        else:
            texts.append(("not_templated", plan.get("reason") or "not templated"))
        for key, text in texts:
            items.append(_text(hd, coding.TEMPLATING_TEXT[key], text))
        groups.append(group)
    return groups


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
        "reasons": [],
        "calibrated": None,
        "spacing_source": None,
        "source_uids": [],
    }
    out["templating"] = {}
    for group in sr.content.get_image_measurement_groups():
        if str(group.tracking_identifier).endswith(" hip templating"):
            side = str(group.tracking_identifier).removesuffix(" hip templating")
            out["templating"][side] = _read_templating(group)
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
            elif name.value == coding.CALIBRATION.value:
                out["calibrated"] = value.value == coding.CALIBRATED.value
            elif name.value == coding.SPACING_SOURCE.value:
                out["spacing_source"] = value.value.removeprefix("HS-S-")
        for item in group[0].ContentSequence:
            if (
                item.ValueType == "TEXT"
                and item.ConceptNameCodeSequence[0].CodeValue == coding.REVIEW_REASON.value
                and item.TextValue not in out["reasons"]
            ):
                out["reasons"].append(str(item.TextValue))
    for ev in ds.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series in ev.ReferencedSeriesSequence:
            out["source_uids"] += [
                str(i.ReferencedSOPInstanceUID) for i in series.ReferencedSOPSequence
            ]
    return out


def _read_templating(group) -> dict:
    """A templating group of :func:`build_sr`: {name: value} of its NUMs and TEXTs."""
    out: dict = {"notes": []}
    for m in group.get_measurements():
        out[coding.name_of(m.name)] = (float(m.value), m.unit.value)
    texts = {c.value: k for k, c in coding.TEMPLATING_TEXT.items()}
    for item in group[0].ContentSequence:
        if item.ValueType != "TEXT":
            continue
        name = texts.get(item.ConceptNameCodeSequence[0].CodeValue)
        if name == "note":
            out["notes"].append(str(item.TextValue))
        elif name is not None:
            out[name] = str(item.TextValue)
    return out
