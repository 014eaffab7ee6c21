"""The low-resolution configuration (``nnunet.configurations: [2d, 2d_lowres]``): planned by
nnU-Net's planner beside 2d, trained, predicted and evaluated by the same rules, compared in the
report, and the model of ``hipseg segment --fastest``."""

from __future__ import annotations

import copy
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from hipseg import cli, labels, nnunet
from hipseg.segment.model import fast_model_dir
from tests import NO_CONTENT_FLAGS
from tests.test_workflow import TINY_CONFIG, job_counts

pytestmark = pytest.mark.slow
BOTH = ["2d", "2d_lowres"]


def test_lowres_is_planned_by_nnunets_planner(tiny_model):
    """2d_lowres in the plans: inherits from 2d, twice its spacing, its own data folder, patch,
    batch and full architecture (the width overrides applied); nnU-Net's PlansManager resolves
    it with 2d's normalisation and resampling."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    pre = next((tiny_model["nnunet_root"] / "nnUNet_preprocessed").glob("Dataset*"))
    plans = json.loads((pre / "nnUNetPlans.json").read_text())
    full, low = plans["configurations"]["2d"], plans["configurations"]["2d_lowres"]
    assert low["inherits_from"] == "2d"
    assert np.allclose(low["spacing"], np.asarray(full["spacing"]) * 2.0)
    assert low["data_identifier"] == "nnUNetPlans_2d_lowres" != full["data_identifier"]
    kwargs = low["architecture"]["arch_kwargs"]
    assert kwargs["features_per_stage"][0] == 8 and max(kwargs["features_per_stage"]) <= 64
    # the patch fits the network: divisible by the product of the strides on each axis
    strides = np.prod(np.asarray(kwargs["strides"]), axis=0)
    assert all(p % s == 0 for p, s in zip(low["patch_size"], strides, strict=True))
    assert np.prod(low["patch_size"]) < np.prod(full["patch_size"])
    # the planner's own output (before the overrides) is kept beside it
    planner = json.loads((pre / "nnUNetPlans.planner.json").read_text())
    assert planner["configurations"]["2d_lowres"]["spacing"] == low["spacing"]
    resolved = PlansManager(plans).get_configuration("2d_lowres")
    assert (
        resolved.normalization_schemes
        == PlansManager(plans).get_configuration("2d").normalization_schemes
    )
    assert list(resolved.spacing) == low["spacing"]
    # only the preprocessed configuration has data; 2d_lowres waits for its own rule
    assert (pre / full["data_identifier"]).is_dir()


def test_an_unknown_configuration_is_refused():
    with pytest.raises(Exception, match="configurations"):
        nnunet.PlanOptions.from_config({"configurations": ["3d_fullres"]})


@pytest.fixture(scope="module")
def lowres_run(tiny_run):
    """The finished tiny run with 2d_lowres added (its own config file): the dry run first,
    then the run. In the tiny run's own folder (a copy would not do: the demo's sample sheet
    names its files by absolute path); afterwards the tiny config's report is made again, so
    the tiny run is up to date for the tests after these (the lowres outputs stay beside)."""
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["nnunet"]["configurations"] = BOTH
    config = tiny_run.root / "lowres.yaml"
    config.write_text(yaml.safe_dump(cfg))
    dry = tiny_run.snakemake("--configfile", str(config), "-n")
    tiny_run.snakemake("--configfile", str(config))
    yield tiny_run, job_counts(dry.stdout)
    tiny_run.snakemake("--configfile", str(tiny_run.config))


def test_adding_lowres_trains_only_lowres(lowres_run):
    """Nothing of 2d reruns: no plan, no 2d training or prediction; 2d_lowres is preprocessed,
    trained (6 folds), predicted (7 models, one job) and evaluated; the report is rebuilt."""
    _, counts = lowres_run
    assert counts.get("plan", 0) == 0 and counts.get("predict", 0) == 0
    assert counts["preprocess"] == 1 and counts["train"] == 6
    assert counts["predict_configuration"] == 1 and counts["evaluate_configuration"] == 1
    assert counts["report"] == 1 and counts.get("evaluate", 0) == 0


def test_lowres_is_evaluated_on_the_images_grid_and_reported(lowres_run):
    run, _ = lowres_run
    res = run.root / "results"
    raw = next((res / "nnunet/nnUNet_raw").glob("Dataset*"))
    for gt in sorted((raw / "labelsTs").glob("*.nii.gz")):
        ref = sitk.ReadImage(str(gt))
        pred = sitk.ReadImage(str(res / "predictions/2d_lowres/fold_all" / gt.name))
        # probabilities resampled to the image's own grid before the argmax
        assert pred.GetSize() == ref.GetSize() and pred.GetSpacing() == ref.GetSpacing()
        assert set(np.unique(sitk.GetArrayFromImage(pred))) <= {0, *labels.VALUES}
    table1 = (res / "evaluation/2d_lowres/table1.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in table1[1:]} == set(labels.MODELS)
    html = (res / "report/report.html").read_text(encoding="utf-8")
    assert 'id="configurations"' in html and "6b Configurations — 2d and 2d_lowres" in html
    section = html.split('id="configurations"')[1].split("</section>")[0]
    low = json.loads((res / "evaluation/2d_lowres/summary.json").read_text())
    assert labels.model_title(low["best_model"]) in section
    for name in ("Table I per configuration", "Table II per configuration", "HD95"):
        assert name in section
    # the coarser configuration's plan is what its row shows
    plans_file = next((res / "nnunet/nnUNet_preprocessed").glob("*/nnUNetPlans.json"))
    plans = json.loads(plans_file.read_text())
    patch = " × ".join(str(v) for v in plans["configurations"]["2d_lowres"]["patch_size"])
    assert patch in section
    # each row's cost: its six trainings and its one prediction job (all seven models), from the
    # benchmarks of its own jobs (predict/2d is not predict/2d_lowres)
    table = section.split("<tbody>")[1].split("</tbody>")[0]
    bench = res / "benchmarks"
    for conf in ("2d", "2d_lowres"):
        row = table.split(f"<th>{conf}</th>")[1].split("</tr>")[0]
        numbers = re.findall(r'<td class="num">([^<]*)</td>', row)
        predict_s = float(pd.read_csv(bench / f"predict/{conf}.tsv", sep="\t")["s"].mean())
        assert float(numbers[3]) == pytest.approx(predict_s / low["n_cases"], abs=0.051), row
        assert float(numbers[2]) > 0, row


def test_fastest_segments_with_the_lowres_model_and_fast_keeps_the_model(lowres_run, tmp_path):
    """``hipseg segment --fastest --model-dir <…__2d>`` picks the 2d_lowres model beside it
    (ONNX, no mirroring); ``--fast`` keeps the 2d model it is given (the same network, faster
    settings: a coarser model is never chosen for the user)."""
    run, _ = lowres_run
    res = run.root / "results"
    model = next((res / "nnunet/nnUNet_results").glob("Dataset*/*__nnUNetPlans__2d"))
    dicom = sorted((res / "deid").glob("*.dcm"))[0]
    used = {}
    for flag in ("--fastest", "--fast"):
        out = tmp_path / flag.strip("-")
        argv = ["segment", str(dicom), "-o", str(out), "--model-dir", str(model), flag,
                "--threads", "1", *NO_CONTENT_FLAGS]  # fmt: skip
        assert cli.main(argv) == 0
        used[flag] = json.loads((out / "run.json").read_text())
    fastest, fast = used["--fastest"], used["--fast"]
    assert fastest["model"]["configuration"] == "2d_lowres"
    assert "2d_lowres configuration beside" in fastest["fast_model"]
    assert fastest["options_used"]["engine"] == "onnx"
    assert fastest["options_used"]["mirroring"] is False
    assert fast["model"]["configuration"] == "2d" and fast["fast_model"] is None
    assert fast["options_used"]["engine"] == "onnx" and fast["options_used"]["mirror_axes"] == [1]
    entry = fastest["radiographs"][0]
    assert entry["status"] == "ok"
    out = tmp_path / "fastest"
    label_map = sitk.GetArrayFromImage(sitk.ReadImage(str(out / entry["files"]["labels_nifti"])))
    assert label_map.shape == (entry["rows"], entry["cols"])


def test_fast_without_lowres_keeps_the_model_given(tiny_model, tmp_path):
    model = tmp_path / "Dataset1_X" / "nnUNetTrainer__nnUNetPlans__2d"
    shutil.copytree(tiny_model["model_dir"], model)
    folder, note = fast_model_dir(model, "fold_all")
    assert folder == model and "no trained 2d_lowres model beside it" in note
