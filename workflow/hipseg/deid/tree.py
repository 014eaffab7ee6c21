"""``hipseg anonymise IN OUT``: a file or a directory tree outside the workflow."""

from __future__ import annotations

from pathlib import Path

from ..dicomio import read_dataset
from ..errors import HipsegError, InputError
from ..io import write_json
from .image import deidentify
from .options import Options
from .summary import summarise


def _patient_of(path: Path) -> str:
    ds = read_dataset(path, stop_before_pixels=True)
    patient = str(ds.get("PatientID", "") or "").strip()
    if not patient:
        raise InputError(path, "has no Patient ID: no pseudonym can be derived from it")
    issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()
    return f"{issuer}\x00{patient}" if issuer else patient


def anonymise(
    src: str | Path, dst: str | Path, key: bytes, key_source: str, options: Options | None = None
) -> tuple[int, list[str]]:
    """De-identify a file (``dst`` is the output file) or every file under a directory (``dst``
    mirrors the tree). The pseudonym and date shift derive from each file's Patient ID (and
    Issuer of Patient ID). Each output gets ``<name>.audit.json`` beside it; a directory also
    gets ``deid_summary.json``. Returns (number written, one error line per failed file)."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise InputError(src, "does not exist")
    if src.is_dir():
        if dst.resolve() == src.resolve() or dst.resolve().is_relative_to(src.resolve()):
            raise InputError(dst, "the output directory must lie outside the input directory")
        pairs = [
            (f, dst / f.relative_to(src))
            for f in sorted(src.rglob("*"))
            if f.is_file() and f.name != "DICOMDIR" and not f.name.startswith(".")
        ]
    else:
        pairs = [(src, dst / src.name if dst.is_dir() else dst)]
    audits, errors = [], []
    for f, out in pairs:
        try:
            record = deidentify(f, out, key, _patient_of(f), options)
        except HipsegError as exc:
            errors.append(str(exc))
            continue
        record.update(id=out.name, key_source=key_source)
        audit = out.with_name(out.name + ".audit.json")
        write_json(audit, record)
        audits.append(audit)
    if src.is_dir() and audits:
        summarise(audits, dst / "deid_summary.json")
    return len(audits), errors
