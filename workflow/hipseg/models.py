"""Trained nnU-Net models that hipseg did not train: an existing ``nnUNet_results`` folder.

The config key ``models`` may point at nnU-Net's model folder
``nnUNet_results/DatasetXXX_Name/<trainer>__<plans>__<configuration>`` (``fold_0`` … ``fold_4``
and ``fold_all``, each with ``checkpoint_final.pth``, beside ``plans.json`` and
``dataset.json``). Training is then skipped: the workflow predicts the test set with these
models, ensembles, evaluates and reports as with its own.

What the folder must satisfy, checked here with a named error for each:

* nnU-Net's files: ``plans.json``, ``dataset.json`` and the configuration the folder's name
  gives in the plans;
* one input channel, and output labels that map onto hipseg's five
  (:func:`hipseg.source.value_map` with the ``source.labels`` config section): a model whose
  ``dataset.json`` calls its labels otherwise predicts the same structures under other values,
  and its predictions are renumbered to hipseg's (:func:`relabel`);
* the trainer class the folder's name gives, defined where nnU-Net looks for it (its own
  trainers, ``$nnUNet_extTrainer``, hipseg's ``trainers/``);
* a checkpoint for every fold a model uses.

Which models: whatever the folder holds. nnU-Net's usual runs leave folds 0–4 without
``fold_all``, ``fold_all`` alone, or fold 0 and ``fold_all``; each fold present is a model, and
the ensemble is that of the CV folds present (none with fewer than two). The config key
``models_used`` narrows the list (:func:`select`); the workflow checks the folder when
Snakemake builds its DAG, so a bad folder stops ``snakemake -n`` before anything runs.

A model trained on natural images (nnU-Net's ``NaturalImage2DIO``: ``.png``/``.bmp``/``.tif``
datasets) knows no millimetres: it saw every image at 1 × 1 per pixel. hipseg gives it the
images at that spacing too (:func:`pixel_units`), whatever spacing they have, so that nnU-Net
does not resample them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import HipsegError, InputError
from .labels import ALL_FOLD, CV_FOLDS, ENSEMBLE, MODELS, TRAIN_FOLDS, model_folds, models_of
from .source import value_map

CHECKPOINT = "checkpoint_final.pth"
NATURAL_READERS = ("NaturalImage2DIO", "Tiff3DIO")


def _json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise InputError(path, f"missing: not an nnU-Net model folder (no {what})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot be read as JSON ({exc})") from exc


def parse_name(folder: str | Path) -> dict[str, str]:
    """``<trainer>__<plans>__<configuration>`` → its three parts."""
    parts = Path(folder).name.split("__")
    if len(parts) != 3 or not all(parts):
        raise InputError(folder, "is not named <trainer>__<plans>__<configuration> (nnU-Net's "
                         "model folder, e.g. nnUNetTrainer__nnUNetPlans__2d)")  # fmt: skip
    return dict(zip(("trainer", "plans", "configuration"), parts, strict=True))


def folds_present(folder: str | Path) -> list[str]:
    """The training folds (:data:`hipseg.labels.TRAIN_FOLDS` order) whose final checkpoint is in
    ``folder``."""
    return [f for f in TRAIN_FOLDS if (Path(folder) / f"fold_{f}" / CHECKPOINT).is_file()]


@dataclass(frozen=True)
class ModelSet:
    """The models a run evaluates and the folds they are made of."""

    models: tuple[str, ...]  # MODELS order
    ensemble_folds: tuple[str, ...]  # the CV folds the ensemble averages ("" if no ensemble)
    present: tuple[str, ...]  # the folds trained (or held by the model folder)

    def folds(self, model: str) -> list[str]:
        """The folds ``model`` is made of (the ensemble: of the CV folds present)."""
        return model_folds(model, self.ensemble_folds or CV_FOLDS)

    @property
    def folds_used(self) -> list[str]:
        used = {f for m in self.models for f in self.folds(m)}
        return [f for f in TRAIN_FOLDS if f in used]

    @property
    def absent(self) -> list[str]:
        return [f for f in TRAIN_FOLDS if f not in self.present]


def select(present: Sequence[str], used: Sequence[str] = (), where: str | Path = "models",
           key: str = "models_used") -> ModelSet:  # fmt: skip
    """The models that ``present`` folds give, narrowed to ``used`` (config ``key``; empty: all
    of them). ``where`` names the model folder in messages."""
    available = models_of(present)
    unknown = [m for m in used if m not in MODELS]
    if unknown:
        raise HipsegError(f"{key}: {', '.join(unknown)} is not a model; the models are "
                          f"{', '.join(MODELS)}")  # fmt: skip
    lacking = [m for m in used if m not in available]
    if lacking:
        gives = ", ".join(available)
        raise InputError(where, f"has no {', '.join(lacking)} ({key}): it holds "
                         f"{_held(present)}, which give the models {gives}")  # fmt: skip
    models = tuple(m for m in MODELS if m in (used or available))
    cv = tuple(f for f in CV_FOLDS if f in present)
    return ModelSet(models, cv if ENSEMBLE in models else (), tuple(present))


def _held(present: Sequence[str]) -> str:
    return ", ".join(f"fold_{f}" for f in present) or "no fold"


def checkpoints(folder: str | Path, model: str) -> list[Path]:
    """The checkpoints a model (``fold_3``, ``fold_all``, ``ensemble``) is made of; the
    ensemble's are the CV folds ``folder`` holds."""
    cv = [f for f in CV_FOLDS if f in folds_present(folder)]
    return [Path(folder) / f"fold_{f}" / CHECKPOINT for f in model_folds(model, cv or CV_FOLDS)]


