"""`hipseg segment`: new radiographs through the training intake, a tiny trained model, every
output (label maps, overlay, DICOM SEG, measurements, run.json), errors, implants, the rules."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pydicom
import pytest

from hipseg import cli, labels
from hipseg.crop import CropRule, split_joints
from hipseg.dicomio import read_radiograph
from hipseg.dicomseg import read_seg
from hipseg.evaluate import dice_scores
from hipseg.io import read_image_2d
from hipseg.measure.calibration import ball_pixels
from hipseg.segment.intake import detect_metal, spacing_statement
from hipseg.segment.outputs import FILES, TEMPLATING_FILES
from tests import NO_CONTENT_FLAGS

pytestmark = pytest.mark.slow
FAST = ["--device", "cpu", "--no-mirroring", "--threads", "1", *NO_CONTENT_FLAGS]


@pytest.fixture(scope="module")
def new_demo(tmp_path_factory):
    """New synthetic radiographs (a seed the tiny model never saw), one hip with an implant."""
    from hipseg import synth

    out = tmp_path_factory.mktemp("new_demo")
    sheet = synth.generate(out, preset="demo", seed=11, n_patients=4)
    return pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False), out


@pytest.fixture(scope="module")
def segmented(new_demo, tiny_model, tmp_path_factory):
    rows, root = new_demo
    out = tmp_path_factory.mktemp("segmented") / "out"
    argv = ["segment", str(root / "dicom"), "-o", str(out), "--model-dir",
            str(tiny_model["model_dir"]), *FAST, "--template", "generic"]  # fmt: skip
    assert cli.main(argv) == 0
    return out


def test_every_output_of_every_radiograph(new_demo, segmented):
    rows, root = new_demo
    run = json.loads((segmented / "run.json").read_text())
    assert run["n_ok"] == len(rows) and not run["errors"]
    assert run["model"]["name"] == "fold_all" and run["model"]["device"] == "cpu"
    assert {"hipseg", "torch", "nnunetv2", "highdicom", "pydicom"} <= set(run["versions"])
    assert run["timings"]["model_load_s"] > 0 and run["timings"]["per_radiograph_s"] > 0
    for row, entry in zip(rows.itertuples(), run["radiographs"], strict=True):
        assert entry["name"] == row.id and entry["status"] == "ok"
        for kind, name in FILES.items():
            assert entry["files"][kind] == f"{row.id}/{name}"
            assert (segmented / row.id / name).stat().st_size > 0
        rad = read_radiograph(root / row.dicom)
        lab, spacing = read_image_2d(segmented / row.id / "labels.nii.gz")
        assert lab.shape == rad.pixels.shape and np.allclose(spacing, rad.spacing_xy)
        record = json.loads((segmented / row.id / "measurements.json").read_text())
        # the synthetic radiographs are magnified: a ball, the header's factor or distances
        # calibrate most of them (hipseg.measure.calibration), the others stay uncalibrated
        cal = record["calibration"]
        assert record["spacing"]["source"] == cal["method"] == entry["calibration"]["method"]
        assert record["spacing"]["calibrated"] is (cal["method"] != "uncalibrated")
        assert record["spacing"]["spacing_mm"] == cal["spacing_mm"]
        assert not record["frame"]["changed"]
        truth = json.loads((root / "truth" / f"{row.id}.json").read_text())
        if cal["calibrated"]:
            assert cal["magnification"] == pytest.approx(truth["magnification"], rel=0.05)
    table = pd.read_csv(segmented / "measurements.csv")
    assert set(table["radiograph"]) == set(rows["id"])
    assert set(table.loc[table["unit"] == "mm", "calibrated"]) <= {"yes", "no"}
    assert not list(segmented.glob(".*.partial"))


def test_templating_outputs(new_demo, segmented):
    """--template: every radiograph's plan (or why not) in templating.json/csv/png and the SR;
    uncalibrated radiographs refused, implant hips not templated."""
    from hipseg.clinical.sr import read_sr

    rows, _ = new_demo
    run = json.loads((segmented / "run.json").read_text())
    assert run["templating"]["catalogue"]["name"] == "generic"
    table = pd.read_csv(segmented / "templating.csv", dtype=str, keep_default_na=False)
    assert len(table) == 2 * len(rows) and set(table["radiograph"]) == set(rows["id"])
    uncalibrated = [e["name"] for e in run["radiographs"]
                    if e["calibration"]["method"] == "uncalibrated"]  # fmt: skip
    assert run["templating"]["refused"] == uncalibrated
    for entry in run["radiographs"]:
        for kind, name in TEMPLATING_FILES.items():
            assert entry["files"][kind] == f"{entry['name']}/{name}"
            assert (segmented / entry["name"] / name).stat().st_size > 0
        t = json.loads((segmented / entry["name"] / "templating.json").read_text())
        assert (t["status"] == "refused") is (entry["name"] in uncalibrated)
        assert entry["templating"]["status"] == t["status"]
        for side, plan in t["hips"].items():
            assert plan["status"] == "planned" or plan["reason"], (entry["name"], side)
            if side in entry["excluded"] and t["status"] != "refused":
                assert "excluded" in plan["reason"]
        back = read_sr(segmented / entry["name"] / "sr.dcm")
        assert set(back["templating"]) == {"right", "left"}


def test_templating_is_validated_against_the_truth(new_demo, segmented, tmp_path, capsys):
    """validate-measurements checks the run's templating with the catalogue the run used."""
    _, root = new_demo
    argv = ["validate-measurements", "--truth-dir", str(root / "truth"), "--labels-dir",
            str(root / "labels"), "--segmented", str(segmented),
            "--out-dir", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == 0
    assert "templating predicted" in capsys.readouterr().out
    result = json.loads((tmp_path / "templating.json").read_text())
    assert result["catalogue"]["name"] == "generic" and result["ground_truth"]["planned"] > 0
    predicted = pd.read_csv(tmp_path / "templating_predicted.csv", dtype=str)
    run = json.loads((segmented / "run.json").read_text())
    assert len(predicted) == 2 * run["n_ok"]


def test_implant_hip_is_reported_not_segmented(new_demo, segmented):
    rows, _ = new_demo
    run = json.loads((segmented / "run.json").read_text())
    rule = CropRule.from_config({})
    for row, entry in zip(rows.itertuples(), run["radiographs"], strict=True):
        implant = {s for s in ("right", "left") if row.hips not in ("both", s)}
        assert set(entry["excluded"]) == implant, row.id
        lab, _ = read_image_2d(segmented / row.id / "labels.nii.gz")
        halves = split_joints(lab, lab, rule)
        for side in implant:
            assert "metal implant" in entry["excluded"][side]
            assert not halves[side][0].any()
            record = json.loads((segmented / row.id / "measurements.json").read_text())
            diameter = record["hips"][side]["head_diameter"]
            assert diameter["value"] is None and "excluded" in diameter["reason"]
    assert any(e["excluded"] for e in run["radiographs"])


def test_seg_reads_back_with_segments_geometry_and_source(new_demo, segmented):
    rows, root = new_demo
    for row in rows.itertuples():
        source = pydicom.dcmread(root / row.dicom, stop_before_pixels=True)
        seg = pydicom.dcmread(segmented / row.id / "seg.dcm")
        assert seg.Modality == "SEG" and seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
        assert (seg.Rows, seg.Columns) == (source.Rows, source.Columns)
        assert seg.StudyInstanceUID == source.StudyInstanceUID
        assert list(seg.PatientOrientation) == list(source.PatientOrientation)
        ref = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
        assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
        measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        assert [float(v) for v in measures.PixelSpacing] == [float(v) for v in source.PixelSpacing]
        back, segments = read_seg(segmented / row.id / "seg.dcm", source.SOPInstanceUID)
        assert [s["label"] for s in segments] == list(labels.NAMES)
        for s, lab in zip(segments, labels.LABELS, strict=True):
            assert s["tracking_id"].endswith(lab.description)
            assert np.allclose(s["colour"], [c * 255 for c in lab.color], atol=3)
        lab, _ = read_image_2d(segmented / row.id / "labels.nii.gz")
        assert np.array_equal(back, lab)


def test_full_image_maps_reach_the_crop_dice(tiny_model, demo_data, tmp_path):
    """The same model on the same test radiographs: crops predicted from files (``hipseg
    predict``) and full images from ``hipseg segment``, cropped again, give the same Dice."""
    from hipseg import nnunet

    raw, rule = tiny_model["raw"], CropRule.from_config({})
    nnunet.predict(tiny_model["model_dir"], ["all"], raw / "imagesTs", tmp_path / "crops",
                   tiny_model["nnunet_root"],
                   nnunet.PredictOptions.from_config({"device": "cpu", "mirroring": False}),
                   threads=1)  # fmt: skip
    out = tmp_path / "full"
    argv = ["segment", str(demo_data.parent / "dicom"), "-o", str(out), "--test-of",
            str(tiny_model["cases"]), "--model-dir", str(tiny_model["model_dir"]),
            "--no-detect-implants", *FAST]  # fmt: skip
    assert cli.main(argv) == 0
    crop_dice, full_dice = [], []
    for gt_path in sorted((raw / "labelsTs").glob("*.nii.gz")):
        case = gt_path.name.removesuffix(".nii.gz")
        radiograph, side = case.rsplit("_", 1)
        gt, _ = read_image_2d(gt_path)
        crop, _ = read_image_2d(tmp_path / "crops" / gt_path.name)
        full, _ = read_image_2d(out / radiograph / "labels.nii.gz")
        again = split_joints(full, full, rule)["right" if side == "R" else "left"][0]
        crop_dice.append(np.nanmean(list(dice_scores(gt, crop).values())))
        full_dice.append(np.nanmean(list(dice_scores(gt, again).values())))
    assert len(full_dice) >= 2
    assert abs(np.mean(full_dice) - np.mean(crop_dice)) <= 0.02


def test_bad_inputs_are_named_and_the_others_go_on(new_demo, tiny_model, tmp_path, capsys):
    rows, root = new_demo
    good = root / rows["dicom"].iloc[0]
    bad = tmp_path / "notes.dcm"
    bad.write_text("not a radiograph")
    out = tmp_path / "out"
    argv = ["segment", str(good), str(bad), str(tmp_path / "gone.dcm"), "-o", str(out),
            "--model-dir", str(tiny_model["model_dir"]), *FAST]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not a DICOM file" in err and "gone.dcm: does not exist" in err
    assert (out / good.stem / "seg.dcm").is_file() and not (out / "notes").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["n_ok"] == 1 and run["n_failed"] == 2
    # the workflow's target segments de-identified radiographs only
    argv = ["segment", str(good), "-o", str(tmp_path / "o2"), "--deidentified-only",
            "--model-dir", str(tiny_model["model_dir"]), *FAST]  # fmt: skip
    assert cli.main(argv) == 2
    assert "is not de-identified" in capsys.readouterr().err


def test_sheet_of_new_radiographs(new_demo, tmp_path):
    from hipseg.errors import InputError
    from hipseg.segment import read_sheet

    rows, root = new_demo
    sheet = tmp_path / "new.tsv"
    sheet.write_text("id\tdicom\thips\nA1\t" + str(root / rows["dicom"].iloc[0]) + "\tleft\n")
    (src,) = read_sheet(sheet)
    assert src.name == "A1" and src.excluded == {"right": "excluded in the sheet"}
    sheet.write_text("id\tdicom\nbad id\tx.dcm\nbad id\ty.dcm\n")
    with pytest.raises(InputError, match="not a valid id.*more than once"):
        read_sheet(sheet)


def test_implant_detection_on_the_demo(demo_data):
    rule = CropRule.from_config({})
    sheet = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    assert (sheet["hips"] != "both").any()
    for row in sheet.itertuples():
        rad = read_radiograph(demo_data.parent / row.dicom)
        ignore = ball_pixels(rad.pixels, rad.spacing_xy)  # a calibration ball is no implant
        area = detect_metal(rad.pixels, rad.spacing_xy, rule, ignore)
        for side in ("right", "left"):
            implant = row.hips not in ("both", side)
            assert (area[side] >= 200) == implant, (row.id, side, area)


def test_spacing_statement_flags_uncalibrated_spacing():
    from hipseg.intake import pixel_spacing

    def statement(**attributes):
        ds = pydicom.Dataset()
        for k, v in attributes.items():
            setattr(ds, k, v)
        return spacing_statement(pixel_spacing(ds, "x.dcm"))

    s = statement(ImagerPixelSpacing=[0.15, 0.15])
    assert s["source"] == "imager_spacing_uncorrected" and not s["calibrated"]
    assert "magnification" in s["note"] and s["spacing_mm"] == [0.15, 0.15]
    assert not statement(ImagerPixelSpacing=[0.15, 0.15], PixelSpacing=[0.15, 0.15])["calibrated"]
    assert statement(ImagerPixelSpacing=[0.15, 0.15], PixelSpacing=[0.125, 0.125])["calibrated"]
    s = statement(PixelSpacing=[0.15, 0.15], PixelSpacingCalibrationType="GEOMETRY")
    assert s["calibrated"] and "GEOMETRY" in s["note"]
    s = statement(ImagerPixelSpacing=[0.15, 0.15], EstimatedRadiographicMagnificationFactor=1.2)
    assert s["calibrated"] and s["spacing_mm"] == pytest.approx([0.125, 0.125])
    assert not statement(PixelSpacing=[0.15, 0.15])["calibrated"]


def test_rules_segment_the_test_set_and_a_sheet(repo, snakemake_env, tmp_path, new_demo):
    from tests.test_workflow import job_counts, snakemake

    dry = snakemake(tmp_path, snakemake_env, "-n").stdout
    counts = job_counts(dry)
    assert counts.get("segment_test") == 1 and counts.get("validate_measurements") == 1
    rows, root = new_demo
    sheet = tmp_path / "new.tsv"
    sheet.write_text("id\tdicom\n" + "".join(f"n{i}\t{root / d}\n"
                                             for i, d in enumerate(rows["dicom"])))  # fmt: skip
    proc = snakemake(tmp_path, snakemake_env, "-n", "segment_new", "--config",
                     f"new_radiographs={sheet}")  # fmt: skip
    assert job_counts(proc.stdout).get("segment_new") == 1
    assert "--sheet" in proc.stdout and "--deidentified-only" in proc.stdout
    proc = snakemake(tmp_path, snakemake_env, "-n", "segment_new", check=False)
    assert proc.returncode != 0 and "new_radiographs" in proc.stdout + proc.stderr
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)


