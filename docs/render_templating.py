"""Render the picture of docs/templating.md: a templated synthetic radiograph (``templating.png``).

The first radiograph of the synthetic ``paper`` preset (paper0001: full resolution, both hips
usable) with its ground-truth label map standing in for a trained model's prediction: calibrated
as ``hipseg segment`` calibrates it (here by the header's magnification factor), measured,
templated with the generic catalogue (:mod:`hipseg.templating`) and drawn as ``hipseg segment
--template`` draws ``templating.png``; cropped to the hips and reduced. Usage::

    PYTHONPATH=workflow python docs/render_templating.py [OUT.png] [--synth DIR]

``--synth``: a folder where paper0001 was already generated (else it is generated, 10-20 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402
from hipseg.intake import read_radiograph  # noqa: E402
from hipseg.measure.draw import base_image  # noqa: E402
from hipseg.measure.record import measure_label_map  # noqa: E402
from hipseg.measure.validate import calibrate_file  # noqa: E402
from hipseg.templating.catalogue import load  # noqa: E402
from hipseg.templating.draw import draw_templating  # noqa: E402
from hipseg.templating.record import template_radiograph  # noqa: E402

RID = "paper0001"
WIDTH = 1100  # pixels of the picture


def render(folder: Path, out: Path) -> dict:
    dicom = folder / "dicom" / f"{RID}.dcm"
    statement = calibrate_file(dicom)
    lab = np.array(Image.open(folder / "labels" / f"{RID}.png"))
    record = measure_label_map(lab, tuple(statement["spacing_mm"]), calibration=statement)
    templating = template_radiograph(lab, record, load("generic"))
    rows, cols = np.nonzero(lab)
    top, bottom = max(rows.min() - 40, 0), min(rows.max() + 40, lab.shape[0])
    left, right = max(cols.min() - 40, 0), min(cols.max() + 40, lab.shape[1])
    pixels = read_radiograph(dicom).pixels[top:bottom, left:right]
    scale = WIDTH / pixels.shape[1]
    img = base_image(pixels)
    img = img.resize((WIDTH, int(round(img.height * scale))), Image.Resampling.LANCZOS)
    draw_templating(img, templating, tuple(statement["spacing_mm"]), scale, origin=(top, left))
    img.save(out, optimize=True)
    return templating


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", default=str(Path(__file__).with_name("templating.png")))
    p.add_argument("--synth", help="a folder with paper0001 generated")
    a = p.parse_args()
    if a.synth:
        templating = render(Path(a.synth), Path(a.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            synth.generate(tmp, preset="paper", seed=0, only=[RID])
            templating = render(Path(tmp), Path(a.out))
    for plan in templating["hips"].values():
        print(plan["summary"])
    print(a.out)


if __name__ == "__main__":
    main()
