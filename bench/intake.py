"""Intake throughput: read + de-identify + crop per core, at paper size.

    PYTHONPATH=workflow python bench/intake.py [--radiographs 4] [--work DIR] [--profile]

Renders the first N radiographs of the synthetic ``paper`` preset (full size: about
2300 × 2850 px, 0.10–0.175 mm, 13 MB each; cached in --work), makes a JPEG lossless (SV1) copy
of each, then runs in this one process, pinned to one core with one thread, what the workflow's
``deid`` and ``crop`` jobs do per radiograph: :func:`hipseg.deid.deidentify` (read, profile,
burned-in text check, write, re-read check) and :func:`hipseg.crop.crop_case` (read, decode,
grey values, orientation, two joints written as NIfTI). The files are in the page cache (just
written), so this measures the CPU, not the disk. Prints radiographs/s/core (CPU time) per
variant and where the time goes; ``--profile`` adds cProfile's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

# what the workflow's stages spend their time in: (label, function name, module part)
PARTS = [
    ("burned-in text check (deid)", "text_score", "hipseg/deid"),
    ("NIfTI writing (crop)", "write_image_2d", "hipseg/io"),
    ("pixel decoding (pydicom)", "pixel_array", "pydicom/pixels/utils"),
    ("DICOM reading (pydicom)", "dcmread", "pydicom/filereader"),
    ("DICOM writing (deid)", "save_as", "pydicom/dataset"),
    ("grey values (intake)", "greyscale", "hipseg/intake/pixels"),
    ("structure checks (intake)", "check_pixel_data", "hipseg/intake/decode"),
]


def radiographs(work: Path, n: int) -> Path:
    """The first ``n`` radiographs of the paper preset (rendered once, then reused)."""
    from hipseg import samplesheet, synth

    sheet = work / "uncompressed" / "samples.tsv"
    if sheet.is_file() and len(samplesheet.read(sheet)) == n:
        return sheet
    ids = [f"paper{i:04d}" for i in range(1, n + 1)]
    print(f"rendering {n} paper-size radiographs into {sheet.parent} (a few s each)")
    return synth.generate(sheet.parent, preset="paper", seed=0, only=ids)


def jpeg_lossless(sheet: Path, work: Path) -> Path:
    import pydicom

    from hipseg import samplesheet
    from hipseg.intake.transcode import transcode

    out = work / "jpeg_lossless"
    if (out / "samples.tsv").is_file():
        return out / "samples.tsv"
    (out / "dicom").mkdir(parents=True, exist_ok=True)
    for row in samplesheet.read(sheet).itertuples():
        data = transcode(pydicom.dcmread(row.dicom), pydicom.uid.JPEGLosslessSV1)
        (out / "dicom" / Path(row.dicom).name).write_bytes(data)
    shutil.copytree(sheet.parent / "labels", out / "labels", dirs_exist_ok=True)
    shutil.copy(sheet, out / "samples.tsv")
    return out / "samples.tsv"


def run(sheet: Path, scratch: Path) -> tuple[int, float, float]:
    """deid + crop of every row; returns (radiographs, CPU seconds, wall seconds)."""
    from hipseg import deid, samplesheet
    from hipseg.crop import CropRule, crop_case

    rule, options = CropRule(), deid.Options()
    rows = list(samplesheet.read(sheet).itertuples())
    cpu, wall = time.process_time(), time.perf_counter()
    for row in rows:
        out = scratch / f"{row.id}.dcm"
        deid.deidentify(row.dicom, out, deid.DEMO_KEY, row.patient, options)
        pseudo = deid.pseudonym(deid.DEMO_KEY, row.patient)
        crop_case(row.id, out, row.labels, row.hips, scratch / row.id, rule, pseudo, row.split)
    return len(rows), time.process_time() - cpu, time.perf_counter() - wall


def breakdown(stats: pstats.Stats, total: float) -> list[tuple[str, float]]:
    found = {}
    for (filename, _, func), (_, _, _, cumulative, _) in stats.stats.items():
        for label, name, part in PARTS:
            if func == name and part in filename.replace(os.sep, "/"):
                found[label] = found.get(label, 0.0) + cumulative
    parts = [(label, found.get(label, 0.0)) for label, _, _ in PARTS]
    # pixel decoding and reading also happen inside deid and crop's own steps: shown, not summed
    return parts + [("total (deid + crop, CPU)", total)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--radiographs", type=int, default=4)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hipseg-bench")
    p.add_argument("--profile", action="store_true", help="also print cProfile's top functions")
    p.add_argument("--core", type=int, default=None, help="pin to this CPU (default: the first)")
    a = p.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {a.core if a.core is not None else min(os.sched_getaffinity(0))})
    a.work.mkdir(parents=True, exist_ok=True)
    sheet = radiographs(a.work, a.radiographs)
    variants = {"uncompressed": sheet, "JPEG lossless SV1": jpeg_lossless(sheet, a.work)}
    sizes = {k: sum(f.stat().st_size for f in (s.parent / "dicom").glob("*.dcm"))
             for k, s in variants.items()}  # fmt: skip
    run(sheet, Path(tempfile.mkdtemp(dir=a.work)))  # warm up: imports, page cache
    print(f"\nintake (read + deid + crop), {a.radiographs} paper-size radiographs, one core")
    for name, s in variants.items():
        scratch = Path(tempfile.mkdtemp(dir=a.work))
        profiler = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
        n, cpu, wall = run(s, scratch) if not a.profile else profiler.runcall(run, s, scratch)
        mb = sizes[name] / 1e6 / n
        print(f"\n{name}: {n / cpu:.2f} radiographs/s/core ({cpu / n:.2f} s CPU, "
              f"{wall / n:.2f} s wall per radiograph; {mb:.1f} MB per file)")  # fmt: skip
        if a.profile:
            stats = pstats.Stats(profiler)
            for label, seconds in breakdown(stats, cpu):
                print(f"  {label:32s} {seconds / n:6.2f} s per radiograph")
            stats.sort_stats("cumulative").print_stats(12)
        shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))
    sys.exit(main())