def test_an_unexpected_failure_names_the_file(new_demo, tiny_model, tmp_path, monkeypatch,
                                              capsys):  # fmt: skip
    import hipseg.segment.run as run_mod

    rows, root = new_demo
    first, second = (root / d for d in rows["dicom"].iloc[:2])
    real = run_mod.write_outputs

    def failing(out_dir, name, *args, **kwargs):
        if name == second.stem:
            raise ValueError("a library failed")
        return real(out_dir, name, *args, **kwargs)

    monkeypatch.setattr(run_mod, "write_outputs", failing)
    out = tmp_path / "out"
    argv = ["segment", str(first), str(second), "-o", str(out), "--model-dir",
            str(tiny_model["model_dir"]), *FAST]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{second}: cannot be segmented (ValueError: a library failed)" in err
    assert (out / first.stem / "seg.dcm").is_file() and not (out / second.stem).exists()


def _agreement(a_dir, b_dir, names) -> float:
    equal = total = 0
    for name in names:
        a, _ = read_image_2d(a_dir / name / "labels.nii.gz")
        b, _ = read_image_2d(b_dir / name / "labels.nii.gz")
        equal, total = equal + int((a == b).sum()), total + a.size
    return equal / total


def test_onnx_engine_gives_the_labels_of_pytorch(new_demo, tiny_model, segmented, tmp_path):
    """The network exported to ONNX and run by ONNX Runtime inside nnU-Net's sliding window
    labels ≥ 99.9 % of the pixels as PyTorch does (the same options otherwise); the export is
    cached beside the checkpoint and reused by the next run."""
    rows, root = new_demo
    model = tmp_path / "model"
    shutil.copytree(tiny_model["model_dir"], model)
    runs = []
    for i, inputs in enumerate([root / "dicom", root / rows["dicom"].iloc[0]]):
        out = tmp_path / f"onnx{i}"
        argv = ["segment", str(inputs), "-o", str(out), "--model-dir", str(model),
                "--engine", "onnx", *FAST]  # fmt: skip
        assert cli.main(argv) == 0
        runs.append(json.loads((out / "run.json").read_text()))
        assert _agreement(out, segmented, rows["id"][: 4 - 3 * i]) >= 0.999
    first, second = (r["model"]["onnx"] for r in runs)
    assert first["exported_now"] == [True] and second["exported_now"] == [False]
    assert first["files"] == second["files"]
    assert first["files"][0].startswith(str(model / "fold_all" / "hipseg_onnx"))
    assert runs[0]["model"]["engine"] == "onnx" and runs[0]["model"]["mirroring"] is False


