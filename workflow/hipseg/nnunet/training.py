"""Train one fold with nnU-Net's own ``run_training``: the ``train:`` options, the schedule,
atomic checkpoints and the resume of an unfinished fold (``--c``) with the same settings."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

from ..errors import HipsegError, InputError
from ..io import write_json
from ..labels import ALL_FOLD, TRAIN_FOLDS
from ..options import StageOptions
from .environment import (
    _dataset_dir_name,
    _device,
    _sha,
    configure_environment,
    direct_trainer_lookup,
)

SETTINGS_FILE = "hipseg_train_settings.json"
FINAL, LATEST, BEST = "checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth"
# a hard link of checkpoint_final.pth kept until the fold's validation is done: Snakemake deletes
# the output (checkpoint_final.pth) of a job that did not finish before it reruns it
FINAL_KEPT = "hipseg_checkpoint_final.pth"


@dataclass(frozen=True)
class TrainOptions(StageOptions):
    """The ``train:`` section (resources and threads are Snakemake's, not the stage's)."""

    SECTION: ClassVar[str] = "train"
    trainer: str = "nnUNetTrainer"
    epochs: int = 1000
    iterations_per_epoch: int = 250
    val_iterations_per_epoch: int = 50
    checkpoint_every: int = 50
    device: str = "auto"
    n_proc_da: int = 0
    validate: bool = True
    npz: bool = False
    pretrained_weights: str | None = None
    seed: int | None = None


def train(
    nnunet_root: str | Path,
    dataset_id: int,
    fold: str,
    options: TrainOptions | None = None,
    configuration: str = "2d",
    threads: int | None = None,
    plans_identifier: str = "nnUNetPlans",
) -> Path:
    """Train one fold as ``nnUNetv2_train DATASET CONFIGURATION FOLD -tr TRAINER -p PLANS
    [-pretrained_weights FILE] [--npz] [--c]`` does: this calls nnU-Net's own ``run_training``
    (cuDNN flags, checkpoint loading, pretrained weights, final validation). Returns the path of
    ``checkpoint_final.pth``.

    What hipseg adds: the epochs, iterations and checkpoint interval of the options; checkpoints
    written atomically; ``--c`` decided by the fold folder: a run with the same settings (recorded
    in :data:`SETTINGS_FILE`) that did not finish is continued (nnU-Net's order: final, latest,
    best checkpoint), anything else starts over; ``validate: false`` skips the final validation.
    """
    fold = str(fold)
    if fold not in TRAIN_FOLDS:
        raise HipsegError(f"fold must be one of {', '.join(TRAIN_FOLDS)}, got {fold!r}")
    o = options or TrainOptions.from_config({})
    configure_environment(nnunet_root, threads=threads, n_proc_da=o.n_proc_da)
    dataset = _dataset_dir_name(nnunet_root, dataset_id)
    pre = Path(os.environ["nnUNet_preprocessed"]) / dataset
    if fold != ALL_FOLD and not (pre / "splits_final.json").is_file():
        raise InputError(
            pre / "splits_final.json",
            "missing: write the patient-grouped splits before training (rule 'splits')",
        )
    pretrained = Path(o.pretrained_weights) if o.pretrained_weights else None
    if pretrained is not None and not pretrained.is_file():
        raise InputError(pretrained, "train.pretrained_weights: no such checkpoint file")
    from nnunetv2.run import run_training as nnunet_run
    from nnunetv2.utilities.file_path_utilities import get_output_folder

    dev = _device(o.device)
    _torch_threads(dev, threads)
    out = Path(get_output_folder(dataset, o.trainer, plans_identifier, configuration, fold))
    settings = _fold_settings(o, configuration, plans_identifier, fold, pre, pretrained)
    resume_from = _prepare_fold_folder(out, settings)
    if o.seed is not None:
        _seed(int(o.seed))
    configure = partial(_configure_trainer, options=o, resume_from=resume_from)
    with _configured_trainers(nnunet_run, configure), direct_trainer_lookup(nnunet_run):
        nnunet_run.run_training(
            dataset,
            configuration,
            fold,
            o.trainer,
            plans_identifier,
            pretrained_weights=None if resume_from or not pretrained else str(pretrained),
            num_gpus=1,
            export_validation_probabilities=o.npz,
            continue_training=bool(resume_from),
            device=dev,
        )
    final = out / FINAL
    if not final.is_file():
        raise HipsegError(f"nnU-Net finished fold {fold} without writing {final}")
    write_json(out / SETTINGS_FILE, {"settings": settings, "finished": True})
    (out / FINAL_KEPT).unlink(missing_ok=True)
    return final


def _fold_settings(o: TrainOptions, configuration, plans_identifier, fold, pre, pretrained) -> dict:
    """What a fold's checkpoints depend on: a change of any of these starts the fold over."""
    return {
        "trainer": o.trainer,
        "configuration": configuration,
        "plans": plans_identifier,
        "fold": fold,
        "num_epochs": int(o.epochs),
        "num_iterations_per_epoch": int(o.iterations_per_epoch),
        "num_val_iterations_per_epoch": int(o.val_iterations_per_epoch),
        "plans_sha": _sha(pre / f"{plans_identifier}.json"),
        "splits_sha": _sha(pre / "splits_final.json") if fold != ALL_FOLD else None,
        "pretrained_weights_sha": _sha(pretrained) if pretrained else None,
    }


