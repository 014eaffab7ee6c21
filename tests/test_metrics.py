"""Boundary metrics (HD95, ASSD, NSD) against a second, independent implementation and against
shapes whose answers are known: concentric discs, a shifted square, single pixels, empty masks.

The independent implementation finds the border pixels by comparing each pixel with its four
neighbours (the image's outside counts as background) and measures every border-to-border
distance by brute force (``scipy.spatial.distance.cdist`` on pixel coordinates × spacing); it
shares no code with MedPy's distance transform."""

from __future__ import annotations

import math

import numpy as np
import pytest
from medpy.metric import binary
from scipy.spatial.distance import cdist

from hipseg.evaluate import CONVENTIONS, boundary_metrics, dice_scores
from hipseg.evaluate.surface import BOTH, NONE, PREDICTION, REFERENCE, directed_distances


# ------------------------------------------------------------------------------------------------
# The independent implementation
# ------------------------------------------------------------------------------------------------
def border(mask: np.ndarray) -> np.ndarray:
    p = np.pad(mask, 1, constant_values=False)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def brute_directed(a, b, spacing):
    pa = np.argwhere(border(a)) * np.asarray(spacing)
    pb = np.argwhere(border(b)) * np.asarray(spacing)
    return cdist(pa, pb).min(axis=1)


def brute_metrics(ref, pred, spacing, tau):
    d_rp, d_pr = brute_directed(ref, pred, spacing), brute_directed(pred, ref, spacing)
    both = np.concatenate([d_rp, d_pr])
    hd95 = max(np.percentile(d_rp, 95), np.percentile(d_pr, 95))
    return hd95, both.mean(), np.mean(both <= tau + 1e-9)  # ≤ τ up to rounding


