"""A planned nnU-Net dataset for the training benchmarks, made by the workflow itself.

``prepare(work, config)`` runs ``snakemake`` up to the patient-grouped splits (synthetic
radiographs -> de-identification -> crops -> nnU-Net dataset -> plan + preprocessing -> splits)
in ``work`` with the given config overlay, once: a second call finds the splits and the
preprocessed data of every configuration and returns.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DATASET_DIR = "results/nnunet/nnUNet_preprocessed"


def env() -> dict[str, str]:
    """This checkout's package first on PYTHONPATH, this Python's tools first on PATH."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(REPO / "workflow") + os.pathsep + out.get("PYTHONPATH", "")
    out["PATH"] = str(Path(sys.executable).parent) + os.pathsep + out["PATH"]
    return out


def prepare(work: Path, config: dict, configfiles: list[Path] = (), cores: int = 2) -> Path:
    """Run the workflow in ``work`` up to the splits and the preprocessing of every configuration
    in ``nnunet.configurations``; return the nnU-Net root folder."""
    work.mkdir(parents=True, exist_ok=True)
    overlay = work / "bench.yaml"
    overlay.write_text(yaml.safe_dump(config))
    root = work / "results" / "nnunet"
    wanted = targets(config, configfiles)
    if not all((work / t).is_file() for t in wanted):
        # the files themselves, not `--until splits preprocess`: plan and preprocess are one
        # group job, and with --until Snakemake 9 leaves a second configuration's preprocess
        # job unstarted ("BUG: Out of jobs ready to be started")
        cmd = [
            sys.executable, "-m", "snakemake", *wanted,
            "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
            "--cores", str(cores), "--configfile", *(str(f) for f in configfiles),
            str(overlay), "--quiet",
        ]  # fmt: skip
        proc = subprocess.run(cmd, env=env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(
                f"preparing the dataset failed:\n{proc.stdout[-3000:]}{proc.stderr[-5000:]}"
            )
    return root


def targets(config: dict, configfiles: list[Path] = ()) -> list[str]:
    """The splits and the preprocessing manifest of each configuration, with the workflow's
    config files merged as Snakemake merges them (config.yaml, then each file, then ``config``)."""
    if str(REPO / "workflow") not in sys.path:
        sys.path.insert(0, str(REPO / "workflow"))
    from hipseg.dataset import dataset_name

    merged: dict = {}
    for part in (
        yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
        *(yaml.safe_load(Path(f).read_text()) for f in configfiles),
        config,
    ):
        _update(merged, part or {})
    pre = f"{DATASET_DIR}/{dataset_name(merged['dataset']['id'], merged['dataset']['name'])}"
    confs = merged["nnunet"]["configurations"]
    return [f"{pre}/splits_final.json", *(f"{pre}/hipseg_preprocessed_{c}.json" for c in confs)]


def _update(base: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _update(base[key], value)
        else:
            base[key] = value


def fold_root(base: Path, nnunet_root: Path, name: str) -> Path:
    """An nnU-Net root sharing the prepared raw and preprocessed data, with its own (empty)
    results folder: two trainings of the same fold never see each other's checkpoints."""
    import shutil

    root = base / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for sub in ("nnUNet_raw", "nnUNet_preprocessed"):
        (root / sub).symlink_to((nnunet_root / sub).resolve())
    return root


def dataset_id(nnunet_root: Path) -> int:
    (folder,) = (nnunet_root / "nnUNet_preprocessed").glob("Dataset*")
    return int(folder.name[len("Dataset") :].split("_")[0])


def trainer_file(folder: Path, name: str, epochs: int, iterations: int, val_iterations: int,
                 save_every: int, base: str = "nnUNetTrainer") -> Path:  # fmt: skip
    """A trainer class ``name``: nnU-Net's ``base`` with another schedule (what ``hipseg train``
    sets through its options; ``nnUNetv2_train`` takes it from the class)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    module = "nnunetv2.training.nnUNetTrainer.nnUNetTrainer"
    path.write_text(
        f"import torch\nfrom {module} import {base}\n\n\n"
        f"class {name}({base}):\n"
        "    # nnU-Net records its constructor's arguments by name: the same signature\n"
        "    def __init__(self, plans, configuration, fold, dataset_json,\n"
        "                 device=torch.device('cuda')):\n"
        "        super().__init__(plans, configuration, fold, dataset_json, device)\n"
        f"        self.num_epochs = {epochs}\n"
        f"        self.num_iterations_per_epoch = {iterations}\n"
        f"        self.num_val_iterations_per_epoch = {val_iterations}\n"
        f"        self.save_every = {save_every}\n"
    )
    return path
