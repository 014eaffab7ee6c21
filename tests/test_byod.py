"""Bring your own data: the artifacts researchers already have go through the workflow.

The tiny run (tests/conftest.py ``tiny_run``: full synthetic radiographs, cropped by hipseg) is
the reference. Its own data, handed over the ways other tools hold it (tests/byod.py), must give
the same Dice tables to the last digit: an nnU-Net raw dataset in ``.png``, a joint sheet of PNG
images and masks, a joint sheet of DICOM joint crops with 3D Slicer ``.seg.nrrd`` masks
(de-identified and redacted again), predicted by the reference's models copied elsewhere (config
``models``: nothing is trained); an nnU-Net raw dataset in ``.nii.gz`` gives the reference's
training inputs (raw dataset arrays, plans, folds), up to the train rule.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import yaml
from PIL import Image

from tests import NO_CONTENT_FLAGS, byod
from tests.test_workflow import TINY_CONFIG, job_counts, job_outputs, snakemake

TABLES = ("dice.csv", "table1.csv", "table2.csv", "per_image.csv", "metrics.csv", "ci.csv")


# The model folders nnU-Net's usual runs leave (`nnUNetv2_train DATASET 2d FOLD` for some folds):
# each fold present is a model; the ensemble averages the folds 0-4 present (two or more)
SUBSETS = {
    "five_folds": (["0", "1", "2", "3", "4"], ["fold_0", "fold_1", "fold_2", "fold_3", "fold_4",
                                               "ensemble"]),
    "all_only": (["all"], ["fold_all"]),
    "fold0_all": (["0", "all"], ["fold_0", "fold_all"]),
}  # fmt: skip


def model_subset(models: Path, folds: list[str], out: Path) -> Path:
    """A copy of a model folder holding only ``folds`` (plans, dataset.json and the rest of
    what nnU-Net writes beside them kept)."""
    dst = out / models.parent.name / models.name
    shutil.copytree(models, dst, ignore=lambda d, names: [
        n for n in names if Path(d) == models and n.startswith("fold_")
        and n.removeprefix("fold_") not in folds])  # fmt: skip
    return dst


@pytest.fixture(scope="session")
def sources(tiny_run, tmp_path_factory) -> dict:
    """The reference's data as other tools hold it, and its models in a folder elsewhere
    (whole, and as the subsets of folds nnU-Net's usual runs leave)."""
    out = tmp_path_factory.mktemp("byod")
    root = tiny_run.root
    trained = next((root / "results/nnunet/nnUNet_results").glob("Dataset*/*__*__2d"))
    models = out / "their_results" / "Dataset501_HipJoint" / trained.name
    shutil.copytree(trained, models)
    return {
        "reference": root / "results" / "evaluation",
        "models": models,
        **{name: model_subset(models, folds, out / name) for name, (folds, _) in SUBSETS.items()},
        "nnunet_nifti": byod.nnunet_dataset(root, out / "nifti"),
        "nnunet_png": byod.nnunet_dataset(root, out / "png", ".png"),
        "joints_png": byod.joint_sheet_png(root, out / "joints_png"),
        "joints_dicom": byod.joint_sheet_dicom(root, out / "joints_dicom"),
    }


def _config(workdir: Path, samples: Path, models: Path | None = None) -> Path:
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["demo"]["enabled"] = False
    cfg["samples"] = str(samples)
    cfg["source"] = {"labels": byod.MAPPING}
    if models is not None:
        cfg["models"] = str(models)
    path = workdir / "byod.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _same_tables(reference: Path, evaluation: Path, models: list[str] | None = None) -> None:
    """The tables equal the reference's to the last digit; with ``models``, the reference's rows
    of those models (every interval has its own random stream, so fewer models change no row;
    Table II and the paired tests are the best model's: compared when it is the same)."""
    if models is None:
        for name in TABLES:
            assert (evaluation / name).read_bytes() == (reference / name).read_bytes(), name
        return
    best = {json.loads((d / "summary.json").read_text())["best_model"]
            for d in (reference, evaluation)}  # fmt: skip
    for name in TABLES:
        ref, got = (pd.read_csv(d / name, dtype=str, keep_default_na=False)
                    for d in (reference, evaluation))  # fmt: skip
        if len(best) > 1:  # Table II (table2.csv, ci.csv's Table II rows) of another best model
            if name == "table2.csv" or "model" not in ref:
                continue
            if "table" in ref:
                ref, got = (t[t["table"] != "II"].reset_index(drop=True) for t in (ref, got))
        if "model" in ref and name != "table2.csv":
            assert sorted(set(got["model"])) == sorted(models), name
            ref = ref[ref["model"].isin(models)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, ref, obj=name)


def _report(workdir: Path) -> str:
    return (workdir / "results" / "report" / "report.html").read_text(encoding="utf-8")


def test_an_nnunet_dataset_gives_the_same_training_inputs(sources, tmp_path, snakemake_env):
    """A .nii.gz nnU-Net raw dataset with patients.tsv and renamed labels, as training input:
    the dry run trains six models; up to the splits, everything a training reads is the
    reference's (the raw dataset's images, labels and dataset.json, nnU-Net's plans and the
    patient-grouped folds), so the same train rule trains the reference's models from it
    (the other sources below predict with them to the reference's tables)."""
    import SimpleITK as sitk

    cfg = _config(tmp_path, sources["nnunet_nifti"])
    counts = job_counts(snakemake(tmp_path, snakemake_env, "--configfile", str(cfg), "-n").stdout)
    assert counts["train"] == 6 and "deid" not in counts and counts["crop"] == 18
    snakemake(tmp_path, snakemake_env, "--configfile", str(cfg), "--until", "splits")
    ref_root = sources["reference"].parents[0] / "nnunet"
    new_root = tmp_path / "results" / "nnunet"
    (ref_raw,) = (ref_root / "nnUNet_raw").glob("Dataset*")
    new_raw = new_root / "nnUNet_raw" / ref_raw.name
    files = sorted(p.relative_to(ref_raw) for p in ref_raw.rglob("*.nii.gz"))
    assert files and files == sorted(p.relative_to(new_raw) for p in new_raw.rglob("*.nii.gz"))
    for rel in files:
        a, b = (sitk.ReadImage(str(root / rel)) for root in (ref_raw, new_raw))
        assert np.array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b)), rel
        assert a.GetSpacing() == b.GetSpacing() and a.GetOrigin() == b.GetOrigin(), rel
    assert json.loads((new_raw / "dataset.json").read_text()) == json.loads(
        (ref_raw / "dataset.json").read_text()
    )
    pre = Path("nnUNet_preprocessed") / ref_raw.name
    for name in ("nnUNetPlans.json", "splits_final.json"):
        ref, got = (json.loads((root / pre / name).read_text()) for root in (ref_root, new_root))
        assert got == ref, name
    summary = json.loads((tmp_path / "results/dataset/summary.json").read_text())
    assert summary["entry"] == "joint images" and summary["patient_grouped"] is True
    assert summary["n_joints_not_dicom"] == 18


