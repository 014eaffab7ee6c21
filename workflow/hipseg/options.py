"""Stage options: one path from the config to the code that uses it.

A rule hands its config section to its stage as one JSON parameter (``--options``); the stage
reads it into a typed, validated options object, a frozen dataclass deriving from
:class:`StageOptions`. Types, allowed values, defaults and descriptions are declared once, in the
workflow's config schema (``workflow/schemas/config.schema.yaml``); the dataclass names the keys
its stage uses. Adding an option therefore means: the schema (type, default, description), the
field and the code that uses it, and a line in ``config/README.md``.

Commands that people type (``hipseg anonymise``, ``hipseg paper-plan``, …) build their flags
from the same dataclasses (:func:`add_flags`, :meth:`StageOptions.from_args`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from .errors import HipsegError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
# PyYAML's safe loader in C (libyaml) where PyYAML has it: the same documents, ~9 times faster
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Keys of a section that only Snakemake uses (scheduling): never passed to a stage, so that
# changing them never reruns a job.
SCHEDULING_KEYS = frozenset({"resources", "threads", "processes", "mem_mb", "enabled"})

T = TypeVar("T", bound="StageOptions")


@functools.cache
def schema() -> dict:
    """The config schema, read by every stage's process (9 ms with libyaml, 80 ms without)."""
    return yaml.load(SCHEMA_PATH.read_text(encoding="utf-8"), Loader=SAFE_LOADER)


def _resolve(node: Any) -> Any:
    """The schema node with local ``$ref``s to ``#/$defs/...`` replaced by their target."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/$defs/")
            return _resolve(schema()["$defs"][name])
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


@functools.cache
def section_schema(section: str) -> dict:
    props = schema()["properties"]
    if section not in props:
        raise HipsegError(f"config schema has no section '{section}'")
    return _resolve(props[section])


def defaults(section: str) -> dict:
    """The schema's default of every key of a section (nested objects included)."""
    return _fill({}, section_schema(section))


def _fill(values: dict, node: dict) -> dict:
    out = dict(values)
    for key, sub in node.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict) and "properties" in sub:
            out[key] = _fill(out[key], sub)
    return out


def validate(section: str, values: Mapping, source: str = "config") -> dict:
    """Fill a section's defaults and validate it against the schema; return it as a dict.

    Raises :class:`HipsegError` naming the option (``section.key``) and the problem."""
    from jsonschema import Draft202012Validator

    node = section_schema(section)
    filled = _fill(dict(values), node)
    errors = sorted(Draft202012Validator(node).iter_errors(filled), key=lambda e: list(e.path))
    if errors:
        lines = []
        for err in errors:
            where = ".".join([section, *(str(p) for p in err.path)])
            lines.append(f"{where}: {err.message}")
        raise HipsegError(f"{source}: invalid option(s):\n  " + "\n  ".join(lines))
    return filled


def _frozen(value: Any) -> Any:
    """Lists become tuples (hashable, immutable options); mappings stay mappings."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def _thawed(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    if isinstance(value, dict):
        return {k: _thawed(v) for k, v in value.items()}
    return value


class StageOptions:
    """Mixin of the frozen dataclasses that hold one config section's options."""

    SECTION: ClassVar[str]

    @classmethod
    def from_config(cls: type[T], values: Mapping | str | None = None, source: str = "") -> T:
        """Read a config section (a mapping, or its JSON text as the rules pass it)."""
        source = source or f"config section '{cls.SECTION}'"
        if values is None:
            values = {}
        if isinstance(values, str):
            try:
                values = json.loads(values) if values.strip() else {}
            except json.JSONDecodeError as exc:
                raise HipsegError(f"{source}: options are not valid JSON ({exc})") from exc
        if not isinstance(values, Mapping):
            raise HipsegError(f"{source}: options must be a mapping, got {type(values).__name__}")
        checked = validate(cls.SECTION, values, source)
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls(**{k: _frozen(v) for k, v in checked.items() if k in names})

    def to_config(self) -> dict:
        """The options as config values (JSON-compatible)."""
        return {
            f.name: _thawed(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.init and f.repr
        }

    @classmethod
    def from_args(cls: type[T], args: argparse.Namespace, source: str = "command line") -> T:
        """Options from the flags that :func:`add_flags` declared (unset flags: defaults)."""
        values = {}
        for f in dataclasses.fields(cls):
            value = getattr(args, f"opt_{f.name}", None)
            if value is not None:
                values[f.name] = value
        return cls.from_config(values, source)


def add_flags(parser: argparse.ArgumentParser, cls: type[StageOptions], skip=()) -> None:
    """Declare one flag per option of ``cls`` (type, choices and help from the schema).

    Booleans get ``--x/--no-x``, lists and objects take JSON. Unset flags keep the schema's
    default (they are left out of the values given to :meth:`StageOptions.from_config`)."""
    props = section_schema(cls.SECTION).get("properties", {})
    for f in dataclasses.fields(cls):
        if not f.init or f.name in skip or f.name not in props:
            continue
        node = props[f.name]
        flag = "--" + f.name.replace("_", "-")
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        default = node.get("default")
        help_text = node.get("description", "")
        help_text = f"{help_text} (default: {json.dumps(default)})".strip().replace("%", "%%")
        kw: dict[str, Any] = {"dest": f"opt_{f.name}", "default": None, "help": help_text}
        if kinds == ["boolean"]:
            kw["action"] = argparse.BooleanOptionalAction
        elif "array" in kinds or "object" in kinds:
            kw["type"] = _json_arg(flag)
            kw["metavar"] = "JSON"
        elif "enum" in node:
            kw["choices"] = node["enum"]
        elif "integer" in kinds:
            kw["type"] = int
        elif "number" in kinds:
            kw["type"] = float
        parser.add_argument(flag, **kw)


def _json_arg(flag: str):
    def parse(text: str):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"{flag}: not JSON ({exc})") from exc

    return parse
