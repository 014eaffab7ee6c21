"""nnU-Net v2 stages: plan + preprocess, training (with resume), prediction and fold ensembles.

nnU-Net reads its folders from environment variables; :func:`configure_environment` sets them (and
the CPU-friendly switches) in this process before nnU-Net is imported, so every stage runs
nnU-Net's own code in-process: its fingerprint extractor, experiment planner, preprocessor,
trainer classes and predictor.

:mod:`.environment`: the folders, the package's trainers, threads and device;
:mod:`.planning`: plan (2d and 2d_lowres) and preprocess; :mod:`.training`: one fold, with
resume; :mod:`.prediction`: one fold or an ensemble, or every model of a configuration. Their
names are importable from here.
"""

# (the private names: for hipseg.segment.model and the tests of resume and atomic checkpoints)
from .environment import TRAINERS_DIR, configure_environment, direct_trainer_lookup
from .environment import _device as _device
from .planning import (
    CONFIGURATIONS,
    FULL,
    LOWRES,
    LOWRES_OVERRIDES,
    PlanOptions,
    add_lowres,
    apply_plans_overrides,
    plan,
    plan_and_preprocess,
    preprocess_configuration,
)
from .prediction import PredictOptions, load_folds, predict, predict_models
from .training import BEST, FINAL, FINAL_KEPT, LATEST, SETTINGS_FILE, TrainOptions, train
from .training import _atomic_checkpoints as _atomic_checkpoints
from .training import _prepare_fold_folder as _prepare_fold_folder

__all__ = [
    "BEST",
    "CONFIGURATIONS",
    "FINAL",
    "FINAL_KEPT",
    "FULL",
    "LATEST",
    "LOWRES",
    "LOWRES_OVERRIDES",
    "SETTINGS_FILE",
    "TRAINERS_DIR",
    "PlanOptions",
    "PredictOptions",
    "TrainOptions",
    "add_lowres",
    "apply_plans_overrides",
    "configure_environment",
    "direct_trainer_lookup",
    "load_folds",
    "plan",
    "plan_and_preprocess",
    "predict",
    "predict_models",
    "preprocess_configuration",
    "train",
]
