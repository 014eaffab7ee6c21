"""The report's provenance: when and where it was made, from which commit, with which software."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .. import __version__ as HIPSEG_VERSION
from .views import key_value_rows

SOFTWARE = [
    "hipseg",
    "nnunetv2",
    "torch",
    "snakemake",
    "pydicom",
    "SimpleITK",
    "numpy",
    "scipy",
    "medpy",
    "pandas",
    "matplotlib",
    "jinja2",
]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        if dist == "hipseg":
            return HIPSEG_VERSION
        return "not installed"


def _git_info(repo_dir: Path) -> dict[str, str]:
    def run(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", "-C", str(repo_dir), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        inside = run("rev-parse", "--is-inside-work-tree")
        return {
            "git_commit": "unknown (no commit yet)" if inside == "true" else "unknown",
            "git_dirty": "unknown",
        }
    status = run("status", "--porcelain")
    dirty = "unknown" if status is None else ("yes" if status else "no")
    return {"git_commit": commit, "git_dirty": dirty}


def collect(config: Mapping, extra: Mapping | None) -> dict:
    """Date, host, platform, git state, software versions and the configuration; ``extra`` adds
    items (its ``versions`` mapping adds or replaces software versions)."""
    now = _dt.datetime.now().astimezone()
    prov: dict[str, Any] = {
        "date": now.isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **_git_info(Path(__file__).resolve().parent),
    }
    versions = {name: _version(name) for name in SOFTWARE}
    if extra:
        for k, v in extra.items():
            if k == "versions" and isinstance(v, Mapping):
                versions.update({str(a): str(b) for a, b in v.items()})
            else:
                prov[str(k)] = v
    try:
        config_yaml = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        config_yaml = json.dumps(config, indent=2, default=str)
    return {
        "items": key_value_rows(prov),
        "versions": versions,
        "config_yaml": config_yaml,
        "date": prov["date"],
    }
