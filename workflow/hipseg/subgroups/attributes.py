"""The subgroups of the test joints: which attributes, each joint's values, and the pooling of
small subgroups into "other" so that no reported subgroup points at fewer than
``min_patients`` patients."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .options import SubgroupOptions

OTHER = "other (pooled)"
NONE = "none recorded"  # a sheet cell without items for this joint
UNKNOWN = "not recorded"  # a characteristic the de-identification did not record
SEXES = {"F": "female", "M": "male", "O": "other"}  # Patient's Sex (0010,0040)
_SIDE_ITEM = re.compile(r"^(right|left)\s+hip\s+(.+)$", re.IGNORECASE)
TITLES = {
    "side": "side",
    "spacing": "pixel spacing",
    "sex": "sex (DICOM header)",
    "age_band": "age band (DICOM header)",
    "device": "device (DICOM header)",
}
SOURCES = {
    "side": "the joint's side (crop)",
    "spacing": "the joint image's pixel spacing, the coarser axis (crop)",
    "sex": "Patient's Sex, kept by the de-identification profile",
    "age_band": "age band computed by the de-identification (deid.age_bands)",
    "device": "Manufacturer and Manufacturer's Model Name of the de-identified header",
}


@dataclass
class Attribute:
    """One way of dividing the test joints: its name, where it comes from, the (pooled) values
    of each joint (a set: a sheet column can give a joint several), and what was pooled."""

    name: str
    title: str
    source: str
    values: list[frozenset[str]]
    items: bool = False  # a sheet column: each value is a yes/no split (groups overlap)
    groups: list[str] = field(default_factory=list)
    n_pooled: int = 0  # values pooled into OTHER
    n_withheld: int = 0  # values not reported (items: the group or its rest too small)
    suppressed: bool = False  # fewer than min_patients patients in all: nothing reported


def column_items(text: str, side: str) -> frozenset[str]:
    """The items of a sheet cell for one joint: split at ``;``; ``right hip X`` / ``left hip X``
    give ``X`` to that side's joint only, other items belong to both joints."""
    out = set()
    for item in (i.strip() for i in str(text or "").split(";")):
        if not item:
            continue
        match = _SIDE_ITEM.match(item)
        if match is None:
            out.add(" ".join(item.split()))
        elif match.group(1).lower() == side:
            out.add(" ".join(match.group(2).split()))
    return frozenset(out) or frozenset({NONE})


def _fmt_mm(x: float) -> str:
    return f"{x:.3g}"


def spacing_edges(spacings: Sequence[float], given: Sequence[float]) -> list[float]:
    """The band edges: as configured, or near the test joints' tertiles, each at the midpoint
    between two distinct spacings whose share of joints below it is closest to a third (two
    thirds), so that joints of one spacing stay in one band (the demo's and the paper's
    detectors have a few spacings each); 3 significant digits."""
    if given:
        return [float(e) for e in given]
    values = np.asarray(spacings, dtype=float)
    values = values[np.isfinite(values)]
    distinct = np.unique(np.round(values, 6))
    if distinct.size < 2:
        return []
    mids = (distinct[1:] + distinct[:-1]) / 2
    below = np.array([(values < m).mean() for m in mids])
    return sorted({float(_fmt_mm(mids[np.argmin(np.abs(below - q))])) for q in (1 / 3, 2 / 3)})


def spacing_band(x: float, edges: Sequence[float]) -> str:
    if not np.isfinite(x):
        return UNKNOWN
    if not edges:
        return "all spacings"
    if x < edges[0]:
        return f"<{_fmt_mm(edges[0])} mm"
    for low, high in zip(edges, edges[1:], strict=False):
        if x < high:
            return f"{_fmt_mm(low)}–{_fmt_mm(high)} mm"
    return f"≥{_fmt_mm(edges[-1])} mm"


def order_key(name: str) -> tuple:
    """Bands in numeric order (``<50`` before ``50–64`` before ``≥80``), other values by name;
    "none recorded", "not recorded" and "other (pooled)" last."""
    last = {NONE: 1, UNKNOWN: 2, OTHER: 3}.get(name, 0)
    match = re.match(r"^([<≥]?)(\d+(?:\.\d+)?)", name)
    if match and not last:
        number = float(match.group(2)) - (0.5 if match.group(1) == "<" else 0.0)
        return (last, 0, number, name)
    return (last, 1, 0.0, name.lower())


