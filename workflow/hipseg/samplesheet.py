"""The sample sheet: one row per radiograph, or one row per joint image; validated before anything
runs.

**Radiograph sheet** (tab-separated, header required):

``id``       unique case id (letters, digits, ``_`` and ``-``); must not contain identifying data
``patient``  the patient the radiograph belongs to (grouping key for every split; pseudonymised
             before it reaches any output)
``dicom``    path of the DICOM file (relative paths are relative to the sheet's folder)
``labels``   path of the full-image label map (:mod:`hipseg.masks`: PNG/TIFF, NIfTI, NRRD, a 3D
             Slicer ``.seg.nrrd`` or a DICOM SEG of the radiograph; values 0–5, same size)
``hips``     which hips to use: ``both`` (default), ``left``, ``right`` or ``none`` (patient side)
``split``    optional fixed split: ``train``, ``test`` or empty (split by patient)
``note``     optional free text (e.g. why a hip is excluded)

**Joint sheet** (a sheet with an ``image`` column instead of ``dicom``): one row per hip-joint
image that is already cropped, e.g. the crops an annotator drew on:

``id``, ``patient``, ``split``, ``note``  as above
``image``       the joint image: DICOM (de-identified and redacted like a radiograph) or PNG,
                TIFF, NIfTI, NRRD, MHA (taken as de-identified by its provider)
``mask``        its label map (any format of :mod:`hipseg.masks`), same size
``side``        ``left`` or ``right`` (the patient's side): one side is mirrored to the
                training convention (``crop.mirror``), as hipseg's own crops are
``spacing``     pixel spacing in mm, ``ROW`` or ``ROWxCOLUMN``: required for PNG/TIFF/BMP,
                replaces a NIfTI/NRRD header's, not allowed for DICOM (the header's counts)
``radiograph``  optional: the radiograph the joint was cropped from (joints of one radiograph
                share it; default: the id)

A folder instead of a sheet is an nnU-Net raw dataset (:func:`hipseg.source.read_raw_dataset`).
Every kind is read into one table (:data:`COLUMNS`); the validated copy (``validated.tsv``)
keeps that table with the patients as keyed pseudonyms.

The sheet is UTF-8 text (a byte-order mark, Windows line endings and spaces around names and
values are accepted: spreadsheets write them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .errors import InputError, ValidationError
from .labels import ID_RE
from .source import SIDES
from .tables import parse_table

REQUIRED = ["id", "patient", "dicom", "labels"]
OPTIONAL = {"hips": "both", "split": "", "note": ""}
JOINT_REQUIRED = ["id", "patient", "image", "mask", "side"]
JOINT_OPTIONAL = {"split": "", "spacing": "", "radiograph": "", "note": ""}
HIPS = ("both", "left", "right", "none")
SPLITS = ("", "train", "test")
# The one table every kind of source is read into (and validated.tsv holds):
#   level           radiograph | joint
#   image           the image file (DICOM or not); dicom: the same where it is DICOM, else ""
#   side, spacing   joints only; radiograph: the joint's radiograph (a radiograph's own id)
#   values          source value → hipseg value of the masks ("" = as they are)
#   origin          sheet | nnunet;  patient_source: sheet | patients.tsv | case
COLUMNS = ["id", "patient", "dicom", "labels", "hips", "split", "note", "level", "image", "side",
           "spacing", "radiograph", "values", "origin", "patient_source"]  # fmt: skip


def read(path: str | Path, mapping=None) -> pd.DataFrame:
    """Read a sample sheet (radiographs or joints), a validated copy of one, or an nnU-Net raw
    dataset folder, into the table of :data:`COLUMNS`; relative paths are resolved against the
    sheet's folder. ``mapping`` (``source.labels``) maps a dataset's label names."""
    path = Path(path)
    if path.is_dir():
        from .source import read_raw_dataset

        return _complete(read_raw_dataset(path, mapping))
    if not path.is_file():
        raise InputError(path, "sample sheet does not exist")
    df = parse_table(path)
    if "level" in df.columns:  # a validated copy: already complete, paths resolved
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise InputError(path, f"is not a validated sample sheet (no column(s) {missing})")
        return df
    joints = "image" in df.columns and "dicom" not in df.columns
    required, optional = (JOINT_REQUIRED, JOINT_OPTIONAL) if joints else (REQUIRED, OPTIONAL)
    missing = [c for c in required if c not in df.columns]
    if missing:
        other = (
            ""
            if joints or "image" in df.columns
            else (f"; a joint sheet has the columns {JOINT_REQUIRED}")
        )
        raise InputError(path, f"missing column(s) {missing}; required: {required}{other}")
    for col, default in optional.items():
        if col not in df.columns:
            df[col] = default
    df["split"] = df["split"].str.lower()
    resolve = _resolver(path.resolve().parent)
    if joints:
        from .source import is_dicom_name

        df = df.rename(columns={"mask": "labels"})
        df["image"] = [resolve(p) if p else "" for p in df["image"]]
        df["dicom"] = [p if p and is_dicom_name(p) else "" for p in df["image"]]
        df["side"] = df["side"].str.lower()
        df["level"] = "joint"
    else:
        df["hips"] = df["hips"].replace("", "both").str.lower()
        df["dicom"] = [resolve(p) if p else "" for p in df["dicom"]]
        df["image"] = df["dicom"]
        df["level"] = "radiograph"
    df["labels"] = [resolve(p) if p else "" for p in df["labels"]]
    df["origin"] = "sheet"
    df["patient_source"] = "sheet"
    return _complete(df)


def _complete(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the columns a kind of source does not have; the table's columns in order."""
    defaults = {"hips": "both", "level": "joint", "dicom": "", "side": "", "spacing": "",
                "split": "", "note": "", "values": "", "origin": "sheet",
                "patient_source": "sheet"}  # fmt: skip
    for col, default in defaults.items():
        if col not in df.columns:
            df[col] = default
    if "radiograph" not in df.columns:
        df["radiograph"] = df["id"]
    df["radiograph"] = df["radiograph"].where(df["radiograph"] != "", df["id"])
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + extra].reset_index(drop=True)