@pytest.mark.parametrize(
    "kind, subset",
    [("nnunet_png", "all_only"), ("joints_png", "five_folds"), ("joints_dicom", "fold0_all")],
)
def test_other_sources_with_existing_models_give_the_same_tables(
    kind, subset, sources, tmp_path, snakemake_env
):
    """A .png nnU-Net dataset, a PNG joint sheet, DICOM joint crops with Slicer masks, each
    with a model folder as nnU-Net's usual runs leave it (fold_all only, folds 0-4 without
    fold_all, fold 0 and fold_all): the models the folder holds predict them (no training, no
    planning) to the reference's rows of those models."""
    models, expected = sources[subset], SUBSETS[subset][1]
    cfg = _config(tmp_path, sources[kind], models)
    before = sorted(p.relative_to(models) for p in models.rglob("*"))
    dry = snakemake(tmp_path, snakemake_env, "--configfile", str(cfg), "-n").stdout
    counts = job_counts(dry)
    assert not {"train", "plan", "splits"} & set(counts), counts
    assert counts["predict"] == 1 and counts["crop"] == 18  # one job, every model it holds
    assert sorted(job_outputs(dry, "predict")[0]) == sorted(
        f"results/predictions/{m}" for m in expected)  # fmt: skip
    assert counts.get("deid", 0) == (18 if kind == "joints_dicom" else 0)
    snakemake(tmp_path, snakemake_env, "--configfile", str(cfg))
    _same_tables(sources["reference"], tmp_path / "results" / "evaluation", expected)
    assert sorted(p.name for p in (tmp_path / "results/predictions").iterdir()) == sorted(expected)
    html = _report(tmp_path)
    assert "Where the models came from" in html and str(models) in html
    assert "this run trained nothing" in html
    absent = [f"fold_{f}" for f in ("0", "1", "2", "3", "4", "all")
              if f not in SUBSETS[subset][0]]  # fmt: skip
    assert f"The model folder holds no {', '.join(absent)}" in html
    deid = json.loads((tmp_path / "results/deid/summary.json").read_text())
    if kind == "joints_dicom":  # de-identified (and examined for text) like radiographs
        assert deid["n_images"] == 18 and deid["n_images_not_dicom"] == 0
        assert "taken as de-identified by their provider" not in html
    else:
        assert deid["n_images"] == 0 and deid["n_images_not_dicom"] == 18
        assert "taken as de-identified by their provider" in html
    # the existing models are read, never written
    assert sorted(p.relative_to(models) for p in models.rglob("*")) == before


