"""nnU-Net v2 stages: plan + preprocess, training (with resume), prediction and fold ensembles.

nnU-Net reads its folders from environment variables; :func:`configure_environment` sets them (and
the CPU-friendly switches) in this process before nnU-Net is imported, so every stage runs
nnU-Net's own code in-process: its fingerprint extractor, experiment planner, preprocessor,
trainer classes and predictor.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .errors import HipsegError, InputError
from .io import write_json
from .labels import ALL_FOLD, TRAIN_FOLDS
from .options import StageOptions

TRAINERS_DIR = Path(__file__).parent / "trainers"
SETTINGS_FILE = "hipseg_train_settings.json"


@dataclass(frozen=True)
class PlanOptions(StageOptions):
    """The ``nnunet:`` section: nnU-Net's planner and the workflow's changes to its plan."""

    SECTION: ClassVar[str] = "nnunet"
    configuration: str = "2d"
    planner: str = "ExperimentPlanner"
    gpu_memory_target_gb: float | None = None
    plans_overrides: dict | None = field(default_factory=dict)


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
    seed: int | None = None


@dataclass(frozen=True)
class PredictOptions(StageOptions):
    """The ``predict:`` section."""

    SECTION: ClassVar[str] = "predict"
    device: str = "auto"
    mirroring: bool = True
    tile_step_size: float = 0.5


def configure_environment(
    nnunet_root: str | Path, threads: int | None = None, n_proc_da: int | None = None
) -> dict[str, str]:
    """Point nnU-Net at ``nnunet_root/{nnUNet_raw,nnUNet_preprocessed,nnUNet_results}``.

    Also registers the package's trainers through ``nnUNet_extTrainer``, disables torch.compile
    unless the caller set ``nnUNet_compile`` and bounds the CPU threads. Returns the variables set.
    """
    root = Path(nnunet_root).resolve()
    env = {
        "nnUNet_raw": str(root / "nnUNet_raw"),
        "nnUNet_preprocessed": str(root / "nnUNet_preprocessed"),
        "nnUNet_results": str(root / "nnUNet_results"),
        "nnUNet_extTrainer": str(TRAINERS_DIR),
    }
    env["nnUNet_compile"] = os.environ.get("nnUNet_compile", "f")
    if n_proc_da is not None:
        env["nnUNet_n_proc_DA"] = str(int(n_proc_da))
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(int(threads))
    os.environ.update(env)
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    return env


def _device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise HipsegError("device 'cuda' requested but torch sees no CUDA GPU on this node")
    return torch.device(name)


# --------------------------------------------------------------------------- plan + preprocess


def plan_and_preprocess(
    nnunet_root: str | Path,
    dataset_id: int,
    options: PlanOptions | None = None,
    num_processes: int = 1,
    manifest: str | Path | None = None,
    preprocess: bool = True,
) -> Path:
    """Fingerprint, plan and preprocess one configuration with nnU-Net's own planner.

    ``plans_overrides`` (e.g. ``{"batch_size": 4, "base_num_features": 16}``) are applied to the
    planned configuration before preprocessing; the planner's untouched output is kept next to
    it as ``<plans>.planner.json`` so that a report can show both. Returns the plans file.
    """
    # nnU-Net's planner sets torch's thread count to nnUNet_n_proc_DA, which must be >= 1 (a
    # training in the same process may have set it to 0)
    options = options or PlanOptions.from_config({})
    configuration, planner = options.configuration, options.planner
    plans_overrides = options.plans_overrides
    configure_environment(nnunet_root, n_proc_da=max(int(num_processes), 1))
    name = _dataset_dir_name(nnunet_root, dataset_id)
    import nnunetv2
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
        preprocess_dataset,
    )
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    planner_class = recursive_find_python_class(
        os.path.join(nnunetv2.__path__[0], "experiment_planning"),
        planner,
        current_module="nnunetv2.experiment_planning",
    )
    if planner_class is None:
        raise HipsegError(f"nnU-Net experiment planner '{planner}' not found")
    extract_fingerprint_dataset(
        int(dataset_id), num_processes=num_processes, check_dataset_integrity=True, clean=True
    )
    _, plans_identifier = plan_experiment_dataset(
        int(dataset_id), planner_class, gpu_memory_target_in_gb=options.gpu_memory_target_gb
    )
    plans_file = Path(os.environ["nnUNet_preprocessed"]) / name / f"{plans_identifier}.json"
    plans = json.loads(plans_file.read_text())
    write_json(plans_file.with_suffix(".planner.json"), plans)
    if plans_overrides:
        apply_plans_overrides(plans, configuration, plans_overrides)
        write_json(plans_file, plans)
    if not preprocess:
        return plans_file
    preprocess_dataset(
        int(dataset_id),
        plans_identifier,
        configurations=(configuration,),
        num_processes=(num_processes,),
        show_progress_bar=False,
    )
    if manifest:
        conf = plans["configurations"][configuration]
        data_dir = plans_file.parent / conf["data_identifier"]
        write_json(
            manifest,
            {
                "dataset": name,
                "configuration": configuration,
                "plans_sha256": _sha(plans_file),
                "cases": sorted(p.name.split(".")[0] for p in data_dir.glob("*.pkl")),
            },
        )
    return plans_file


def apply_plans_overrides(plans: dict, configuration: str, overrides: dict) -> None:
    """Change a planned configuration in place: batch size, patch size and network width.

    Supported keys: ``batch_size``, ``patch_size`` (list), ``base_num_features`` (features of the
    first stage; later stages double up to ``max_num_features``), ``max_num_features``.
    """
    unknown = set(overrides) - {"batch_size", "patch_size", "base_num_features", "max_num_features"}
    if unknown:
        raise HipsegError(f"unknown nnU-Net plans override(s): {sorted(unknown)}")
    conf = plans["configurations"][configuration]
    if "batch_size" in overrides:
        conf["batch_size"] = int(overrides["batch_size"])
    if "patch_size" in overrides:
        patch = [int(v) for v in overrides["patch_size"]]
        if len(patch) != len(conf["patch_size"]):
            raise HipsegError(f"patch_size override {patch} has the wrong dimensionality")
        conf["patch_size"] = patch
    kwargs = conf["architecture"]["arch_kwargs"]
    if "base_num_features" in overrides or "max_num_features" in overrides:
        base = int(overrides.get("base_num_features", kwargs["features_per_stage"][0]))
        top = int(overrides.get("max_num_features", max(kwargs["features_per_stage"])))
        n = int(kwargs["n_stages"])
        kwargs["features_per_stage"] = [min(base * 2**i, top) for i in range(n)]
    plans.setdefault("hipseg_overrides", {})[configuration] = dict(overrides)


def _dataset_dir_name(nnunet_root: str | Path, dataset_id: int) -> str:
    """nnU-Net's own lookup of the dataset folder (after :func:`configure_environment`)."""
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    try:
        return convert_id_to_dataset_name(int(dataset_id))
    except RuntimeError as exc:
        raw = Path(nnunet_root) / "nnUNet_raw"
        raise InputError(
            raw, f"no single nnU-Net dataset with id {int(dataset_id)} ({exc})"
        ) from exc


