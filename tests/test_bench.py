"""The benchmarks' shared preparation (bench/prepare.py) asks the workflow for the right files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def prepare():
    sys.path.insert(0, str(BENCH))
    try:
        import prepare
    finally:
        sys.path.pop(0)
    return prepare


def test_targets_are_the_splits_and_every_configurations_preprocessing(prepare, repo):
    """With Snakemake's --until, plan and preprocess as one group job left the second
    configuration's preprocess job unstarted; the benchmarks now ask for the files themselves,
    merged from the config files as Snakemake merges them."""
    pre = "results/nnunet/nnUNet_preprocessed/Dataset501_HipJoint"
    both = {"nnunet": {"configurations": ["2d", "2d_lowres"]}}
    assert prepare.targets(both, [repo / "config" / "paper.yaml"]) == [
        f"{pre}/splits_final.json",
        f"{pre}/hipseg_preprocessed_2d.json",
        f"{pre}/hipseg_preprocessed_2d_lowres.json",
    ]
    # paper.yaml lists 2d only; a later file's dataset section wins key by key
    other = {"dataset": {"id": 7}}
    assert prepare.targets(other, [repo / "config" / "paper.yaml"]) == [
        "results/nnunet/nnUNet_preprocessed/Dataset007_HipJoint/splits_final.json",
        "results/nnunet/nnUNet_preprocessed/Dataset007_HipJoint/hipseg_preprocessed_2d.json",
    ]