def test_a_dataset_without_patients_is_not_patient_grouped(sources, tmp_path, snakemake_env):
    """Without patients.tsv every case is its own patient; the dataset summary and the
    report's banner say the folds are not patient-grouped."""
    from hipseg import samplesheet

    folder = tmp_path / sources["nnunet_nifti"].name
    shutil.copytree(sources["nnunet_nifti"], folder)
    (folder / "patients.tsv").unlink()
    # a few cases of each part are enough to see how they are grouped (fewer crop jobs)
    for sub, keep in (("Tr", 4), ("Ts", 2)):
        for image in sorted((folder / f"images{sub}").iterdir())[keep:]:
            case = image.name.split("_0000")[0]
            image.unlink()
            (folder / f"labels{sub}" / image.name.replace("_0000", "")).unlink()
            assert not list(folder.rglob(f"{case}*")), case
    meta = json.loads((folder / "dataset.json").read_text())
    (folder / "dataset.json").write_text(json.dumps({**meta, "numTraining": 4}))
    table = samplesheet.validate(folder, mapping=byod.MAPPING)
    assert list(table["patient"]) == list(table["id"])
    assert set(table["patient_source"]) == {"case"}
    assert set(table.loc[table["image"].str.contains("imagesTs"), "split"]) == {"test"}
    cfg = _config(tmp_path, folder, sources["models"])
    snakemake(tmp_path, snakemake_env, "results/dataset/summary.json", "--configfile", str(cfg))
    summary = json.loads((tmp_path / "results/dataset/summary.json").read_text())
    assert summary["patient_grouped"] is False
    from hipseg.report.build import _banners

    assert any("not grouped by patient" in b for b in _banners({}, {}, summary))


def test_labels_are_mapped_by_name_and_a_mismatch_is_named(sources, tmp_path):
    from hipseg import samplesheet
    from hipseg.errors import InputError

    folder = sources["nnunet_nifti"]
    with pytest.raises(InputError, match="map onto none of hipseg's labels") as err:
        samplesheet.read(folder)  # no mapping: the dataset's names are not hipseg's
    assert "Femoral head" in str(err.value) and "source" in str(err.value)
    swapped = dict(byod.MAPPING, Teardrop="L4", **{"joint space": "L3"})
    table = samplesheet.read(folder, swapped)
    assert table["values"].iloc[0] == "0:0,1:1,2:2,3:4,4:3,5:5"
    half = {k: v for k, v in byod.MAPPING.items() if v != "L5"}
    with pytest.raises(InputError, match="Pelvis"):
        samplesheet.read(folder, half)
    twice = dict(byod.MAPPING, Pelvis="L1")
    with pytest.raises(InputError, match="L1 mapped from more than one label"):
        samplesheet.read(folder, twice)


