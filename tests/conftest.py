"""Shared fixtures: a small synthetic demo dataset generated once per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# Shared work and pytest-xdist (`make test` runs the suite on 2 workers, `--dist loadfile`):
# every test module runs on one worker, so a module's own fixtures are built once. The two
# expensive session fixtures (the trained tiny run and the tiny model) are needed by tests in
# several modules, so possibly on both workers: each is built once per session by the first
# worker that needs it, under a file lock (the other waits: the build uses both cores anyway),
# and every worker gets its own copy to change.
#
# (`--dist loadgroup` with xdist_group marks would be the direct way, but pytest-xdist 3.8 marks
# a group by rewriting `item._nodeid`, which pytest 9 no longer reads: the groups are ignored and
# the fixtures were built on both workers.)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that ``build(folder)`` fills, built once per test session (across pytest-xdist
    workers) and copied for this worker, modification times kept, so a test may change its copy
    (a code edit, another configuration) without changing another worker's."""
    own = tmp_path_factory.mktemp(name)
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        build(own)
        return own
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp().parent  # the session's folder, above every worker's
    shared, done = base / f"shared-{name}", base / f"shared-{name}.done"
    with FileLock(str(base / f"shared-{name}.lock")):
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)  # a build another worker did not finish
            shared.mkdir()
            build(shared)
            done.touch()
    shutil.copytree(shared, own, symlinks=True, dirs_exist_ok=True)
    return own


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """A small synthetic demo (DICOM + label maps + sample sheet); returns the sheet path."""
    from hipseg import synth

    out = tmp_path_factory.mktemp("demo")
    return synth.generate(out, preset="demo", seed=3, n_patients=6)


@pytest.fixture(scope="session")
def paper_radiograph(tmp_path_factory) -> Path:
    """One radiograph of the paper preset at full resolution (paper0001: both hips usable,
    0.13 mm pixels, calibrated by its header), generated once per session; returns its sheet."""
    from hipseg import synth

    def build(root: Path) -> None:
        synth.generate(root, preset="paper", seed=0, only=["paper0001"])

    return built_once(tmp_path_factory, "paper0001", build) / "samples.tsv"


@pytest.fixture
def demo_copy(demo_data, tmp_path) -> Path:
    """A private copy of the demo data that a test may damage; returns the sheet path."""
    dst = tmp_path / "demo"
    shutil.copytree(demo_data.parent, dst)
    return dst / demo_data.name


@pytest.fixture(scope="session")
def snakemake_env() -> dict[str, str]:
    """Environment for subprocess runs of snakemake and hipseg from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "workflow") + os.pathsep + env.get("PYTHONPATH", "")
    return env


@dataclass
class TinyRun:
    """A copy of the workflow (Snakefile, workflow/, config/, envs/, profiles/) that is also its
    working directory, after a complete run of the tiny config (tiny.yaml)."""

    root: Path
    config: Path
    env: dict[str, str]

    def snakemake(self, *args: str, env: dict[str, str] | None = None, check: bool = True):
        cmd = ["snakemake", "--snakefile", str(self.root / "Snakefile")]
        cmd += ["--directory", str(self.root), "--cores", "2", *args]
        proc = subprocess.run(cmd, env=env or self.env, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
            )
        return proc


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """The tiny workflow (TINY_CONFIG of tests/test_workflow.py) run once per session in a copy
    of the workflow, for tests that edit its code or ask what would rerun. A test that edits a
    file of the copy restores it; a test that changes the config writes its own config file."""
    import yaml

    from tests.test_workflow import TINY_CONFIG

    def build(root: Path) -> None:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in ("workflow", "config", "envs", "profiles"):
            shutil.copytree(REPO / name, root / name, ignore=ignore)
        shutil.copy2(REPO / "Snakefile", root / "Snakefile")
        (root / "tiny.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
        _tiny_run(root).snakemake("--configfile", str(root / "tiny.yaml"))

    return _tiny_run(built_once(tmp_path_factory, "tiny-run", build))


def _tiny_run(root: Path) -> TinyRun:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    paths = [str(root / "workflow"), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return TinyRun(root, root / "tiny.yaml", env)


def crop_all(sheet: Path, out: Path) -> list[Path]:
    """Crop every radiograph of a sample sheet (demo key pseudonyms); return the manifests."""
    from hipseg import deid, samplesheet
    from hipseg.crop import CropRule, crop_case

    manifests = []
    for row in samplesheet.read(sheet).itertuples():
        crop_case(
            row.id,
            row.dicom,
            row.labels,
            row.hips,
            out / row.id,
            CropRule.from_config({}),
            deid.pseudonym(deid.DEMO_KEY, row.patient),
            row.split,
            row.note,
        )
        manifests.append(out / row.id / "manifest.json")
    return manifests


TINY_TRAIN = {
    "trainer": "nnUNetTrainerHipsegShort",
    "epochs": 2,
    "iterations_per_epoch": 2,
    "val_iterations_per_epoch": 1,
    "checkpoint_every": 1,
    "device": "cpu",
    "n_proc_da": 0,
    "validate": False,
    "seed": 0,
}


@pytest.fixture(scope="session")
def tiny_model(demo_data, tmp_path_factory) -> dict:
    """A tiny nnU-Net (8 → 64 features, fold ``all``, 2 epochs × 2 iterations) trained once per
    session on ``demo_data``: the model folder, the nnU-Net root, the raw dataset and cases.tsv."""
    from hipseg import dataset, nnunet

    def build(root: Path) -> None:
        manifests = crop_all(demo_data, root / "joints")
        options = {"id": 43, "name": "TinySeg", "test_fraction": 0.34}
        ds = dataset.DatasetOptions.from_config(options)
        dataset.build(manifests, root / "nnunet" / "nnUNet_raw", ds, root / "ds")
        plan = nnunet.PlanOptions.from_config(
            {"plans_overrides": {"base_num_features": 8, "max_num_features": 64}}
        )
        nnunet.plan_and_preprocess(root / "nnunet", 43, plan)
        nnunet.train(
            root / "nnunet", 43, "all", nnunet.TrainOptions.from_config(TINY_TRAIN), threads=1
        )

    root = built_once(tmp_path_factory, "tiny_model", build)
    results = root / "nnunet" / "nnUNet_results"
    (final,) = results.glob("Dataset043_*/*/fold_all/checkpoint_final.pth")
    (raw,) = (root / "nnunet" / "nnUNet_raw").glob("Dataset043_*")
    return {
        "model_dir": final.parents[1],
        "nnunet_root": root / "nnunet",
        "raw": raw,
        "cases": root / "ds" / "cases.tsv",
        "joints": root / "joints",
    }
