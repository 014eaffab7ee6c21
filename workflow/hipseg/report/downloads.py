"""The data behind the report's tables, embedded as downloadable files (``data:`` URIs), so the
single HTML file carries them."""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd

from ..errors import InputError

MIME = {".csv": "text/csv", ".bib": "application/x-bibtex", ".md": "text/markdown"}


def _human(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} B"


def from_bytes(name: str, data: bytes, what: str = "") -> dict:
    """A download link's data: file name, ``data:`` URI, size and what it holds."""
    mime = MIME.get(Path(name).suffix, "application/octet-stream")
    uri = f"data:{mime};charset=utf-8;base64," + base64.b64encode(data).decode("ascii")
    return {"name": name, "uri": uri, "size": _human(len(data)), "what": what}


def from_file(path: Path, what: str = "") -> dict:
    if not path.is_file():
        raise InputError(path, "file to embed does not exist")
    return from_bytes(path.name, path.read_bytes(), what)


def from_frame(name: str, df: pd.DataFrame, what: str = "") -> dict:
    text = df.to_csv(index=False, float_format="%.6f", na_rep="NaN")
    return from_bytes(name, text.encode("utf-8"), what)


def from_text(name: str, text: str, what: str = "") -> dict:
    return from_bytes(name, text.encode("utf-8"), what)