def test_existing_models_relabel_and_predict_in_pixel_units(sources, tmp_path, tiny_model):
    """A model whose dataset.json names its labels otherwise (values swapped) predicts hipseg's
    values; one trained on natural images (NaturalImage2DIO) sees every image at 1 × 1."""
    import SimpleITK as sitk

    from hipseg import models, nnunet

    src = tiny_model["model_dir"]
    theirs = tmp_path / "results" / src.parent.name / src.name
    shutil.copytree(src, theirs)
    meta = json.loads((theirs / "dataset.json").read_text())
    names = {v: k for k, v in meta["labels"].items()}
    meta["labels"] = {"background": 0, "pelvis": 1, **{names[v]: v for v in (2, 3, 4)},
                      "head": 5}  # fmt: skip
    (theirs / "dataset.json").write_text(json.dumps(meta))
    values = models.check(theirs, {"pelvis": "L5", "head": "L1"})
    assert values == {0: 0, 1: 5, 2: 2, 3: 3, 4: 4, 5: 1}
    images = tiny_model["raw"] / "imagesTs"
    opts = nnunet.PredictOptions.from_config({"device": "cpu", "mirroring": False})
    ref = nnunet.predict(src, ["all"], images, tmp_path / "ref", tiny_model["nnunet_root"], opts)
    got = nnunet.predict(theirs, ["all"], images, tmp_path / "got", tiny_model["nnunet_root"],
                         opts, values=values)  # fmt: skip
    case = sorted(ref.glob("*.nii.gz"))[0].name
    a = sitk.GetArrayFromImage(sitk.ReadImage(str(ref / case)))
    b = sitk.GetArrayFromImage(sitk.ReadImage(str(got / case)))
    assert np.array_equal(models.relabel(a, values), b) and (a == 1).any()
    # natural images: the same images given at 1 × 1 mm predict as pixel-unit images do
    plans = json.loads((theirs / "plans.json").read_text())
    plans["image_reader_writer"] = "NaturalImage2DIO"
    (theirs / "plans.json").write_text(json.dumps(plans))
    assert models.pixel_units(theirs)
    unit = tmp_path / "unit"
    unit.mkdir()
    for f in images.glob("*.nii.gz"):
        img = sitk.ReadImage(str(f))
        img.SetSpacing((1.0, 1.0))
        sitk.WriteImage(img, str(unit / f.name))
    ref1 = nnunet.predict(src, ["all"], unit, tmp_path / "ref1", tiny_model["nnunet_root"], opts)
    got1 = nnunet.predict(theirs, ["all"], images, tmp_path / "got1", tiny_model["nnunet_root"],
                          opts)  # fmt: skip
    for f in ref1.glob("*.nii.gz"):
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(f)))
        out = sitk.ReadImage(str(got1 / f.name))
        assert np.array_equal(a, sitk.GetArrayFromImage(out)), f.name
        image = sitk.ReadImage(str(images / f.name.replace(".nii.gz", "_0000.nii.gz")))
        assert out.GetSpacing() == image.GetSpacing()  # written at the image's own spacing


