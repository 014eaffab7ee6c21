"""The radiographs of a ``hipseg segment`` run: files, folders, or a sheet of new radiographs.

Light on purpose (pandas, no nnU-Net or torch): the workflow's ``segment_new`` rule reads the
sheet through :func:`sheet_inputs` while Snakemake builds the DAG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import HipsegError, InputError
from ..labels import ID_RE

SIDES = ("right", "left")


@dataclass(frozen=True)
class Source:
    name: str  # output folder name
    path: Path
    excluded: dict  # side -> reason given by the user (sheet's hips column)


def _safe(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "radiograph"
    return name if name[0].isalnum() else f"r{name}"


def _is_input(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"


def collect(inputs: list[str | Path]) -> tuple[list[Source], list[str]]:
    """Files as given and every file under given folders (sorted); errors for missing paths."""
    found, errors = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if _is_input(p))
            if not files:
                errors.append(f"{item}: folder contains no files")
            found += [(p, p.relative_to(item).with_suffix("")) for p in files]
        elif item.is_file():
            found.append((item, Path(item.stem)))
        else:
            errors.append(f"{item}: does not exist")
    stems = [_safe(rel.name) for _, rel in found]
    sources = []
    for (path, rel), stem in zip(found, stems, strict=True):
        name = stem if stems.count(stem) == 1 else _safe("_".join(rel.parts))
        sources.append(Source(name, path, {}))
    return sources, errors


def read_sheet(sheet: str | Path) -> list[Source]:
    """A sheet of new radiographs: TSV with ``id`` and ``dicom`` (relative to the sheet), and an
    optional ``hips`` column (both, left, right, none: the hips to segment)."""
    sheet = Path(sheet)
    try:
        df = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except Exception as exc:
        raise InputError(sheet, f"cannot be read as a tab-separated sheet ({exc})") from exc
    missing = [c for c in ("id", "dicom") if c not in df.columns]
    if missing:
        raise InputError(sheet, f"missing column(s) {missing}; required: id, dicom")
    problems = [f"row {i + 2}: id {v!r} is not a valid id" for i, v in enumerate(df["id"])
                if not ID_RE.match(v)]  # fmt: skip
    problems += [f"id {v!r} appears more than once" for v in sorted(set(df["id"]))
                 if (df["id"] == v).sum() > 1]  # fmt: skip
    hips = df["hips"].str.lower() if "hips" in df.columns else pd.Series(["both"] * len(df))
    bad = sorted(set(hips) - {"", "both", "left", "right", "none"})
    if bad:
        problems.append(f"hips must be both, left, right or none, got {bad}")
    if problems:
        raise InputError(sheet, "; ".join(problems))
    out = []
    for row, use in zip(df.itertuples(), hips, strict=True):
        keep = {"": SIDES, "both": SIDES, "none": ()}.get(use, (use,))
        excluded = {s: "excluded in the sheet" for s in SIDES if s not in keep}
        out.append(Source(row.id, (sheet.resolve().parent / row.dicom).resolve(), excluded))
    return out


def sheet_inputs(sheet: str | Path | None) -> dict:
    """The workflow's inputs for a sheet of new radiographs: the sheet and its DICOM files."""
    if not sheet:
        raise HipsegError("config: set new_radiographs to a sheet (TSV: id, dicom[, hips]) of "
                          "new radiographs")  # fmt: skip
    return {"sheet": str(sheet), "dicoms": [str(s.path) for s in read_sheet(sheet)]}
