"""Label values: integer checks, the mapping of a file's values to hipseg's, the size check and
the wording of the messages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import labels
from ..errors import InputError

MAX_SHOWN = 8  # bad values listed in a message
_ALLOWED = frozenset((labels.BACKGROUND, *labels.VALUES))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _shown(vals) -> str:
    vals = list(vals)
    text = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals[:MAX_SHOWN])
    return text + (f", … ({len(vals)} in all)" if len(vals) > MAX_SHOWN else "")


def _integers(path: Path, arr: np.ndarray) -> np.ndarray:
    """The array as int64; non-integer values are an error."""
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(path, f"mask has pixels of type {arr.dtype}, not integer label values")
    bad = ~np.isfinite(arr) | (np.mod(arr, 1) != 0)
    if bad.any():
        examples = np.unique(arr[bad])
        raise InputError(path, f"mask has non-integer values: {_shown(examples.tolist())}")
    return arr.astype(np.int64)


def _map_values(path: Path, arr: np.ndarray, values: Mapping[int, int] | None) -> np.ndarray:
    arr = _integers(path, arr)
    present = np.unique(arr)
    if values is None:
        bad = [int(v) for v in present if int(v) not in _ALLOWED]
        if bad:
            raise InputError(path, f"label values outside {labels.VALUE_RANGE}: {_shown(bad)}")
        return arr.astype(np.uint8)
    table = {labels.BACKGROUND: labels.BACKGROUND}
    for src, dst in values.items():
        if int(dst) not in _ALLOWED:
            raise InputError(path, f"the value mapping sends {src} to {dst}, which is not a "
                                   f"hipseg label value ({labels.VALUE_RANGE})")  # fmt: skip
        table[int(src)] = int(dst)
    bad = [int(v) for v in present if int(v) not in table]
    if bad:
        known = ", ".join(str(v) for v in sorted(table))
        raise InputError(path, f"label values not in the value mapping: {_shown(bad)} "
                               f"(mapped values: {known})")  # fmt: skip
    keys = np.array(sorted(table), np.int64)
    targets = np.array([table[k] for k in keys], np.uint8)
    return targets[np.searchsorted(keys, arr)]


def _check_shape(path: Path, got: tuple[int, ...], shape: tuple[int, int] | None, note=""):
    if shape is not None and tuple(got) != tuple(shape):
        raise InputError(path, f"mask size {got[0]}×{got[1]} (rows×cols{note}) ≠ image size "
                               f"{shape[0]}×{shape[1]}")  # fmt: skip