def test_segment_with_a_model_trained_elsewhere(tiny_model, demo_data, tmp_path, capsys):
    """`hipseg segment --model-dir` on a folder hipseg did not make: refused until its crop
    convention is declared, then the same label maps as hipseg's own model folder. (In this
    process: each command's process would import torch and nnU-Net again.)"""
    from hipseg import cli

    src = tiny_model["model_dir"]
    theirs = tmp_path / "theirs" / src.name
    shutil.copytree(src, theirs)
    meta = json.loads((theirs / "dataset.json").read_text())
    meta["converted_by"] = "someone else"
    (theirs / "dataset.json").write_text(json.dumps(meta))
    dicom = sorted((demo_data.parent / "dicom").glob("*.dcm"))[0]
    args = ["segment", str(dicom), *NO_CONTENT_FLAGS, "--threads", "1",
            "--options", '{"model": "fold_all", "device": "cpu", "mirroring": false}']  # fmt: skip

    def run(*more):
        capsys.readouterr()
        status = cli.main([*args, *more])
        return status, capsys.readouterr().err

    status, err = run("-o", str(tmp_path / "refused"), "--model-dir", str(theirs))
    assert status == 2 and "--convention midline" in err
    assert not (tmp_path / "refused").exists()
    ours = run("-o", str(tmp_path / "ours"), "--model-dir", str(src))
    got = run("-o", str(tmp_path / "got"), "--model-dir", str(theirs), "--convention",
              "midline", "--mirror", "right")  # fmt: skip
    assert ours[0] == 0 and got[0] == 0, ours[1] + got[1]
    a = (tmp_path / "ours" / dicom.stem / "labels.png").read_bytes()
    assert (tmp_path / "got" / dicom.stem / "labels.png").read_bytes() == a
    run_json = json.loads((tmp_path / "got" / "run.json").read_text())
    assert run_json["convention"] == "midline"
    assert run_json["model"]["trained_by"].startswith("elsewhere")
    whole = run("-o", str(tmp_path / "whole"), "--model-dir", str(theirs), "--convention", "none")
    assert whole[0] == 0, whole[1]  # the whole radiograph given to the model
    header = pydicom.dcmread(dicom, stop_before_pixels=True)
    labels = np.asarray(Image.open(tmp_path / "whole" / dicom.stem / "labels.png"))
    assert labels.shape == (header.Rows, header.Columns) and labels.any()


