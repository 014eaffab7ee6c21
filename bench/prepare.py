"""A planned nnU-Net dataset for the training benchmarks, made by the workflow itself.

``prepare(work, config)`` runs ``snakemake`` up to the patient-grouped splits (synthetic
radiographs -> de-identification -> crops -> nnU-Net dataset -> plan + preprocessing -> splits)
in ``work`` with the given config overlay, once: a second call finds the splits and returns.
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
    if not list((work / DATASET_DIR).glob("Dataset*/splits_final.json")):
        cmd = [
            sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(work), "--cores", str(cores), "--configfile",
            *(str(f) for f in configfiles), str(overlay), "--until", "splits", "preprocess",
            "--quiet",
        ]  # fmt: skip
        proc = subprocess.run(cmd, env=env(), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(
                f"preparing the dataset failed:\n{proc.stdout[-3000:]}{proc.stderr[-5000:]}"
            )
    return root


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
