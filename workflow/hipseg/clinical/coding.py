"""The codes of hipseg's DICOM results: standard codes where they exist, a private scheme else.

Standard codes (DICOM ``DCM``, SNOMED CT ``SCT``, UCUM units):

=============================== =========================================================
what                            code
=============================== =========================================================
report title                    DCM 126000 Imaging Measurement Report
procedure reported              SCT 168537006 Plain radiography
femoral head diameter           SCT 81827009 Diameter, finding site SCT 2812003 Femoral head
hip centre (horizontal/vertical) finding site DCM 112304 Femur Head Center of Rotation
lesser trochanter distance      finding site SCT 55499008 Lesser trochanter
centre-edge and Sharp angles    finding site SCT 37783008 Acetabulum
femoral offset                  finding site SCT 71341001 Femur
leg-length differences          finding site SCT 61685007 Lower limb
teardrop line tilt              finding site SCT 816092008 Pelvis
laterality                      SCT 24028007 Right, SCT 7771000 Left
units                           UCUM ``mm``, ``deg``
=============================== =========================================================

The private coding scheme ``99HIPSEG`` (version 1; the ``99`` prefix is DICOM's for private
schemes, PS3.16 Section 8.2) names what has no standard code. Every SR carries it in its
Coding Scheme Identification Sequence. :data:`PRIVATE` is the whole scheme; the README's
"Hospital use" section lists it too.
"""

from __future__ import annotations

from pydicom.sr.coding import Code

SCHEME = "99HIPSEG"
SCHEME_VERSION = "1"
SCHEME_NAME = "hipseg measurement and quality codes"


def private(value: str, meaning: str) -> Code:
    return Code(value, SCHEME, meaning)


# measurement names of hipseg.measure.quantities → concept names without a standard code
MEASUREMENT_CODES: dict[str, Code] = {
    "hip_centre_horizontal": private("HS-M01", "Hip centre horizontal distance to teardrop"),
    "hip_centre_vertical": private("HS-M02", "Hip centre height above teardrop line"),
    "lesser_trochanter_to_teardrop_line": private(
        "HS-M03", "Lesser trochanter distance below teardrop line"
    ),
    "lateral_centre_edge_angle": private("HS-M04", "Lateral centre-edge angle (Wiberg)"),
    "sharp_angle": private("HS-M05", "Sharp angle"),
    "femoral_offset": private("HS-M06", "Femoral offset"),
    "leg_length_difference_lesser_trochanter": private(
        "HS-M07", "Leg-length difference at the lesser trochanters"
    ),
    "leg_length_difference_head_centre": private(
        "HS-M08", "Leg-length difference at the head centres"
    ),
    "teardrop_line_angle": private("HS-M09", "Teardrop line tilt"),
}

# quality and calibration statements (qualitative evaluations of each measurement group)
REVIEW = private("HS-Q01", "Result review status")
NEEDS_REVIEW = private("HS-Q02", "Needs review")
NO_REVIEW_FLAG = private("HS-Q03", "No quality flag raised")
REVIEW_REASON = private("HS-Q04", "Reason for review")
NOT_ASSESSED = private("HS-Q05", "Not assessed")
NOT_ASSESSED_REASON = private("HS-Q06", "Reason not assessed")
CALIBRATION = private("HS-C01", "Pixel spacing calibration")
CALIBRATED = private("HS-C02", "Calibrated to the patient plane")
UNCALIBRATED = private("HS-C03", "Not calibrated (includes radiographic magnification)")
SPACING_SOURCE = private("HS-C04", "Pixel spacing source")
SPACING_NOTE = private("HS-C05", "Pixel spacing statement")
HIP_GROUP = private("HS-G01", "Hip measurements")
RADIOGRAPH_GROUP = private("HS-G02", "Both-hip measurements")
TEMPLATING_GROUP = private("HS-G03", "Hip arthroplasty templating")

