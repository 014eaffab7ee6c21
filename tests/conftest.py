"""Shared fixtures: a small synthetic demo dataset generated once per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# Shared work and pytest-xdist (`make test` runs the suite on 2 workers, --dist loadgroup): a
# session fixture is built once per worker that needs it, a module fixture once per worker that
# runs a test of its module. So the tests that need the trained tiny run, or the tiny model,
# run on one worker each (their fixtures are built once), and the tests of a module with a
# module- or session-scoped fixture of its own stay on one worker; every other test goes
# wherever a worker is free.
SHARED_WORK = ("tiny_run", "tiny_model")


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        group = next((name for name in SHARED_WORK if name in fixtures), None)
        if group is None and _uses_module_fixture(item, fixtures):
            group = item.module.__name__
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _uses_module_fixture(item, fixtures) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in fixtures:
        defs = info.name2fixturedefs.get(name, ())
        for d in defs:
            own = getattr(d.func, "__module__", None) == item.module.__name__
            if d.scope == "module" or (d.scope == "session" and own):
                return True
    return False


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """A small synthetic demo (DICOM + label maps + sample sheet); returns the sheet path."""
    from hipseg import synth

    out = tmp_path_factory.mktemp("demo")
    return synth.generate(out, preset="demo", seed=3, n_patients=6)


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
def tiny_run(tmp_path_factory, snakemake_env) -> TinyRun:
    """The tiny workflow (TINY_CONFIG of tests/test_workflow.py) run once per session in a copy
    of the workflow, for tests that edit its code or ask what would rerun. A test that edits a
    file of the copy restores it; a test that changes the config writes its own config file."""
    import yaml

    from tests.test_workflow import TINY_CONFIG

    root = tmp_path_factory.mktemp("tiny-run")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("workflow", "config", "envs", "profiles"):
        shutil.copytree(REPO / name, root / name, ignore=ignore)
    shutil.copy2(REPO / "Snakefile", root / "Snakefile")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))
    env = dict(snakemake_env, OMP_NUM_THREADS="1")
    paths = [str(root / "workflow"), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    run = TinyRun(root, config, env)
    run.snakemake("--configfile", str(config))
    return run


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

    root = tmp_path_factory.mktemp("tiny_model")
    manifests = crop_all(demo_data, root / "joints")
    ds = dataset.DatasetOptions.from_config({"id": 43, "name": "TinySeg", "test_fraction": 0.34})
    raw = dataset.build(manifests, root / "nnunet" / "nnUNet_raw", ds, root / "ds")
    plan = nnunet.PlanOptions.from_config(
        {"plans_overrides": {"base_num_features": 8, "max_num_features": 64}}
    )
    nnunet.plan_and_preprocess(root / "nnunet", 43, plan)
    final = nnunet.train(
        root / "nnunet", 43, "all", nnunet.TrainOptions.from_config(TINY_TRAIN), threads=1
    )
    return {
        "model_dir": final.parents[1],
        "nnunet_root": root / "nnunet",
        "raw": raw,
        "cases": root / "ds" / "cases.tsv",
        "joints": root / "joints",
    }
