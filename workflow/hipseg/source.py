"""Data that enters as something else than full radiographs: joint images, an existing nnU-Net
raw dataset, masks named by an annotation tool.

hipseg's own entry is a sheet of full AP pelvis radiographs with full-image label maps, which it
de-identifies and crops into one image per hip. Researchers often already have the next steps:

* **a joint-level sample sheet** (:mod:`hipseg.samplesheet`): one row per hip-joint image, its
  mask, ``patient``, ``side`` and optional ``split``/``spacing``. A DICOM joint image is
  de-identified (and its burned-in text redacted) like a radiograph; a PNG/TIFF/NIfTI/NRRD image
  is taken as already de-identified by its provider, and the report says so;
* **an nnU-Net raw dataset** (``DatasetXXX_Name`` with ``dataset.json``, ``imagesTr``,
  ``labelsTr`` and optionally ``imagesTs``/``labelsTs``): :func:`read_raw_dataset` turns it into
  the same joint-level table; the test set is ``imagesTs``; an optional ``patients.tsv`` beside
  ``dataset.json`` gives each case its patient (and optionally ``side``, ``spacing``,
  ``radiograph``). Without it every case is its own patient and the folds are not grouped by
  patient (the report says so).

Label names. Masks whose labels have names (an nnU-Net ``dataset.json``, a 3D Slicer
``.seg.nrrd``, a DICOM SEG) are mapped onto hipseg's labels by name: hipseg's own names
(``L1`` … ``L5``) always match; any other name must be mapped in the ``source.labels`` config
section (``{"femoral head": "L1", …}``, compared without case and surrounding spaces). A name
that is neither is an error naming the file, never a silent mislabel.

Spacing. A joint image's pixel spacing comes from its DICOM header or its NIfTI/NRRD/MHA header;
formats without one (PNG, TIFF, BMP) need the ``spacing`` column (``0.143`` or ``0.143x0.150``:
row × column, mm, as DICOM's PixelSpacing). In an nnU-Net dataset of natural images (``.png``,
``.bmp``, ``.tif``) without a spacing column every pixel is 1 × 1, as nnU-Net's own
``NaturalImage2DIO`` reads them; distances are then in pixels and the report says so.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .errors import HipsegError, InputError
from .labels import BACKGROUND, BY_NAME, ID_RE, NAMES
from .options import StageOptions

if TYPE_CHECKING:  # pandas is imported where a table is built: a crop job never needs it
    import pandas as pd

# file endings of images that are not DICOM; everything else is read as DICOM
NATURAL = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")  # no spacing in the file
HEADERED = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")  # spacing in the header
IMAGE_ENDINGS = NATURAL + HEADERED
SIDES = ("left", "right")
PATIENTS_TSV = "patients.tsv"
# how a joint image's spacing was found (the dataset summary counts them)
SPACING_SOURCES = {
    "image_header": "the image file's header (NIfTI/NRRD/MHA)",
    "sheet": "the sheet's spacing column",
    "pixel_units": "none given: 1 × 1 per pixel (nnU-Net's natural-image convention; "
    "distances in pixels)",
}


@dataclass(frozen=True)
class SourceOptions(StageOptions):
    """The ``source:`` section of the config: how the names of your labels map onto hipseg's."""

    SECTION: ClassVar[str] = "source"
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        bad = {k: v for k, v in dict(self.labels).items() if v not in NAMES}
        if bad:
            raise HipsegError(
                f"source.labels: {bad} maps onto no hipseg label; hipseg's labels are "
                f"{', '.join(NAMES)}"
            )


def ending(path: str | Path) -> str:
    """The file ending that decides the format (``.nii.gz`` counts as one)."""
    name = str(path).lower()
    return next((e for e in IMAGE_ENDINGS if name.endswith(e)), "")


def is_dicom_name(path: str | Path) -> bool:
    """Whether a joint image is read as DICOM: any file whose ending is not an image format's
    (``.dcm``, ``.dicom``, none, …); the sheet validation reads the file to make sure."""
    return ending(path) == ""


