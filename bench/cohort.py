"""Large synthetic cohorts for the scale benchmarks: a sample sheet of N distinct radiographs.

Rendering thousands of radiographs would take hours, and the DAG does not depend on pixels, so
a few demo radiographs are rendered once and every row of the sheet gets its own copy of one of
them with new DICOM UIDs (SOP instance, study, series); the label maps are hard links.

``rows="paper"`` gives the 83 rows of the synthetic ``paper`` preset (its ids, patients, hips
and splits) without rendering its full-size radiographs.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

SOURCE_PATIENTS = 4  # demo patients rendered once as the pixel source


def _source(root: Path) -> list[dict]:
    from hipseg import samplesheet, synth

    sheet = root / "source" / "samples.tsv"
    if not sheet.is_file():
        synth.generate(sheet.parent, preset="demo", seed=11, n_patients=SOURCE_PATIENTS)
    return samplesheet.read(sheet).to_dict("records")


def _rows(n: int | str) -> list[dict]:
    from hipseg import synth

    if n == "paper":
        return [
            {k: r[k] for k in ("id", "patient", "hips", "split", "note")}
            for r in synth.describe("paper")
        ]
    # about 1.25 radiographs per patient, as in the paper (83 radiographs of 70 patients)
    return [
        {"id": f"r{i:05d}", "patient": f"P{i * 4 // 5:05d}", "hips": "both", "split": "",
         "note": ""}
        for i in range(int(n))
    ]  # fmt: skip


def build(root: str | Path, n: int | str) -> Path:
    """Write ``root/cohort-<n>/samples.tsv`` with its files (reused when complete); return it."""
    import pydicom
    from pydicom.uid import generate_uid

    root = Path(root)
    out = root / f"cohort-{n}"
    sheet = out / "samples.tsv"
    rows = _rows(n)
    if sheet.is_file() and sum(1 for _ in sheet.open()) == len(rows) + 1:
        return sheet
    sources = _source(root)
    datasets = [pydicom.dcmread(s["dicom"]) for s in sources]
    (out / "dicom").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        k = i % len(sources)
        ds = datasets[k]
        for attr in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            setattr(ds, attr, generate_uid(entropy_srcs=["hipseg-bench", str(n), row["id"], attr]))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        row["dicom"] = f"dicom/{row['id']}.dcm"
        ds.save_as(out / row["dicom"], enforce_file_format=True)
        row["labels"] = f"labels/{row['id']}.png"
        label = out / row["labels"]
        label.unlink(missing_ok=True)
        os.link(sources[k]["labels"], label)
    columns = ["id", "patient", "dicom", "labels", "hips", "split", "note"]
    tmp = sheet.with_name(sheet.name + ".partial")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, sheet)
    return sheet