def test_segment_outputs_come_back_as_masks(tiny_model, demo_data, tmp_path, capsys):
    """The model-assisted annotation loop: `hipseg segment`'s label maps (PNG, NIfTI, SEG) of
    radiographs, corrected in an editor, are masks of a radiograph sheet again."""
    from hipseg import cli, samplesheet
    from hipseg.masks import read_mask

    sheet = samplesheet.read(demo_data)
    rows = sheet.iloc[:2]
    out = tmp_path / "seg"
    status = cli.main(
        ["segment", *rows["dicom"], "-o", str(out), "--threads", "1",
         "--model-dir", str(tiny_model["model_dir"]), "--options",
         '{"model": "fold_all", "device": "cpu", "mirroring": false}', *NO_CONTENT_FLAGS]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    masks = {"png": [], "nifti": [], "seg": []}
    for r in rows.itertuples():
        name = Path(r.dicom).stem
        lab = np.asarray(Image.open(out / name / "labels.png")).copy()
        lab[:3, :3] = 5  # an annotator's correction
        Image.fromarray(lab).save(tmp_path / f"{name}_corrected.png")
        masks["png"].append((r, tmp_path / f"{name}_corrected.png"))
        masks["nifti"].append((r, out / name / "labels.nii.gz"))
        masks["seg"].append((r, out / name / "seg.dcm"))
    read = {}
    for kind, entries in masks.items():
        sheet = tmp_path / f"{kind}.tsv"
        lines = ["id\tpatient\tdicom\tlabels"]
        lines += [f"{r.id}\t{r.patient}\t{r.dicom}\t{mask}" for r, mask in entries]
        sheet.write_text("\n".join(lines) + "\n")
        table = samplesheet.validate(sheet)  # sizes, values, the SEG's referenced image
        read[kind] = read_mask(table["labels"].iloc[0])
    assert np.array_equal(read["nifti"], read["seg"]) and read["seg"].any()
    assert (read["png"] != read["nifti"]).sum() <= 9


def _joint_sheet(tmp_path: Path, rows: list[dict]) -> Path:
    sheet = tmp_path / "joints.tsv"
    pd.DataFrame(rows).to_csv(sheet, sep="\t", index=False)
    return sheet


def test_bad_joint_sheets_and_datasets_are_named(sources, tmp_path, snakemake_env):
    """Every new input format, one bad input each: one line naming the file and the problem,
    exit 2, nothing written."""
    png_sheet = pd.read_csv(sources["joints_png"], sep="\t", dtype=str, keep_default_na=False)
    first = png_sheet.iloc[0].to_dict()
    base = sources["joints_png"].parent
    first.update(image=str(base / first["image"]), mask=str(base / first["mask"]))
    colour = tmp_path / "colour.png"
    Image.fromarray(np.dstack([np.zeros((20, 20), np.uint8), np.full((20, 20), 9, np.uint8),
                               np.zeros((20, 20), np.uint8)])).save(colour)  # fmt: skip
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(small)
    dicom = pd.read_csv(sources["joints_dicom"], sep="\t", dtype=str, keep_default_na=False)
    d0 = dicom.iloc[0].to_dict()
    dbase = sources["joints_dicom"].parent
    d0.update(image=str(dbase / d0["image"]), mask=str(dbase / d0["mask"]))
    no_json = tmp_path / "Dataset001_Empty"
    no_json.mkdir()
    unmapped = tmp_path / "unmapped" / sources["nnunet_png"].name
    shutil.copytree(sources["nnunet_png"], unmapped)
    pt = unmapped / "patients.tsv"
    pt.write_text("\n".join(pt.read_text().splitlines()[:-1]) + "\n")  # one case missing
    cases = {
        "no spacing for PNG": ([{**first, "spacing": ""}], "spacing is required for a .png"),
        "bad spacing": ([{**first, "spacing": "0.2mm"}], "is not 'ROW' or 'ROWxCOLUMN'"),
        "spacing for DICOM": ([{**d0, "spacing": "0.2"}], "spacing is given for a DICOM"),
        "bad side": ([{**first, "side": "both"}], "side must be left or right"),
        "colour image": ([{**first, "image": str(colour), "spacing": "1"}], "colour image"),
        "mask of another size": ([{**first, "mask": str(small)}], "mask size 5×5"),
        "unknown segment name": ([d0], "Femoral head"),  # without source.labels
        "no dataset.json": (no_json, "without dataset.json"),
        "patients.tsv without a case": (unmapped, "patients.tsv: has no row for case"),
    }
    mapping = json.dumps({"labels": byod.MAPPING})
    for what, (rows, fragment) in cases.items():
        sheet = rows if isinstance(rows, Path) else _joint_sheet(tmp_path, rows)
        out = tmp_path / "validated.tsv"
        source = [] if what == "unknown segment name" else ["--source", mapping]
        proc = subprocess.run(
            [sys.executable, "-m", "hipseg", "validate-samples", str(sheet), "--out", str(out),
             "--demo-key", *source], env=snakemake_env, capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 2 and fragment in proc.stderr, (what, proc.stderr)
        assert "Traceback" not in proc.stderr and not out.exists(), what
    # an existing model folder whose labels do not map, and one without plans
    bad = tmp_path / "nnUNetTrainer__nnUNetPlans__2d"
    shutil.copytree(sources["models"], bad)
    meta = json.loads((bad / "dataset.json").read_text())
    meta["labels"] = {"background": 0, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    (bad / "dataset.json").write_text(json.dumps(meta))
    images = Path(sources["nnunet_nifti"]) / "imagesTs"
    missing = tmp_path / "empty__x__2d"
    for folder, fragment in ((bad, "map onto none of hipseg's"), (missing, "does not exist")):
        proc = subprocess.run(
            [sys.executable, "-m", "hipseg", "predict", "--nnunet-root", str(tmp_path / "nn"),
             "--model-dir", str(folder), "--folds", "all", "--input", str(images),
             "--output", str(tmp_path / "pred"), "--existing"],
            env=snakemake_env, capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 2 and fragment in proc.stderr, proc.stderr
        assert not (tmp_path / "pred").exists()
