"""Measurement accuracy on ground-truth label maps against the synthetic generator's geometry.

Generates a preset (``paper``: the paper's 83 radiographs at full resolution, 0.10–0.175 mm per
pixel, about 4–5 minutes and 1.3 GB; ``demo``: 25 radiographs at about 2 mm per pixel) or uses
an existing generated folder, measures every ground-truth label map on the CPU and prints the
mean absolute error and 95th percentile of each measurement (:mod:`hipseg.measure.validate`),
then the calibration: every radiograph's DICOM is calibrated as ``hipseg segment`` does it
(calibration ball, else the header; :mod:`hipseg.measure.calibration`), the lengths of its
ground-truth label map in those millimetres and in the detector's (uncalibrated) are compared
with the truth, and the balls found with the generator's. Usage::

    PYTHONPATH=workflow python bench/measure_truth.py --preset paper --work /tmp/truth-paper

The calibration balls are also summarised by placement (over tissue, partly or wholly over
the direct beam, over bone, cut by the field's edge: :func:`hipseg.measure.validate.ball_placement`)
with the error of those used. ``--ids`` measures a subset of the preset (each radiograph renders
as in the full set).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402
from hipseg.measure.validate import validate_set  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="paper", choices=sorted(synth.PRESETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", required=True, help="folder for the generated set and results")
    p.add_argument("--reuse", action="store_true", help="use a set already generated there")
    p.add_argument("--ids", nargs="*", help="only these radiographs of the preset (e.g. the "
                   "first 26 and those with a ball over the direct beam)")  # fmt: skip
    a = p.parse_args()
    work = Path(a.work)
    t0 = time.perf_counter()
    if not (a.reuse and (work / "synth" / "samples.tsv").is_file()):
        synth.generate(work / "synth", preset=a.preset, seed=a.seed, only=a.ids)
    t1 = time.perf_counter()
    result = validate_set(work / "synth" / "truth", work / "synth" / "labels", work / "errors",
                          dicom_dir=work / "synth" / "dicom")  # fmt: skip
    t2 = time.perf_counter()
    n = len(result["radiographs"])
    print(f"{a.preset} preset, seed {a.seed}: {n} radiographs; generated in {t1 - t0:.0f} s, "
          f"measured in {t2 - t1:.0f} s ({(t2 - t1) / n:.2f} s per radiograph)")  # fmt: skip
    sp = result["spacing_mm"]
    print(f"pixel spacing {sp['min']:g}–{sp['max']:g} mm (median {sp['median']:g})")
    for e in result["ground_truth"]:
        px = f"  ({e['mae_px']:.2f} / {e['p95_px']:.2f} px)" if "mae_px" in e else ""
        target = "" if e["target"] is None else f"  target ≤ {e['target']:g}: {e['met']}"
        print(f"{e['quantity']:42s} n={e['n']:3d} missing={e['missing']}  MAE {e['mae']:.3f}  "
              f"P95 {e['p95']:.3f} {e['unit']}{px}{target}")  # fmt: skip
    _calibration(result["calibration"])
    (work / "errors" / "timing.json").write_text(
        json.dumps({"generate_s": t1 - t0, "measure_s": t2 - t1, "radiographs": n}) + "\n"
    )


def _fmt(st: dict | None, unit: str) -> str:
    if not st or st["mae"] is None:
        return "—"
    return f"{st['mae']:.3f} / {st['p95']:.3f} {unit}"


def _calibration(cal: dict) -> None:
    methods = {}
    for r in cal["radiographs"]:
        methods[r["method"]] = methods.get(r["method"], 0) + 1
    print("\ncalibration of the radiographs:", ", ".join(f"{k} {v}" for k, v in methods.items()))
    for e in cal["magnification"]:
        print(f"  magnification error, {e['method']:22s} n={e['radiographs']:3d}  MAE / P95 "
              f"{_fmt(e['percent'], '%')}")  # fmt: skip
    print("\nlengths on the ground-truth label maps (MAE / P95 of |measured - true|):")
    for e in cal["lengths"]:
        cal_txt = _fmt(e.get("calibrated"), "mm")
        if "percent" in (e.get("calibrated") or {}):
            cal_txt += f" ({_fmt(e['calibrated']['percent'], '%')})"
        unc = _fmt(e.get("uncalibrated"), "mm")
        if "percent" in (e.get("uncalibrated") or {}):
            unc += f" ({_fmt(e['uncalibrated']['percent'], '%')})"
        print(f"  {e['group']:22s} {e['quantity']:42s} n={e['radiographs']:3d}  calibrated "
              f"{cal_txt:38s} uncalibrated {unc}")  # fmt: skip
    b = cal["balls"]
    print(f"\ncalibration balls: {b['with_ball']} of {b['radiographs']} radiographs, "
          f"{b['false_detections']} false detections")  # fmt: skip
    for k, v in b["recall"].items():
        rec = "—" if v["recall"] is None else f"{100 * v['recall']:.0f} %"
        print(f"  recall {k:10s} {v['found']:3d} / {v['n']:3d} found ({rec}), {v['used']} used")
    for k in ("used", "partial"):
        e = b[f"diameter_error_{k}"]
        print(f"  diameter error, {k:8s} n={e['mm']['n']:3d}  MAE / P95 {_fmt(e['mm'], 'mm')} "
              f"({_fmt(e['percent'], '%')})")  # fmt: skip
    print("\nball calibration error (the used balls' diameter, = their magnification's) by "
          "placement:")  # fmt: skip
    for cat, e in b["by_placement"].items():
        print(f"  {cat:28s} {e['n']:3d} balls, {e['found']:3d} found, {e['used']:3d} used: "
              f"MAE / P95 {_fmt(e['percent'], '%')}")  # fmt: skip
    all_used = b["diameter_error_used"]["percent"]
    verdict = "met" if all_used["p95"] is not None and all_used["p95"] <= 1.0 else "MISSED"
    print(f"  all used balls: P95 {_fmt(all_used, '%')} (target P95 ≤ 1 %: {verdict})")


if __name__ == "__main__":
    main()
