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
* a checkpoint for every fold a model needs (``fold_all``: ``fold_all``; the ensemble: folds
  0–4).

A model trained on natural images (nnU-Net's ``NaturalImage2DIO``: ``.png``/``.bmp``/``.tif``
datasets) knows no millimetres: it saw every image at 1 × 1 per pixel. hipseg gives it the
images at that spacing too (:func:`pixel_units`), whatever spacing they have, so that nnU-Net
does not resample them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import InputError
from .labels import ALL_FOLD, MODELS, model_folds
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


def checkpoints(folder: str | Path, model: str) -> list[Path]:
    """The checkpoints a model (``fold_3``, ``fold_all``, ``ensemble``) is made of."""
    return [Path(folder) / f"fold_{f}" / CHECKPOINT for f in model_folds(model)]


def available(folder: str | Path) -> list[str]:
    """The models (:data:`hipseg.labels.MODELS`) whose checkpoints are all in ``folder``."""
    return [m for m in MODELS if all(c.is_file() for c in checkpoints(folder, m))]


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


def require(folder: str | Path, models=MODELS, mapping=None) -> dict[int, int]:
    """:func:`check`, and every checkpoint of ``models`` present (one error lists them all)."""
    values = check(folder, mapping)
    missing = sorted({str(c) for m in models for c in checkpoints(folder, m) if not c.is_file()})
    if missing:
        raise InputError(folder, f"lacks the checkpoint(s) {', '.join(missing)} (the models "
                         f"{', '.join(models)} need them)")  # fmt: skip
    return values


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


def describe(folder: str | Path, trained_here: bool) -> dict:
    """Where the models came from, for the report: folder, trainer, plans, configuration,
    the dataset they were trained on, the folds present."""
    folder = Path(folder)
    name = parse_name(folder)
    plans = _json(folder / "plans.json", "plans.json")
    meta = _json(folder / "dataset.json", "dataset.json")
    folds = sorted(p.parent.name for p in folder.glob(f"fold_*/{CHECKPOINT}"))
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
        "all_fold": f"fold_{ALL_FOLD}" in folds,
    }
