"""Every stage, one bad input of each kind it can meet: one line naming the file or the option,
exit status 2, no traceback, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _hipseg(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "hipseg", *map(str, args)], env=env, capture_output=True, text=True
    )


def _files(tmp_path):
    """A small zoo of bad inputs."""
    f = {
        "text": tmp_path / "notes.dcm",
        "sheet": tmp_path / "samples.tsv",
        "manifest": tmp_path / "joints" / "manifest.json",
        "cases": tmp_path / "cases.tsv",
        "audit": tmp_path / "a.audit.json",
        "empty_dir": tmp_path / "empty",
    }
    f["text"].write_text("not a DICOM file")
    f["sheet"].write_text("id\tpatient\tdicom\tlabels\nr1\tp\tnotes.dcm\tnone.png\n")
    f["manifest"].parent.mkdir()
    f["manifest"].write_text("{not json")
    f["cases"].write_text("case\tpatient\tsubset\na_L\tP1\ttrain\na_R\tP1\ttrain\n")
    f["audit"].write_text("{}")
    f["empty_dir"].mkdir()
    return f


PREDICT = ["predict", "--nnunet-root", "{empty_dir}", "--model-dir", "{empty_dir}"]
CASES = {
    # stage: (arguments, what the message must name)
    "synth (unknown preset)": (
        ["synth", "--out", "{tmp}/s", "--options", '{"preset": "nope"}'],
        "demo.preset",
    ),
    "validate-samples (missing files)": (["validate-samples", "{sheet}"], "none.png"),
    "deid (not DICOM)": (
        ["deid", "--sheet", "{sheet}", "--id", "r1", "--out", "{tmp}/o.dcm"]
        + ["--audit", "{tmp}/o.json", "--options", '{"use_demo_key": true}'],
        "notes.dcm: not a DICOM file",
    ),
    "deid (bad option)": (
        ["deid", "--sheet", "{sheet}", "--id", "r1", "--out", "{tmp}/o.dcm"]
        + ["--audit", "{tmp}/o.json", "--options", '{"on_burned_in": "ignore"}'],
        "deid.on_burned_in",
    ),
    "deid (bad crop option for the gate)": (
        ["deid", "--sheet", "{sheet}", "--id", "r1", "--out", "{tmp}/o.dcm"]
        + ["--audit", "{tmp}/o.json", "--options", '{"use_demo_key": true}']
        + ["--gate", "{}", "--crop", '{"colour": "grey"}'],
        "crop.colour",
    ),
    "deid (crop option not JSON)": (
        ["deid", "--sheet", "{sheet}", "--id", "r1", "--out", "{tmp}/o.dcm"]
        + ["--audit", "{tmp}/o.json", "--options", '{"use_demo_key": true}']
        + ["--gate", "{}", "--crop", "{colour"],
        "hipseg deid --crop: options are not valid JSON",
    ),
    "anonymise (not DICOM)": (
        ["anonymise", "{text}", "{tmp}/anon.dcm", "--use-demo-key"],
        "notes.dcm: not a DICOM file",
    ),
    "crop (not de-identified)": (
        ["crop", "--id", "r1", "--dicom", "{text}", "--audit", "{audit}", "--labels", "x.png"]
        + ["--out-dir", "{tmp}/j"],
        "notes.dcm",
    ),
    "crop (bad option)": (
        ["crop", "--id", "r1", "--dicom", "{text}", "--audit", "{audit}", "--labels", "x.png"]
        + ["--out-dir", "{tmp}/j", "--options", '{"split_at": 2}'],
        "crop.split_at",
    ),
    "dataset (unreadable manifest)": (
        ["dataset", "--manifests", "{manifest}", "--raw-root", "{tmp}/raw", "--out-dir"]
        + ["{tmp}/ds"],
        "manifest.json: cannot read crop manifest",
    ),
    "splits (too few patients)": (
        ["splits", "--cases", "{cases}", "--out", "{tmp}/splits.json"],
        "cannot make 5 patient-grouped folds",
    ),
    "plan (no dataset)": (
        ["plan", "--nnunet-root", "{empty_dir}", "--dataset-id", "7"],
        "nnU-Net dataset with id 7",
    ),
    "preprocess (no dataset)": (
        ["preprocess", "--nnunet-root", "{empty_dir}", "--dataset-id", "7"],
        "nnU-Net dataset with id 7",
    ),
    "train (no dataset)": (
        ["train", "--nnunet-root", "{empty_dir}", "--dataset-id", "7", "--fold", "0"],
        "nnU-Net dataset with id 7",
    ),
    "train (bad option)": (
        ["train", "--nnunet-root", "{empty_dir}", "--dataset-id", "7", "--fold", "0"]
        + ["--options", '{"epochs": 0}'],
        "train.epochs",
    ),
    "predict (untrained model)": (
        PREDICT + ["--folds", "0", "--input", "{empty_dir}", "--output", "{tmp}/pred"],
        "fold_0/checkpoint_final.pth: missing",
    ),
    "predict (a model not NAME=FOLDS)": (
        PREDICT + ["--models", "fold_0", "--input", "{empty_dir}", "--output-root", "{tmp}/pred"],
        "'fold_0' is not NAME=FOLDS",
    ),
    "predict (a model name that is no folder name)": (
        PREDICT + ["--models", "../up=0", "--input", "{empty_dir}", "--output-root", "{tmp}/pred"],
        "'../up=0' is not NAME=FOLDS",
    ),
    "predict (one model and several)": (
        PREDICT
        + ["--folds", "0", "--models", "a=0", "--input", "{empty_dir}"]
        + ["--output", "{tmp}/pred"],
        "either --folds and --output (one model) or --models and --output-root",
    ),
    "predict (several models, an untrained one)": (
        PREDICT + ["--models", "fold_0=0", "--input", "{empty_dir}", "--output-root", "{tmp}/pred"],
        "fold_0/checkpoint_final.pth: missing",
    ),
    "evaluate (no ground truth)": (
        ["evaluate", "--gt-dir", "{empty_dir}", "--pred-root", "{empty_dir}", "--models"]
        + ["fold_0", "--out-dir", "{tmp}/ev"],
        "contains no ground-truth",
    ),
    "deid-summary (unreadable audit)": (
        ["deid-summary", "--audits", "{manifest}", "--out", "{tmp}/sum.json"],
        "manifest.json: cannot read the audit record",
    ),
    "figures (no de-identified file)": (
        ["figures", "--sheet", "{sheet}", "--deid-dir", "{empty_dir}", "--montage"]
        + ["{tmp}/m.png", "--gallery", "{tmp}/g.png"],
        "r1.dcm",
    ),
    "report (no evaluation)": (
        ["report", "--evaluation-dir", "{tmp}/nowhere", "--dataset-summary", "{audit}"]
        + ["--plans", "{audit}", "--images-dir", "{empty_dir}", "--labels-dir", "{empty_dir}"]
        + ["--predictions-root", "{empty_dir}", "--deid-summary", "{audit}"]
        + ["--benchmarks-dir", "{empty_dir}", "--template", "{text}", "--out", "{tmp}/r.html"],
        "nowhere: evaluation directory does not exist",
    ),
    "report-summary (no report)": (
        ["report-summary", "{tmp}/nowhere.html"],
        "nowhere.html: report does not exist",
    ),
    "segment (not a model folder)": (
        ["segment", "{text}", "-o", "{tmp}/seg", "--model-dir", "{empty_dir}"],
        "empty/plans.json: missing: not an nnU-Net model folder",
    ),
    "subgroups (not a sample sheet)": (
        [
            "subgroups",
            "--evaluation-dir",
            "{tmp}/nowhere",
            "--cases",
            "{text}",
            "--sheet",
            "{text}",
            "--gt-dir",
            "{empty_dir}",
            "--pred-root",
            "{empty_dir}",
            "--out-dir",
            "{tmp}/sg",
        ],
        "notes.dcm: missing column(s) ['id', 'patient', 'dicom', 'labels']",
    ),
    "validate-measurements (no radiographs)": (
        ["validate-measurements", "--truth-dir", "{empty_dir}", "--labels-dir", "{empty_dir}"]
        + ["--out-dir", "{tmp}/vm"],
        "empty: no radiographs to validate",
    ),
    "listen (config not a mapping)": (
        ["listen", "--model-dir", "{empty_dir}", "--config", "{text}"],
        "notes.dcm: is not a YAML mapping",
    ),
    "paper-plan (bad option)": (
        ["paper-plan", "--out", "{tmp}/p.json", "--work", "{tmp}/w", "--radiographs", "-1"],
        "paper_plan.radiographs",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_named_error_and_exit_2(case, snakemake_env, tmp_path):
    args, expected = CASES[case]
    files = {k: str(v) for k, v in _files(tmp_path).items()}
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argv = []
    for a in args:
        for key, value in {"tmp": str(tmp_path), **files}.items():
            a = a.replace("{" + key + "}", value)
        argv.append(a)
    proc = _hipseg(snakemake_env, *argv)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("hipseg ")]
    errors = [line for line in errors if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"hipseg {argv[0]}: error: "), proc.stderr
    assert expected in proc.stderr, proc.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, f"{case} left files behind: {set(after) - set(before)}"


def test_every_stage_has_a_bad_input_case():
    from hipseg.commands import COMMANDS

    stages = {c[0] for c in COMMANDS} - {"install-profile", "why"}
    covered = {c.split(" ")[0] for c in CASES}
    assert stages <= covered, stages - covered
    json.dumps(CASES)  # the table is plain data
    import hipseg.cli

    for name, _, handler, _, _ in COMMANDS:  # every handler the table names is in hipseg.cli
        assert callable(getattr(hipseg.cli, handler, None)), (name, handler)