# --------------------------------------------------------------------------- training


def train(
    nnunet_root: str | Path,
    dataset_id: int,
    fold: str,
    options: TrainOptions | None = None,
    configuration: str = "2d",
    threads: int | None = None,
    plans_identifier: str = "nnUNetPlans",
) -> Path:
    """Train one fold; resume from ``checkpoint_latest.pth`` when a run with the same settings
    was interrupted. Returns the path of ``checkpoint_final.pth``.

    Settings are recorded in the fold folder: if they differ from the recorded ones (say the number
    of epochs changed) the old checkpoints are removed and training starts over.
    """
    fold = str(fold)
    if fold not in TRAIN_FOLDS:
        raise HipsegError(f"fold must be one of {', '.join(TRAIN_FOLDS)}, got {fold!r}")
    o = options or TrainOptions.from_config({})
    trainer = o.trainer
    configure_environment(nnunet_root, threads=threads, n_proc_da=o.n_proc_da)
    dataset = _dataset_dir_name(nnunet_root, dataset_id)
    pre = Path(os.environ["nnUNet_preprocessed"]) / dataset
    if fold != ALL_FOLD and not (pre / "splits_final.json").is_file():
        raise InputError(
            pre / "splits_final.json",
            "missing: write the patient-grouped splits before training (rule 'splits')",
        )
    import torch
    from nnunetv2.run.run_training import get_trainer_from_args

    if o.seed is not None:
        torch.manual_seed(int(o.seed))
        import numpy as np

        np.random.seed(int(o.seed))
    dev = _device(o.device)
    nn_trainer = get_trainer_from_args(
        dataset,
        configuration,
        ALL_FOLD if fold == ALL_FOLD else int(fold),
        trainer,
        plans_identifier,
        continue_training=False,
        device=dev,
    )
    nn_trainer.num_epochs = int(o.epochs)
    nn_trainer.num_iterations_per_epoch = int(o.iterations_per_epoch)
    nn_trainer.num_val_iterations_per_epoch = int(o.val_iterations_per_epoch)
    nn_trainer.save_every = int(o.checkpoint_every)

    _atomic_checkpoints(nn_trainer)
    out = Path(nn_trainer.output_folder)
    settings = {
        "trainer": trainer,
        "configuration": configuration,
        "plans": plans_identifier,
        "fold": fold,
        "num_epochs": nn_trainer.num_epochs,
        "num_iterations_per_epoch": nn_trainer.num_iterations_per_epoch,
        "num_val_iterations_per_epoch": nn_trainer.num_val_iterations_per_epoch,
        "plans_sha": _sha(pre / f"{plans_identifier}.json"),
        "splits_sha": _sha(pre / "splits_final.json") if fold != ALL_FOLD else None,
    }
    settings_file = out / SETTINGS_FILE
    previous = json.loads(settings_file.read_text()) if settings_file.is_file() else None
    latest = out / "checkpoint_latest.pth"
    final = out / "checkpoint_final.pth"
    if previous != settings:
        for stale in ("checkpoint_latest.pth", "checkpoint_best.pth", "checkpoint_final.pth"):
            (out / stale).unlink(missing_ok=True)
        shutil.rmtree(out / "validation", ignore_errors=True)
        write_json(settings_file, settings)
    elif latest.is_file():
        nn_trainer.print_to_log_file(f"hipseg: resuming from {latest}")
        nn_trainer.load_checkpoint(str(latest))
    final.unlink(missing_ok=True)

    nn_trainer.run_training()
    if o.validate:
        nn_trainer.perform_actual_validation(False)
    if not final.is_file():
        raise HipsegError(f"nnU-Net finished fold {fold} without writing {final}")
    return final


