"""Implant catalogues: a YAML file validated by ``workflow/schemas/implant_catalogue.schema.yaml``.

A catalogue holds one acetabular cup family (outer diameters), its heads (diameter, the
smallest cup that takes it, neck-length options) and one femoral stem family (per size: the
widths it fills the canal with at stated levels below the lesser trochanter or the neck cut, the
offset and height of its head centre per offset variant; each variant's neck-shaft angle). The
format is documented in docs/templating.md. :func:`load` reads ``generic`` (the catalogue
shipped with hipseg, :data:`GENERIC`) or a file; a catalogue that does not parse, breaks the
schema or contradicts itself is an :class:`~hipseg.errors.InputError` or a
:class:`~hipseg.errors.ValidationError` naming the file and every problem (``hipseg`` exits
with status 2 before anything is written).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import InputError, ValidationError

GENERIC = Path(__file__).with_name("generic.yaml")
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "implant_catalogue.schema.yaml"


@dataclass(frozen=True)
class Head:
    diameter_mm: float
    min_cup_mm: float
    neck_lengths_mm: tuple[float, ...]


@dataclass(frozen=True)
class StemSize:
    size: str
    widths_mm: tuple[float, ...]
    offset_mm: dict  # variant -> mm
    height_mm: dict  # variant -> mm


@dataclass(frozen=True)
class Stem:
    name: str
    reference: str  # "lesser_trochanter" or "neck_cut"
    cut_above_lt_mm: float  # the reference's height above the lesser-trochanter tip
    levels_mm: tuple[float, ...]
    neck_shaft_angle_deg: dict  # variant -> degrees
    sizes: tuple[StemSize, ...]

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.neck_shaft_angle_deg)


@dataclass(frozen=True)
class Catalogue:
    name: str
    path: str
    cup_name: str
    cups_mm: tuple[float, ...]  # outer diameters, ascending
    heads: tuple[Head, ...]  # ascending diameter
    stem: Stem

    def heads_for(self, cup_mm: float) -> tuple[Head, ...]:
        return tuple(h for h in self.heads if h.min_cup_mm <= cup_mm + 1e-9)

    def describe(self) -> dict:
        return {"name": self.name, "path": self.path, "cup": self.cup_name,
                "stem": self.stem.name, "cups_mm": list(self.cups_mm),
                "stem_sizes": [s.size for s in self.stem.sizes],
                "stem_reference": self.stem.reference,
                "stem_levels_mm": list(self.stem.levels_mm)}  # fmt: skip


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))


def resolve(name_or_path: str | Path) -> Path:
    """``generic`` → the shipped catalogue; anything else is a file path."""
    return GENERIC if str(name_or_path) == "generic" else Path(name_or_path)


def load(name_or_path: str | Path) -> Catalogue:
    """Read and check a catalogue (``generic`` or a YAML file); see the module docstring."""
    path = resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = f"cannot read the implant catalogue ({exc.strerror or exc})"
        raise InputError(path, problem) from exc
    return _parse(text, str(path))


@functools.lru_cache(maxsize=8)
def _parse(text: str, path: str) -> Catalogue:
    from jsonschema import Draft202012Validator

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(path, f"is not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(path, "is not an implant catalogue (a YAML mapping with format: 1)")
    errors = sorted(Draft202012Validator(_schema()).iter_errors(data), key=lambda e: list(e.path))
    problems = [f"{'.'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in errors]
    if problems:
        raise ValidationError(f"{path} (implant catalogue)", problems)
    problems = _consistency(data)
    if problems:
        raise ValidationError(f"{path} (implant catalogue)", problems)
    return _build(data, path)


def _cups(spec) -> list[float]:
    if isinstance(spec, list):
        return [float(v) for v in spec]
    n = math.floor((spec["to"] - spec["from"]) / spec["step"] + 1e-9)
    return [float(round(spec["from"] + k * spec["step"], 6)) for k in range(n + 1)]


def _consistency(data: dict) -> list[str]:
    """What the schema cannot say: lengths match, variants complete, sizes ascend."""
    out = []
    cups = _cups(data["cups"]["outer_diameters_mm"])
    if cups != sorted(cups) or len(set(cups)) != len(cups) or not cups:
        out.append("cups.outer_diameters_mm: must ascend (a range needs from <= to)")
    stem = data["stem"]
    levels = stem["levels_mm"]
    if levels != sorted(levels):
        out.append("stem.levels_mm: must ascend")
    if stem["reference"] == "neck_cut" and "neck_cut_above_lesser_trochanter_mm" not in stem:
        out.append("stem: reference neck_cut needs neck_cut_above_lesser_trochanter_mm")
    variants = set(stem["variants"])
    previous = None
    for k, size in enumerate(stem["sizes"]):
        where = f"stem.sizes.{k} (size {size['size']})"
        if len(size["widths_mm"]) != len(levels):
            out.append(f"{where}: {len(size['widths_mm'])} widths for {len(levels)} levels")
        for key in ("offset_mm", "height_mm"):
            if set(size[key]) != variants:
                out.append(f"{where}: {key} must name each variant {sorted(variants)} once, "
                           f"has {sorted(size[key])}")  # fmt: skip
        if previous is not None and len(previous) == len(size["widths_mm"]):
            if any(b < a for a, b in zip(previous, size["widths_mm"], strict=True)):
                out.append(f"{where}: narrower than the size before it at some level "
                           "(sizes must be listed smallest first)")  # fmt: skip
        previous = size["widths_mm"]
    names = [str(s["size"]) for s in stem["sizes"]]
    if len(set(names)) != len(names):
        out.append("stem.sizes: two sizes have the same name")
    if cups and not any(h["min_cup_mm"] <= cups[-1] for h in data["heads"]):
        out.append("heads: no head fits the largest cup (min_cup_mm)")
    return out


def _build(data: dict, path: str) -> Catalogue:
    stem = data["stem"]
    cut = float(stem.get("neck_cut_above_lesser_trochanter_mm", 0.0))
    sizes = tuple(
        StemSize(str(s["size"]), tuple(float(w) for w in s["widths_mm"]),
                 {k: float(v) for k, v in s["offset_mm"].items()},
                 {k: float(v) for k, v in s["height_mm"].items()})
        for s in stem["sizes"]
    )  # fmt: skip
    heads = sorted(
        (Head(float(h["diameter_mm"]), float(h["min_cup_mm"]),
              tuple(float(v) for v in sorted(h["neck_lengths_mm"]))) for h in data["heads"]),
        key=lambda h: h.diameter_mm,
    )  # fmt: skip
    return Catalogue(
        name=data["name"], path=path, cup_name=data["cups"]["name"],
        cups_mm=tuple(_cups(data["cups"]["outer_diameters_mm"])), heads=tuple(heads),
        stem=Stem(stem["name"], stem["reference"],
                  cut if stem["reference"] == "neck_cut" else 0.0,
                  tuple(float(v) for v in stem["levels_mm"]),
                  {k: float(v["neck_shaft_angle_deg"]) for k, v in stem["variants"].items()},
                  sizes),
    )  # fmt: skip
