"""What a film the gate refused gets back, with ``gate.not_assessable: report``: no labels and
no millimetres, only the statement that it was not assessed and why.

* an SR (TID 1500, highdicom Comprehensive 3D SR) whose one measurement group, "both hips",
  holds no measurement: its review status is *Not assessed* (``99HIPSEG HS-Q05``) and every
  reason is a TEXT item (``HS-Q06``);
* a presentation state on the radiograph that writes "NOT ASSESSED" and the reasons at its top.

Both keep the patient and study of the source, like every hipseg result (they belong in the
patient's record); their UIDs derive from the source's SOP Instance UID and the model.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pydicom

from .. import __version__
from . import coding
from .pr import PR_SERIES_NUMBER, REVIEW_COLOUR, _lab
from .sr import MANUFACTURER, SR_SERIES_NUMBER, _coding_scheme, _text, ascii_text, uid

FILES = {"sr": "sr.dcm", "pr": "pr.dcm"}


def build_not_assessed_sr(source: pydicom.Dataset, reasons: list[str], model: str):
    """The SR saying that ``source`` was not assessed, and why."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    src_uid = str(source.SOPInstanceUID)
    algorithm = hd.sr.AlgorithmIdentification(name=f"hipseg nnU-Net v2 ({model})",
                                              version=__version__)  # fmt: skip
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=uid(src_uid, model, "device"), name="hipseg", manufacturer_name=MANUFACTURER,
        model_name=f"hipseg nnU-Net v2 {model}",
    )  # fmt: skip
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=uid(src_uid, model, "tracking both"), identifier="both hips"
        ),
        finding_type=coding.RADIOGRAPH_GROUP,
        finding_sites=[hd.sr.FindingSite(codes.SCT.HipJoint)],
        algorithm_id=algorithm,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(coding.REVIEW, coding.NOT_ASSESSED)
        ],  # fmt: skip
        source_images=[hd.sr.SourceImageForMeasurementGroup(source.SOPClassUID, src_uid)],
    )
    for reason in reasons:
        group[0].ContentSequence.append(_text(hd, coding.NOT_ASSESSED_REASON, reason))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(codes.cid270.Device, device)
        ),
        procedure_reported=codes.SCT.PlainRadiography,
        imaging_measurements=[group],
        referenced_images=[source],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        sr = hd.sr.Comprehensive3DSR(
            evidence=[source], content=report[0],
            series_instance_uid=uid(src_uid, model, "sr series"),
            series_number=SR_SERIES_NUMBER, sop_instance_uid=uid(src_uid, model, "sr"),
            instance_number=1, manufacturer=MANUFACTURER, is_complete=True,
            series_description=f"hipseg {model}: NOT ASSESSED",
        )  # fmt: skip
    sr.CodingSchemeIdentificationSequence = [_coding_scheme()]
    return sr


def build_not_assessed_pr(source: pydicom.Dataset, reasons: list[str], model: str):
    """A presentation state writing NOT ASSESSED and the reasons on the radiograph."""
    import highdicom as hd

    src_uid = str(source.SOPInstanceUID)
    rows, cols = int(source.Rows), int(source.Columns)
    size = max(6.0, min(rows, cols) / 30)
    layer = hd.pr.GraphicLayer("NOT ASSESSED", 1, "not assessed: why", _lab(hd, REVIEW_COLOUR))
    lines = ["NOT ASSESSED", *reasons[:4]]
    texts = [
        hd.pr.TextObject(ascii_text(t)[:1024], "PIXEL",
                         bounding_box=(0.0, i * size, float(cols), min((i + 1) * size, rows)))
        for i, t in enumerate(lines)
    ]  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        return hd.pr.GrayscaleSoftcopyPresentationState(
            referenced_images=[source], series_instance_uid=uid(src_uid, model, "pr series"),
            series_number=PR_SERIES_NUMBER, sop_instance_uid=uid(src_uid, model, "pr"),
            instance_number=1, manufacturer=MANUFACTURER,
            manufacturer_model_name=f"hipseg nnU-Net v2 {model}", software_versions=__version__,
            device_serial_number="none", content_label="HIPSEG",
            content_description="hipseg: NOT ASSESSED",
            graphic_annotations=[hd.pr.GraphicAnnotation([source], layer, text_objects=texts)],
            graphic_layers=[layer],
        )  # fmt: skip


def write_not_assessed(out_dir: str | Path, name: str, path: str | Path, exc,
                       model: str) -> dict[str, str]:  # fmt: skip
    """``OUT/<name>/`` with the not-assessed SR and presentation state of the film at ``path``
    (refused with :class:`hipseg.gate.NotAssessable` ``exc``); written whole or not at all.
    Returns {kind: path relative to ``out_dir``}; {} when the file is no DICOM image."""
    try:
        source = pydicom.dcmread(path, stop_before_pixels=True)
        source.SOPInstanceUID, source.SOPClassUID, source.Rows, source.Columns  # noqa: B018
    except Exception:  # not a DICOM image: there is nothing to refer to
        return {}
    out_dir = Path(out_dir)
    final, tmp = out_dir / name, out_dir / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build_not_assessed_sr(source, exc.reasons, model).save_as(tmp / FILES["sr"])
        build_not_assessed_pr(source, exc.reasons, model).save_as(tmp / FILES["pr"])
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {kind: f"{name}/{file}" for kind, file in FILES.items()}
