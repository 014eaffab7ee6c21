"""The paper's nnU-Net plan (Section III) from nnU-Net's own planner on the `paper` preset.

Runs the real thing: full-size synthetic radiographs (0.10/0.15/0.175 mm), cropped into joints
as the workflow does, fingerprinted and planned by nnU-Net's default ExperimentPlanner. To keep
CI fast it fingerprints the 6-radiograph subset (12 joints) that the demo's report shows,
stratified by pixel spacing (see hipseg.paperplan); `hipseg paper-plan --radiographs 0` runs all 83.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hipseg import paperplan, synth


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    work = tmp_path_factory.mktemp("paperplan")
    options = paperplan.PaperPlanOptions.from_config({"radiographs": 5, "seed": 0})
    return paperplan.check(work / "work", work / "plan.json", options)


def test_plan_equals_the_papers(result):
    planned = result["planned"]
    assert planned["spacing_mm"] == [0.15, 0.15]
    assert planned["network"] == "PlainConvUNet"
    assert planned["n_stages"] == 9
    assert planned["features"] == [32, 512]
    assert planned["kernel"] == [3, 3]
    assert planned["patch_size"] == [1536, 1024]
    assert planned["batch_size"] == 2
    assert planned["normalization"] == "ZScoreNormalization"
    rows, cols = planned["median_shape"]
    assert abs(rows - 2320) <= 0.02 * 2320 and abs(cols - 1414) <= 0.02 * 1414
    assert result["all_match"] and all(result["match"].values())


def test_subset_and_full_set_are_described(result):
    sub = result["subset"]
    assert len(sub["radiographs"]) == 5 and sub["joints"] == 10
    spacings = {r["id"]: r["intake_spacing"] for r in synth.describe("paper", 0)}
    chosen = sorted(spacings[i] for i in sub["radiographs"])
    assert chosen[2] == 0.15  # the median spacing the intake sees is the full set's
    full = result["full_set"]
    assert (full["radiographs"], full["joints"], full["excluded_joints"]) == (83, 150, 16)
    assert (full["train_joints"], full["test_joints"]) == (100, 50)


def test_work_dir_removed_and_json_written(result, tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "paperplan0"
    assert not (root / "work").exists()
    assert json.loads((root / "plan.json").read_text())["planned"] == result["planned"]


def test_compare_flags_a_different_plan(result):
    other = dict(result["planned"], patch_size=[1024, 768], median_shape=[2000, 1414])
    match = paperplan.compare(other)
    assert not match["patch_size"] and not match["median_shape"] and match["n_stages"]


def test_cli_rejects_a_bad_subset_size(tmp_path, snakemake_env):
    proc = subprocess.run(
        [sys.executable, "-m", "hipseg", "paper-plan", "--out", str(tmp_path / "p.json"),
         "--work", str(tmp_path / "w"), "--radiographs", "-1"],
        capture_output=True, text=True, env=snakemake_env,
    )  # fmt: skip
    assert proc.returncode != 0 and "radiographs" in proc.stderr
    assert not (tmp_path / "p.json").exists()
