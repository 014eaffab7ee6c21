"""The sample sheet: one row per radiograph, validated before anything runs.

Columns (tab-separated, header required):

``id``       unique case id (letters, digits, ``_`` and ``-``); must not contain identifying data
``patient``  the patient the radiograph belongs to (grouping key for every split; pseudonymised
             before it reaches any output)
``dicom``    path of the DICOM file (relative paths are relative to the sheet's folder)
``labels``   path of the full-image label map (PNG, NIfTI, NRRD, … values 0–5, same size)
``hips``     which hips to use: ``both`` (default), ``left``, ``right`` or ``none`` (patient side)
``split``    optional fixed split: ``train``, ``test`` or empty (split by patient)
``note``     optional free text (e.g. why a hip is excluded)

The sheet is UTF-8 text (a byte-order mark, Windows line endings and spaces around names and
values are accepted: spreadsheets write them).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, ValidationError
from .labels import ID_RE, MAX_LABEL, VALUE_RANGE

REQUIRED = ["id", "patient", "dicom", "labels"]
OPTIONAL = {"hips": "both", "split": "", "note": ""}
HIPS = ("both", "left", "right", "none")
SPLITS = ("", "train", "test")


def read(path: str | Path) -> pd.DataFrame:
    """Read the sheet; fill optional columns; resolve relative paths against its folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "sample sheet does not exist")
    df = _parse(path, _text(path))
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; required: {REQUIRED}")
    for col, default in OPTIONAL.items():
        if col not in df.columns:
            df[col] = default
    df = df.apply(lambda s: s.str.strip())
    df["hips"] = df["hips"].replace("", "both").str.lower()
    df["split"] = df["split"].str.lower()
    resolve = _resolver(path.resolve().parent)
    for col in ("dicom", "labels"):
        df[col] = [resolve(p) if p else "" for p in df[col]]
    return df


def _text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, "sample sheet is UTF-16 text: save it as UTF-8 (tab-separated)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            path, f"sample sheet is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.StringIO(text), sep="\t", dtype=str, keep_default_na=False, comment="#"
        )
    except Exception as exc:  # pandas raises several types for malformed text
        raise InputError(path, f"cannot be parsed as a tab-separated table ({exc})") from exc


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


def row(path: str | Path, case_id: str) -> dict[str, str]:
    """One row of the sheet by its id (paths resolved), as a dict of strings."""
    df = read(path)
    found = df[df["id"] == case_id]
    if len(found) != 1:
        what = "no row" if found.empty else f"{len(found)} rows"
        raise InputError(path, f"{what} with id {case_id!r}")
    return {k: str(v) for k, v in found.iloc[0].items()}


def validate(path: str | Path, check_pixels: bool = True) -> pd.DataFrame:
    """Read and validate the sheet; raise one :class:`ValidationError` listing every problem.

    Structural checks (ids, duplicates, values, split conflicts, file existence) always run;
    ``check_pixels`` also reads headers and label maps: size mismatch, label values outside 0–5.
    """
    path = Path(path)
    df = read(path)
    problems: list[str] = []
    if df.empty:
        problems.append(f"{path}: the sample sheet has no rows")
    # column-wise (a sheet of 10,000 rows is checked in well under a second); the messages come
    # row by row, for the rows with a problem only
    bad_id = ~df["id"].map(lambda v: bool(ID_RE.match(v)))
    bad_patient = df["patient"] == ""
    bad_hips = ~df["hips"].isin(HIPS)
    bad_split = ~df["split"].isin(SPLITS)
    missing = {
        col: ~df[col].map(lambda p: bool(p) and os.path.isfile(p)) for col in ("dicom", "labels")
    }
    suspect = bad_id | bad_patient | bad_hips | bad_split | missing["dicom"] | missing["labels"]
    for i in df.index[suspect]:
        row = df.loc[i]
        where = f"{path} row {i + 2} (id {row['id'] or '?'})"
        if bad_id[i]:
            problems.append(f"{where}: id must be letters, digits, '_' or '-'")
        if bad_patient[i]:
            problems.append(f"{where}: patient is empty")
        if bad_hips[i]:
            problems.append(f"{where}: hips must be one of {HIPS}, got {row['hips']!r}")
        if bad_split[i]:
            problems.append(f"{where}: split must be train, test or empty, got {row['split']!r}")
        for col in ("dicom", "labels"):
            if not row[col]:
                problems.append(f"{where}: {col} path is empty")
            elif missing[col][i]:
                problems.append(f"{row[col]}: {col} file does not exist ({where})")
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
        problems += _check_files(path, df)
    if problems:
        raise ValidationError(path, problems)
    return df


def _check_files(path: Path, df: pd.DataFrame) -> list[str]:
    """Every DICOM (readable, pixel data whole and of its header's size, sane bits and
    spacing: :func:`hipseg.intake.inspect`) and label map (size, values); one image twice."""
    from .intake import inspect

    problems: list[str] = []
    seen: dict[str, list[str]] = {}
    for _, row in df.iterrows():
        if not (Path(row["dicom"]).is_file() and Path(row["labels"]).is_file()):
            continue
        try:
            dsize, sop = inspect(row["dicom"])
        except InputError as exc:
            problems.append(str(exc))
            continue
        if sop:
            seen.setdefault(sop, []).append(row["id"])
        try:
            labels = _read_labels(row["labels"])
        except InputError as exc:
            problems.append(str(exc))
            continue
        if labels.shape != dsize:
            problems.append(
                f"{row['labels']}: label map size {labels.shape[0]}×{labels.shape[1]} "
                f"(rows×cols) ≠ image size {dsize[0]}×{dsize[1]} of {row['dicom']}"
            )
        bad = np.setdiff1d(np.unique(labels), np.arange(MAX_LABEL + 1))
        if bad.size:
            shown = ", ".join(f"{v:g}" for v in bad[:8])
            problems.append(f"{row['labels']}: label values outside {VALUE_RANGE}: {shown}")
    for ids in seen.values():
        ids = list(dict.fromkeys(ids))  # a repeated id is reported as a duplicate id already
        if len(ids) > 1:  # the ids and files, never the UID (it may identify the study)
            files = ", ".join(str(df.loc[df["id"] == i, "dicom"].iloc[0]) for i in ids)
            problems.append(
                f"{path}: rows {', '.join(ids)} are the same image (same SOPInstanceUID): {files}"
            )
    return problems


def _read_labels(path: str) -> np.ndarray:
    from .io import read_image_2d

    arr, _ = read_image_2d(path)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.mod(arr, 1) == 0):
            raise InputError(path, "label map has non-integer values")
    return arr


def write_pseudonymised(df: pd.DataFrame, out: str | Path, use_demo_key: bool = False) -> None:
    """Write the validated sheet with every patient value replaced by its keyed pseudonym (the
    same as the de-identified DICOM's PatientID): no sheet identifier leaves validation."""
    from .deid import load_key, pseudonym
    from .io import write_text

    key, _ = load_key(use_demo_key)
    table = df.copy()
    table["patient"] = [pseudonym(key, p) for p in table["patient"]]
    write_text(out, table.to_csv(sep="\t", index=False))