def _resolver(base: Path):
    """``Path(base, p).resolve()`` as a function, for thousands of files in a few folders: each
    folder is resolved once, then only the file itself is checked for a symbolic link."""
    folders: dict[str, str] = {}

    def resolve(p: str) -> str:
        folder, name = os.path.split(os.path.join(base, p))
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        full = os.path.join(folders[folder], name)
        return os.path.realpath(full) if name in ("", ".", "..") or os.path.islink(full) else full

    return resolve


def row(path: str | Path, case_id: str, mapping=None) -> dict[str, str]:
    """One row of the sheet by its id (paths resolved), as a dict of strings."""
    df = read(path, mapping)
    found = df[df["id"] == case_id]
    if len(found) != 1:
        what = "no row" if found.empty else f"{len(found)} rows"
        raise InputError(path, f"{what} with id {case_id!r}")
    return {k: str(v) for k, v in found.iloc[0].items()}


def validate(path: str | Path, check_pixels: bool = True, mapping=None) -> pd.DataFrame:
    """Read and validate the sheet; raise one :class:`ValidationError` listing every problem.

    Structural checks (ids, duplicates, values, split conflicts, file existence) always run;
    ``check_pixels`` also reads headers and masks: size mismatch, label values outside 0–5,
    unknown label names (mapped by ``mapping``, the ``source.labels`` config section).
    """
    path = Path(path)
    df = read(path, mapping)
    problems: list[str] = []
    if df.empty:
        problems.append(f"{path}: the sample sheet has no rows")
    # column-wise (a sheet of 10,000 rows is checked in well under a second); the messages come
    # row by row, for the rows with a problem only
    joint = df["level"] == "joint"
    spacing = pd.Series("", index=df.index)
    if joint.any():  # row by row, joints only (a radiograph sheet of 10,000 rows stays fast)
        spacing[joint] = df[joint].apply(_spacing_problem, axis=1)
    sides = df["side"].isin(SIDES) | (df["origin"].eq("nnunet") & df["side"].eq(""))
    # (what is wrong, the rows it is wrong in), checked column-wise
    checks = [
        (lambda r: "id must be letters, digits, '_' or '-'", ~df["id"].map(_is_id)),
        (lambda r: "patient is empty", df["patient"] == ""),
        (lambda r: f"hips must be one of {HIPS}, got {r['hips']!r}", ~df["hips"].isin(HIPS)),
        (lambda r: f"split must be train, test or empty, got {r['split']!r}",
         ~df["split"].isin(SPLITS)),
        (lambda r: f"side must be left or right, got {r['side']!r}", joint & ~sides),
        (lambda r: "radiograph must be letters, digits, '_' or '-'",
         ~df["radiograph"].map(_is_id)),
        (lambda r: spacing[r.name], spacing != ""),
    ]  # fmt: skip
    missing = {
        col: ~df[col].map(lambda p: bool(p) and os.path.isfile(p)) for col in ("image", "labels")
    }
    suspect = missing["image"] | missing["labels"]
    for _, bad in checks:
        suspect |= bad
    for i in df.index[suspect]:
        row = df.loc[i]
        where = f"{path} row {i + 2} (id {row['id'] or '?'})"
        problems += [f"{where}: {message(row)}" for message, bad in checks if bad[i]]
        names = ("image", "mask") if row["level"] == "joint" else ("dicom", "labels")
        for col, name in zip(("image", "labels"), names, strict=True):
            if not row[col]:
                problems.append(f"{where}: {name} path is empty")
            elif missing[col][i]:
                problems.append(f"{row[col]}: {name} file does not exist ({where})")
    dups = df["id"][df["id"].duplicated(keep=False)]
    for dup in sorted(set(dups)):
        rows = [str(i + 2) for i in df.index[df["id"] == dup]]
        problems.append(f"{path}: duplicate id {dup!r} in rows {', '.join(rows)}")
    fixed = df[df["split"] != ""]
    both = fixed.groupby("patient", sort=True)["split"].nunique()
    for patient in both.index[both > 1]:
        ids = ", ".join(fixed["id"][fixed["patient"] == patient])
        problems.append(  # the ids, never the patient value (it may be a record number)
            f"{path}: rows {ids} are one patient with a fixed split in both train and test"
        )
    if check_pixels:
        problems += _check_files(path, df, mapping)
    else:
        problems += _check_headers(df[~suspect & (df["dicom"] == "")])
    if problems:
        raise ValidationError(path, problems)
    return df