def available(folder: str | Path) -> list[str]:
    """The models (:data:`hipseg.labels.MODELS`) that the checkpoints in ``folder`` give."""
    return models_of(folds_present(folder))


def trainer_dirs() -> list[Path]:
    """Where nnU-Net looks for a trainer class: its own trainers, the folders of
    ``$nnUNet_extTrainer`` and hipseg's trainers (which hipseg adds to it)."""
    import importlib.util

    spec = importlib.util.find_spec("nnunetv2")
    own = [Path(spec.origin).parent / "training" / "nnUNetTrainer"] if spec else []
    ext = [Path(d) for d in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if d]
    return [*own, *ext, Path(__file__).resolve().parent / "trainers"]


def trainer_file(name: str) -> Path | None:
    """The Python file under :func:`trainer_dirs` that defines the class ``name``, or None.

    A text search for ``class <name>(``: nnU-Net's own finder imports every trainer module
    (about 10 s), too slow for a check that runs whenever Snakemake builds its DAG."""
    pattern = re.compile(rf"^class\s+{re.escape(name)}\s*[(:]", re.MULTILINE)
    for d in trainer_dirs():
        for path in sorted(d.rglob("*.py")) if d.is_dir() else ():
            try:
                if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
                    return path
            except OSError:
                continue
    return None


def check(folder: str | Path, mapping=None) -> dict[int, int]:
    """Check an existing model folder; return {model output value: hipseg value}."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "model folder does not exist")
    name = parse_name(folder)
    plans = _json(folder / "plans.json", "plans.json")
    meta = _json(folder / "dataset.json", "dataset.json")
    configs = plans.get("configurations") or {}
    if name["configuration"] not in configs:
        raise InputError(folder / "plans.json", f"has no configuration {name['configuration']!r}"
                         f" (the folder's name); it has {sorted(configs)}")  # fmt: skip
    channels = meta.get("channel_names") or meta.get("modality") or {}
    if len(channels) != 1:
        raise InputError(folder / "dataset.json", f"the model takes {len(channels)} input "
                         "channels; hipseg gives one (the radiograph)")  # fmt: skip
    return value_map(meta.get("labels"), mapping, folder / "dataset.json")


def require(folder: str | Path, used: Sequence[str] = (), mapping=None) -> ModelSet:
    """:func:`check`, the trainer class findable, and the models the folder holds narrowed to
    ``used`` (config ``models_used``): what the workflow checks before anything runs."""
    folder = Path(folder)
    check(folder, mapping)
    trainer = parse_name(folder)["trainer"]
    if trainer_file(trainer) is None:
        where = ", ".join(str(d) for d in trainer_dirs())
        raise InputError(folder, f"was trained with the trainer class {trainer!r} (its name), "
                         f"which is defined nowhere nnU-Net looks ({where}): put the file that "
                         "defines it in a folder listed in $nnUNet_extTrainer")  # fmt: skip
    present = folds_present(folder)
    if not present:
        raise InputError(folder, f"holds no trained fold (no fold_*/{CHECKPOINT}; nnU-Net "
                         "writes it when a fold's training finishes)")  # fmt: skip
    return select(present, used, folder)


def pixel_units(folder: str | Path) -> bool:
    """Whether the model was trained on natural images (spacing 1 × 1 per pixel)."""
    plans = _json(Path(folder) / "plans.json", "plans.json")
    return str(plans.get("image_reader_writer", "")) in NATURAL_READERS


def relabel(arr: np.ndarray, values: dict[int, int] | None) -> np.ndarray:
    """Model output values → hipseg's (identity when ``values`` is)."""
    if not values or all(k == v for k, v in values.items()):
        return arr
    lut = np.zeros(max(max(values), int(arr.max(initial=0))) + 1, np.uint8)
    for k, v in values.items():
        lut[k] = v
    return lut[arr]


def describe(folder: str | Path, trained_here: bool, used: Sequence[str] | None = None) -> dict:
    """Where the models came from, for the report: folder, trainer, plans, configuration,
    the dataset they were trained on, the folds present, used (``used``: the folds the
    evaluated models are made of; default all present) and absent."""
    folder = Path(folder)
    name = parse_name(folder)
    plans = _json(folder / "plans.json", "plans.json")
    meta = _json(folder / "dataset.json", "dataset.json")
    present = folds_present(folder)
    folds = [f"fold_{f}" for f in present]
    used = [f for f in TRAIN_FOLDS if f in (present if used is None else used)]
    return {
        "source": "trained by this workflow"
        if trained_here
        else "existing models (config 'models'): not trained by this run",
        "folder": str(folder) if not trained_here else folder.name,
        **name,
        "dataset": plans.get("dataset_name", folder.parent.name),
        "image_reader_writer": plans.get("image_reader_writer", "—"),
        "file_ending": meta.get("file_ending", "—"),
        "labels": {str(k): v for k, v in (meta.get("labels") or {}).items()},
        "folds": folds,
        "folds_used": [f"fold_{f}" for f in used],
        "folds_absent": [f"fold_{f}" for f in TRAIN_FOLDS if f not in present],
        "all_fold": f"fold_{ALL_FOLD}" in folds,
    }
