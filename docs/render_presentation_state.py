"""Render the picture of docs/hospital-use.md, what a PACS viewer shows: hipseg's presentation
state (GSPS).

A synthetic demo radiograph with its ground-truth label map standing in for a trained model's
prediction: the measurements, the quality flags, the GSPS built by ``hipseg.clinical.pr``,
written and read back as DICOM, and its graphic annotations drawn on the image by
``render_gsps`` (PIL) as a viewer draws them. Right: the same radiograph with the right
teardrop (L3) deleted from the label map, which the quality flags mark "NEEDS REVIEW". Usage::

    PYTHONPATH=workflow python docs/render_presentation_state.py [OUT.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402
from hipseg.clinical.pr import build_gsps, render_gsps  # noqa: E402
from hipseg.clinical.quality import assess  # noqa: E402
from hipseg.measure.record import measure_label_map  # noqa: E402

SCALE = 3


def panel(ds, lab, spacing, tmp: Path, name: str) -> Image.Image:
    rec = measure_label_map(
        lab, spacing, calibration={"source": "imager_spacing_uncorrected", "calibrated": False}
    )
    rec["frame"] = {"changed": False}
    q = assess(lab, rec, spacing)
    build_gsps(ds, rec, q, lab, "fold_all").save_as(tmp / f"{name}.dcm")
    return render_gsps(ds.pixel_array, pydicom.dcmread(tmp / f"{name}.dcm"), SCALE)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", type=Path,
                   default=Path(__file__).with_name("hospital-presentation-state.png"),
                   help="the PNG (default: docs/hospital-presentation-state.png)")  # fmt: skip
    out = p.parse_args(argv).out
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sheet = synth.generate(tmp / "demo", preset="demo", seed=3, n_patients=6)
        row = next(
            r for r in pd.read_csv(sheet, sep="\t", dtype=str).itertuples() if r.hips == "both"
        )
        ds = pydicom.dcmread(sheet.parent / row.dicom)
        lab = np.array(Image.open(sheet.parent / row.labels))
        spacing = tuple(float(v) for v in ds.ImagerPixelSpacing)[::-1]
        good = panel(ds, lab, spacing, tmp, "good")
        damaged = lab.copy()
        damaged[:, : lab.shape[1] // 2][damaged[:, : lab.shape[1] // 2] == 3] = 0
        flagged = panel(ds, damaged, spacing, tmp, "flagged")
    both = Image.new("RGB", (good.width * 2 + 8, good.height), (255, 255, 255))
    both.paste(good, (0, 0))
    both.paste(flagged, (good.width + 8, 0))
    both.save(out, optimize=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