def pool(values: list[frozenset[str]], patients: Sequence[str], min_patients: int):
    """The pooling of an attribute that divides the joints (one value each: side, spacing band,
    sex, age band, device): every value held by fewer than ``min_patients`` patients goes into
    :data:`OTHER`, then the smallest further values until "other" reaches the minimum (else the
    small ones could be told from the rest and the overall mean). Returns the new values, the
    number of values pooled and whether even all joints together are too few (then nothing is
    reported)."""
    holders: dict[str, set[str]] = {}
    for vs, p in zip(values, patients, strict=True):
        for v in vs:
            holders.setdefault(v, set()).add(p)
    pooled = {v for v, ps in holders.items() if len(ps) < min_patients}
    kept = sorted(set(holders) - pooled, key=lambda v: (len(holders[v]), order_key(v)))

    def other() -> set[str]:
        return set().union(*(holders[v] for v in pooled)) if pooled else set()

    while pooled and len(other()) < min_patients and kept:
        pooled.add(kept.pop(0))
    suppressed = bool(pooled) and len(other()) < min_patients
    out = []
    for vs in values:
        new = {OTHER if v in pooled else v for v in vs}
        out.append(frozenset(new - {OTHER} if suppressed else new))
    return out, len(pooled), suppressed


_BAND = re.compile(
    r"^(?:<(?P<lt>[\d.]+)|≥(?P<ge>[\d.]+)|(?P<lo>[\d.]+)–(?P<hi>[\d.]+))(?P<unit>.*)$"
)


def _merged_band(low: str, high: str, inclusive: bool) -> str:
    """The label of two adjacent bands merged (``<50`` and ``50–64`` → ``<65``; ``1.84–2.17 mm``
    and ``≥2.17 mm`` → ``≥1.84 mm``). ``inclusive``: the upper number of ``a–b`` belongs to the
    band (whole years), else it starts the next one (millimetres)."""
    a, b = _BAND.match(low), _BAND.match(high)
    unit = a.group("unit")
    start = a.group("lo") or a.group("ge")  # None: open below
    if b.group("ge") is not None:
        return f"≥{start}{unit}" if start else "all"
    end = b.group("hi")
    if start:
        return f"{start}–{end}{unit}"
    return f"<{int(end) + 1}{unit}" if inclusive else f"<{end}{unit}"


def merge_bands(
    values: list[frozenset[str]], patients: Sequence[str], min_patients: int, inclusive: bool
) -> tuple[list[frozenset[str]], int]:
    """Merge a band of fewer than ``min_patients`` patients with its smaller neighbour, until
    every band has enough (ordered values: age and spacing bands; other values are left as
    they are). Returns the new values and the number of merges."""
    values, merges = list(values), 0
    while True:
        holders: dict[str, set[str]] = {}
        for vs, p in zip(values, patients, strict=True):
            for v in vs:
                if _BAND.match(v):
                    holders.setdefault(v, set()).add(p)
        order = sorted(holders, key=order_key)
        small = [i for i, v in enumerate(order) if len(holders[v]) < min_patients]
        if len(order) < 2 or not small:
            return values, merges
        i = min(small, key=lambda k: (len(holders[order[k]]), k))
        near = [k for k in (i - 1, i + 1) if 0 <= k < len(order)]
        j = min(near, key=lambda k: (len(holders[order[k]]), k))
        low, high = order[min(i, j)], order[max(i, j)]
        new = _merged_band(low, high, inclusive)
        values = [frozenset(new if v in (low, high) else v for v in vs) for vs in values]
        merges += 1


