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
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
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
    # the configurations trained, predicted and evaluated; the first is the report's main one
    configurations: tuple = ("2d",)
    planner: str = "ExperimentPlanner"
    gpu_memory_target_gb: float | None = None
    plans_overrides: dict | None = field(default_factory=dict)
    # 2d_lowres: the 2d spacing times this factor (planned by nnU-Net's planner at that spacing)
    lowres_spacing_factor: float = 2.0

    def planning(self) -> dict:
        """What the plans file depends on (``configurations`` only chooses what is preprocessed
        and trained: every configuration is always planned, as nnU-Net plans 3d_lowres)."""
        values = self.to_config()
        values.pop("configurations", None)
        return values


FULL, LOWRES = "2d", "2d_lowres"
CONFIGURATIONS = (FULL, LOWRES)
# the plans overrides that also apply to 2d_lowres (patch and batch size are per configuration)
LOWRES_OVERRIDES = ("base_num_features", "max_num_features")


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

    Also registers the package's trainers through ``nnUNet_extTrainer`` (after any folders the
    caller lists there) and bounds the CPU threads. ``nnUNet_compile`` is left to the caller:
    nnU-Net's default is torch.compile for training on a GPU (``nnUNetv2_train`` does the same),
    never on a CPU. Returns the variables set.
    """
    root = Path(nnunet_root).resolve()
    env = {
        "nnUNet_raw": str(root / "nnUNet_raw"),
        "nnUNet_preprocessed": str(root / "nnUNet_preprocessed"),
        "nnUNet_results": str(root / "nnUNet_results"),
        "nnUNet_extTrainer": os.pathsep.join(_ext_trainer_dirs()),
    }
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


def _ext_trainer_dirs() -> list[str]:
    dirs = [d for d in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if d.strip()]
    return [*(d for d in dirs if Path(d) != TRAINERS_DIR), str(TRAINERS_DIR)]


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
    """:func:`plan`, then :func:`preprocess` of each of ``options.configurations`` (the first
    one's record written to ``manifest``). Returns the plans file."""
    options = options or PlanOptions.from_config({})
    plans_file = plan(nnunet_root, dataset_id, options, num_processes)
    if preprocess:
        for i, configuration in enumerate(options.configurations):
            preprocess_configuration(
                nnunet_root, dataset_id, configuration, num_processes,
                manifest if i == 0 else None,
            )  # fmt: skip
    return plans_file


def plan(
    nnunet_root: str | Path,
    dataset_id: int,
    options: PlanOptions | None = None,
    num_processes: int = 1,
) -> Path:
    """Fingerprint and plan with nnU-Net's own planner: its 2d configuration, and 2d_lowres
    (:func:`add_lowres`) planned by the same planner at a coarser spacing.

    ``plans_overrides`` (e.g. ``{"batch_size": 4, "base_num_features": 16}``) are applied to the
    planned 2d configuration (the network width also to 2d_lowres); the planner's untouched
    output is kept next to it as ``<plans>.planner.json`` so that a report can show both.
    Returns the plans file.
    """
    # nnU-Net's planner sets torch's thread count to nnUNet_n_proc_DA, which must be >= 1 (a
    # training in the same process may have set it to 0)
    options = options or PlanOptions.from_config({})
    unknown = [c for c in options.configurations if c not in CONFIGURATIONS]
    if unknown or not options.configurations:
        raise HipsegError(f"nnunet.configurations: {unknown or '[]'} (choose from "
                          f"{', '.join(CONFIGURATIONS)})")  # fmt: skip
    configure_environment(nnunet_root, n_proc_da=max(int(num_processes), 1))
    name = _dataset_dir_name(nnunet_root, dataset_id)
    planner_class = _planner_class(options.planner)
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

    extract_fingerprint_dataset(
        int(dataset_id), num_processes=num_processes, check_dataset_integrity=True, clean=True
    )
    kwargs = {}
    if options.gpu_memory_target_gb is not None:
        kwargs["gpu_memory_target_in_gb"] = float(options.gpu_memory_target_gb)
    planner = planner_class(int(dataset_id), **kwargs)
    plans_file = Path(os.environ["nnUNet_preprocessed"]) / name / f"{planner.plans_identifier}.json"
    # nnU-Net keeps the configurations of an earlier plans file that it does not plan itself
    plans_file.unlink(missing_ok=True)
    planner.plan_experiment()
    plans = json.loads(plans_file.read_text())
    add_lowres(plans, planner, options)
    write_json(plans_file.with_suffix(".planner.json"), plans)
    if options.plans_overrides:
        apply_plans_overrides(plans, FULL, options.plans_overrides)
        lowres = {k: v for k, v in options.plans_overrides.items() if k in LOWRES_OVERRIDES}
        if lowres and LOWRES in plans["configurations"]:
            apply_plans_overrides(plans, LOWRES, lowres)
    write_json(plans_file, plans)
    return plans_file


def _planner_class(planner: str):
    import nnunetv2
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    planner_class = recursive_find_python_class(
        os.path.join(nnunetv2.__path__[0], "experiment_planning"),
        planner,
        current_module="nnunetv2.experiment_planning",
    )
    if planner_class is None:
        raise HipsegError(f"nnU-Net experiment planner '{planner}' not found")
    return planner_class


def add_lowres(plans: dict, planner, options: PlanOptions) -> None:
    """Add the 2d_lowres configuration to ``plans`` (in place), the way nnU-Net plans 3d_lowres:
    ``planner``'s :meth:`get_plans_for_configuration` at the 2d spacing times
    ``lowres_spacing_factor``, for the 2d median image shape divided by it. The result inherits
    from 2d (normalisation, resampling, preprocessor) and has its own data identifier, spacing,
    median shape, patch size, batch size and full architecture (nnU-Net's inheritance is a
    shallow update, so the architecture is written whole)."""
    import numpy as np

    factor = float(options.lowres_spacing_factor)
    if factor <= 1:
        raise HipsegError(f"nnunet.lowres_spacing_factor must be > 1, got {factor}")
    full = plans["configurations"][FULL]
    spacing = np.asarray(full["spacing"], dtype=float) * factor
    shape = np.asarray(full["median_image_size_in_voxels"], dtype=float) / factor
    shape = np.maximum(np.round(shape), 1)
    n_voxels = float(np.prod(shape, dtype=np.float64) * planner.dataset_json["numTraining"])
    planned = planner.get_plans_for_configuration(
        spacing, tuple(int(v) for v in shape), planner.generate_data_identifier(LOWRES),
        n_voxels, {},
    )  # fmt: skip
    keys = ("data_identifier", "batch_size", "patch_size", "median_image_size_in_voxels",
            "spacing", "architecture")  # fmt: skip
    lowres = {"inherits_from": FULL, **{k: planned[k] for k in keys}}
    plans["configurations"][LOWRES] = json.loads(json.dumps(lowres, default=_json_default))
    plans["hipseg_lowres"] = {"spacing_factor": factor}


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


def preprocess_configuration(
    nnunet_root: str | Path,
    dataset_id: int,
    configuration: str,
    num_processes: int = 1,
    manifest: str | Path | None = None,
) -> Path:
    """nnU-Net's preprocessing of one planned configuration; ``manifest``: a JSON record of the
    preprocessed cases. Returns the data folder."""
    configure_environment(nnunet_root, n_proc_da=max(int(num_processes), 1))
    name = _dataset_dir_name(nnunet_root, dataset_id)
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset

    plans_file = Path(os.environ["nnUNet_preprocessed"]) / name / "nnUNetPlans.json"
    if not plans_file.is_file():
        raise InputError(plans_file, "missing: plan the dataset first (rule 'plan')")
    plans = json.loads(plans_file.read_text())
    if configuration not in plans["configurations"]:
        raise InputError(plans_file, f"has no configuration {configuration!r}")
    preprocess_dataset(
        int(dataset_id),
        "nnUNetPlans",
        configurations=(configuration,),
        num_processes=(num_processes,),
        show_progress_bar=False,
    )
    conf = plans["configurations"][configuration]
    data_dir = plans_file.parent / conf["data_identifier"]
    if manifest:
        write_json(
            manifest,
            {
                "dataset": name,
                "configuration": configuration,
                "plans_sha256": _sha(plans_file),
                "cases": sorted(p.name.split(".")[0] for p in data_dir.glob("*.pkl")),
            },
        )
    return data_dir


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

FINAL, LATEST, BEST = "checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth"
# a hard link of checkpoint_final.pth kept until the fold's validation is done: Snakemake deletes
# the output (checkpoint_final.pth) of a job that did not finish before it reruns it
FINAL_KEPT = "hipseg_checkpoint_final.pth"


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
    with _configured_trainers(nnunet_run, configure):
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
    values: dict[int, int] | None = None,
) -> Path:
    """Predict every ``*_0000.nii.gz`` in ``input_dir`` with one fold or an ensemble of folds.

    Several folds are ensembled the nnU-Net way (softmax averaged over the folds' networks).
    The output folder is written under a temporary name and renamed when complete. A model
    that hipseg did not train (:mod:`hipseg.models`) reads the NIfTI images whatever file type
    it was trained on; ``values`` renumbers its output labels to hipseg's.
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
    _read_nifti(predictor)
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
    if values and any(k != v for k, v in values.items()):
        _relabel_folder(tmp, values)
    shutil.rmtree(output_dir, ignore_errors=True)
    os.replace(tmp, output_dir)
    return output_dir


def _read_nifti(predictor) -> None:
    """Let a model trained on other files (``.png``, ``.nrrd``, …) predict hipseg's 2D NIfTI
    images: NIfTI in and out, and a model of natural images (no spacing) sees every image at
    1 × 1 per pixel as it did in training. A no-op for the models hipseg trains."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from .models import NATURAL_READERS

    if predictor.dataset_json.get("file_ending") != ".nii.gz":
        predictor.dataset_json = dict(predictor.dataset_json, file_ending=".nii.gz")
    reader = str(predictor.plans_manager.plans.get("image_reader_writer", ""))
    if reader in ("SimpleITKIO", "NibabelIO", "NibabelIOWithReorient"):
        return

    class PixelUnitsIO(SimpleITKIO):
        def read_images(self, image_fnames):
            images, props = super().read_images(image_fnames)
            props["spacing"] = [999.0, 1.0, 1.0]
            return images, props

    io = PixelUnitsIO if reader in NATURAL_READERS else SimpleITKIO

    class NiftiPlans(PlansManager):
        @property
        def image_reader_writer_class(self):
            return io

    predictor.plans_manager = NiftiPlans(predictor.plans_manager.plans)


def _relabel_folder(folder: Path, values: dict[int, int]) -> None:
    import SimpleITK as sitk

    from .models import relabel

    for f in sorted(folder.glob("*.nii.gz")):
        img = sitk.ReadImage(str(f))
        out = sitk.GetImageFromArray(relabel(sitk.GetArrayFromImage(img), values))
        out.CopyInformation(img)
        sitk.WriteImage(out, str(f), useCompression=True)