def _atomic_checkpoints(nn_trainer) -> None:
    """Make the trainer write each checkpoint under a temporary name and rename it, so that a
    job killed while saving never leaves a half-written checkpoint to resume from."""
    save = nn_trainer.save_checkpoint

    def save_atomically(filename: str) -> None:
        tmp = f"{filename}.partial"
        save(tmp)
        if os.path.exists(tmp):
            os.replace(tmp, filename)

    nn_trainer.save_checkpoint = save_atomically


def _sha(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- prediction


def predict(
    model_folder: str | Path,
    folds: list[str],
    input_dir: str | Path,
    output_dir: str | Path,
    nnunet_root: str | Path,
    options: PredictOptions | None = None,
    threads: int | None = None,
    checkpoint: str = "checkpoint_final.pth",
) -> Path:
    """Predict every ``*_0000.nii.gz`` in ``input_dir`` with one fold or an ensemble of folds.

    Several folds are ensembled the nnU-Net way (softmax averaged over the folds' networks).
    The output folder is written under a temporary name and renamed when complete.
    """
    o = options or PredictOptions.from_config({})
    configure_environment(nnunet_root, threads=threads)
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    model_folder = Path(model_folder)
    for f in folds:
        ckpt = model_folder / f"fold_{f}" / checkpoint
        if not ckpt.is_file():
            raise InputError(ckpt, "missing: the model has not been trained")
    input_dir = Path(input_dir)
    if not any(input_dir.glob("*_0000.nii.gz")):
        raise InputError(input_dir, "contains no images named <case>_0000.nii.gz")
    output_dir = Path(output_dir)
    tmp = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dev = _device(o.device)
    predictor = nnUNetPredictor(
        tile_step_size=o.tile_step_size,
        use_gaussian=True,
        use_mirroring=o.mirroring,
        perform_everything_on_device=dev.type == "cuda",
        device=dev,
        allow_tqdm=False,
    )
    predictor.initialize_from_trained_model_folder(
        str(model_folder),
        use_folds=tuple(f if f == ALL_FOLD else int(f) for f in folds),
        checkpoint_name=checkpoint,
    )
    if dev.type == "cuda":
        predictor.predict_from_files(
            str(input_dir),
            str(tmp),
            save_probabilities=False,
            overwrite=True,
            num_processes_preprocessing=2,
            num_processes_segmentation_export=2,
        )
    else:
        predictor.predict_from_files_sequential(
            str(input_dir), str(tmp), save_probabilities=False, overwrite=True
        )
    shutil.rmtree(output_dir, ignore_errors=True)
    os.replace(tmp, output_dir)
    return output_dir