def _check_headers(df: pd.DataFrame) -> list[str]:
    """Non-DICOM joint images read as far as their headers tell (channels, dimensions): what
    would stop the first job, found before it (a DICOM's header is read by its deid job)."""
    from .source import check_joint_image_header

    problems = []
    for image in df["image"]:
        try:
            check_joint_image_header(image)
        except InputError as exc:
            problems.append(str(exc))
    return problems


def _is_id(value: str) -> bool:
    return bool(ID_RE.match(value))


def _spacing_problem(row) -> str:
    """What is wrong with a joint row's spacing column ("" if nothing)."""
    from .source import NATURAL, ending, parse_spacing

    text = row["spacing"]
    if row["dicom"]:
        return "spacing is given for a DICOM image: its header's spacing counts" if text else ""
    if not text:
        if row["origin"] == "sheet" and ending(row["image"]) in NATURAL:
            return (f"spacing is required for a {ending(row['image'])} image (the file has none):"
                    " ROW or ROWxCOLUMN in mm")  # fmt: skip
        return ""
    try:
        parse_spacing(text)
    except ValueError as exc:
        return str(exc)
    return ""


def _check_files(path: Path, df: pd.DataFrame, mapping=None) -> list[str]:
    """Every DICOM (readable, pixel data whole and of its header's size, sane bits and
    spacing: :func:`hipseg.intake.inspect`), other image (readable, one grey channel) and mask
    (:func:`hipseg.masks.read_mask`: size, values, names); one image twice."""
    from .intake import inspect
    from .masks import read_mask
    from .source import parse_values, read_joint_image

    problems: list[str] = []
    seen: dict[str, list[str]] = {}
    for _, row in df.iterrows():
        if not (Path(row["image"]).is_file() and Path(row["labels"]).is_file()):
            continue
        try:
            if row["dicom"]:
                size, sop = inspect(row["dicom"])
            else:  # read whole: one grey channel, readable (they are small)
                size, sop = read_joint_image(row["image"], row["spacing"])[0].shape, ""
        except InputError as exc:
            problems.append(str(exc))
            continue
        if sop:
            seen.setdefault(sop, []).append(row["id"])
        try:
            read_mask(row["labels"], shape=size, names=mapping,
                      values=parse_values(row["values"]),
                      reference=row["dicom"] or None)  # fmt: skip
        except InputError as exc:
            problems.append(f"{exc} (image {row['image']})")
    for ids in seen.values():
        ids = list(dict.fromkeys(ids))  # a repeated id is reported as a duplicate id already
        if len(ids) > 1:  # the ids and files, never the UID (it may identify the study)
            files = ", ".join(str(df.loc[df["id"] == i, "image"].iloc[0]) for i in ids)
            problems.append(
                f"{path}: rows {', '.join(ids)} are the same image (same SOPInstanceUID): {files}"
            )
    return problems


def check_columns(columns, wanted, sheet: str | Path) -> None:
    """Every column that ``subgroups.columns`` names must be in the sample sheet (checked when
    the workflow starts, and again by the subgroup analysis)."""
    missing = [c for c in wanted if c not in list(columns)]
    if missing:
        raise InputError(
            sheet,
            f"has no column(s) {', '.join(repr(c) for c in missing)}, which subgroups.columns "
            f"names (the sheet's columns: {', '.join(map(str, columns))})",
        )


def write_pseudonymised(df: pd.DataFrame, out: str | Path, use_demo_key: bool = False) -> None:
    """Write the validated sheet with every patient value replaced by its keyed pseudonym (the
    same as the de-identified DICOM's PatientID): no sheet identifier leaves validation."""
    from .io import write_text
    from .keys import load_key, pseudonym

    key, _ = load_key(use_demo_key)
    table = df.copy()
    table["patient"] = [pseudonym(key, p) for p in table["patient"]]
    write_text(out, table.to_csv(sep="\t", index=False))