def pool_items(values: list[frozenset[str]], patients: Sequence[str], min_patients: int):
    """The pooling of a sheet column, whose values overlap (a joint can have several): each
    value splits the joints into those with it and the rest. Values of fewer than
    ``min_patients`` patients become :data:`OTHER`; a value (``other`` included) is reported
    only when it and its rest both have at least ``min_patients`` patients (or it is every
    joint: its rest's mean would follow from the overall mean), else it is withheld. Returns
    the new values, the number pooled and the number withheld."""
    holders: dict[str, set[str]] = {}
    for vs, p in zip(values, patients, strict=True):
        for v in vs:
            holders.setdefault(v, set()).add(p)
    pooled = {v for v, ps in holders.items() if len(ps) < min_patients}
    mapped = [frozenset(OTHER if v in pooled else v for v in vs) for vs in values]
    withheld = set()
    for v in {v for vs in mapped for v in vs}:
        inside = {p for vs, p in zip(mapped, patients, strict=True) if v in vs}
        rest = {p for vs, p in zip(mapped, patients, strict=True) if v not in vs}
        everyone = all(v in vs for vs in mapped)
        if len(inside) < min_patients or (not everyone and len(rest) < min_patients):
            withheld.add(v)
    out = [frozenset(vs - withheld) for vs in mapped]
    return out, len(pooled), len(withheld)


def _sheet_rows(sheet: pd.DataFrame, joints: pd.DataFrame) -> list[Mapping]:
    """Each joint's sheet row: the row with the joint's case id (a joint sheet, an nnU-Net
    dataset), else the row of its radiograph."""
    by_id = {str(r["id"]): r for r in sheet.to_dict("records")}
    return [
        by_id.get(str(c)) or by_id.get(str(r)) or {}
        for c, r in zip(joints["case"], joints["radiograph"], strict=True)
    ]


def raw_attributes(
    joints: pd.DataFrame,
    sheet: pd.DataFrame,
    characteristics: Mapping[str, Mapping],
    options: SubgroupOptions,
) -> list[Attribute]:
    """Every attribute the options ask for, with each joint's values (not pooled yet).

    ``joints``: one row per test joint (``case``, ``radiograph``, ``side``, ``spacing_mm``);
    ``sheet``: the validated sample sheet; ``characteristics``: the audits' records by id."""
    sides = [str(s or "") for s in joints["side"]]
    out = []
    rows = _sheet_rows(sheet, joints)
    for column in options.columns:
        values = [column_items(r.get(column, ""), s) for r, s in zip(rows, sides, strict=True)]
        title, source = f"sample sheet: {column}", "sample-sheet column"
        out.append(Attribute(column, title, source, values, items=True))
    if options.side:
        values = [frozenset({s or UNKNOWN}) for s in sides]
        out.append(Attribute("side", TITLES["side"], SOURCES["side"], values))
    spacing = joints["spacing_mm"].astype(float).to_numpy()
    edges = spacing_edges(spacing, options.spacing_bands_mm)
    values = [frozenset({spacing_band(x, edges)}) for x in spacing]
    out.append(Attribute("spacing", TITLES["spacing"], SOURCES["spacing"], values))
    for name in options.characteristics:
        values = []
        for case, radiograph in zip(joints["case"], joints["radiograph"], strict=True):
            record = characteristics.get(str(case)) or characteristics.get(str(radiograph)) or {}
            value = str(record.get(name) or UNKNOWN)
            values.append(frozenset({SEXES.get(value, value) if name == "sex" else value}))
        out.append(Attribute(name, TITLES[name], SOURCES[name], values))
    return out


def pooled_attributes(
    attributes: list[Attribute], patients: Sequence[str], min_patients: int
) -> list[Attribute]:
    """The attributes with small values pooled (:func:`pool`; a sheet column's items:
    :func:`pool_items`) and their groups in order."""
    for a in attributes:
        if a.name in ("spacing", "age_band"):  # ordered: a small band joins its neighbour
            a.values, a.n_pooled = merge_bands(a.values, patients, min_patients,
                                               inclusive=a.name == "age_band")  # fmt: skip
        if a.items:
            a.values, a.n_pooled, a.n_withheld = pool_items(a.values, patients, min_patients)
            a.suppressed = not any(a.values)
        else:
            a.values, n_pooled, a.suppressed = pool(a.values, patients, min_patients)
            a.n_pooled += n_pooled
        a.groups = sorted({v for vs in a.values for v in vs}, key=order_key)
    return attributes
