"""The summary of the audit records for the report: counts only, never values."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..errors import InputError
from ..io import write_json
from .table import TABLE_SIZE


def _kind(action: str) -> str:
    word = action.split(" (")[0]
    if action.startswith("replaced (keyed UID"):
        return "UIDs replaced"
    if action.startswith("replaced (keyed pseudonym"):
        return "names/IDs pseudonymised"
    if action.startswith("emptied (") and "date" in action:
        return "dates emptied (placeholder or not a date)"
    return {
        "removed": "removed",
        "emptied": "emptied",
        "replaced": "replaced",
        "date shifted": "dates shifted",
        "kept": "kept",
    }.get(word, word)


def summarise(audits: list[str | Path], out: str | Path, sheet: str | Path | None = None) -> dict:
    """Summary of the audit records for the report: counts only, never values. ``sheet`` (the
    validated sample sheet) adds the images that entered without de-identification: joint
    images that are not DICOM, taken as de-identified by their provider."""
    counts: Counter[str] = Counter()
    sources, patients, flagged, methods, options = set(), set(), [], set(), None
    redacted = []
    private = 0
    for a in audits:
        try:
            rec = json.loads(Path(a).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(a, f"cannot read the audit record ({exc})") from exc
        sources.add(rec.get("key_source", "unknown"))
        patients.add(rec["patient"])
        for act in rec["actions"]:
            counts[_kind(act["action"])] += 1
            private += act["rule"] == "private" and act["action"] == "removed"
        burned = rec.get("burned_in", {})
        if burned.get("flagged"):
            flagged.append(rec.get("id", Path(a).name))
        if burned.get("redacted"):
            redacted.append(rec.get("id", Path(a).name))
        if "profile" in rec:
            methods.add(rec["profile"]["table"] + " (" + rec["profile"]["source"] + ")")
        options = rec.get("options", options)
    summary = {
        "n_images": len(audits),
        "n_pseudonymous_patients": len(patients),
        "key_source": "demo" if sources == {"demo"} else ",".join(sorted(sources)),
        "profile": "; ".join(sorted(methods)),
        "table_attributes": TABLE_SIZE,
        "options": options or {},
        "attributes": dict(sorted(counts.items())),
        "private_tags_removed": private,
        "n_images_flagged_burned_in": len(flagged),
        "images_flagged_burned_in": sorted(flagged),
        "n_images_redacted_burned_in": len(redacted),
        "images_redacted_burned_in": sorted(redacted),
    }
    if sheet is not None:
        from ..samplesheet import read

        table = read(sheet)
        provided = table[table["dicom"] == ""]
        summary["n_images_not_dicom"] = int(len(provided))
        if len(provided):
            summary["not_dicom"] = (
                f"{len(provided)} image(s) entered as non-DICOM files (PNG, TIFF, NIfTI, NRRD, "
                "…): taken as de-identified by their provider; hipseg neither de-identified nor "
                "examined them for burned-in text"
            )
    write_json(out, summary)
    return summary
