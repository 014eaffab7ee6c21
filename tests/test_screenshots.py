"""docs/screenshots.py draws the documentation's pictures from a results folder.

The folder here is fabricated (a report built from fabricated inputs, as the browser test builds
it, and a `hipseg segment` output whose label map is a synthetic radiograph's ground truth), so
that the script is tested without training; `make screenshots` runs it on a finished demo.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.browser import find_chromium
from tests.conftest import REPO


@pytest.fixture
def chromium():
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make chromium installs it)")
        pytest.skip("chromium is not installed (make chromium installs it)")
    return path


def fake_results(root, demo_data):
    """A results folder with what the script reads: demo/samples.tsv, the report, and
    segment/test/ with run.json, a label map and measurements of one radiograph."""
    from hipseg.dicomio import read_radiograph
    from hipseg.io import write_image_2d, write_json
    from hipseg.measure.record import measure_label_map, write_record
    from hipseg.report import build_report
    from tests.test_report import make_inputs

    results = root / "results"
    (results / "demo").mkdir(parents=True)
    shutil.copy(demo_data, results / "demo" / "samples.tsv")
    kw = make_inputs(root / "report-inputs", n_cases=4, seed=3)
    kw["out_html"] = results / "report" / "report.html"
    build_report(**kw)

    sheet = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    row = next(r for r in sheet.itertuples() if r.hips == "both")
    deid = results / "deid" / f"{row.id}.dcm"
    deid.parent.mkdir(parents=True)
    shutil.copy(demo_data.parent / row.dicom, deid)
    radiograph = read_radiograph(deid)
    labels = np.array(Image.open(demo_data.parent / row.labels)).astype(np.uint8)
    spacing = (radiograph.spacing.col, radiograph.spacing.row)
    record = measure_label_map(
        labels, spacing, calibration={"source": "imager_spacing_uncorrected", "calibrated": False}
    )
    record["frame"] = {"changed": False}
    out = results / "segment" / "test" / row.id
    out.mkdir(parents=True)
    write_image_2d(out / "labels.nii.gz", labels, spacing)
    write_record(record, row.id, out / "measurements.json", out / "measurements.csv")
    Image.fromarray(labels * 40).convert("RGB").save(out / "overlay.png")
    entry = {"name": row.id, "input": f"results/deid/{row.id}.dcm", "status": "ok",
             "excluded": {}, "needs_review": False, "review_reasons": []}  # fmt: skip
    write_json(out.parent / "run.json", {"model": {"name": "fold_all"}, "radiographs": [entry]})
    return results, row.id, labels.shape


def test_screenshots_of_a_results_folder(chromium, demo_data, tmp_path, snakemake_env):
    results, rid, shape = fake_results(tmp_path, demo_data)
    before = {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}
    out = tmp_path / "docs"
    proc = subprocess.run(
        [sys.executable, str(REPO / "docs" / "screenshots.py"), "--results", str(results),
         "--out", str(out)],
        env=snakemake_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = Image.open(out / "report.png")
    assert report.size == (1400, 900)
    colours = report.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 20  # not a blank page
    segmented = Image.open(out / "segmented.png")
    scale = round(900 / shape[1])
    assert segmented.size == (shape[1] * scale, shape[0] * scale)
    record = json.loads((out / "screenshots.json").read_text())
    assert record["segmented.png"]["radiograph"] == rid
    for name in ("report.png", "segmented.png"):
        assert record[name]["png_sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert "results/report/report.html" in record["report.png"]["from"]
    # the results folder is only read
    assert before == {p: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}


def test_screenshots_refuse_a_folder_that_is_not_the_demos(tmp_path, snakemake_env):
    (tmp_path / "results" / "report").mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, str(REPO / "docs" / "screenshots.py"), "--results",
         str(tmp_path / "results"), "--out", str(tmp_path / "docs")],
        env=snakemake_env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "not the results folder of a demo run" in proc.stderr
    assert not (tmp_path / "docs").exists()
