"""How well the quality flags (``hipseg.clinical.quality``) separate bad results from good ones.

New synthetic demo radiographs (a seed no model was trained on) with their known geometry, each
in six versions: as generated, with noise (Gaussian, σ = 15 % of the image's 1st–99th percentile
range), with low contrast (the grey values squeezed to 15 % of their spread around the median),
rotated (12° about the image centre), collimated (everything outside the central 76 % × 80 % of
the film unexposed, as a tight collimation leaves it) and with an implant on one side (a femoral
stem and head of metal drawn over the right femur's true head and medullary cavity: the
intake's implant detection must exclude that hip, the other one is compared). Two sources of
label maps:

* **ground truth**: the generator's label maps (as generated and rotated with the image; noise
  and contrast do not change them): what a perfect model gives;
* **model** (``--model-dir``): ``hipseg segment``'s predictions on every version, through the
  gate (:mod:`hipseg.gate`): a film it finds not assessable is *refused* (counted apart; a
  refused clean film is a good film wrongly refused).

A result is **bad** when a measurement that the truth defines is missing, or is off by more than
5 mm (distances, offset, head centre), 8 % (head diameter) or 5° (angles) from the truth of
:mod:`hipseg.measure.validate`; the teardrop line tilt and the head centre's position change with
a rotation, so they are not compared on rotated versions. The script prints, per source and
version, how many results are bad, how many of those the flags catch and how many good ones they
flag. Usage::

    PYTHONPATH=workflow python bench/quality.py --work /tmp/bench-quality [--model-dir M]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402
from hipseg.clinical.quality import assess  # noqa: E402
from hipseg.measure.record import measure_label_map  # noqa: E402
from hipseg.measure.validate import compare, read_truth  # noqa: E402

TOLERANCE = {"mm": 5.0, "deg": 5.0, "%": 8.0}
VERSIONS = ("clean", "noise", "low_contrast", "rotated", "collimated", "implant")
ROTATION_DEG = 12.0
FIELD = (0.1, 0.9, 0.12, 0.88)  # the collimated field: rows, columns (fractions)


def degrade(pixels: np.ndarray, version: str, rng, bright: float = 1.0,
            labels: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """``pixels`` in ``version``; ``bright``: +1 where a larger value is brighter on display
    (MONOCHROME2), -1 else; ``labels``: the true label map (the implant's place)."""
    x = pixels.astype(np.float64)
    lo, hi = np.percentile(x, [1, 99])
    white = hi + 0.2 * (hi - lo) if bright > 0 else lo - 0.2 * (hi - lo)
    if version == "collimated":  # unexposed outside the field: white on display
        r0, r1, c0, c1 = (int(f * n) for f, n in zip(FIELD, x.shape * 2, strict=False))
        inside = np.zeros(x.shape, bool)
        inside[r0:r1, c0:c1] = True
        x[~inside] = white
    elif version == "implant":  # metal over the right femur (image left): brighter than bone
        metal = np.zeros(x.shape, bool)
        metal[:, : x.shape[1] // 2] = labels[:, : x.shape[1] // 2] == 1
        x[ndimage.binary_erosion(metal, iterations=2)] = white
    if version == "noise":
        x = x + rng.normal(0, 0.15 * (hi - lo), x.shape)
    elif version == "low_contrast":
        med = np.median(x)
        x = med + 0.15 * (x - med)
    elif version == "rotated":
        x = ndimage.rotate(x, ROTATION_DEG, reshape=False, order=1, mode="nearest")
    return x


def is_bad(record: dict, truth: dict, version: str) -> tuple[bool, list[str]]:
    why = []
    implant = record["landmarks"].get("right", {}).get("excluded") if version == "implant" else 0
    if version == "implant" and not implant:
        why.append("the implant hip was not excluded")
    for row in compare(record, truth, truth["id"]):
        if version == "rotated" and row["quantity"] in ("teardrop_line_angle", "head_centre"):
            continue
        if version == "implant" and (row["side"] in ("right", "both")):
            continue  # the implant hip, and what needs it
        if row["error"] is None:
            why.append(f"{row['side']} {row['quantity']} missing")
        elif abs(row["error"]) > TOLERANCE[row["unit"]]:
            why.append(f"{row['side']} {row['quantity']} off by {row['error']:.1f} {row['unit']}")
    return bool(why), why


def versions_of(root: Path, sheet: pd.DataFrame, work: Path, rng) -> list[dict]:
    """Every radiograph in every version: DICOM written under work/<version>/."""
    out = []
    for version in VERSIONS:
        folder = work / version
        folder.mkdir(parents=True, exist_ok=True)
        for row in sheet.itertuples():
            ds = pydicom.dcmread(root / row.dicom)
            bright = -1.0 if ds.PhotometricInterpretation == "MONOCHROME1" else 1.0
            lab = np.array(Image.open(root / row.labels))
            pixels = degrade(ds.pixel_array, version, rng, bright, lab)
            info = np.iinfo(ds.pixel_array.dtype)
            ds.PixelData = (
                np.clip(np.round(pixels), info.min, info.max).astype(ds.pixel_array.dtype).tobytes()
            )
            ds.save_as(folder / f"{row.id}.dcm")
            if version == "rotated":
                lab = ndimage.rotate(lab, ROTATION_DEG, reshape=False, order=0)
            excluded = {s: "implant" for s in ("right", "left") if row.hips not in ("both", s)}
            out.append(
                {
                    "id": row.id,
                    "version": version,
                    "dicom": folder / f"{row.id}.dcm",
                    "labels": lab,
                    "excluded": excluded,
                    "truth": read_truth(root / "truth" / f"{row.id}.json"),
                    "spacing": tuple(float(v) for v in ds.ImagerPixelSpacing)[::-1],
                    "implant": "right" if version == "implant" else None,
                }
            )
    return out


def ground_truth_results(items: list[dict]) -> list[dict]:
    results = []
    for it in items:
        if it["version"] not in ("clean", "rotated"):
            continue  # (the other versions change the pixels, not the labels)
        rec = measure_label_map(it["labels"], it["spacing"], excluded=it["excluded"])
        q = assess(it["labels"], rec, it["spacing"], excluded=it["excluded"])
        results.append({**it, "record": rec, "quality": q})
    return results


def model_results(items: list[dict], model_dir: Path, work: Path, model: str) -> list[dict]:
    from hipseg.crop import CropRule
    from hipseg.errors import HipsegError
    from hipseg.segment import SegmentOptions, Source, segment

    options = SegmentOptions.from_config({"device": "cpu", "mirroring": False, "model": model})
    sources = [
        Source(f"{it['version']}-{it['id']}", it["dicom"], dict(it["excluded"])) for it in items
    ]
    out = work / "segmented"
    shutil.rmtree(out, ignore_errors=True)
    try:
        segment(
            sources,
            out,
            model_dir,
            options,
            CropRule.from_config({}),
            threads=1,
            log=open(work / "segment.log", "w"),
        )
    except HipsegError as exc:
        print(f"note: {exc}", file=sys.stderr)
    run = {e["name"]: e for e in json.loads((out / "run.json").read_text())["radiographs"]}
    results = []
    for it, src in zip(items, sources, strict=True):
        entry = run[src.name]
        if entry["status"] == "not_assessable":
            results.append({**it, "record": None, "refused": entry["reasons"]})
            continue
        if entry["status"] != "ok":
            continue
        rec = json.loads((out / src.name / "measurements.json").read_text())
        q = {"needs_review": entry["needs_review"], "reasons": entry["review_reasons"]}
        results.append({**it, "record": rec, "quality": q})
    return results


def kind(reason: str) -> str:
    if "label L" in reason and "missing" in reason:
        return "label missing"
    for words, name in (
        ("pieces", "label in pieces"),
        ("outside", "value outside its range"),
        ("missing", "measurement missing"),
        ("ensemble", "ensemble disagreement"),
    ):
        if words in reason:
            return name
    return reason


def table(results: list[dict], source: str) -> list[dict]:
    rows = []
    for version in VERSIONS:
        every = [r for r in results if r["version"] == version]
        sel = [r for r in every if r["record"] is not None]
        if not every:
            continue
        bad = [is_bad(r["record"], r["truth"], version)[0] for r in sel]
        flagged = [r["quality"]["needs_review"] for r in sel]
        rows.append(
            {
                "source": source,
                "version": version,
                "n": len(every),
                "refused": len(every) - len(sel),
                "bad": sum(bad),
                "bad_flagged": sum(b and f for b, f in zip(bad, flagged, strict=True)),
                "good": len(sel) - sum(bad),
                "good_flagged": sum((not b) and f for b, f in zip(bad, flagged, strict=True)),
            }
        )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--model-dir", type=Path, help="a trained model folder (as for segment)")
    p.add_argument("--model", default="fold_all", help="fold_0 … fold_4, fold_all, ensemble")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--patients", type=int, default=8)
    a = p.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    sheet_path = synth.generate(a.work / "demo", preset="demo", seed=a.seed, n_patients=a.patients)
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str, keep_default_na=False)
    sheet = sheet[sheet["hips"] != "none"]
    items = versions_of(sheet_path.parent, sheet, a.work, np.random.default_rng(0))
    rows = table(ground_truth_results(items), "ground truth")
    reasons, refusals = Counter(), Counter()
    if a.model_dir:
        res = model_results(items, a.model_dir, a.work, a.model)
        rows += table(res, f"model {a.model}")
        for r in res:
            for reason in r["quality"]["reasons"] if r["record"] else []:
                reasons[kind(reason)] += 1
            for reason in r.get("refused") or []:
                refusals[reason.split(": ", 1)[-1][:60]] += 1
    print(
        f"{'source':15s} {'version':13s} {'n':>3s} {'refused':>8s} {'bad':>4s} {'caught':>7s} "
        f"{'good':>5s} {'flagged':>8s}"
    )
    for r in rows:
        print(
            f"{r['source']:15s} {r['version']:13s} {r['n']:3d} {r.get('refused', 0):8d} "
            f"{r['bad']:4d} {r['bad_flagged']:7d} {r['good']:5d} {r['good_flagged']:8d}"
        )
    bad = sum(r["bad"] for r in rows)
    good = sum(r["good"] for r in rows)
    print(
        f"all: {sum(r['bad_flagged'] for r in rows)}/{bad} bad results flagged, "
        f"{sum(r['good_flagged'] for r in rows)}/{good} good results flagged"
    )
    if reasons:
        print("reasons given on the model's results (one result may have several):")
        for reason, n in reasons.most_common(6):
            print(f"  {n:4d}  {reason}")
    if refusals:
        print("why the gate refused (a film may have several reasons):")
        for reason, n in refusals.most_common(8):
            print(f"  {n:4d}  {reason}")
    (a.work / "quality.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
