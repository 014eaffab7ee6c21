"""Shared fixtures: a small synthetic demo dataset generated once per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# Shared work and pytest-xdist (`make test` runs the suite on 3 workers). The two expensive
# session fixtures (the trained tiny run and the tiny model) are needed by tests in several
# modules, so possibly on every worker: each is built once per session by the first worker that
# needs it, under a file lock (the others wait: the build uses both cores anyway), and every
# worker gets its own copy to change (`built_once`).
#
# How the tests are dealt to the workers (`pytest_xdist_make_scheduler` below): a test module is
# one unit of work, so its module-scoped fixtures are built once, except the modules of SPREAD,
# whose tests share nothing dearer than the session fixtures and are dealt one by one (test_byod
# alone kept one worker busy for 19 minutes as one unit). Units start longest first (LONGEST, from
# a fresh clone's timings), so no long workflow test starts last: in xdist's own order (by the
# number of tests) the one-test SLURM module started after 25 minutes. Modules independent of the
# tiny run come early, so the other workers have work while the first builds it.
# (`--dist loadgroup` with xdist_group marks would be the usual way, but pytest-xdist 3.8 marks a
# group by rewriting `item._nodeid`, which pytest 9 no longer reads: the groups are ignored.)
SPREAD = {"test_byod", "test_rerun_code", "test_parity"}
LONGEST = [
    "test_slurm",  # 360 s, its own cluster and workflow
    "test_lowres",  # 494 s with the wait for the tiny run, which its fixture starts
    "test_listen",  # 320 s
    "test_parity",  # 308 s in all, 4 tests
    "test_paperplan",  # 121 s
    "test_resume",  # a copy of the tiny run, fold_all retrained (118-188 s with its own workflow)
    "test_byod",  # 1123 s in all, 10 tests
    "test_existing_models",  # 289 s
    "test_rerun_code",  # 431 s in all, 16 tests
    "test_thin_headers",
    "test_report",
    "test_pbs",
    "test_cli_errors",
    "test_intake_workflow",
    "test_workflow",
    "test_gate",
    "test_nnunet",
    "test_segment",
]


def _module(nodeid: str) -> str:
    return Path(nodeid.split("::", 1)[0]).stem


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The order in which the units are dealt: LONGEST first, then the rest as collected."""
    rank = {name: i for i, name in enumerate(LONGEST)}
    items[:] = sorted(items, key=lambda item: rank.get(_module(item.nodeid), len(rank)))


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # (a hook of pytest-xdist)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndSpreadTests(LoadScopeScheduling):
        """A module per unit, a test per unit in the SPREAD modules; units in collection order."""

        def _split_scope(self, nodeid: str) -> str:
            return nodeid if _module(nodeid) in SPREAD else nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False
    return ModulesAndSpreadTests(config, log)


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