# templating (hipseg.templating): the planned components and the predicted changes
TEMPLATING_CODES: dict[str, Code] = {
    "cup_outer_diameter": private("HS-T01", "Planned acetabular cup outer diameter"),
    "cup_fill_diameter": private("HS-T02", "Acetabular fill diameter to the subchondral line"),
    "cup_inclination": private("HS-T03", "Planned acetabular cup inclination"),
    "cup_centre_lateral": private("HS-T04", "Planned centre of rotation lateral of teardrop"),
    "cup_centre_up": private("HS-T05", "Planned centre of rotation above teardrop line"),
    "planned_head_diameter": private("HS-T06", "Planned femoral head diameter"),
    "neck_length": private("HS-T07", "Planned head neck length"),
    "stem_offset": private("HS-T08", "Planned stem offset"),
    "leg_length_change": private("HS-T09", "Predicted leg length change"),
    "offset_change": private("HS-T10", "Predicted total offset change"),
    "femoral_offset_change": private("HS-T11", "Predicted femoral offset change"),
    "acetabular_offset_change": private("HS-T12", "Predicted acetabular offset change"),
}
TEMPLATING_TEXT: dict[str, Code] = {
    "stem_size": private("HS-T20", "Planned femoral stem size"),
    "stem_variant": private("HS-T21", "Planned femoral stem offset variant"),
    "catalogue": private("HS-T22", "Implant catalogue"),
    "not_templated": private("HS-T23", "Templating not done"),
    "note": private("HS-T24", "Templating note"),
}

PRIVATE: tuple[Code, ...] = (
    *MEASUREMENT_CODES.values(),
    REVIEW,
    NEEDS_REVIEW,
    NO_REVIEW_FLAG,
    REVIEW_REASON,
    NOT_ASSESSED,
    NOT_ASSESSED_REASON,
    CALIBRATION,
    CALIBRATED,
    UNCALIBRATED,
    SPACING_SOURCE,
    SPACING_NOTE,
    HIP_GROUP,
    RADIOGRAPH_GROUP,
    TEMPLATING_GROUP,
    *TEMPLATING_CODES.values(),
    *TEMPLATING_TEXT.values(),
)


def spacing_source_code(source: str) -> Code:
    """The spacing source of a record (:mod:`hipseg.intake.spacing`'s names) as a private code:
    its name is the code value (long values go to LongCodeValue), so any new source maps."""
    return private(f"HS-S-{source}", f"Pixel spacing from {source.replace('_', ' ')}")


def measurement_name(name: str):
    """(concept name, finding site code) of a measurement of :mod:`hipseg.measure.quantities`."""
    from pydicom.sr.codedict import codes

    sites = {
        "head_diameter": codes.SCT.FemoralHead,
        "hip_centre_horizontal": codes.DCM.FemurHeadCenterOfRotation,
        "hip_centre_vertical": codes.DCM.FemurHeadCenterOfRotation,
        "lesser_trochanter_to_teardrop_line": codes.SCT.LesserTrochanter,
        "lateral_centre_edge_angle": codes.SCT.Acetabulum,
        "sharp_angle": codes.SCT.Acetabulum,
        "femoral_offset": codes.SCT.Femur,
        "leg_length_difference_lesser_trochanter": codes.SCT.LowerLimb,
        "leg_length_difference_head_centre": codes.SCT.LowerLimb,
        "teardrop_line_angle": codes.SCT.Pelvis,
    }
    concept = codes.SCT.Diameter if name == "head_diameter" else MEASUREMENT_CODES[name]
    return concept, sites[name]


def name_of(concept) -> str | None:
    """The hipseg measurement or templating name of an SR concept name (None if it is none)."""
    if (concept.value, concept.scheme_designator) == ("81827009", "SCT"):
        return "head_diameter"
    for name, code in {**MEASUREMENT_CODES, **TEMPLATING_CODES, **TEMPLATING_TEXT}.items():
        if (concept.value, concept.scheme_designator) == (code.value, code.scheme_designator):
            return name
    return None


def unit(unit: str) -> Code:
    from pydicom.sr.codedict import codes

    return {"mm": codes.UCUM.Millimeter, "deg": codes.UCUM.Degree}[unit]
