"""What a film the gate refused gets back, with ``gate.not_assessable: report``: no labels and
no millimetres, only the statement that it was not assessed and why.

* an SR (TID 1500, :func:`hipseg.clinical.sr.build_not_assessed_sr`) whose one measurement
  group, "both hips", holds no measurement: its review status is *Not assessed*
  (``99HIPSEG HS-Q05``) and every reason is a TEXT item (``HS-Q06``);
* a presentation state (:func:`hipseg.clinical.pr.build_not_assessed_pr`) on the radiograph that
  writes "NOT ASSESSED" and the reasons at its top.

Both keep the patient and study of the source, like every hipseg result (they belong in the
patient's record); their UIDs derive from the source's SOP Instance UID and the model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom

from .pr import build_not_assessed_pr
from .sr import build_not_assessed_sr

FILES = {"sr": "sr.dcm", "pr": "pr.dcm"}


def write_not_assessed(out_dir: str | Path, name: str, path: str | Path, exc, model: str,
                       patient_right_on: str = "image_left") -> dict[str, str]:  # fmt: skip
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
        for kind, build in (("sr", build_not_assessed_sr), ("pr", build_not_assessed_pr)):
            build(source, exc.reasons, model, patient_right_on).save_as(tmp / FILES[kind])
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {kind: f"{name}/{file}" for kind, file in FILES.items()}
