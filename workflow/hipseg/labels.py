"""The one definition of the labels, the models and the case ids; everything else derives from it.

Labels of the paper (Blažková, Section II, Fig. 2): value, short name, what it covers and its
overlay colour (the paper's Fig. 2: red, green, yellow, blue, purple). Renaming a label here
renames it in the nnU-Net dataset.json, the evaluation tables, the report and its prose.

Models: nnU-Net's five cross-validation folds, the model trained on all training cases
(``fold all``) and the ensemble of the five folds (softmax average; not in the paper).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    value: int  # the integer in the label maps
    name: str  # short name used in tables and figures
    description: str  # what the label covers
    color: tuple[float, float, float]  # overlay colour (RGB, 0-1)

    @property
    def css(self) -> str:
        r, g, b = (int(c * 255) for c in self.color)
        return f"rgb({r},{g},{b})"


LABELS: tuple[Label, ...] = (
    Label(1, "L1", "femoral head, medullary cavity and greater trochanter", (0.90, 0.10, 0.10)),
    Label(2, "L2", "inferior neck, diaphyseal cortex and lesser trochanter", (0.10, 0.75, 0.20)),
    Label(3, "L3", "Köhler teardrop", (0.95, 0.85, 0.10)),
    Label(4, "L4", "region between femoral head, teardrop and acetabulum", (0.15, 0.35, 0.95)),
    Label(5, "L5", "pelvic bone", (0.60, 0.20, 0.75)),
)
BACKGROUND = 0
VALUES: tuple[int, ...] = tuple(lab.value for lab in LABELS)
NAMES: tuple[str, ...] = tuple(lab.name for lab in LABELS)
MAX_LABEL = max(VALUES)
N_CLASSES = MAX_LABEL + 1  # background included
BY_VALUE: dict[int, Label] = {lab.value: lab for lab in LABELS}
BY_NAME: dict[str, Label] = {lab.name: lab for lab in LABELS}
VALUE_RANGE = f"{BACKGROUND}–{MAX_LABEL}"  # for messages: "label values outside 0–5"


def name(value: int) -> str:
    return BY_VALUE[int(value)].name


# ------------------------------------------------------------------------------------------------
# Models and folds
# ------------------------------------------------------------------------------------------------
N_FOLDS = 5
CV_FOLDS: tuple[str, ...] = tuple(str(i) for i in range(N_FOLDS))  # "0" … "4"
ALL_FOLD = "all"
TRAIN_FOLDS: tuple[str, ...] = (*CV_FOLDS, ALL_FOLD)  # one training job each
ENSEMBLE = "ensemble"
MODELS: tuple[str, ...] = (*(f"fold_{f}" for f in TRAIN_FOLDS), ENSEMBLE)


def model_folds(model: str, cv_folds: Sequence[str] = CV_FOLDS) -> list[str]:
    """The training folds a model is made of: ``fold_3`` → ["3"], ``ensemble`` → the CV folds
    (``cv_folds``: all five, or those a model folder holds)."""
    if model == ENSEMBLE:
        return list(cv_folds)
    fold = model.removeprefix("fold_")
    if model == fold or fold not in TRAIN_FOLDS:
        raise ValueError(f"unknown model {model!r}; models are {', '.join(MODELS)}")
    return [fold]


def models_of(folds: Sequence[str]) -> list[str]:
    """The models trained folds give (in :data:`MODELS` order): each fold on its own, and the
    ensemble of the CV folds among them where there are at least two."""
    cv = [f for f in CV_FOLDS if f in folds]
    found = [f"fold_{f}" for f in TRAIN_FOLDS if f in folds]
    return found + ([ENSEMBLE] if len(cv) >= 2 else [])


def model_title(model: str) -> str:
    """``fold_all`` → ``fold all`` (the paper's spelling)."""
    return model.replace("_", " ")


# ------------------------------------------------------------------------------------------------
# Case ids (they become file names everywhere)
# ------------------------------------------------------------------------------------------------
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]*"
ID_RE = re.compile(rf"^{ID_PATTERN}$")
