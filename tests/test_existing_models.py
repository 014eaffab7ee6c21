"""Existing models and data as other tools leave them.

* model folders made by nnU-Net's own CLI (``nnUNetv2_train … 0`` and ``… all`` with a trainer
  class of the tests' own, found through ``nnUNet_extTrainer``): the models the folder holds are
  evaluated, nothing is trained;
* bad model folders and datasets stop ``snakemake -n`` (and a real run) with hipseg's one-line
  message naming the file, exit status 2, before any job, nothing under ``results/``;
* radiographs that dicom-anonymizer (PyPI) or a dcmtk ``dcmodify`` script de-identified before
  hipseg saw them (placeholder dates, absent or emptied identity attributes, their own UIDs)
  run end to end.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import yaml

from tests import byod, tool_missing
from tests.conftest import REPO
from tests.test_workflow import TINY_CONFIG, job_counts, job_outputs, snakemake

TRAINERS = REPO / "tests" / "data" / "nnunet_trainers"
CLI_TRAINER = "nnUNetTrainerTiny"


def _nnunet_env(env: dict, root: Path, ext: bool = True) -> dict:
    env = dict(env, nnUNet_raw=str(root / "nnUNet_raw"),
               nnUNet_preprocessed=str(root / "nnUNet_preprocessed"),
               nnUNet_results=str(root / "nnUNet_results"), nnUNet_n_proc_DA="0",
               nnUNet_def_n_proc="1", OMP_NUM_THREADS="1")  # fmt: skip
    if ext:
        env["nnUNet_extTrainer"] = str(TRAINERS)
    else:
        env.pop("nnUNet_extTrainer", None)
    return env


@pytest.fixture(scope="module")
def cli_model(tiny_run, tmp_path_factory, snakemake_env) -> Path:
    """Fold 0 and fold all trained by ``nnUNetv2_train`` (nnU-Net's CLI, not hipseg) on the
    tiny run's raw and preprocessed dataset: the model folder exactly as nnU-Net leaves it."""
    root = tmp_path_factory.mktemp("cli-nnunet")
    src = tiny_run.root / "results" / "nnunet"
    for sub in ("nnUNet_raw", "nnUNet_preprocessed"):
        shutil.copytree(src / sub, root / sub)
    (dataset,) = (root / "nnUNet_raw").glob("Dataset*")
    number = dataset.name[len("Dataset") : len("Dataset") + 3]
    env = _nnunet_env(snakemake_env, root)
    for fold in ("0", "all"):
        proc = subprocess.run(
            ["nnUNetv2_train", number, "2d", fold, "-tr", CLI_TRAINER, "-device", "cpu"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (folder,) = (root / "nnUNet_results" / dataset.name).glob(f"{CLI_TRAINER}__*__2d")
    assert sorted(p.name for p in folder.glob("fold_*")) == ["fold_0", "fold_all"]
    return folder


def _config(workdir: Path, samples: Path, models: Path, **more) -> Path:
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["demo"]["enabled"] = False
    cfg.update(samples=str(samples), models=str(models), **more)
    path = workdir / "existing.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _dry(workdir, env, cfg, check=True):
    return snakemake(workdir, env, "--configfile", str(cfg), "-n", check=check)


def test_a_cli_made_folder_gives_its_folds(cli_model, tiny_run, tmp_path, snakemake_env):
    """fold 0 + fold all from nnU-Net's CLI: no training, those two models predicted, no
    ensemble (it needs two CV folds); models_used narrows; a model the folder lacks is named."""
    env = dict(snakemake_env, nnUNet_extTrainer=str(TRAINERS))
    sheet = tiny_run.root / "results" / "demo" / "samples.tsv"
    counts = job_counts(_dry(tmp_path, env, _config(tmp_path, sheet, cli_model)).stdout)
    assert not {"train", "plan", "preprocess", "splits"} & set(counts), counts
    dry = _dry(tmp_path, env, _config(tmp_path, sheet, cli_model)).stdout
    assert job_outputs(dry, "predict") == [["results/predictions/fold_0",
                                            "results/predictions/fold_all"]]  # fmt: skip
    narrowed = _dry(tmp_path, env, _config(tmp_path, sheet, cli_model, models_used=["fold_all"]))
    assert job_outputs(narrowed.stdout, "predict") == [["results/predictions/fold_all"]]
    lacking = _dry(tmp_path, env, _config(tmp_path, sheet, cli_model, models_used=["ensemble"]),
                   check=False)  # fmt: skip
    assert lacking.returncode == 2, lacking.stderr[-2000:]
    assert f"hipseg: error: {cli_model}: has no ensemble (models_used)" in lacking.stderr
    assert "Traceback" not in lacking.stderr + lacking.stdout


def _bad_folders(cli_model: Path, out: Path) -> dict[str, tuple[Path, str]]:
    """(folder, what the message must say) of each way a model folder can be wrong."""

    def copy_of(name: str) -> Path:
        dst = out / name / cli_model.name
        shutil.copytree(cli_model, dst)
        return dst

    two = copy_of("two_channels")
    meta = json.loads((two / "dataset.json").read_text())
    meta["channel_names"] = {"0": "AP", "1": "lateral"}
    (two / "dataset.json").write_text(json.dumps(meta))
    unmapped = copy_of("unmapped")
    meta = json.loads((unmapped / "dataset.json").read_text())
    meta["labels"] = {"background": 0, **{f"structure {v}": v for v in range(1, 6)}}
    (unmapped / "dataset.json").write_text(json.dumps(meta))
    none = copy_of("no_checkpoint")
    for ckpt in none.glob("fold_*/checkpoint_final.pth"):
        ckpt.unlink()  # a training that never finished leaves checkpoint_latest.pth at most
    unknown = out / "unknown" / cli_model.name.replace(CLI_TRAINER, "nnUNetTrainerTheirs")
    shutil.copytree(cli_model, unknown)
    no_plans = copy_of("no_plans")
    (no_plans / "plans.json").unlink()
    return {
        "two channels": (two, "the model takes 2 input channels"),
        "unmapped label names": (unmapped, "map onto none of hipseg's labels"),
        "no checkpoint": (none, "holds no trained fold"),
        "unknown trainer class": (unknown, "'nnUNetTrainerTheirs' (its name), which is defined "
                                           "nowhere nnU-Net looks"),
        "no plans": (no_plans, "plans.json: missing"),
    }  # fmt: skip


def test_bad_model_folders_stop_before_anything_runs(cli_model, tiny_run, tmp_path,
                                                     snakemake_env):  # fmt: skip
    """Each bad folder: the dry run and the real run end with hipseg's message naming the
    folder (exit 2, no traceback), and nothing is written under results/."""
    env = dict(snakemake_env, nnUNet_extTrainer=str(TRAINERS))
    sheet = tiny_run.root / "results" / "demo" / "samples.tsv"
    for what, (folder, fragment) in _bad_folders(cli_model, tmp_path / "bad").items():
        work = tmp_path / what.replace(" ", "_")
        work.mkdir()
        cfg = _config(work, sheet, folder)
        for args in (["-n"], []):
            proc = snakemake(work, env, "--configfile", str(cfg), *args, check=False)
            assert proc.returncode == 2, (what, proc.stderr[-3000:])
            assert "hipseg: error:" in proc.stderr and fragment in proc.stderr, (what, proc.stderr)
            assert str(folder) in proc.stderr and "Traceback" not in proc.stderr, what
            assert not (work / "results").exists(), what
    # the trainer class of the tests is found only where nnU-Net looks: without
    # nnUNet_extTrainer the CLI-made folder itself is refused
    cfg = _config(tmp_path, sheet, cli_model)
    proc = _dry(tmp_path, dict(snakemake_env, nnUNet_extTrainer=""), cfg, check=False)
    assert proc.returncode == 2 and f"'{CLI_TRAINER}' (its name)" in proc.stderr, proc.stderr


def test_dataset_errors_stop_the_dry_run_by_name(tiny_run, tmp_path, snakemake_env):
    """A joint image of two channels in an nnU-Net dataset, and a sheet naming a missing file:
    hipseg's message naming the file, exit 2, no traceback, before the first job."""
    raw = next((tiny_run.root / "results/nnunet/nnUNet_raw").glob("Dataset*"))
    folder = tmp_path / raw.name
    shutil.copytree(raw, folder)
    first = sorted((folder / "imagesTr").glob("*_0000.nii.gz"))[0]
    img = sitk.ReadImage(str(first))
    arr = sitk.GetArrayFromImage(img)
    two = sitk.GetImageFromArray(np.stack([arr, arr], axis=-1), isVector=True)
    two.CopyInformation(img)
    sitk.WriteImage(two, str(first))
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["demo"]["enabled"] = False
    cfg["samples"] = str(folder)
    (tmp_path / "ds.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, snakemake_env, "--configfile", str(tmp_path / "ds.yaml"), "-n",
                     check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"{first}: has 2 channels, expected 1" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()
    sheet = tmp_path / "missing.tsv"
    sheet.write_text("id\tpatient\tdicom\tlabels\nA1\tp1\t/nowhere/a.dcm\t/nowhere/a.png\n")
    cfg["samples"] = str(sheet)
    (tmp_path / "sheet.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, snakemake_env, "--configfile", str(tmp_path / "sheet.yaml"),
                     "-n", check=False)  # fmt: skip
    assert proc.returncode == 2 and "/nowhere/a.dcm: dicom file does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_radiographs_deidentified_elsewhere_run_end_to_end(cli_model, tiny_run, tmp_path,
                                                           snakemake_env):  # fmt: skip
    """Four radiographs de-identified by dicom-anonymizer (dates 00010101, names and IDs empty,
    its own UIDs) or a dcmodify script (identity attributes absent, ANONYMOUS names, 19000101):
    de-identified again, cropped, predicted by the CLI-made folder's two models, evaluated and
    reported; the dates that cannot be shifted are emptied and counted, never a traceback."""
    if shutil.which("dcmodify") is None:
        tool_missing("dcmtk's dcmodify is not installed (make test installs dcmtk)")
    demo = tiny_run.root / "results" / "demo" / "samples.tsv"
    table = pd.read_csv(demo, sep="\t", dtype=str, keep_default_na=False)
    few = tmp_path / "few.tsv"
    table.iloc[:4].to_csv(few, sep="\t", index=False)
    for d in ("dicom", "labels"):
        (tmp_path / d).symlink_to(demo.parent / d)
    sheet = byod.deidentified_elsewhere(few, tmp_path / "elsewhere")
    for r in pd.read_csv(sheet, sep="\t", dtype=str).itertuples():
        ds = pydicom.dcmread(r.dicom, stop_before_pixels=True)
        assert str(ds.get("StudyDate", "")) in ("00010101", "19000101")  # as the tools left it
    env = dict(snakemake_env, nnUNet_extTrainer=str(TRAINERS))
    work = tmp_path / "work"
    work.mkdir()
    cfg = _config(work, sheet, cli_model, dataset={"test_fraction": 0.25})
    snakemake(work, env, "--configfile", str(cfg))
    results = work / "results"
    assert sorted(p.name for p in (results / "predictions").iterdir()) == ["fold_0", "fold_all"]
    table1 = pd.read_csv(results / "evaluation" / "table1.csv")
    assert sorted(table1["model"]) == ["fold_0", "fold_all"]
    deid = json.loads((results / "deid" / "summary.json").read_text())
    assert deid["n_images"] == 4
    # dicom-anonymizer's rows: study, series, acquisition, content and birth dates; dcmodify's:
    # the study date (its birth date is absent)
    assert deid["attributes"]["dates emptied (placeholder or not a date)"] >= 2 * 4 + 2
    for out in (results / "deid").glob("*.dcm"):
        ds = pydicom.dcmread(out, stop_before_pixels=True)
        assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientID).startswith("P")
        assert str(ds.get("StudyDate", "")) == ""  # the placeholder emptied, not shifted
    html = (results / "report" / "report.html").read_text(encoding="utf-8")
    assert "The model folder holds no fold_1, fold_2, fold_3, fold_4" in html
    assert "none (it needs at least two of the folds 0–4)" in html
