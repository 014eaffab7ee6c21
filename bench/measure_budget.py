"""Seconds to measure worst-case label maps of a paper-size radiograph (the time bound).

An untrained or failing network gives label maps nothing like anatomy: noise, specks, stripes.
Measuring (:func:`hipseg.measure.measure_label_map`, then the quality flags
:func:`hipseg.clinical.quality.assess`, as ``hipseg segment`` does) must stay bounded on any of
them. This script renders one radiograph of the ``paper`` preset (by default ``paper0005``,
the largest: 0.10 mm detector pixels, 3415 × 4280 px), takes its ground-truth label map as the
good map, builds the worst cases from it at the same size and spacing, and prints per map the
wall-clock seconds of a few repeats (min / median / max), the median CPU seconds (on a shared
machine the wall clock includes waiting for a core), measuring and the quality flags apart, and
how each hip ended (landmarks found, labels screened out as not anatomy), then the largest and
whether it is within the bound.
Usage::

    PYTHONPATH=workflow python bench/measure_budget.py --work /tmp/measure-budget [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402
from hipseg.clinical.quality import assess  # noqa: E402
from hipseg.io import read_image_2d  # noqa: E402
from hipseg.labels import MAX_LABEL  # noqa: E402
from hipseg.measure import measure_label_map  # noqa: E402

BOUND_S = 5.0
LANDMARKS = ("head_centre", "teardrop_inferior", "acetabular_rim", "shaft_axis",
             "lesser_trochanter_tip")  # fmt: skip


def worst_cases(good: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The worst-case label maps, all of ``good``'s shape (uint8, values 0–MAX_LABEL)."""
    rng = np.random.default_rng(seed)
    shape = good.shape
    rows, cols = np.indices(shape)
    k = MAX_LABEL + 1
    maps = {"good (ground truth)": good}
    maps["uniform random labels 0-5"] = rng.integers(0, k, shape, dtype=np.uint8)
    specks = good.copy()
    hit = rng.random(shape) < 0.05
    specks[hit] = rng.integers(0, k, int(hit.sum()), dtype=np.uint8)
    maps["salt-and-pepper specks (5 %) over the good map"] = specks
    # every label in thousands of pieces: the good map cut by a grid of background lines
    pieces = good.copy()
    pieces[(rows % 24 < 2) | (cols % 24 < 2)] = 0
    maps["every label in thousands of pieces (good map, 24-px grid)"] = pieces
    blobs = (rng.random((shape[0] // 8 + 1, shape[1] // 8 + 1)) * k).astype(np.uint8)
    blobs = np.kron(blobs, np.ones((8, 8), np.uint8))[: shape[0], : shape[1]]
    maps["random 8-px blocks of labels 0-5"] = np.ascontiguousarray(blobs)
    for lab in range(1, k):
        maps[f"label {lab} filling the image"] = np.full(shape, lab, np.uint8)
    for sigma in (2, 8, 32):  # an untrained network: the argmax of smooth random channels
        maps[f"argmax of smooth noise, sigma {sigma} px"] = _smooth_argmax(shape, sigma, rng)
    for block in (4, 16):  # the femur (L1 or L2) percolates: the head, shaft and trochanter run
        maps[f"random {block}-px blocks, L1/L2 45 % each"] = _blocks(
            shape, block, rng, (0.05, 0.45, 0.45, 0, 0, 0.05)
        )
    # large blocks that pass the screen (one piece, at most half of a hip's half each): every
    # landmark finder runs on masks as large as the screen lets through
    half = cols >= shape[1] // 2
    quad = np.where(rows < shape[0] // 2, np.where(cols % (shape[1] // 2) < shape[1] // 4, 1, 2),
                    np.where(cols % (shape[1] // 2) < shape[1] // 4, 5, 3))  # fmt: skip
    maps["one large block per label (quadrants of each half)"] = quad.astype(np.uint8)
    femur = np.where(rows < shape[0] // 2, 1, 2)
    maps["L1 above, L2 below in each half"] = np.where(half, femur, femur).astype(np.uint8)
    # the good map with a 2-px frame of one label around each half: that label's bounding box
    # becomes the whole half (the frame of L1 joins the femur at the image's lower edge)
    edge = (rows < 2) | (rows >= shape[0] - 2) | (cols % (shape[1] // 2) < 2)
    edge |= cols % (shape[1] // 2) >= shape[1] // 2 - 2
    for lab in (1, 2, 5):
        maps[f"good map framed by label {lab} (each half)"] = np.where(edge, lab, good).astype(
            np.uint8
        )
    maps["empty map"] = np.zeros(shape, np.uint8)
    maps["checkerboard 1 px, labels 1/5"] = np.where((rows + cols) % 2, 1, 5).astype(np.uint8)
    maps["checkerboard 1 px, labels 0-5"] = ((rows + cols) % k).astype(np.uint8)
    maps["checkerboard 16 px, labels 0-5"] = ((rows // 16 + cols // 16) % k).astype(np.uint8)
    maps["horizontal strips 2 px, labels 0-5"] = ((rows // 2) % k).astype(np.uint8)
    maps["vertical strips 1 px, labels 0-5"] = (cols % k).astype(np.uint8)
    maps["diagonal strips 3 px, labels 0-5"] = (((rows + cols) // 3) % k).astype(np.uint8)
    return maps


def _blocks(shape, block: int, rng, probs) -> np.ndarray:
    small = rng.choice(len(probs), (shape[0] // block + 1, shape[1] // block + 1), p=probs)
    big = np.kron(small.astype(np.uint8), np.ones((block, block), np.uint8))
    return np.ascontiguousarray(big[: shape[0], : shape[1]])


def _smooth_argmax(shape, sigma: float, rng) -> np.ndarray:
    """Labels 0–MAX_LABEL as the argmax of independent Gaussian-smoothed noise channels (on a
    copy 4× smaller for speed, then enlarged)."""
    k = 4
    small = (shape[0] // k + 1, shape[1] // k + 1)
    chans = [ndimage.gaussian_filter(rng.standard_normal(small, np.float32), sigma / k + 0.5)
             for _ in range(MAX_LABEL + 1)]  # fmt: skip
    lab = np.argmax(np.stack(chans), axis=0).astype(np.uint8)
    return np.ascontiguousarray(np.kron(lab, np.ones((k, k), np.uint8))[: shape[0], : shape[1]])


def _outcome(record: dict) -> str:
    """Per hip: the landmarks found, and the labels screened out as not anatomy."""
    out = []
    for side, hip in record["landmarks"].items():
        found = sum(hip.get(k) is not None for k in LANDMARKS)
        screened = sorted({r.split(" ")[0] for r in hip["missing"].values() if "not anatomy" in r})
        out.append(f"{side} {found}/5" + (f" (not anatomy: {', '.join(screened)})" if screened
                                          else ""))  # fmt: skip
    return "; ".join(out)


def time_map(lab: np.ndarray, spacing, repeats: int) -> dict:
    """Wall-clock and CPU seconds of measuring ``lab`` and of its quality flags, per repeat."""
    out: dict = {k: [] for k in ("measure_s", "quality_s", "total_s", "cpu_s")}
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        record = measure_label_map(lab, spacing)
        t1 = time.perf_counter()
        quality = assess(lab, record, spacing, split_at=0.5, right_on_image_left=True)
        t2, c2 = time.perf_counter(), time.process_time()
        out["measure_s"].append(t1 - t0)
        out["quality_s"].append(t2 - t1)
        out["total_s"].append(t2 - t0)
        out["cpu_s"].append(c2 - c0)
    out.update(outcome=_outcome(record), needs_review=quality["needs_review"],
               reasons=len(quality["reasons"]))  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="folder for the rendered radiograph and results")
    p.add_argument("--radiograph", default="paper0005", help="id of the paper preset (seed 0)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", nargs="*", help="names (substrings) of the maps to time")
    p.add_argument("--out", help="write the figures as JSON here")
    a = p.parse_args()
    work = Path(a.work)
    labels = work / "synth" / "labels" / f"{a.radiograph}.png"
    if not labels.is_file():
        synth.generate(work / "synth", preset="paper", seed=0, only=[a.radiograph])
    truth = json.loads((work / "synth" / "truth" / f"{a.radiograph}.json").read_text())
    good, _ = read_image_2d(labels)
    spacing = tuple(truth["spacing_mm"])
    print(f"{a.radiograph}: {good.shape[0]} × {good.shape[1]} px at {spacing[0]:.4f} mm "
          f"(hip plane), {a.repeats} repeats", flush=True)  # fmt: skip
    results = {}
    for name, lab in worst_cases(good.astype(np.uint8)).items():
        if a.only and not any(s in name for s in a.only):
            continue
        r = time_map(lab, spacing, a.repeats)
        results[name] = r
        t, med = r["total_s"], statistics.median
        print(f"{name:58s} {min(t):5.2f} / {med(t):5.2f} / {max(t):5.2f} s, CPU "
              f"{med(r['cpu_s']):5.2f} s (measure {med(r['measure_s']):.2f}, flags "
              f"{med(r['quality_s']):.2f})  {r['outcome']}", flush=True)  # fmt: skip
    worst = max(results, key=lambda n: max(results[n]["total_s"]))
    top = max(results[worst]["total_s"])
    worst_cpu = max(results, key=lambda n: max(results[n]["cpu_s"]))
    top_cpu = max(results[worst_cpu]["cpu_s"])
    load = os.getloadavg()[0]
    print(f"\nlargest: {top:.2f} s wall ({worst}), {top_cpu:.2f} CPU s ({worst_cpu}); load "
          f"average {load:.1f} on {os.cpu_count()} cores")  # fmt: skip
    for what, v in (("wall-clock", top), ("CPU", top_cpu)):
        print(f"the bound of {BOUND_S:g} s per map {'holds' if v <= BOUND_S else 'is MISSED'} "
              f"in {what} seconds")  # fmt: skip
    if a.out:
        Path(a.out).write_text(json.dumps({"radiograph": a.radiograph, "shape": good.shape,
                                           "spacing_mm": spacing, "maps": results,
                                           "max_s": top, "max_cpu_s": top_cpu,
                                           "load_average": load}, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
