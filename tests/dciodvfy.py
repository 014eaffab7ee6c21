"""dicom3tools' ``dciodvfy``: checks a DICOM object against its IOD (David Clunie's validator,
Debian's ``dicom3tools``; `make test` installs it). Its Error lines are what a strict PACS
refuses; Warning lines are advice."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests import tool_missing


@dataclass(frozen=True)
class Verdict:
    path: Path
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def binary() -> str | None:
    return shutil.which("dciodvfy")


def require() -> str:
    """The binary, or the test is skipped (fails with CI=true) with the reason."""
    exe = binary()
    if exe is None:
        tool_missing(
            "dciodvfy is not installed (apt-get install dicom3tools; `make test` does this)"
        )
    return exe


def verify(paths: Iterable[Path], batch: int = 8) -> list[Verdict]:
    """dciodvfy on every file, ``batch`` processes at a time."""
    exe, paths, out = require(), list(paths), []
    for i in range(0, len(paths), batch):
        procs = [
            (
                p,
                subprocess.Popen(
                    [exe, str(p)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                ),
            )  # fmt: skip
            for p in paths[i : i + batch]
        ]
        for p, proc in procs:
            lines = proc.communicate(timeout=60)[0].splitlines()
            out.append(
                Verdict(
                    p,
                    tuple(x for x in lines if x.startswith("Error")),
                    tuple(x for x in lines if x.startswith("Warning")),
                )
            )
    return out