def label_value(name: str, mapping: Mapping[str, str] | None) -> int | None:
    """hipseg's value of a label named ``name`` by an annotation tool or a dataset, or None."""
    if name in BY_NAME:
        return BY_NAME[name].value
    key = name.strip().casefold()
    for source, target in (mapping or {}).items():
        if str(source).strip().casefold() == key:
            return BY_NAME[target].value
    return None


def value_map(
    labels: Mapping[str, object], mapping: Mapping[str, str] | None, where: str | Path
) -> dict[int, int]:
    """{source value: hipseg value} from an nnU-Net ``dataset.json``'s ``labels``.

    Every label except background must map onto one hipseg label, and every hipseg label must be
    there exactly once; otherwise :class:`InputError` naming ``where`` lists the problem."""
    if not isinstance(labels, Mapping) or not labels:
        raise InputError(where, "has no 'labels' (name → value)")
    out: dict[int, int] = {}
    unknown, regions = [], []
    for name, value in labels.items():
        if isinstance(value, (list, tuple)):
            regions.append(name)
            continue
        try:
            v = int(value)
        except (TypeError, ValueError):
            msg = f"label {name!r} has the value {value!r}, not an integer"
            raise InputError(where, msg) from None
        if str(name).strip().casefold() == "background" or v == BACKGROUND:
            if v != BACKGROUND:
                raise InputError(where, f"background has the value {v}; nnU-Net requires 0")
            out[v] = BACKGROUND
            continue
        target = label_value(str(name), mapping)
        if target is None:
            unknown.append(str(name))
        else:
            out[v] = target
    if regions:
        raise InputError(where, f"region-based labels {regions} are not supported (hipseg's "
                         "labels do not overlap)")  # fmt: skip
    if unknown:
        example = "{" + f"{json.dumps(unknown[0])}: " + '"L1"}'
        raise InputError(
            where,
            f"label(s) {unknown} map onto none of hipseg's labels ({', '.join(NAMES)}); map "
            f"them in the workflow config (source: {{labels: {example}}}) or, for hipseg "
            f"segment, with --source '{{\"labels\": {example}}}'",
        )
    targets = [t for s, t in out.items() if s != BACKGROUND]
    twice = sorted({NAMES[t - 1] for t in targets if targets.count(t) > 1})
    missing = [n for n in NAMES if BY_NAME[n].value not in targets]
    if twice or missing:
        what = []
        if twice:
            what.append(f"{', '.join(twice)} mapped from more than one label")
        if missing:
            what.append(f"{', '.join(missing)} mapped from none")
        raise InputError(where, "labels do not map one to one onto hipseg's: " + "; ".join(what))
    return dict(sorted(out.items()))


def format_values(values: Mapping[int, int] | None) -> str:
    """A value map as the validated sheet's ``values`` column: ``"1:1,2:2"`` ("" = as is)."""
    if not values or all(int(k) == int(v) for k, v in values.items()):
        return ""
    return ",".join(f"{int(k)}:{int(v)}" for k, v in sorted(values.items()))


def parse_values(text: str) -> dict[int, int] | None:
    if not text:
        return None
    return {int(a): int(b) for a, b in (p.split(":") for p in text.split(","))}


_SPACING_RE = re.compile(r"^\s*([0-9.eE+-]+)\s*(?:[x×,; ]\s*([0-9.eE+-]+))?\s*$")


def parse_spacing(text: str) -> tuple[float, float]:
    """``"0.143"`` or ``"0.143x0.150"`` (row × column, mm) → (row, column); ValueError if bad."""
    m = _SPACING_RE.match(text or "")
    if not m:
        raise ValueError(f"spacing {text!r} is not 'ROW' or 'ROWxCOLUMN' in mm")
    row = float(m.group(1))
    col = float(m.group(2)) if m.group(2) else row
    if not (np.isfinite(row) and np.isfinite(col) and row > 0 and col > 0):
        raise ValueError(f"spacing {text!r} must be positive")
    return row, col


