"""The paper's published numbers, read from ``paper_reference.yaml`` (data, not code).

:func:`load` reads and checks the file: its models must be :data:`hipseg.labels.MODELS`, its
labels :data:`hipseg.labels.NAMES` (a label renamed in ``labels.py`` but not in the file fails
loudly), every statistic a number. :data:`REFERENCE` is the shipped file, loaded at import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from .. import labels
from ..errors import InputError
from ..evaluate import STAT_COLUMNS

PATH = resources.files(__package__) / "paper_reference.yaml"

Stats = dict[str, float]


@dataclass(frozen=True)
class PaperReference:
    table1: dict[str, Stats]  # model → statistic → value (Table I)
    table2_model: str  # the model of Table II
    table2: dict[str, Stats]  # label name → statistic → value (Table II)
    best_models: dict[str, list[str]]  # model → the labels it is best for (Section IV)
    dataset: dict[str, str]  # dataset-summary key → the paper's wording (Section II)
    methods: dict[str, str]  # methods-table key → the paper's wording (Section III)


def _section(obj: Any, key: str, source: str) -> Mapping:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(value, Mapping) or not value:
        raise InputError(source, f"'{key}' must be a non-empty mapping")
    return value


def _known(keys, allowed, what: str, where: str, source: str) -> None:
    unknown = [str(k) for k in keys if k not in allowed]
    if unknown:
        raise InputError(
            source,
            f"{where} names {what}(s) {', '.join(unknown)} that hipseg.labels does not define "
            f"({', '.join(allowed)})",
        )


def _stats(table: Mapping, where: str, source: str) -> dict[str, Stats]:
    out = {}
    for key, row in table.items():
        ok = isinstance(row, Mapping) and set(row) == set(STAT_COLUMNS)
        if not ok or not all(isinstance(row[s], (int, float)) for s in STAT_COLUMNS):
            raise InputError(source, f"{where}.{key} must map {', '.join(STAT_COLUMNS)} to numbers")
        if not all(math.isfinite(row[s]) for s in STAT_COLUMNS):
            raise InputError(source, f"{where}.{key} has a value that is not a finite number")
        out[str(key)] = {s: float(row[s]) for s in STAT_COLUMNS}
    return out


def _texts(table: Mapping, where: str, source: str) -> dict[str, str]:
    bad = [str(k) for k, v in table.items() if not isinstance(v, str)]
    if bad:
        raise InputError(source, f"{where}: {', '.join(bad)} must be text (quote numbers)")
    return {str(k): v for k, v in table.items()}


def load(path=PATH) -> PaperReference:
    """Read and check the paper's reference numbers; an :class:`InputError` names the problem."""
    source = str(path)
    try:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(source, f"cannot be read as YAML ({exc})") from exc
    table2 = _section(obj, "table2", source)
    t1 = _stats(_section(obj, "table1", source), "table1", source)
    t2 = _stats(_section(table2, "labels", source), "table2.labels", source)
    best = _section(obj, "best_models", source)
    if not all(isinstance(v, list) and v for v in best.values()):
        raise InputError(source, "best_models must map each model to a list of label names")
    model = table2.get("model")
    _known(t1, labels.MODELS, "model", "table1", source)
    _known([model], labels.MODELS, "model", "table2.model", source)
    if model not in t1:
        raise InputError(source, f"table2.model {model} has no column in table1")
    _known(t2, labels.NAMES, "label", "table2.labels", source)
    _known(best, labels.MODELS, "model", "best_models", source)
    _known([n for v in best.values() for n in v], labels.NAMES, "label", "best_models", source)
    return PaperReference(
        table1=t1,
        table2_model=model,
        table2=t2,
        best_models={str(k): [str(n) for n in v] for k, v in best.items()},
        dataset=_texts(_section(obj, "dataset", source), "dataset", source),
        methods=_texts(_section(obj, "methods", source), "methods", source),
    )


REFERENCE = load()