def test_fast_path(new_demo, tiny_model, tmp_path):
    """``--fast``: ONNX Runtime, mirroring left-right only, tile step 0.5 (it overrides the
    options it sets); with the model folder not writable the export goes to the output folder;
    the labels are those of PyTorch with the same mirroring (``--mirror-axes [1]``)."""
    rows, root = new_demo
    model = tmp_path / "model"
    shutil.copytree(tiny_model["model_dir"], model)
    (model / "fold_all" / "hipseg_onnx").write_text("not a folder")  # the cache cannot go here
    out = tmp_path / "fast"
    first = root / rows["dicom"].iloc[0]
    argv = ["segment", str(first), "-o", str(out), "--model-dir", str(model), "--fast",
            "--no-mirroring", "--tile-step-size", "1", "--threads", "1",
            *NO_CONTENT_FLAGS]  # fmt: skip
    assert cli.main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["fast"] is True and run["options"]["mirroring"] is False
    used = run["options_used"]
    assert (used["engine"], used["mirroring"], used["tile_step_size"]) == ("onnx", True, 0.5)
    assert used["mirror_axes"] == [1] and run["model"]["mirror_axes"] == [1]
    assert run["model"]["device"] == "cpu" and run["model"]["mirroring"] is True
    assert run["model"]["onnx"]["files"][0].startswith(str(out / "onnx" / "fold_all"))
    ref = tmp_path / "torch"
    argv = ["segment", str(first), "-o", str(ref), "--model-dir", str(model), "--device", "cpu",
            "--mirror-axes", "[1]", "--threads", "1", *NO_CONTENT_FLAGS]  # fmt: skip
    assert cli.main(argv) == 0
    assert json.loads((ref / "run.json").read_text())["model"]["mirror_axes"] == [1]
    assert _agreement(out, ref, [first.stem]) >= 0.999
