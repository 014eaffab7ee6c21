"""Named segments: their names mapped to hipseg's labels (``source.labels``), and one label map
composed from per-segment masks (3D Slicer segmentations, DICOM SEG)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import labels
from ..errors import InputError
from .values import _count

NAMES_KEY = "source.labels"  # the config key that maps annotation names to hipseg's


def _norm(name: str) -> str:
    return str(name).strip().casefold()


def _name_table(path: Path, names: Mapping[str, str] | None) -> dict[str, int]:
    table: dict[str, int] = {}
    for key, target in (names or {}).items():
        if target not in labels.BY_NAME:
            raise InputError(path, f"{NAMES_KEY} maps {str(key)!r} to {str(target)!r}, which is "
                                   f"not a hipseg label ({', '.join(labels.NAMES)})")  # fmt: skip
        value = labels.BY_NAME[target].value
        if table.setdefault(_norm(key), value) != value:
            raise InputError(path, f"{NAMES_KEY} maps {str(key).strip()!r} to two labels")
    return table


def _label_of(name: str, table: dict[str, int]) -> int | None:
    if _norm(name) in table:
        return table[_norm(name)]
    if name in labels.BY_NAME:
        return labels.BY_NAME[name].value
    return None


def _resolve(path: Path, candidates: list[list[str]], names) -> list[int]:
    """Each segment's hipseg value from its candidate names (the first that resolves)."""
    table = _name_table(path, names)
    out, unknown = [], []
    for cands in candidates:
        found = [v for v in (_label_of(c, table) for c in cands if c) if v is not None]
        out.append(found[0] if found else -1)
        if not found:
            unknown.append(cands[0] if cands and cands[0] else "(no name)")
    if unknown:
        listed = ", ".join(f'"{u}"' for u in dict.fromkeys(unknown))
        raise InputError(path, f"segment names not known: {listed}; hipseg's labels are "
                               f"{', '.join(labels.NAMES)}: map the names to them with the "
                               f"config key {NAMES_KEY}")  # fmt: skip
    return out


def _compose(path: Path, seg_names: list[str], seg_values: list[int], masks) -> np.ndarray:
    """One label map from per-segment boolean masks; overlaps of different labels are errors."""
    shape = masks[0].shape if len(masks) else (0, 0)
    out = np.zeros(shape, np.uint8)
    owner = np.full(shape, -1, np.int32)
    clashes: dict[tuple[int, int], int] = {}
    for i, (value, mask) in enumerate(zip(seg_values, masks, strict=True)):
        if not mask.any():
            continue
        taken = mask & (owner >= 0)
        if taken.any():
            others, counts = np.unique(owner[taken], return_counts=True)
            for j, n in zip(others.tolist(), counts.tolist(), strict=True):
                if seg_values[j] != value:
                    clashes[(j, i)] = n
        free = mask & (owner < 0)
        owner[free] = i
        out[free] = value
    if clashes:
        parts = [f'"{seg_names[a]}" and "{seg_names[b]}" overlap in {_count(n, "pixel")}'
                 for (a, b), n in clashes.items()]  # fmt: skip
        raise InputError(path, f"segments {'; '.join(parts)} (a pixel can have one label only)")
    return out
