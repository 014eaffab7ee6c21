"""Which way the patient lies in the image, checked against the crop's left/right assumption.

The crop assumes an AP view displayed with the patient's right on the side that
``crop.patient_right_on`` names (standard: the image left) and the feet at the bottom.

* **PatientOrientation** (row direction \\ column direction, e.g. ``L\\F``: moving right across
  the image goes to the patient's left, moving down goes to the feet) decides where the
  patient's right really is. When it disagrees with the assumption and is unambiguous (one
  of L/R in one value, one of H/F in the other), ``crop.orientation: flip`` (default) flips (and,
  for an image stored rotated by 90°, transposes) image and label map to the assumed
  orientation and the manifest says so; ``crop.orientation: error`` refuses the image instead.
  A value that names no left/right direction (a lateral view, say) is always an error. Without
  PatientOrientation the assumption is taken on trust, and the manifest says that too.
* **ImageLaterality** / **Laterality** R or L: the image shows one side only, the crop needs
  both hips: an error.

Which views, body parts and patients are accepted at all is the gate's (:mod:`hipseg.gate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from ..errors import InputError


@dataclass(frozen=True)
class Orientation:
    transpose: bool = False
    flip_ud: bool = False
    flip_lr: bool = False
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.transpose or self.flip_ud or self.flip_lr

    def apply(self, arr: np.ndarray) -> np.ndarray:
        """Image or label map (rows, cols) as stored → in the crop's orientation."""
        if self.transpose:
            arr = arr.T
        if self.flip_ud:
            arr = arr[::-1, :]
        if self.flip_lr:
            arr = arr[:, ::-1]
        return np.ascontiguousarray(arr)


def _values(ds: pydicom.Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    items = (
        list(value) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
    )
    return [str(v).strip().upper() for v in items]


def one_side(ds: pydicom.Dataset) -> str:
    """Why the image shows one side only ("" if ImageLaterality/Laterality do not say so)."""
    for keyword in ("ImageLaterality", "Laterality"):
        side = "".join(_values(ds, keyword))
        if side in ("R", "L"):
            return (f"{keyword} is {side}: the image shows one side only, but the crop splits an "
                    "AP pelvis radiograph with both hips at the midline")  # fmt: skip
    return ""


def check_laterality(ds: pydicom.Dataset, path: str | Path) -> None:
    if one_side(ds):
        raise InputError(path, one_side(ds))


def _axis(value: str) -> tuple[str, str]:
    """('LR' letter or '', 'HF' letter or '') of one PatientOrientation value."""
    lr = [c for c in value if c in "LR"]
    hf = [c for c in value if c in "HF"]
    return (lr[0] if len(lr) == 1 else ""), (hf[0] if len(hf) == 1 else "")


def orientation(
    ds: pydicom.Dataset, path: str | Path, patient_right_on: str, policy: str
) -> Orientation:
    """How to turn the stored image into the crop's orientation (see the module docstring)."""
    values = _values(ds, "PatientOrientation")
    assumed = f"the patient's right on the {patient_right_on.replace('_', ' ')}"
    if not values:
        return Orientation(note=f"PatientOrientation absent: assumed {assumed}")
    shown = "\\".join(values)
    (row_lr, row_hf), (col_lr, col_hf) = (_axis(v) for v in (values + ["", ""])[:2])
    if len(values) == 2 and row_lr and col_hf and not row_hf and not col_lr:
        transpose, across, down = False, row_lr, col_hf
    elif len(values) == 2 and row_hf and col_lr and not row_lr and not col_hf:
        transpose, across, down = True, col_lr, row_hf
    else:
        raise InputError(
            path,
            f"PatientOrientation {shown} does not say unambiguously where the patient's right "
            "and feet are (an AP view has one of L/R across and one of H/F down)",
        )
    # moving right across the displayed image goes to the patient's left when the patient's
    # right is on the image left
    wanted = "L" if patient_right_on == "image_left" else "R"
    o = Orientation(transpose=transpose, flip_ud=down == "H", flip_lr=across != wanted)
    if not o.changed:
        return Orientation(note=f"PatientOrientation {shown}: {assumed}, as assumed")
    what = [
        w
        for w, on in (
            ("transposed (stored rotated by 90°)", o.transpose),
            ("flipped upside down", o.flip_ud),
            ("flipped left-right", o.flip_lr),
        )
        if on
    ]
    if policy == "error":
        raise InputError(
            path,
            f"PatientOrientation {shown} disagrees with the crop's assumption ({assumed}, feet "
            f"down): it would have to be {' and '.join(what)}; fix the image, set "
            "crop.patient_right_on, or let hipseg flip it (crop.orientation: flip)",
        )
    note = f"PatientOrientation {shown}: {' and '.join(what)} to {assumed}, feet down"
    return Orientation(o.transpose, o.flip_ud, o.flip_lr, note)
