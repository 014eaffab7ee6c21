"""Label maps that are not anatomy (an untrained network's noise, specks, stripes, a label that
fills the image) are measured to a clean "not measurable" result, flagged for review, never to
numbers; the screen leaves the anatomy alone. The time bound itself is bench/measure_budget.py's
(speed is never asserted here)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from hipseg.clinical.quality import assess
from hipseg.measure import measure_label_map
from hipseg.measure.landmarks import _trochanter_blob
from hipseg.measure.plausible import MAX_PIECES, screen, screen_label
from hipseg.measure.quantities import Frame
from hipseg.measure.validate import read_truth

BENCH = Path(__file__).resolve().parents[1] / "bench"
NOT_ANATOMY = (
    "uniform random labels 0-5",
    "random 8-px blocks of labels 0-5",
    "argmax of smooth noise, sigma 2 px",
    "random 4-px blocks, L1/L2 45 % each",
    "random 16-px blocks, L1/L2 45 % each",
    "L1 above, L2 below in each half",
    "checkerboard 1 px, labels 1/5",
    "checkerboard 1 px, labels 0-5",
    "checkerboard 16 px, labels 0-5",
    "horizontal strips 2 px, labels 0-5",
    "vertical strips 1 px, labels 0-5",
    "diagonal strips 3 px, labels 0-5",
    "empty map",
    *(f"label {v} filling the image" for v in range(1, 6)),
)


@pytest.fixture(scope="module")
def worst(demo_data):
    """The benchmark's worst-case maps, built on one demo radiograph's ground truth."""
    sys.path.insert(0, str(BENCH))
    try:
        import measure_budget
    finally:
        sys.path.pop(0)
    truth = read_truth(demo_data.parent / "truth" / "demo0001.json")
    good = np.array(Image.open(demo_data.parent / "labels" / "demo0001.png")).astype(np.uint8)
    return measure_budget.worst_cases(good), tuple(truth["spacing_mm"])


def _values(record: dict):
    for scope in (record["hips"]["right"], record["hips"]["left"], record["radiograph"]):
        yield from scope.values()


@pytest.mark.parametrize("name", NOT_ANATOMY)
def test_a_map_that_is_not_anatomy_is_not_measured(worst, name):
    maps, spacing = worst
    lab = maps[name]
    record = measure_label_map(lab, spacing)
    for v in _values(record):
        assert v["value"] is None and v["reason"], (name, v)
    quality = assess(lab, record, spacing)
    assert quality["needs_review"] and quality["reasons"]
    assert not any(isinstance(x, float) and math.isnan(x) for x in _numbers(record))


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _numbers(v)
    else:
        yield obj


def test_noise_names_the_labels_that_are_not_anatomy(worst):
    maps, spacing = worst
    record = measure_label_map(maps["uniform random labels 0-5"], spacing)
    for side in ("right", "left"):
        reason = record["hips"][side]["head_diameter"]["reason"]
        assert reason.startswith(f"{side} hip: L1 (femoral head") and "not anatomy" in reason
    quality = assess(maps["uniform random labels 0-5"], record, spacing)
    assert any("not anatomy" in r for r in quality["reasons"])
    filled = measure_label_map(maps["label 3 filling the image"], spacing)
    line = filled["teardrop_line"]["missing"]
    assert "L3 (Köhler teardrop) covers 100 % of the hip's half of the image" in line


def test_the_screen_passes_the_anatomy(demo_data):
    """Every ground-truth map of the demo passes the screen (the measurements' results on them
    are unchanged: tests/test_measure.py)."""
    for path in sorted((demo_data.parent / "labels").glob("*.png")):
        lab = np.array(Image.open(path)).astype(np.uint8)
        half = lab.shape[1] // 2
        for cols in (slice(0, half), slice(half, lab.shape[1])):
            assert screen(lab, cols) == {}, path.name


def _disc(shape, rc, r):
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    return (rr - rc[0]) ** 2 + (cc - rc[1]) ** 2 < r * r


def test_screen_reasons():
    shape = (200, 150)
    head = _disc(shape, (60, 70), 30)
    assert screen_label(head) is None
    specks = np.zeros(shape, bool)
    specks[::4, ::4] = True  # 1,900 single pixels
    assert f"at most {MAX_PIECES:,}" in screen_label(specks)
    three = _disc(shape, (50, 40), 20) | _disc(shape, (150, 110), 20) | _disc(shape, (150, 30), 20)
    assert "largest piece holds 33 %" in screen_label(three)
    assert screen_label(three, expected=2) is None  # L2: the medial and lateral cortex
    assert "covers" in screen_label(np.ones(shape, bool), cover=0.35)
    frame = _disc(shape, (30, 70), 31)  # joined to the frame at the top
    frame[0, :] = frame[:, 0] = frame[-1, :] = True
    assert "spans 100 %" in screen_label(frame, box=0.6)
    assert screen_label(head, box=0.6) is None


def test_trochanter_blob_is_the_loop_it_replaced():
    """One pass over the pixels picks the blob the per-blob loop picked (the largest one whose
    centre lies in the search region), with thousands of blobs."""
    rng = np.random.default_rng(5)
    blobs, n = ndimage.label(rng.random((160, 140)) < 0.3)
    spacing, shift = (0.2, 0.25), np.array([-12.0, -5.0])
    d, medial, t0, R = np.array([0.1, 1.0]) / math.hypot(0.1, 1.0), None, 3.0, 12.0
    medial = np.array([d[1], -d[0]])
    best, size = None, 0
    for k in range(1, n + 1):
        r, c = np.nonzero(blobs == k)
        centre = np.stack([c * spacing[0], r * spacing[1]], axis=1).mean(axis=0) + shift
        t, p = centre @ d - t0, centre @ medial
        if 0.5 * R < t < 4 * R and 0 < p < 2.5 * R and len(r) > size:
            best, size = k, len(r)
    assert n > 1000 and best is not None
    assert _trochanter_blob(blobs, n, spacing, shift, d, medial, t0, R) == best


def test_teardrops_at_one_point_give_no_line():
    hip = {"teardrop_inferior": [10.0, 20.0], "missing": {}}
    frame = Frame({"right": hip, "left": dict(hip)})
    assert frame.missing == "no teardrop line: both teardrops at the same point"
    assert np.isfinite(frame.e1).all() and np.isfinite(frame.e2).all()
