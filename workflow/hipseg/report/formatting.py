"""Values as the report prints them: numbers, shapes, keys, durations and label-name lists.

Text only; the HTML around it lives in the templates (``workflow/templates``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence


def fmt4(x) -> str:
    """Four decimals; ``—`` for a missing or non-numeric value."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(x) else f"{x:.4f}"


def fmt_value(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


def is_scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def is_listlike(v) -> bool:
    return isinstance(v, (list, tuple))


def fmt_shape(v, sep: str = " × ") -> str:
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v):
        return sep.join(fmt_value(x) for x in v)
    return fmt_value(v) if is_scalar(v) else json.dumps(v)


def pretty_json(v) -> str:
    """A nested value too deep or too irregular for a table, as indented JSON."""
    return json.dumps(v, indent=1, default=str)


def key_union(rows) -> list:
    """The keys of the mappings in ``rows`` (a list, or a mapping's values), first seen first."""
    if isinstance(rows, Mapping):
        rows = rows.values()
    keys: list = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return keys


def humanize(key: str) -> str:
    """``n_test_joints`` → ``number of test joints``."""
    k = str(key)
    if k.startswith("n_"):
        k = "number of " + k[2:]
    return k.replace("_", " ")


def hms(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    s = int(round(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def name_span(names: Sequence[str]) -> str:
    """Label names for prose: ``L1–L5`` for a consecutive numbered run, else ``L1, TD and L5``."""
    names = [str(n) for n in names]
    if len(names) <= 1:
        return "".join(names)
    parts = [_NUMBERED.match(n) for n in names]
    if all(parts) and len({p.group(1) for p in parts}) == 1:
        numbers = [int(p.group(2)) for p in parts]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{names[0]}–{names[-1]}"
    return ", ".join(names[:-1]) + " and " + names[-1]
