"""The Snakemake workflow: lint, formatting, dry runs, rerun-on-change and a tiny real run."""

import json
import re
import shlex
import subprocess
import zipfile

import pandas as pd
import pytest
import yaml

from tests import NO_CONTENT_CHECK

TINY_CONFIG = {
    "demo": {"enabled": True, "preset": "demo", "seed": 5, "n_patients": 8},
    "dataset": {"test_fraction": 0.25, "seed": 0},
    # 2d only (tests/test_lowres.py adds 2d_lowres to the finished run)
    "nnunet": {
        "configurations": ["2d"],
        "plans_overrides": {"base_num_features": 8, "max_num_features": 64},
    },
    "train": {"epochs": 1, "iterations_per_epoch": 2, "val_iterations_per_epoch": 1},
    "predict": {"mirroring": False},
    "report": {"worst_cases": 2},
    "paper_plan": {"enabled": False},  # tests/test_paperplan.py runs it
    # models of 2 iterations: the test set's segmentation would be refused (tests/__init__.py)
    "gate": NO_CONTENT_CHECK,
}


def snakemake(workdir, env, *args, check=True):
    from tests.conftest import REPO

    cmd = [
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table of a dry run."""
    counts = {}
    block = output.split("Job stats:")[-1]
    for line in block.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def job_outputs(output: str, rule: str) -> list[list[str]]:
    """The outputs of each job of ``rule`` in a dry run's printout."""
    jobs, current = [], None
    for line in output.splitlines():
        m = re.match(r"^(local)?rule (\w+):$", line.strip())
        if m:
            current = m.group(2)
        elif current == rule and line.strip().startswith("output:"):
            jobs.append(line.split("output:", 1)[1].strip().split(", "))
            current = None
    return jobs


def write_config(workdir, **changes):
    cfg = json.loads(json.dumps(TINY_CONFIG))
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        cfg.setdefault(section, {})[key] = value
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_lint_and_format(repo, snakemake_env):
    lint = subprocess.run(
        ["snakemake", "--lint", "--snakefile", str(repo / "Snakefile")],
        cwd=repo,
        env=snakemake_env,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        ["snakefmt", "--check", "Snakefile", "workflow/rules"],
        cwd=repo,
        env=snakemake_env,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    for cmd in (
        ["ruff", "check", "workflow", "tests"],
        ["ruff", "format", "--check", "workflow", "tests"],
    ):
        proc = subprocess.run(cmd, cwd=repo, env=snakemake_env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_of_the_demo(repo, snakemake_env, tmp_path):
    proc = snakemake(
        tmp_path, snakemake_env, "--configfile", str(repo / "config/config.yaml"), "-n"
    )
    counts = job_counts(proc.stdout)
    # the demo's one configuration, 2d_lowres: six models, one job predicting with all seven
    # (folds 0-4, all, the ensemble), one evaluation
    assert counts["train"] == 6 and counts["predict"] == 1 and counts["evaluate"] == 1
    models = ["fold_0", "fold_1", "fold_2", "fold_3", "fold_4", "fold_all", "ensemble"]
    assert job_outputs(proc.stdout, "predict") == [[f"results/predictions/{m}" for m in models]]
    assert "predict_configuration" not in counts and "evaluate_configuration" not in counts
    assert counts["preprocess"] == 1
    assert counts["synth"] == 1 and counts["report"] == 1


def test_paper_config_runs_nnunets_defaults(repo, snakemake_env, tmp_path, demo_data):
    """config/paper.yaml merged over the demo defaults: nnU-Net's default trainer, 1000 epochs,
    the planner's own plan (no demo overrides), GPU resources for the training jobs."""
    proc = snakemake(
        tmp_path,
        snakemake_env,
        "--configfile",
        str(repo / "config/paper.yaml"),
        "--config",
        f"samples={demo_data}",
        "-n",
        "--forceall",
        "--printshellcmds",
    )
    out = proc.stdout

    def options_of(line):
        argv = shlex.split(line.split(";")[-1].split(">")[0])
        return json.loads(argv[argv.index("--options") + 1])

    train = [options_of(line) for line in out.splitlines() if "hipseg train" in line]
    assert len(train) == 6
    assert all(t["trainer"] == "nnUNetTrainer" and t["epochs"] == 1000 for t in train)
    assert all(t["device"] == "cuda" and t["validate"] is True for t in train)
    plan = next(options_of(line) for line in out.splitlines() if "hipseg plan" in line)
    assert plan["plans_overrides"] is None
    assert "gpu=1" in out and 'use_demo_key": true' not in out and "--demo-key" not in out


def test_bad_sample_sheet_stops_before_anything_runs(repo, snakemake_env, tmp_path):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(
        "id\tpatient\tdicom\tlabels\na\tP1\tmissing.dcm\tmissing.png\n"
        "a\tP1\tmissing.dcm\tmissing.png\n"
    )
    cfg = tmp_path / "real.yaml"
    cfg.write_text(yaml.safe_dump({"samples": str(sheet), "demo": {"enabled": False}}))
    proc = snakemake(tmp_path, snakemake_env, "--configfile", str(cfg), "-n", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "missing.dcm: dicom file does not exist" in out
    assert "duplicate id 'a'" in out


@pytest.mark.slow
def test_tiny_real_run_and_rerun_on_change(tiny_run, tmp_path):
    """The shared tiny run (tests/conftest.py); changed configs go to this test's tmp_path."""
    cfg = tiny_run.config
    res = tiny_run.root / "results"
    report = (res / "report" / "report.html").read_text()
    t1 = pd.read_csv(res / "evaluation" / "table1.csv", index_col=0)
    assert list(t1.index) == [
        "fold_0",
        "fold_1",
        "fold_2",
        "fold_3",
        "fold_4",
        "fold_all",
        "ensemble",
    ]
    assert list(t1.columns) == ["mean", "std", "median", "max", "min"]
    assert t1.notna().all().all() and ((t1 >= 0) & (t1 <= 1)).all().all()
    t2 = pd.read_csv(res / "evaluation" / "table2.csv", index_col=0)
    assert list(t2.index) == ["L1", "L2", "L3", "L4", "L5"]
    dice = pd.read_csv(res / "evaluation" / "dice.csv")
    assert {"model", "case", "label", "dice"} <= set(dice.columns)
    assert dice["model"].nunique() == 7
    for model in t1.index:
        assert model in report
    assert "data:image/png;base64" in report
    assert (res / "demo" / "gallery.png").is_file() and "osteoarthritis" in report
    # subgroups and failure modes (tests/test_subgroups.py checks the numbers)
    sub = pd.read_csv(res / "evaluation" / "subgroups.csv")
    assert {"attribute", "subgroup", "mean", "ci_low", "difference", "p_holm"} <= set(sub.columns)
    assert (sub["n_patients"] >= 2).all()  # the demo's subgroups.min_patients
    assert (res / "evaluation" / "failures.csv").is_file() and 'id="subgroups"' in report
    for fold in ["0", "1", "2", "3", "4", "all"]:
        assert list((res / "benchmarks" / "train" / "2d").glob(f"fold_{fold}.tsv"))
    # boundary metrics, intervals, tests, learning curves, references; Snakemake's own report
    assert {"hd95_mm", "nsd"} <= set(pd.read_csv(res / "evaluation" / "metrics.csv").columns)
    assert "Table III" in report and "Fig. 6" in report
    assert "@article{isensee2021nnunet" in (res / "report" / "references.bib").read_text()
    zipped = res / "report" / "snakemake-report.zip"
    tiny_run.snakemake("--configfile", str(cfg), "--report", str(zipped))
    with zipfile.ZipFile(zipped) as z:
        names = z.namelist()
    assert any(n.endswith("report.html") for n in names) and any("table1.csv" in n for n in names)

    # nothing to do when nothing changed
    assert "Nothing to be done" in tiny_run.snakemake("--configfile", str(cfg), "-n").stdout
    # more epochs: training and everything after it reruns, the data stages do not
    cfg2 = write_config(tmp_path, **{"train.epochs": 2})
    counts = job_counts(tiny_run.snakemake("--configfile", str(cfg2), "-n").stdout)
    assert counts.get("train") == 6 and counts.get("predict") == 1
    assert counts.get("evaluate") == 1 and counts.get("report") == 1
    assert counts.get("subgroups") == 1
    for stage in ("synth", "deid", "crop", "dataset", "plan", "preprocess", "splits"):
        assert stage not in counts, f"{stage} would rerun: {counts}"
    # a different crop rule reruns cropping and everything downstream, not de-identification
    cfg3 = write_config(tmp_path, **{"crop.rows": [0.0, 0.9]})
    counts = job_counts(tiny_run.snakemake("--configfile", str(cfg3), "-n").stdout)
    assert counts.get("crop", 0) >= 8 and counts.get("train") == 6
    assert "deid" not in counts and "synth" not in counts
