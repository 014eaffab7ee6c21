"""2D templating against the synthetic generator's geometry, beside published templating accuracy.

Generates a preset (``paper``: the paper's 83 radiographs at full resolution, 0.10–0.175 mm per
pixel, 10–40 minutes on two cores; ``demo``: about 2 mm per pixel) or reuses a generated folder,
plans every ground-truth label map with a catalogue (:mod:`hipseg.templating`) and compares the
plans with the plans the same rules make on the true geometry (:mod:`hipseg.templating.validate`):

* (a) the ground-truth label maps in the truth's millimetres: the algorithm's error;
* (a') the same in the millimetres ``hipseg segment`` calibrates each radiograph to (ball,
  else header; uncalibrated radiographs are left out, as templating refuses them);
* (b) with ``--segmented DIR`` (a ``hipseg segment --template`` output folder of the same set,
  e.g. the demo's ``results/segment/test``): the model's label maps, as planned there.

Printed: cup and stem size exact and within one size (%), and the 95th percentile of the error of
the predicted leg-length and total-offset change — against the same components on the true
geometry (the prediction's error) and against the true plan — then the published figures of
manual and AI-assisted templating. Usage::

    PYTHONPATH=workflow python bench/templating.py --preset paper --work /tmp/tpl-paper
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402
from hipseg.io import write_json  # noqa: E402
from hipseg.templating import catalogue as catalogues  # noqa: E402
from hipseg.templating.validate import PUBLISHED, validate_set  # noqa: E402

PUBLISHED_NOTE = "published: planned against implanted sizes in patients (not the same comparison)"
KINDS = {
    "ground_truth": "(a) ground-truth label maps, true mm",
    "ground_truth_calibrated": "(a') ground-truth label maps, hipseg's calibration",
    "predicted": "(b) predicted label maps (hipseg segment)",
}


def refresh_truth(folder: Path, preset: str, seed: int, n_patients: int | None) -> int:
    """Rewrite the hips of truth files written before the generator stated ``planning`` (the
    images and label maps do not change; the ball's truth is kept)."""
    from hipseg.synth.cohort import _preset, _radiographs
    from hipseg.synth.truth import radiograph_truth

    pre = _preset(preset)
    n = int(pre["n_patients"] if n_patients is None else n_patients)
    done = 0
    for r in _radiographs(pre, seed, n):
        path = folder / "truth" / f"{r['id']}.json"
        if not path.is_file():
            continue
        old = json.loads(path.read_text())
        if all("planning" in h for h in old["hips"].values()):
            continue
        new = radiograph_truth(r["patient"], r["pose"], r["spacing"], r["field_mm"], pre,
                               r["projection"])  # fmt: skip
        write_json(path, {**old, "hips": new["hips"]})
        done += 1
    return done


def calibrations(folder: Path, ids: list[str], cache: Path) -> dict:
    """Each radiograph's calibration as ``hipseg segment`` makes it (calibrated ones only;
    kept in ``cache`` for a rerun on the same set)."""
    from hipseg.measure.validate import calibrate_file

    done = json.loads(cache.read_text()) if cache.is_file() else {}
    for rid in ids:
        if rid not in done:
            done[rid] = calibrate_file(folder / "dicom" / f"{rid}.dcm")
    write_json(cache, done)
    return {rid: done[rid] for rid in ids if done[rid]["method"] != "uncalibrated"}


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def _mm(e: dict) -> str:
    return "—" if not e or e["mae"] is None else f"{e['mae']:.2f} / {e['p95']:.2f}"


def report(result: dict) -> None:
    print(f"{'':52s} {'cup exact':>9s} {'±1':>6s} {'stem exact':>10s} {'±1':>6s}  "
          f"{'leg length MAE / P95 mm':>24s} {'offset MAE / P95 mm':>20s}")  # fmt: skip
    for kind, title in KINDS.items():
        s = result.get(kind)
        if not s:
            continue
        for basis, label in (("same_components", "same components"),
                             ("truth_plan", "vs the true plan")):  # fmt: skip
            head = f"{title} [{s['planned']} hips]" if basis == "same_components" else ""
            sizes = (f"{_pct(s['cup']['exact_percent']):>9s} "
                     f"{_pct(s['cup']['within_one_percent']):>6s} "
                     f"{_pct(s['stem']['exact_percent']):>10s} "
                     f"{_pct(s['stem']['within_one_percent']):>6s}"
                     if basis == "same_components" else " " * 35)  # fmt: skip
            print(f"{head:52s} {sizes}  {label + ' ' + _mm(s['leg_length_change_mm'][basis]):>24s}"
                  f" {_mm(s['offset_change_mm'][basis]):>20s}")  # fmt: skip
        if s["not_planned"]:
            print(f"    not planned on the label maps ({len(s['not_planned'])}):")
            for line in s["not_planned"][:10]:
                print(f"      {line}")
        fill = s["cup"]["fill_error_mm"]
        if fill["n"]:
            print(f"    cup fill diameter error MAE / P95 {_mm(fill)} mm (max {fill['max']:.2f})")


def run_set(work: Path, preset: str, seed: int, n_patients, reuse: bool, cat,
            segmented=None, calibrate: bool = True) -> dict:  # fmt: skip
    """Generate (or reuse) a set under ``work/synth``, plan and compare it; print the figures."""
    folder = work / "synth"
    t0 = time.perf_counter()
    if not (reuse and (folder / "samples.tsv").is_file()):
        synth.generate(folder, preset=preset, seed=seed, n_patients=n_patients)
    refreshed = refresh_truth(folder, preset, seed, n_patients)
    ids = sorted(q.stem for q in (folder / "truth").glob("*.json"))
    if segmented:  # the radiographs it segmented (the demo's: its test set)
        run = json.loads((Path(segmented) / "run.json").read_text())
        ids = [e["name"] for e in run["radiographs"] if e["status"] == "ok" and e["name"] in ids]
    t1 = time.perf_counter()
    cal = calibrations(folder, ids, work / "calibrations.json") if calibrate else None
    t2 = time.perf_counter()
    result = validate_set(folder / "truth", folder / "labels", work / "templating", cat,
                          segmented=segmented, ids=ids, calibrations=cal)  # fmt: skip
    t3 = time.perf_counter()
    print(f"\n{preset} preset, seed {seed}: {len(ids)} radiographs ({refreshed} truth files "
          f"refreshed); catalogue {cat.name}; generated in {t1 - t0:.0f} s, calibrated in "
          f"{t2 - t1:.0f} s, planned and compared in {t3 - t2:.0f} s")  # fmt: skip
    if cal is not None:
        print(f"calibrated radiographs for (a'): {len(cal)} of {len(ids)}")
    report(result)
    return result


def demo_segmented(work: Path, model_dir: str | None, catalogue: str) -> Path:
    """New demo radiographs (seed 11: radiographs the demo model never saw, as bench/segment.py
    uses them) segmented and templated by ``hipseg segment --template`` with a demo model: the
    one given, else one trained here as the demo trains it (bench/segment.py, seed 7; a few
    CPU-minutes)."""
    from segment import trained_demo_model

    from hipseg import cli

    model = Path(model_dir) if model_dir else trained_demo_model(work / "model", 12, 25)
    out = work / "segmented"
    if not (out / "run.json").is_file():
        synth.generate(work / "synth", preset="demo", seed=11)
        argv = ["segment", str(work / "synth" / "dicom"), "-o", str(out), "--device", "cpu",
                "--model-dir", str(model), "--threads", "1", "--template", catalogue]  # fmt: skip
        if cli.main(argv) != 0:
            raise SystemExit(f"hipseg segment failed: {out / 'run.json'}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="paper", choices=sorted(synth.PRESETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-patients", type=int, help="fewer patients than the preset's")
    p.add_argument("--work", required=True, help="folder for the generated set and results")
    p.add_argument("--reuse", action="store_true", help="use a set already generated there")
    p.add_argument("--catalogue", default="generic", help="generic or a catalogue YAML")
    p.add_argument("--segmented", help="a hipseg segment --template output folder of the set")
    p.add_argument("--no-calibration", action="store_true", help="skip (a')")
    p.add_argument(
        "--demo",
        action="store_true",
        help="also (b) on the demo: new demo "
        "radiographs segmented and templated by a demo model (see --demo-model-dir)",
    )
    p.add_argument("--demo-model-dir", help="a trained demo model (…__2d); else trained here")
    a = p.parse_args()
    work = Path(a.work)
    cat = catalogues.load(a.catalogue)
    run_set(work, a.preset, a.seed, a.n_patients, a.reuse, cat, a.segmented,
            not a.no_calibration)  # fmt: skip
    if a.demo:
        segmented = demo_segmented(work / "demo", a.demo_model_dir, a.catalogue)
        run_set(work / "demo", "demo", 11, None, True, cat, segmented, not a.no_calibration)
    print("\n" + PUBLISHED_NOTE)
    for p_ in PUBLISHED:
        cup = f"{_pct(p_['cup'][0])} / {_pct(p_['cup'][1])}"
        stem = f"{_pct(p_['stem'][0])} / {_pct(p_['stem'][1])}"
        print(f"  {p_['method']:40s} cup exact / ±1 {cup:14s} stem exact / ±1 {stem:14s} "
              f"{p_['reference']}")  # fmt: skip
    print("targets on (a), paper preset: cup ≥ 90 / ≥ 99 %, stem ≥ 85 / ≥ 98 %, changes P95 ≤ 2 mm")


if __name__ == "__main__":
    main()
