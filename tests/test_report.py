"""Tests of hipseg.report: a self-contained HTML report from fabricated inputs."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hipseg import labels
from hipseg.errors import InputError
from hipseg.evaluate import MODELS, EvaluateOptions, evaluate
from hipseg.io import write_image_2d
from hipseg.report import DEFAULT_TEMPLATE, PAPER_TABLE1, build_report, paper
from tests.test_subgroups import add_subgroups

TEMPLATE = Path(__file__).resolve().parents[1] / "workflow" / "templates" / "report.html.j2"
SPACING = (0.15, 0.15)
SHAPE = (64, 40)
ARCH = "dynamic_network_architectures.architectures.unet.PlainConvUNet"


def _labels(rng: np.random.Generator, jitter: int = 0) -> np.ndarray:
    a = np.zeros(SHAPE, np.uint8)

    def j() -> int:
        return int(rng.integers(-jitter, jitter + 1)) if jitter else 0

    a[30 + j() : 60, 8 + j() : 20] = 2
    a[14 + j() : 32, 6 : 22 + j()] = 1
    a[4 : 14 + j(), 4:36] = 5
    a[14 : 20 + j(), 22 + j() : 28] = 4
    a[8 : 11 + j(), 30 : 33 + j()] = 3
    return a


def make_checkpoints(root: Path, epochs: int = 6, seed: int = 0) -> list[Path]:
    """nnU-Net-like ``fold_X/checkpoint_final.pth`` files holding only a training log."""
    import torch

    rng = np.random.default_rng(seed)
    paths = []
    for fold in labels.TRAIN_FOLDS:
        e = np.arange(epochs, dtype=float)
        dice = 0.9 * (1 - np.exp(-(e + 1) / 2)) + rng.normal(0, 0.01, epochs)
        log = {
            "train_losses": list(-0.2 - 0.6 * (1 - np.exp(-e / 2))),  # numpy floats, as nnU-Net
            "val_losses": list(-0.1 - 0.5 * (1 - np.exp(-e / 2))),
            "mean_fg_dice": list(dice),
            "ema_fg_dice": list(np.maximum.accumulate(dice)),
            "dice_per_class_or_region": [[0.5] * len(labels.LABELS)] * epochs,
            "lrs": list(0.01 * (1 - e / epochs) ** 0.9),
            "epoch_start_timestamps": list(1000 + 10 * e),
            "epoch_end_timestamps": list(1009 + 10 * e),
        }
        path = root / "nnUNet_results" / f"fold_{fold}" / "checkpoint_final.pth"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"logging": log, "current_epoch": epochs}, path)
        paths.append(path)
    return paths


def make_inputs(root: Path, n_cases: int = 4, seed: int = 0) -> dict:
    """Fabricate every input of build_report under ``root``; returns the keyword arguments."""
    rng = np.random.default_rng(seed)
    images, labels_dir, preds = root / "imagesTs", root / "labelsTs", root / "predictions"
    patients = {}
    for i in range(n_cases):
        case = f"hip_{i:03d}"
        patients[case] = f"P{i // 2:010x}"  # two hips per patient
        gt = _labels(rng)
        img = (gt.astype(np.float32) * 40 + rng.normal(0, 10, SHAPE)).astype(np.float32)
        write_image_2d(images / f"{case}_0000.nii.gz", img, SPACING)
        write_image_2d(labels_dir / f"{case}.nii.gz", gt, SPACING)
        for k, m in enumerate(MODELS):
            write_image_2d(
                preds / m / f"{case}.nii.gz", _labels(rng, jitter=1 + (k + i) % 3), SPACING
            )
    cases_tsv = root / "cases.tsv"
    cases_tsv.write_text("case\tpatient\n" + "".join(f"{c}\t{p}\n" for c, p in patients.items()))
    options = EvaluateOptions(bootstrap_resamples=999)
    evaluate(labels_dir, preds, MODELS, root / "evaluation", options, cases_tsv)

    plans = {
        "dataset_name": "Dataset501_Hip",
        "plans_name": "nnUNetPlans",
        "experiment_planner_used": "ExperimentPlanner",
        "configurations": {
            "2d": {
                "batch_size": 2,
                "patch_size": [64, 40],
                "median_image_size_in_voxels": [64.0, 40.0],
                "spacing": [0.15, 0.15],
                "normalization_schemes": ["ZScoreNormalization"],
                "architecture": {
                    "network_class_name": ARCH,
                    "arch_kwargs": {
                        "n_stages": 4,
                        "features_per_stage": [32, 64, 128, 256],
                        "kernel_sizes": [[3, 3]] * 4,
                        "strides": [[1, 1], [2, 2], [2, 2], [2, 2]],
                        "n_conv_per_stage": [2, 2, 2, 2],
                        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
                        "nonlin": "torch.nn.LeakyReLU",
                    },
                },
            }
        },
    }
    plans["hipseg_overrides"] = {"2d": {"base_num_features": 16, "max_num_features": 256}}
    (root / "nnUNetPlans.json").write_text(json.dumps(plans))
    ds = {
        "n_radiographs": 3,
        "n_patients": 3,
        "n_joints": n_cases + 2,
        "excluded": [{"radiograph": "r002", "side": "left", "reason": "prosthesis"}],
        "n_train_joints": 2,
        "n_test_joints": n_cases,
        "label_area_fractions": {
            lab.name: f
            for lab, f in zip(labels.LABELS, (0.12, 0.08, 0.004, 0.02, 0.2), strict=True)
        },
        "folds": [{"fold": 0, "n_train": 1, "n_val": 1}, {"fold": 1, "n_train": 1, "n_val": 1}],
    }
    (root / "dataset_summary.json").write_text(json.dumps(ds))
    (root / "deid_summary.json").write_text(json.dumps({"key_source": "demo", "n_files": 3}))
    bench = root / "benchmarks" / "train"
    bench.mkdir(parents=True)
    (bench / "fold_0.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "123.4567\t0:02:03\t2048.5\t4096.0\t1.0\t1.0\t0.1\t0.2\t95.0\t117.0\n"
    )
    (root / "benchmarks" / "evaluate.tsv").write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "4.5\t0:00:04\t150.0\t300.0\t-\t-\t-\t-\t-\t-\n"
    )
    return {
        "evaluation_dir": root / "evaluation",
        "dataset_summary": root / "dataset_summary.json",
        "plans_json": root / "nnUNetPlans.json",
        "images_dir": images,
        "labels_dir": labels_dir,
        "predictions_root": preds,
        "config": {
            "demo": {"enabled": True},
            "train": {"trainer": "nnUNetTrainer_5epochs", "epochs": 5},
        },
        "deid_summary": root / "deid_summary.json",
        "benchmarks_dir": root / "benchmarks",
        "template": TEMPLATE,
        "out_html": root / "report" / "report.html",
        "worst_k": 2,
        "provenance": {"run_id": "test-run"},
        "checkpoints": make_checkpoints(root, seed=seed),
        "bib_out": root / "report" / "references.bib",
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    kw = make_inputs(root)
    kw["subgroups"] = add_subgroups(kw)  # section 11b
    build_report(**kw)
    return kw, kw["out_html"].read_text(encoding="utf-8")


def test_default_template_exists():
    assert DEFAULT_TEMPLATE == TEMPLATE and TEMPLATE.is_file()


def test_report_is_self_contained(rendered):
    kw, text = rendered
    assert kw["out_html"].is_file()
    assert 'src="http' not in text and "src='http" not in text
    assert not re.search(r'href="(?!#|data:)', text), "external href found"
    assert "<link" not in text and "<script" not in text
    # Fig. 3, Fig. 4, worst_k=2 Fig. 5 panels, the learning curves, one image per test case,
    # the forest plot and the worst case of every subgroup (each case once)
    n_cases = len(list(kw["labels_dir"].glob("*.nii.gz")))
    sub = json.loads((kw["subgroups"] / "subgroups.json").read_text())
    n_worst = len({c["case"] for w in sub["worst_cases"] for c in w["cases"]})
    assert text.count("data:image/png;base64,") == 2 + kw["worst_k"] + 1 + n_cases + 1 + n_worst
    # every in-page link has its target
    ids = set(re.findall(r'id="([^"]+)"', text))
    assert set(re.findall(r'href="#([^"]+)"', text)) <= ids


def test_report_contents(rendered):
    kw, text = rendered
    t1 = pd.read_csv(kw["evaluation_dir"] / "table1.csv", index_col="model")
    for m in MODELS:
        assert f">{m.replace('_', ' ')}<" in text
        assert f"{t1.loc[m, 'mean']:.4f}" in text
        assert f"{t1.loc[m, 'median']:.4f}" in text
    # paper reference values are shown beside ours
    assert f"{PAPER_TABLE1['fold_all']['mean']:.4f}" in text
    assert "0.8505" in text  # paper Table II, L3 mean
    # banners
    assert "fixed demo key" in text
    assert "synthetic demo data" in text.lower()
    # plans, config, benchmarks, provenance
    assert "PlainConvUNet" in text and "1536 × 1024" in text
    assert "nnUNetTrainer_5epochs" in text
    assert "base_num_features = 16; max_num_features = 256" in text  # plan changes shown
    assert "123.5" in text and "2048" in text
    assert "test-run" in text
    assert "prosthesis" in text
    # worst cases: the two lowest per-image mean Dice cases of the best model
    summary = json.loads((kw["evaluation_dir"] / "summary.json").read_text())
    pi = pd.read_csv(kw["evaluation_dir"] / "per_image.csv")
    worst = pi[pi.model == summary["best_model"]].nsmallest(2, "mean_dice")["case"]
    for case in worst:
        assert "Fig. 5" in text and case in text


def test_report_without_benchmarks_and_banners(tmp_path):
    kw = make_inputs(tmp_path, n_cases=2, seed=1)
    kw["benchmarks_dir"] = tmp_path / "no_such_dir"
    kw["config"] = {}
    kw["deid_summary"] = None
    kw["worst_k"] = 1
    build_report(**kw)
    text = kw["out_html"].read_text(encoding="utf-8")
    assert "run times are not shown" in text
    assert "fixed demo key" not in text and "synthetic demo data" not in text.lower()
    assert text.count("data:image/png;base64,") == 2 + 1 + 1 + 2  # Figs. 3, 4, 5, 6, 2 cases
    assert 'id="subgroups"' not in text  # no subgroup analysis given: no section 11b


def test_report_deid_paragraph(tmp_path, demo_data):
    """The de-identification paragraph comes from a real summary: edition, options, flagged
    images, demo-key warning."""
    from hipseg import deid, samplesheet

    audits = []
    for row in samplesheet.read(demo_data).head(2).itertuples():
        rec = deid.deidentify(row.dicom, tmp_path / f"{row.id}.dcm", deid.DEMO_KEY, row.patient)
        rec.update(id=row.id, key_source="demo")
        rec["burned_in"]["flagged"] = row.Index == 1  # as if the detector had fired
        (tmp_path / f"{row.id}.json").write_text(json.dumps(rec))
        audits.append(tmp_path / f"{row.id}.json")
    kw = make_inputs(tmp_path, n_cases=2, seed=3)
    kw["deid_summary"] = deid.summarise(audits, tmp_path / "deid.json")
    build_report(**kw)
    text = kw["out_html"].read_text(encoding="utf-8")
    para = re.search(r"<h3>De-identification</h3>\s*<p>(.*?)</p>", text, re.S).group(1)
    para = " ".join(para.split())
    assert "2 radiographs of 2 patients" in para
    assert "PS3.15 2026c Table E.1-1" in para and "(655 attributes in the table)" in para
    assert "Retain Longitudinal Temporal Information with Modified Dates" in para
    assert "Retain Patient Characteristics (PatientAge, PatientSex" in para
    assert "Retain Device Identity" not in para
    flagged = samplesheet.read(demo_data).iloc[1]["id"]
    assert f"burned-in text: <b>1</b> ({flagged})" in para
    assert "demo key was used" in para


@pytest.mark.parametrize("missing", ["plans_json", "dataset_summary", "evaluation_dir"])
def test_report_missing_required_input(tmp_path, missing):
    kw = make_inputs(tmp_path, n_cases=2, seed=2)
    kw[missing] = tmp_path / "does_not_exist"
    with pytest.raises(InputError, match="does_not_exist"):
        build_report(**kw)
    assert not kw["out_html"].exists()


def test_report_missing_image_names_file(tmp_path):
    kw = make_inputs(tmp_path, n_cases=2, seed=3)
    for p in kw["images_dir"].glob("*_0000.nii.gz"):
        p.unlink()
    with pytest.raises(InputError, match="_0000.nii.gz"):
        build_report(**kw)
    assert not kw["out_html"].exists()


def test_report_shows_paper_plan_and_gallery(tmp_path):
    from hipseg.paperplan import PAPER

    kw = make_inputs(tmp_path, n_cases=2, seed=4)
    planned = dict(PAPER, median_shape=[2314, 1388], patch_size=[1536, 1024])
    kw["paper_plan"] = {
        "planned": planned,
        "paper": PAPER,
        "match": {k: k != "batch_size" for k in PAPER},
        "all_match": False,
        "subset": {"how": "6 radiographs", "joints": 12},
        "full_set": {"radiographs": 83, "patients": 70, "joints": 150, "train_joints": 100,
                     "test_joints": 50, "excluded_joints": 16,
                     "smallest_joint_px": [1223, 1943], "largest_joint_px": [2140, 3520]},
        "seconds": {"generate": 12.5, "fingerprint_and_plan": 20.0},
        "nnunet_version": "2.8.1",
    }  # fmt: skip
    gallery = tmp_path / "gallery.png"
    Image.new("RGB", (8, 8)).save(gallery)
    kw["gallery"] = gallery
    build_report(**kw)
    text = kw["out_html"].read_text(encoding="utf-8")
    assert "reproduced on paper-scale synthetic radiographs" in text
    assert "2314 × 1388" in text and "2320 × 1414" in text and "32 → 512" in text
    assert "✗ differs" in text and "Some items differ" in text  # batch size flagged
    assert "1223×1943" in text and "2140×3520" in text
    assert "acetabular" in text and text.count("data:image/png;base64,") == 2 + 2 + 1 + 1 + 2


def _section(text: str, sid: str) -> str:
    return re.search(rf'<section id="{sid}">(.*?)</section>', text, re.S).group(1)


def _without_images(text: str) -> str:
    """The text without its embedded files (images and downloads: base64 holds any letters)."""
    return re.sub(r"data:[a-z/+-]+(;charset=utf-8)?;base64,[A-Za-z0-9+/=]+", "", text)


def _rename_label(monkeypatch, value: int, new_name: str) -> labels.Label:
    """Rename a label the way an edit of labels.py would (evaluate reads BY_VALUE)."""
    old = labels.BY_VALUE[value]
    new = dataclasses.replace(old, name=new_name)
    renamed = tuple(new if lab.value == value else lab for lab in labels.LABELS)
    monkeypatch.setattr(labels, "LABELS", renamed)
    monkeypatch.setattr(labels, "NAMES", tuple(lab.name for lab in renamed))
    monkeypatch.setitem(labels.BY_VALUE, value, new)
    monkeypatch.delitem(labels.BY_NAME, old.name)
    monkeypatch.setitem(labels.BY_NAME, new_name, new)
    return old


def test_renamed_label_renames_the_report(tmp_path, monkeypatch):
    old = _rename_label(monkeypatch, 3, "TD")
    # the paper data still names the old label: loading it fails loudly ...
    with pytest.raises(InputError, match=f"label\\(s\\) {old.name} that hipseg.labels"):
        paper.load()
    # ... until it is renamed there too
    renamed = tmp_path / "paper_reference.yaml"
    text = paper.PATH.read_text(encoding="utf-8")
    renamed.write_text(re.sub(rf"\b{old.name}\b", "TD", text), encoding="utf-8")
    monkeypatch.setattr(paper, "REFERENCE", paper.load(renamed))

    kw = make_inputs(tmp_path, n_cases=2, seed=5)
    build_report(**kw)
    text = _without_images(kw["out_html"].read_text(encoding="utf-8"))
    assert old.name not in text
    table2 = _section(text, "table2")
    assert f'<th class="num" title="{old.description}">TD</th>' in table2
    t2 = pd.read_csv(kw["evaluation_dir"] / "table2.csv", index_col="label")
    assert f"{t2.loc['TD', 'mean']:.4f}" in table2
    assert "0.8505" in table2  # the paper's mean for this label, now under its new name
    legend = (
        f'<span class="swatch" style="background: {old.css}"></span><b>TD</b> {old.description}'
    )
    assert text.count(legend) == 3  # legend of the dataset section, Fig. 5 and the gallery
    assert "mean over the labels L1, L2, TD, L4 and L5 present" in " ".join(text.split())
    assert "of the individual labels (L1, L2, TD, L4 and L5) for" in " ".join(text.split())
    assert "best for TD, L4 and L5" in text


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ("L5: {", "L9: {", "table2.labels names label(s) L9"),
        ("fold_3: [L1]", "fold_9: [L1]", "best_models names model(s) fold_9"),
        ("model: fold_all", "model: fold_x", "table2.model names model(s) fold_x"),
        ('n_stages: "9"', "n_stages: 9", "methods: n_stages must be text"),
        ("mean: 0.9248, ", "", "table1.fold_0 must map mean"),
    ],
)
def test_paper_reference_is_checked(tmp_path, old, new, problem):
    text = paper.PATH.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "paper_reference.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(problem)) as err:
        paper.load(bad)
    assert str(bad) in str(err.value)


def test_shipped_paper_reference_is_the_papers():
    ref = paper.load()
    assert ref == paper.REFERENCE
    assert ref.table2_model == "fold_all" and ref.table1["fold_all"]["mean"] == 0.9287
    assert set(ref.table2) == set(labels.NAMES)
    assert ref.methods["patch_size"] == "1536 × 1024"


@pytest.mark.parametrize("which", ["montage", "gallery"])
def test_missing_picture_is_named(tmp_path, which):
    kw = make_inputs(tmp_path, n_cases=2, seed=6)
    kw[which] = tmp_path / "no.png"
    with pytest.raises(InputError, match=f"no.png: {which} image does not exist"):
        build_report(**kw)
    assert not kw["out_html"].exists()


def test_nested_values_become_tables(tmp_path):
    kw = make_inputs(tmp_path, n_cases=2, seed=7)
    ds = json.loads(kw["dataset_summary"].read_text())
    ds.update(
        long=list(range(45)),
        many=[{"i": i} for i in range(65)],
        per_fold={"f0": {"n": 1}, "f1": {"n": 2, "x": "<b>"}},
        deep=[{"a": [{"b": [{"c": {"d": 1}}]}]}],  # three tables deep, then JSON
        empty=[],
        flag=True,
    )
    kw["dataset_summary"] = ds
    build_report(**kw)
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r"<tr><th>([^<]*)</th><td>(.*?)</td><td class=\"ref\">",
            _section(kw["out_html"].read_text(encoding="utf-8"), "dataset"),
            re.S,
        )
    }
    assert rows["long"] == ", ".join(map(str, range(30))) + ", … (45 in all)"
    assert (
        rows["many"].count("<tr>") == 1 + 60 + 1 and '<td colspan="1">… 5 more</td>' in rows["many"]
    )
    assert rows["per fold"].startswith('<table class="sub"><tr><th></th><th>n</th><th>x</th></tr>')
    assert "<td>2</td><td>&lt;b&gt;</td>" in rows["per fold"] and "<td>—</td>" in rows["per fold"]
    assert rows["deep"].count('<table class="sub">') == 3 and "<pre>{" in rows["deep"]
    assert rows["empty"] == "—" and rows["flag"] == "yes"


# ------------------------------------------------------------------------------------------------
# Intervals, boundary metrics, tests, learning curves, every case, methods text, embedded data
# ------------------------------------------------------------------------------------------------
def _embedded(text: str, name: str) -> bytes:
    """The bytes of the file the report embeds under ``name`` (a download link)."""
    import base64

    m = re.search(rf'download="{re.escape(name)}" href="data:[^;]+;charset=utf-8;base64,([^"]+)"',
                  text)  # fmt: skip
    assert m, f"{name} is not embedded"
    return base64.b64decode(m.group(1))


def _read(kw, name):
    return pd.read_csv(kw["evaluation_dir"] / name, keep_default_na=False, na_values=["NaN"])


def test_report_shows_intervals_metrics_and_tests(rendered):
    kw, text = rendered
    ci = _read(kw, "ci.csv")
    best = json.loads((kw["evaluation_dir"] / "summary.json").read_text())["best_model"]
    t1 = _section(text, "table1")
    assert not ci.loc[ci.metric == "dice", "ci_low"].isna().any()
    for r in ci[(ci.table == "I") & (ci.metric == "dice")].itertuples():
        assert f"[{r.ci_low:.4f}, {r.ci_high:.4f}]" in t1
    t2 = _section(text, "table2")
    for r in ci[(ci.table == "II") & (ci.metric == "dice")].itertuples():
        assert f"[{r.ci_low:.4f}, {r.ci_high:.4f}]" in t2
    metrics = _section(text, "metrics")
    for r in ci[ci.metric == "hd95_mm"].itertuples():
        interval = "—" if np.isnan(r.ci_low) else f"[{r.ci_low:.2f}, {r.ci_high:.2f}]"
        assert f'{r.mean:.2f}<span class="ci">{interval}</span>' in metrics
    assert "τ = 2 mm" in metrics and "MedPy 0.5.2" in metrics
    assert "label absent from the prediction only: Dice 0, NSD 0" in metrics
    tests = _section(text, "tests")
    rows = _read(kw, "tests.csv")
    assert len(rows) == 4 * (len(MODELS) - 1)
    assert f"<i>{best.replace('_', ' ')}</i> against every other model" in text
    for r in rows[rows.metric == "dice"].itertuples():
        if not np.isnan(r.p_value):
            assert f"{r.p_value:.4f}" in tests


def test_report_learning_curves_from_the_training_logs(rendered):
    kw, text = rendered
    curves = _section(text, "curves")
    assert "checkpoint_final.pth" in curves and "data:image/png;base64," in curves
    for fold in labels.TRAIN_FOLDS:
        assert f'<td>fold {fold}</td><td class="num">6</td>' in curves  # six epochs each
    data = pd.read_csv(__import__("io").BytesIO(_embedded(text, "learning_curves.csv")))
    assert list(data["model"].unique()) == [f"fold_{f}" for f in labels.TRAIN_FOLDS]
    assert data.groupby("model").size().eq(6).all()
    assert data["epoch_seconds"].eq(9.0).all()


def test_report_gallery_shows_every_case_lowest_dice_first(rendered):
    kw, text = rendered
    summary = json.loads((kw["evaluation_dir"] / "summary.json").read_text())
    pi = pd.read_csv(kw["evaluation_dir"] / "per_image.csv")
    order = pi[pi.model == summary["best_model"]].sort_values("mean_dice")["case"].tolist()
    gallery = _section(text, "cases")
    shown = re.findall(r'<div class="card" id="case-([^"]+)">', gallery)
    assert shown == order and len(shown) == summary["n_cases"]
    metrics = _read(kw, "metrics.csv")
    row = metrics[(metrics.model == summary["best_model"]) & (metrics.case == order[0])]
    card = gallery.split(f'id="case-{order[0]}"')[1].split('<div class="card"')[0]
    for r in row.itertuples():
        assert f'<td class="num">{r.hd95_mm:.2f}</td><td class="num">{r.assd_mm:.2f}' in card
    # Fig. 5 links each worst case to its gallery entry
    assert f'href="#case-{order[0]}"' in _section(text, "fig5")


def test_report_embeds_the_data_behind_every_table(rendered):
    kw, text = rendered
    for name in ("table1.csv", "table2.csv", "ci.csv", "tests.csv", "metrics.csv", "dice.csv"):
        assert _embedded(text, name) == (kw["evaluation_dir"] / name).read_bytes(), name
    bench = pd.read_csv(__import__("io").BytesIO(_embedded(text, "benchmarks.csv")))
    assert set(bench["rule"]) == {"train", "evaluate"}


def test_report_methods_text_and_references(rendered):
    kw, text = rendered
    bib = kw["bib_out"].read_text(encoding="utf-8")
    assert _embedded(text, "references.bib").decode("utf-8") == bib
    for key in ("isensee2021nnunet", "moelder2021snakemake", "maierhein2024metrics",
                "blazkova_hip"):  # fmt: skip
        assert f"{{{key}," in bib and f'id="ref-{key}"' in text
    methods = " ".join(_section(text, "methods-text").split())
    import importlib.metadata as md

    assert f"nnU-Net {md.version('nnunetv2')}" in methods
    assert f"Snakemake {md.version('snakemake')}" in methods
    assert "a patch of 64 × 40 pixels, a batch size of 2" in methods
    assert "nnUNetTrainer_5epochs trainer for 5 epochs" in methods
    assert "τ = 2 mm" in methods and "MedPy 0.5.2" in methods
    assert "split by patient into 2 training images" in methods
    assert "base_num_features = 16" in methods  # the plan overrides of the config
    cited = re.findall(r'<a href="#ref-([^"]+)">(\d+)</a>', methods)
    numbers = [int(n) for _, n in cited]
    assert numbers[0] == 1 and max(numbers) == len({k for k, _ in cited})  # numbered in order
    plain = _embedded(text, "methods.md").decode("utf-8")
    assert plain.startswith("Data.") and "References" in plain and "[1] " in plain


def test_report_without_checkpoints_says_so(tmp_path):
    kw = make_inputs(tmp_path, n_cases=2, seed=8)
    kw["checkpoints"] = []
    build_report(**kw)
    text = kw["out_html"].read_text(encoding="utf-8")
    assert "No training checkpoints were given." in _section(text, "curves")


def test_report_bad_checkpoint_is_named(tmp_path):
    import torch

    kw = make_inputs(tmp_path, n_cases=2, seed=9)
    bad = kw["checkpoints"][2]
    torch.save({"network_weights": {}}, bad)
    with pytest.raises(InputError, match=f"{re.escape(str(bad))}: holds no nnU-Net training log"):
        build_report(**kw)
    kw["checkpoints"][2] = tmp_path / "fold_2" / "nothing.pth"
    with pytest.raises(InputError, match="nothing.pth: training checkpoint does not exist"):
        build_report(**kw)
    assert not kw["out_html"].exists() and not kw["bib_out"].exists()


def test_report_summary_line(rendered, snakemake_env):
    import subprocess
    import sys

    kw, _ = rendered
    out = subprocess.run(
        [sys.executable, "-m", "hipseg", "report-summary", str(kw["out_html"])],
        env=snakemake_env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert out.count("\n") == 0 and "self-contained" in out
    assert "16 sections" in out and "4 test cases in the gallery" in out  # 11b included
    assert "references.bib" in out and "metrics.csv" in out


def test_report_shows_the_subgroups_with_intervals_forest_plot_and_failures(rendered):
    """Section 11b (hipseg subgroups on the fabricated inputs, tests/test_subgroups.py)."""
    kw, html = rendered
    section = html[html.index('<section id="subgroups">') :]
    section = section[: section.index("</section>")]
    for text in (
        "Table V", "Table VI", "Table VII", "Fig. 8", "Fig. 9", "osteoarthritis (mild)",
        "other (pooled)", "sex (DICOM header)", "head outside the acetabulum",
        "teardrop merged into the pelvis", "Hardest subgroup", "all test joints",
    ):  # fmt: skip
        assert text in section, text
    assert section.count("data:image/png;base64,") >= 2  # the forest plot and a worst case
    assert 'href="#data-subgroups.csv"' in section and 'id="data-subgroups.csv"' in html
    assert 'href="#subgroups"' in html  # in the table of contents
    # the methods text describes the analysis and cites Holm
    assert "Subgroups and failure modes." in html and "sequentially rejective" in html
    assert "pooled into “other”" in html
    bib = kw["bib_out"].read_text(encoding="utf-8")
    assert "holm1979" in bib and "hall1991bootstrap" in bib


def test_learning_curves_are_read_without_torch_as_torch_reads_them(
    tiny_model, tmp_path, monkeypatch, snakemake_env
):
    """A real nnU-Net checkpoint's training log is read without importing torch (a report
    process needs torch for nothing else), to the values torch.load gives; a damaged one is
    named."""
    import subprocess
    import sys

    from hipseg.report import learning

    ckpt = tiny_model["model_dir"] / "fold_all" / "checkpoint_final.pth"
    code = (
        "import sys; from hipseg.report import learning; "
        f"frame = learning.read_curves([{str(ckpt)!r}]); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "print(frame.to_json(orient='split', double_precision=15))"
    )
    light = subprocess.run([sys.executable, "-c", code], env=snakemake_env, capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    monkeypatch.setattr(learning, "_logging_without_torch", lambda path: None)  # torch.load
    expected = learning.read_curves([ckpt])
    assert len(expected) == 2 and expected["train_loss"].notna().all()
    assert light.strip() == expected.to_json(orient="split", double_precision=15)
    monkeypatch.undo()
    half = tmp_path / "fold_all" / "checkpoint_final.pth"
    half.parent.mkdir()
    half.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(InputError, match="cannot be read as a PyTorch checkpoint"):
        learning.read_curves([half])
