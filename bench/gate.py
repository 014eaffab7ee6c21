"""Does hipseg know when not to answer? The gate (``hipseg.gate``) on wrong films and on good ones.

Wrong inputs, each of which must come out **not assessable** with a reason and no measurement:

* real films nobody here made: the CR chest and extremity films of pydicom-data (as exported,
  and with thin headers: ViewPosition and BodyPartExamined removed, a plausible 0.2 mm spacing
  set, so that only the content check can refuse them), pydicom's own CT, MR and secondary
  capture test files (as they are, and relabelled as a CR with a spacing);
* generated ones: a synthetic AP pelvis of a child's size (the same film with a spacing 0.55
  times as large: every structure 0.55 times the size in mm, no age in the header; and the same
  with Patient's Age 8), a film of noise, a smooth gradient, one
  hip only (the other half of the film blank), the pelvis upside down, an RGB film, a film
  with a spacing ten times too small, one whose header says PA, one whose header says CHEST.

Good inputs: new synthetic AP pelvis radiographs (seeds no model was trained on), which must be
assessed: the share wrongly refused is printed with the reasons.

The model is a trained one (``--model-dir``: e.g. a finished demo's
``results/nnunet/nnUNet_results/Dataset501_HipJoint/nnUNetTrainerHipsegShort__nnUNetPlans__2d_lowres``,
the 2d model of one trained with ``nnunet.configurations: [2d]``);
every input goes through ``hipseg segment``'s own path (:func:`hipseg.segment.segment`) with
the default gate. Printed: per input the check that refused it, its first reason and the
seconds it took; the totals. Usage::

    PYTHONPATH=workflow python bench/gate.py --model-dir MODEL --work /tmp/bench-gate
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402

REAL = ("RG1_UNCR.dcm", "RG1_J2KR.dcm", "RG3_UNCR.dcm", "RG3_J2KI.dcm", "CT_small.dcm",
        "MR_small.dcm", "SC_rgb.dcm", "mlut_18.dcm", "US1_UNCR.dcm")  # fmt: skip
THIN = ("ViewPosition", "BodyPartExamined", "ImageLaterality", "Laterality")


def _save(ds: pydicom.Dataset, path: Path) -> Path:
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)
    return path


def _thin(ds: pydicom.Dataset, spacing: float = 0.2) -> pydicom.Dataset:
    """A header that says nothing against a pelvis: a CR, no view, no body part, a spacing."""
    ds = copy.deepcopy(ds)
    for kw in THIN:
        if kw in ds:
            delattr(ds, kw)
    ds.Modality = "CR"
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        if kw in ds:
            delattr(ds, kw)
    ds.ImagerPixelSpacing = [spacing, spacing]
    return ds


def real_films(out: Path) -> list[tuple[str, Path]]:
    """pydicom-data's and pydicom's own files, as they are and with thin headers."""
    items = []
    for name in REAL:
        try:
            path = Path(get_testdata_file(name))
        except Exception:  # noqa: BLE001 (a file the installed data lack)
            continue
        items.append((f"real {name}", path))
        ds = pydicom.dcmread(path)
        if "PixelData" in ds and int(ds.get("NumberOfFrames", 1) or 1) == 1:
            rows = int(ds.Rows)
            spacing = round(360.0 / rows, 3) if rows < 1000 else 0.2  # a pelvis-sized film
            items.append((f"real {name}, thin header", _save(_thin(ds, spacing),
                                                             out / f"thin_{name}")))  # fmt: skip
    return items


def _with_pixels(ds: pydicom.Dataset, pixels: np.ndarray) -> pydicom.Dataset:
    ds = copy.deepcopy(ds)
    info = np.iinfo(ds.pixel_array.dtype)
    arr = np.clip(np.round(pixels), info.min, info.max).astype(ds.pixel_array.dtype)
    ds.Rows, ds.Columns = arr.shape
    ds.PixelData = arr.tobytes()
    return ds


def generated_films(good: Path, sheet: pd.DataFrame, out: Path) -> list[tuple[str, Path]]:
    """Wrong films made from one good synthetic radiograph."""

    row = sheet[sheet["hips"] == "both"].iloc[0]
    ds = pydicom.dcmread(good / row["dicom"])
    px = ds.pixel_array.astype(np.float64)
    rng = np.random.default_rng(0)
    background = np.percentile(px, 50)
    one_hip = px.copy()
    one_hip[:, px.shape[1] // 2 :] = background
    lo, hi = np.percentile(px, [1, 99])
    gradient = np.linspace(lo, hi, px.shape[1])[None, :].repeat(px.shape[0], 0)
    child = copy.deepcopy(ds)  # the same film with everything 0.55 times the size in mm: a
    key = "PixelSpacing" if "PixelSpacing" in child else "ImagerPixelSpacing"  # child's pelvis
    setattr(child, key, [0.55 * float(v) for v in child.get(key)])
    for kw in ("PatientAge", "PatientBirthDate"):
        if kw in child:
            delattr(child, kw)
    films = {
        "child-sized pelvis, no age in the header": child,
        "noise": _with_pixels(ds, rng.uniform(lo, hi, px.shape)),
        "smooth gradient": _with_pixels(ds, gradient),
        "one hip only": _with_pixels(ds, one_hip),
        "pelvis upside down": _with_pixels(ds, px[::-1]),
    }
    aged = copy.deepcopy(child)
    aged.PatientAge = "008Y"
    films["child-sized pelvis, Patient's Age 8"] = aged
    pa, chest = copy.deepcopy(ds), copy.deepcopy(ds)
    pa.ViewPosition, chest.BodyPartExamined = "PA", "CHEST"
    films["header says PA"], films["header says CHEST"] = pa, chest
    fine = copy.deepcopy(ds)
    setattr(fine, key, [float(v) / 10 for v in fine.get(key)])
    films["spacing ten times too small"] = fine
    items = [(what, _save(d, out / f"gen_{i}.dcm")) for i, (what, d) in enumerate(films.items())]
    rgb = Path(get_testdata_file("SC_rgb.dcm"))
    items.append(("an RGB film", rgb))
    return items


def run(items: list[tuple[str, Path]], model, out: Path, log) -> list[dict]:
    """Every item through hipseg segment's path; one row each."""
    from hipseg.crop import CropRule
    from hipseg.errors import HipsegError
    from hipseg.gate import GateOptions
    from hipseg.segment import SegmentOptions, Source, segment

    options = SegmentOptions.from_config({"device": "cpu", "mirroring": False})
    rows = []
    for i, (what, path) in enumerate(items):
        folder = out / f"r{i}"
        start = time.perf_counter()
        try:
            segment([Source(f"r{i}", path, {})], folder, "unused", options,
                    CropRule.from_config({}), model=model, gate=GateOptions(), log=log)  # fmt: skip
        except HipsegError:
            pass
        entry = json.loads((folder / "run.json").read_text())["radiographs"][0]
        rows.append({
            "input": what, "status": entry["status"], "check": entry.get("check", ""),
            "reason": (entry.get("reasons") or [entry.get("error", "")])[0],
            "measured": (folder / f"r{i}" / "measurements.json").exists(),
            "seconds": time.perf_counter() - start,
        })  # fmt: skip
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", required=True, type=Path, help="a trained model folder")
    p.add_argument("--model", default="fold_all", help="fold_0 … fold_4, fold_all, ensemble")
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    p.add_argument("--patients", type=int, default=20, help="per seed (good films)")
    a = p.parse_args(argv)
    from hipseg.segment import SegmentOptions
    from hipseg.segment.model import Model

    a.work.mkdir(parents=True, exist_ok=True)
    log = open(a.work / "segment.log", "w")  # noqa: SIM115
    model = Model(a.model_dir, a.model, SegmentOptions.from_config(
        {"device": "cpu", "mirroring": False, "model": a.model}), threads=1)  # fmt: skip
    good_items = []
    for seed in a.seeds:
        sheet_path = synth.generate(a.work / f"good{seed}", preset="demo", seed=seed,
                                    n_patients=a.patients)  # fmt: skip
        sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
        good_items += [(f"seed {seed} {r.id}", sheet_path.parent / r.dicom)
                       for r in sheet.itertuples() if r.hips != "none"]  # fmt: skip
    (a.work / "wrong").mkdir(exist_ok=True)
    wrong_items = real_films(a.work / "wrong") + generated_films(sheet_path.parent, sheet,
                                                                 a.work / "wrong")  # fmt: skip
    wrong = run(wrong_items, model, a.work / "out-wrong", log)
    good = run(good_items, model, a.work / "out-good", log)
    print(f"{'wrong input':48s} {'result':15s} {'check':8s} {'s':>5s}  first reason")
    for r in wrong:
        print(f"{r['input'][:48]:48s} {r['status']:15s} {r['check']:8s} {r['seconds']:5.1f}  "
              f"{r['reason'][:90]}")  # fmt: skip
    refused = [r for r in wrong if r["status"] != "ok"]
    measured = sum(r["measured"] for r in wrong)
    print(f"wrong inputs: {len(refused)}/{len(wrong)} not assessable or refused "
          f"({sum(r['status'] == 'not_assessable' for r in wrong)} not assessable, "
          f"{sum(r['status'] == 'failed' for r in wrong)} failed as unreadable), "
          f"{measured} measured; {np.median([r['seconds'] for r in wrong]):.1f} s median "
          "per input")  # fmt: skip
    bad = [r for r in good if r["status"] != "ok"]
    print(f"good films: {len(bad)}/{len(good)} wrongly refused "
          f"({100 * len(bad) / max(len(good), 1):.1f} %); "
          f"{np.median([r['seconds'] for r in good]):.1f} s median per film")  # fmt: skip
    for r in bad:
        print(f"  {r['input']}: {r['check']}: {r['reason'][:110]}")
    (a.work / "gate.json").write_text(json.dumps({"wrong": wrong, "good": good}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