def disc(shape, center, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def square(shape, top, left, side):
    m = np.zeros(shape, bool)
    m[top : top + side, left : left + side] = True
    return m


def assert_matches_brute_force(ref, pred, spacing, tau):
    b = boundary_metrics(ref, pred, spacing, tau)
    hd95, assd, nsd = brute_metrics(ref, pred, spacing, tau)
    assert b.empty == NONE
    assert b.hd95 == pytest.approx(hd95, abs=1e-9)
    assert b.assd == pytest.approx(assd, abs=1e-9)
    assert b.nsd == pytest.approx(nsd, abs=1e-12)
    return b


# ------------------------------------------------------------------------------------------------
# Known answers
# ------------------------------------------------------------------------------------------------
def test_concentric_discs():
    spacing = (0.5, 0.5)
    ref, pred = disc((60, 60), (30, 30), 14), disc((60, 60), (30, 30), 8)
    b = assert_matches_brute_force(ref, pred, spacing, tau=1.0)
    gap = (14 - 8) * 0.5  # 3 mm between the circles, ± one pixel of digitisation
    assert abs(b.hd95 - gap) <= 0.5 and abs(b.assd - gap) <= 0.5
    assert b.nsd == 0.0  # every border pixel is about 3 mm from the other border
    assert boundary_metrics(ref, pred, spacing, 4.0).nsd == 1.0


def test_shifted_square_anisotropic_spacing():
    spacing = (0.2, 0.3)  # rows, columns
    ref, pred = square((40, 40), 10, 8, 20), square((40, 40), 10, 11, 20)  # 3 columns right
    b = assert_matches_brute_force(ref, pred, spacing, tau=0.5)
    d_rp, d_pr = directed_distances(ref, pred, spacing)
    assert d_rp.max() == pytest.approx(0.9) and d_pr.max() == pytest.approx(0.9)  # 3 × 0.3 mm
    assert 0 < b.assd < b.hd95 <= 0.9 + 1e-12
    assert boundary_metrics(ref, pred, spacing, 0.9).nsd == 1.0
    # the same shift along the rows is shorter in mm
    down = square((40, 40), 13, 8, 20)
    assert directed_distances(ref, down, spacing)[0].max() == pytest.approx(0.6)


def test_single_pixel():
    spacing = (0.2, 0.3)
    ref = np.zeros((12, 12), bool)
    ref[5, 5] = True
    same = boundary_metrics(ref, ref.copy(), spacing, 0.1)
    assert (same.hd95, same.assd, same.nsd, same.empty) == (0.0, 0.0, 1.0, NONE)
    pred = np.zeros_like(ref)
    pred[8, 9] = True  # 3 rows, 4 columns away
    expected = math.hypot(3 * 0.2, 4 * 0.3)
    b = assert_matches_brute_force(ref, pred, spacing, tau=1.0)
    assert b.hd95 == pytest.approx(expected) and b.assd == pytest.approx(expected)
    assert b.nsd == 0.0 and boundary_metrics(ref, pred, spacing, 1.5).nsd == 1.0


def test_structures_touching_the_image_edge():
    spacing = (0.15, 0.15)
    ref = np.zeros((30, 20), bool)
    ref[0:12, 0:9] = True  # top-left corner: its border includes the image edge
    pred = np.zeros_like(ref)
    pred[0:14, 2:20] = True
    assert_matches_brute_force(ref, pred, spacing, tau=0.3)


def test_empty_masks():
    spacing = (0.2, 0.5)
    empty = np.zeros((10, 8), bool)
    some = np.zeros_like(empty)
    some[2:5, 2:4] = True
    both = boundary_metrics(empty, empty, spacing, 2.0)
    assert math.isnan(both.hd95) and math.isnan(both.assd) and math.isnan(both.nsd)
    assert both.empty == BOTH
    diagonal = math.hypot(10 * 0.2, 8 * 0.5)
    missed = boundary_metrics(some, empty, spacing, 2.0)
    assert missed.empty == PREDICTION and missed.nsd == 0.0
    assert missed.hd95 == pytest.approx(diagonal) and missed.assd == pytest.approx(diagonal)
    spurious = boundary_metrics(empty, some, spacing, 2.0)
    assert spurious.empty == REFERENCE and spurious.hd95 == pytest.approx(diagonal)
    # Dice agrees: undefined when both are empty, 0 when one is
    d = dice_scores(np.where(some, 3, 0), np.zeros((10, 8), int), labels=(3, 4))
    assert d[3] == 0.0 and math.isnan(d[4])
    assert set(CONVENTIONS) == {BOTH, REFERENCE, PREDICTION}


@pytest.mark.parametrize("seed", range(6))
def test_random_blobs_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    shape = (48, 40)
    spacing = tuple(rng.uniform(0.1, 0.6, 2))
    ref = disc(shape, rng.integers(10, 38, 2), rng.integers(3, 10)) | square(
        shape, *rng.integers(0, 30, 2), rng.integers(2, 12)
    )
    pred = disc(shape, rng.integers(10, 38, 2), rng.integers(2, 12))
    assert_matches_brute_force(ref, pred, spacing, tau=float(rng.uniform(0.2, 3.0)))


# ------------------------------------------------------------------------------------------------
# The distances hipseg takes from MedPy are those of MedPy's public functions
# ------------------------------------------------------------------------------------------------
def test_distances_are_medpys():
    spacing = (0.3, 0.2)
    ref = disc((50, 50), (22, 25), 12) | square((50, 50), 30, 5, 8)
    pred = disc((50, 50), (26, 23), 10)
    d_rp, d_pr = directed_distances(ref, pred, spacing)
    assert max(d_rp.max(), d_pr.max()) == pytest.approx(binary.hd(ref, pred, spacing))
    assert d_pr.mean() == pytest.approx(binary.asd(pred, ref, spacing))
    assert d_rp.mean() == pytest.approx(binary.asd(ref, pred, spacing))
    b = boundary_metrics(ref, pred, spacing, 1.0)
    assert b.assd == pytest.approx(binary.assd(pred, ref, spacing))  # pooled mean, not MASD
    assert b.assd != pytest.approx((d_rp.mean() + d_pr.mean()) / 2)
    # MedPy's own hd95 takes one percentile of both directions pooled: not the HD95 defined here
    pooled = np.percentile(np.concatenate([d_pr, d_rp]), 95)
    assert pooled == pytest.approx(binary.hd95(pred, ref, spacing))
    assert b.hd95 > pooled