def _configure_trainer(trainer, options: TrainOptions, resume_from: Path | None) -> None:
    """hipseg's changes to a trainer nnU-Net has just created: the schedule of the options,
    atomic checkpoints and, with ``validate: false``, no final validation."""
    trainer.num_epochs = int(options.epochs)
    trainer.num_iterations_per_epoch = int(options.iterations_per_epoch)
    trainer.num_val_iterations_per_epoch = int(options.val_iterations_per_epoch)
    trainer.save_every = int(options.checkpoint_every)
    _atomic_checkpoints(trainer)
    if resume_from:
        trainer.print_to_log_file(f"hipseg: resuming from {resume_from}")
    if not options.validate:

        def skip_validation(*args, **kwargs):
            trainer.print_to_log_file("hipseg: final validation skipped (train.validate: false)")

        trainer.perform_actual_validation = skip_validation


def _prepare_fold_folder(out: Path, settings: dict) -> Path | None:
    """The checkpoint nnU-Net's ``--c`` continues from when the fold folder holds an unfinished
    run of the same settings (None: start over, after removing what an earlier run left)."""
    record = out / SETTINGS_FILE
    previous = json.loads(record.read_text()) if record.is_file() else {}
    if previous == {"settings": settings, "finished": False}:
        if (out / FINAL_KEPT).is_file() and not (out / FINAL).is_file():
            os.link(out / FINAL_KEPT, out / FINAL)  # trained; the validation was interrupted
        # nnunetv2.run.run_training.maybe_load_checkpoint's order
        for name in (FINAL, LATEST, BEST):
            if (out / name).is_file():
                return out / name
    for stale in (FINAL, LATEST, BEST, FINAL_KEPT):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / "validation", ignore_errors=True)
    write_json(record, {"settings": settings, "finished": False})
    return None


@contextmanager
def _configured_trainers(nnunet_run, configure):
    """While active, every trainer nnU-Net's ``run_training`` creates (through its module's
    ``get_trainer_from_args``) is passed to ``configure`` before anything else happens to it."""
    original = nnunet_run.get_trainer_from_args

    def get_trainer_from_args(*args, **kwargs):
        trainer = original(*args, **kwargs)
        configure(trainer)
        return trainer

    nnunet_run.get_trainer_from_args = get_trainer_from_args
    try:
        yield
    finally:
        nnunet_run.get_trainer_from_args = original


def _torch_threads(device, threads: int | None) -> None:
    """Torch's threads as ``nnUNetv2_train`` sets them on a GPU (1 thread, 1 inter-op thread:
    the data augmentation runs in worker processes). On a CPU nnU-Net takes every core of the
    machine; hipseg keeps the job's ``threads`` (set by :func:`configure_environment`)."""
    import torch

    if device.type == "cuda":
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only possible before the first parallel work of the process
            pass
    elif threads is None:
        torch.set_num_threads(os.cpu_count() or 1)


def _seed(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _atomic_checkpoints(nn_trainer) -> None:
    """Make the trainer write each checkpoint under a temporary name and rename it, so that a
    job killed while saving never leaves a half-written checkpoint to resume from; the final
    checkpoint also gets a hard link (:data:`FINAL_KEPT`) that lasts until the validation ends."""
    save = nn_trainer.save_checkpoint

    def save_atomically(filename: str) -> None:
        tmp = f"{filename}.partial"
        save(tmp)
        if not os.path.exists(tmp):
            return
        os.replace(tmp, filename)
        if os.path.basename(filename) == FINAL:
            kept = os.path.join(os.path.dirname(filename), FINAL_KEPT)
            Path(tmp).unlink(missing_ok=True)
            os.link(filename, tmp)
            os.replace(tmp, kept)

    nn_trainer.save_checkpoint = save_atomically