def read_joint_image(path: str | Path, spacing: str = "") -> tuple[np.ndarray, tuple, str]:
    """A non-DICOM joint image: (pixels as float32 (rows, cols), spacing (x, y), source key).

    PNG/TIFF/BMP are read with Pillow (grey, 8 or 16 bit; palette or colour is an error), the
    others with SimpleITK; the sheet's ``spacing`` is required where the file has none and
    replaces the header's where it has one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "image file does not exist")
    try:
        given = parse_spacing(spacing) if spacing else None
    except ValueError as exc:
        raise InputError(path, str(exc)) from exc
    end = ending(path)
    if end in NATURAL:
        arr = _read_natural(path)
        source = "sheet" if given else "pixel_units"
        row, col = given or (1.0, 1.0)
        return arr, (col, row), source
    from .io import read_image_2d

    arr, (sx, sy) = read_image_2d(path)
    if given:
        row, col = given
        return arr.astype(np.float32), (col, row), "sheet"
    return arr.astype(np.float32), (sx, sy), "image_header"


def check_joint_image_header(path: str | Path) -> None:
    """The checks of :func:`read_joint_image` that need no pixels (one grey channel, one 2D
    image), for the sheet's structural validation before any job runs; a colour PNG is read
    whole (it may be grey in three equal channels)."""
    path = Path(path)
    if ending(path) not in NATURAL:
        from .io import image_size_2d

        image_size_2d(path)
        return
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode, frames = im.mode, getattr(im, "n_frames", 1)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(path, f"cannot be read as an image ({exc})") from exc
    if frames > 1 or mode in ("P", "PA", "RGB", "RGBA", "LA", "CMYK", "YCbCr"):
        _read_natural(path)


def _read_natural(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                raise InputError(path, f"has {im.n_frames} frames/pages, expected one image")
            mode = im.mode
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InputError(path, f"cannot be read as an image ({exc})") from exc
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):  # grey or colour with alpha
            arr = arr[..., : arr.shape[2] - 1]
        if arr.shape[2] == 1 or np.all(arr == arr[..., :1]):
            arr = arr[..., 0]
        else:
            raise InputError(path, f"is a colour image ({mode}); hipseg's models take one grey "
                             "channel: save it as a greyscale image")  # fmt: skip
    if mode == "P":
        raise InputError(path, "is a palette image: save the radiograph as a greyscale image")
    if arr.ndim != 2:
        raise InputError(path, f"has shape {arr.shape}, expected a 2D grey image")
    return np.ascontiguousarray(arr, dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# An nnU-Net raw dataset as the source
# ------------------------------------------------------------------------------------------------
def is_raw_dataset(path: str | Path) -> bool:
    return Path(path).is_dir()


def raw_dataset_files(folder: str | Path) -> list[str]:
    """The files whose change makes the dataset a new source: dataset.json, patients.tsv."""
    folder = Path(folder)
    files = [folder / "dataset.json"]
    if (folder / PATIENTS_TSV).is_file():
        files.append(folder / PATIENTS_TSV)
    return [str(f) for f in files]


def _dataset_json(folder: Path) -> dict:
    path = folder / "dataset.json"
    if not path.is_file():
        raise InputError(folder, "is a folder without dataset.json: not an nnU-Net raw "
                         "dataset (samples: a sheet or a DatasetXXX_Name folder)")  # fmt: skip
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot be read as JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise InputError(path, "is not a JSON object")
    for key in ("channel_names", "labels", "file_ending"):
        if key not in meta:
            raise InputError(path, f"has no '{key}' (nnU-Net v2's dataset.json requires it)")
    channels = meta.get("channel_names") or meta.get("modality") or {}
    if len(channels) != 1:
        raise InputError(path, f"has {len(channels)} input channels; hipseg's models take one "
                         "(the radiograph)")  # fmt: skip
    return meta


def _cases(folder: Path, sub: str, fe: str, image: bool) -> dict[str, Path]:
    d = folder / sub
    if not d.is_dir():
        return {}
    suffix = f"_0000{fe}" if image else fe
    found = {}
    for p in sorted(d.iterdir()):
        if p.name.startswith(".") or not p.name.endswith(fe):
            continue
        if image and not p.name.endswith(suffix):
            raise InputError(p, f"is not named <case>{suffix} (hipseg's models take one channel)")
        found[p.name[: -len(suffix)]] = p
    return found


def _patients(folder: Path) -> pd.DataFrame | None:
    path = folder / PATIENTS_TSV
    if not path.is_file():
        return None
    from .tables import parse_table

    table = parse_table(path)
    for col in ("case", "patient"):
        if col not in table.columns:
            raise InputError(path, f"has no column '{col}' (columns: case, patient[, side, "
                             "spacing, radiograph])")  # fmt: skip
    dups = sorted(set(table["case"][table["case"].duplicated()]))
    if dups:
        raise InputError(path, f"lists case(s) {dups[:5]} twice")
    return table.set_index("case", drop=False)


def read_raw_dataset(folder: str | Path, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """An nnU-Net raw dataset as a joint-level table (:data:`hipseg.samplesheet.COLUMNS`)."""
    folder = Path(folder).resolve()
    meta = _dataset_json(folder)
    fe = str(meta["file_ending"])
    values = value_map(meta["labels"], mapping, folder / "dataset.json")
    rows, problems = [], []
    patients = _patients(folder)
    listed = set()
    subsets = (("train", "imagesTr", "labelsTr"), ("test", "imagesTs", "labelsTs"))
    for split, images, labels in subsets:
        imgs, labs = _cases(folder, images, fe, True), _cases(folder, labels, fe, False)
        for case in sorted(set(labs) - set(imgs)):
            problems.append(f"{labs[case]}: label without an image in {images}")
        for case, img in imgs.items():
            if case not in labs:
                problems.append(f"{img}: image without a label in {labels} (hipseg trains and "
                                "evaluates on labelled cases only)")  # fmt: skip
                continue
            if not ID_RE.match(case):
                problems.append(f"{img}: case name {case!r} must be letters, digits, '_' or '-'")
                continue
            row = {"id": case, "patient": case, "patient_source": "case",
                   "side": "", "spacing": "", "radiograph": case}  # fmt: skip
            if patients is not None:
                if case not in patients.index:
                    problems.append(f"{folder / PATIENTS_TSV}: has no row for case {case}")
                    continue
                p = patients.loc[case]
                listed.add(case)
                row.update(patient=p["patient"], patient_source="patients.tsv")
                for col in ("side", "spacing", "radiograph"):
                    if col in patients.columns and p[col]:
                        row[col] = p[col]
            row.update(image=str(img), labels=str(labs[case]), split=split)
            rows.append(row)
    if patients is not None:
        for case in sorted(set(patients.index) - listed - {r["id"] for r in rows}):
            problems.append(f"{folder / PATIENTS_TSV}: case {case} is not in the dataset")
    if problems:
        from .errors import ValidationError

        raise ValidationError(folder, problems)
    if not rows:
        raise InputError(folder, f"has no labelled cases in imagesTr/labelsTr ({fe})")
    import pandas as pd

    df = pd.DataFrame(rows)
    df["values"] = format_values(values)
    df["origin"] = "nnunet"
    return df


def mtime_key(path: str | Path) -> tuple:
    """What tells the DAG that a source changed: the files' paths, sizes and times."""
    files = raw_dataset_files(path) if is_raw_dataset(path) else [str(path)]
    key = []
    for f in files:
        try:
            st = os.stat(f)
            key.append((f, st.st_mtime_ns, st.st_size))
        except OSError:
            key.append((f, None, None))
    return tuple(key)
