"""Tab-separated tables of strings, as the sample sheet and an nnU-Net dataset's
``patients.tsv`` are written: UTF-8 text (a byte-order mark, Windows line endings and spaces
around names and values are accepted: spreadsheets write them), ``#`` comment lines."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from .errors import InputError


def parse_table(path: Path) -> pd.DataFrame:
    """A tab-separated UTF-8 table of strings, names and values stripped."""
    df = _parse(path, _text(path))
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda s: s.str.strip())


def _text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, "sample sheet is UTF-16 text: save it as UTF-8 (tab-separated)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            path, f"sample sheet is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.StringIO(text), sep="\t", dtype=str, keep_default_na=False, comment="#"
        )
    except Exception as exc:  # pandas raises several types for malformed text
        raise InputError(path, f"cannot be parsed as a tab-separated table ({exc})") from exc
