"""Uncertainty of the means and paired comparisons of the models, with the patient as the unit.

* **Confidence intervals** of a mean over test images: a cluster bootstrap that resamples
  *patients* with replacement (the two hips of one patient are not independent) and takes the
  mean over all images of the drawn patients, ``Σ values / Σ counts``; BCa intervals
  (``scipy.stats.bootstrap``, ``paired=True`` on the per-patient sums and counts, so that the
  jackknife of the acceleration also leaves out whole patients). Each interval has its own
  random stream, derived from the seed and the interval's name, so adding a model does not
  change the others.
* **Paired tests**: the best model against each other model, Wilcoxon signed-rank
  (``scipy.stats.wilcoxon``, two-sided) on per-patient means of the per-image values (the images
  of a patient are averaged first, for the same reason), over the patients where both models
  have a value; p-values Benjamini–Hochberg adjusted (``scipy.stats.false_discovery_control``)
  across the comparisons of one metric.
* **Subgroup against the rest** (:func:`patient_difference`, the subgroup analysis): the
  difference of two means over the test images, a subgroup's minus the rest's, with a cluster
  bootstrap that resamples *patients* (a patient whose one hip is in the subgroup and the other
  is not contributes to both sides of each resample); a percentile interval, and a two-sided
  p-value from the resampled differences shifted to the null (the share at least as far from
  the observed difference as the observed difference is from zero; Hall and Wilson 1991).
  :func:`holm` adjusts a family of p-values (Holm 1979).
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n_values: int
    n_patients: int
    note: str = ""


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8"))])


def _ratio(sums, counts, axis=-1):
    return np.sum(sums, axis=axis) / np.sum(counts, axis=axis)


def patient_bootstrap(
    values: Sequence[float],
    patients: Sequence[str],
    *,
    confidence: float,
    resamples: int,
    seed: int,
    key: str,
) -> Interval:
    """Mean of ``values`` (NaN skipped) and its BCa interval, resampling ``patients``."""
    df = pd.DataFrame({"v": np.asarray(values, dtype=float), "p": list(patients)})
    df = df[np.isfinite(df["v"])]
    if df.empty:
        return Interval(math.nan, math.nan, math.nan, 0, 0, "no defined value")
    groups = df.groupby("p", sort=True)["v"]
    sums, counts = groups.sum().to_numpy(), groups.count().to_numpy().astype(float)
    mean = float(sums.sum() / counts.sum())
    n, k = int(len(df)), int(len(sums))
    if k < 2:
        return Interval(mean, math.nan, math.nan, n, k, "fewer than 2 patients: no interval")
    if np.allclose(df["v"], df["v"].iloc[0]):
        return Interval(mean, mean, mean, n, k, "all values equal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate jackknife → NaN, reported as a note
        res = stats.bootstrap(
            (sums, counts),
            _ratio,
            paired=True,
            vectorized=True,
            confidence_level=confidence,
            n_resamples=int(resamples),
            method="BCa",
            rng=_rng(seed, key),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    note = "" if math.isfinite(low) and math.isfinite(high) else "BCa undefined (degenerate)"
    return Interval(mean, low, high, n, k, note)


def patient_bootstrap_columns(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    confidence: float,
    resamples: int,
    seed: int,
    key: str,
) -> list[Interval]:
    """:func:`patient_bootstrap` of several columns of one table (one row per image, a
    ``patient`` column) at once: the same BCa interval of each column, but the columns whose
    values are defined for the same patients share one call of ``scipy.stats.bootstrap`` (one
    resampling, its stream named ``key/<first column>``), which makes many intervals of one
    subgroup cheap. A single column gives exactly ``patient_bootstrap(…, key=key/column)``."""
    patients, codes = np.unique(table["patient"].astype(str).to_numpy(), return_inverse=True)
    values = table[list(columns)].to_numpy(dtype=float)
    sums, counts = _patient_sums(values, codes, len(patients))
    out: list[Interval | None] = [None] * len(columns)
    shared: dict[bytes, list[int]] = {}
    for j in range(len(columns)):
        have = counts[:, j] > 0
        n, k = int(counts[:, j].sum()), int(have.sum())
        finite = values[np.isfinite(values[:, j]), j]
        if not n:
            out[j] = Interval(math.nan, math.nan, math.nan, 0, 0, "no defined value")
            continue
        mean = float(sums[:, j].sum() / counts[:, j].sum())
        if k < 2:
            out[j] = Interval(mean, math.nan, math.nan, n, k, "fewer than 2 patients: no interval")
        elif np.allclose(finite, finite[0]):
            out[j] = Interval(mean, mean, mean, n, k, "all values equal")
        else:
            shared.setdefault(have.tobytes(), []).append(j)
    for mask, cols in shared.items():
        have = np.frombuffer(mask, dtype=bool)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate jackknife → NaN, reported as a note
            res = stats.bootstrap(
                (sums[have][:, cols].T, counts[have][:, cols].T),
                _ratio,
                paired=True,
                vectorized=True,
                axis=-1,
                confidence_level=confidence,
                n_resamples=int(resamples),
                method="BCa",
                rng=_rng(seed, f"{key}/{columns[cols[0]]}"),
            )
        lows = np.atleast_1d(res.confidence_interval.low)
        highs = np.atleast_1d(res.confidence_interval.high)
        for j, low, high in zip(cols, lows, highs, strict=True):
            n, k = int(counts[:, j].sum()), int(have.sum())
            mean = float(sums[:, j].sum() / counts[:, j].sum())
            ok = math.isfinite(low) and math.isfinite(high)
            out[j] = Interval(
                mean, float(low), float(high), n, k, "" if ok else "BCa undefined (degenerate)"
            )
    return out


TEST_COLUMNS = [
    "metric",
    "best_model",
    "other_model",
    "n_patients",
    "mean_best",
    "mean_other",
    "median_difference",
    "statistic",
    "p_value",
    "p_adjusted",
    "note",
]


def _one_test(per_patient: pd.DataFrame, best: str, other: str) -> dict:
    pair = per_patient[[best, other]].dropna()
    out = {
        "n_patients": int(len(pair)),
        "mean_best": float(pair[best].mean()) if len(pair) else math.nan,
        "mean_other": float(pair[other].mean()) if len(pair) else math.nan,
        "median_difference": float((pair[best] - pair[other]).median()) if len(pair) else math.nan,
        "statistic": math.nan,
        "p_value": math.nan,
        "note": "",
    }
    diff = (pair[best] - pair[other]).to_numpy()
    if len(pair) < 2:
        out["note"] = "fewer than 2 patients: no test"
    elif np.all(diff == 0):
        out["note"] = "identical values: no test"
    else:
        res = stats.wilcoxon(pair[best], pair[other], alternative="two-sided")
        out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def paired_tests(
    per_image: pd.DataFrame, metrics: Sequence[str], best: str, models: Sequence[str]
) -> pd.DataFrame:
    """Wilcoxon signed-rank tests of ``best`` against every other model, per metric.

    ``per_image`` has the columns ``model``, ``case``, ``patient`` and one per metric."""
    rows = []
    for metric in metrics:
        per_patient = per_image.pivot_table(
            index="patient", columns="model", values=metric, aggfunc="mean", dropna=False
        )
        block = []
        for other in models:
            if other == best or other not in per_patient or best not in per_patient:
                continue
            row = {"metric": metric, "best_model": best, "other_model": other}
            block.append({**row, **_one_test(per_patient, best, other)})
        p = np.array([r["p_value"] for r in block], dtype=float)
        ok = np.isfinite(p)
        adjusted = np.full(p.shape, math.nan)
        if ok.any():
            adjusted[ok] = stats.false_discovery_control(p[ok], method="bh")
        for r, a in zip(block, adjusted, strict=True):
            r["p_adjusted"] = float(a)
        rows += block
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


@dataclass(frozen=True)
class Difference:
    difference: float  # mean of the subgroup minus mean of the rest
    low: float
    high: float
    p_value: float
    n_resamples: int  # resamples with a defined value on both sides
    note: str = ""


def _patient_sums(values: np.ndarray, codes: np.ndarray, n_patients: int):
    """Per patient and column: the sum of the defined values and their count."""
    finite = np.isfinite(values)
    sums = np.zeros((n_patients, values.shape[1]))
    counts = np.zeros((n_patients, values.shape[1]))
    np.add.at(sums, codes, np.where(finite, values, 0.0))
    np.add.at(counts, codes, finite.astype(float))
    return sums, counts


def patient_difference(
    table: pd.DataFrame,
    inside: Sequence[bool],
    columns: Sequence[str],
    *,
    confidence: float,
    resamples: int,
    seed: int,
    key: str,
) -> list[Difference]:
    """Mean of the images ``inside`` minus the mean of the others, per column of ``table``
    (one row per image, a ``patient`` column; NaN skipped), with a cluster bootstrap over the
    patients: ``resamples`` draws of as many patients as there are, with replacement, each
    drawn patient bringing all of its images. Returns one :class:`Difference` per column."""
    inside = np.asarray(inside, dtype=bool)
    patients, codes = np.unique(table["patient"].astype(str).to_numpy(), return_inverse=True)
    values = table[list(columns)].to_numpy(dtype=float)
    n = len(patients)
    s_in, c_in = _patient_sums(values[inside], codes[inside], n)
    s_out, c_out = _patient_sums(values[~inside], codes[~inside], n)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = s_in.sum(0) / c_in.sum(0) - s_out.sum(0) / c_out.sum(0)
    if n < 2:
        note = "fewer than 2 patients: no interval, no test"
        return [Difference(float(d), math.nan, math.nan, math.nan, 0, note) for d in observed]
    b = int(resamples)
    draws = _rng(seed, key).integers(0, n, size=(b, n))
    # how often each patient is drawn in each resample (b × n)
    weights = np.bincount((np.arange(b)[:, None] * n + draws).ravel(), minlength=b * n)
    weights = weights.reshape(b, n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        star = weights @ s_in / (weights @ c_in) - weights @ s_out / (weights @ c_out)
    return _differences(observed, star, confidence, int(resamples))


def _differences(observed: np.ndarray, star: np.ndarray, confidence: float, resamples: int):
    """Percentile intervals and shifted p-values of each column of the resampled differences
    ``star`` (resamples × columns) around the ``observed`` ones."""
    alpha = (1.0 - confidence) / 2.0
    valid = np.isfinite(star)
    shared: dict[bytes, list[int]] = {}  # columns left out of the same resamples: one call
    for j in range(star.shape[1]):
        shared.setdefault(valid[:, j].tobytes(), []).append(j)
    bounds = {}
    for mask, cols in shared.items():
        rows = np.frombuffer(mask, dtype=bool)
        if rows.any():
            q = np.percentile(star[rows][:, cols], [100 * alpha, 100 * (1 - alpha)], axis=0)
            bounds.update(zip(cols, q.T, strict=True))
    out = []
    for j, d in enumerate(observed):
        if not math.isfinite(d):
            note = "no defined value in the subgroup or in the rest"
            out.append(Difference(math.nan, math.nan, math.nan, math.nan, 0, note))
            continue
        dist = star[valid[:, j], j]
        if not len(dist):
            note = "no resample with both the subgroup and the rest"
            out.append(Difference(float(d), math.nan, math.nan, math.nan, 0, note))
            continue
        lo, hi = bounds[j]
        tol = 1e-12 * max(1.0, abs(d))  # a resample exactly as far as d counts (ties)
        extreme = int(np.count_nonzero(np.abs(dist - d) >= abs(d) - tol))
        p = (1 + extreme) / (len(dist) + 1)
        left = resamples - len(dist)
        note = f"{left} resamples without the subgroup or the rest left out" if left else ""
        out.append(Difference(float(d), float(lo), float(hi), float(p), len(dist), note))
    return out


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, not counted)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size:
        order = ok[np.argsort(p[ok], kind="stable")]
        m = ok.size
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
        out[order] = np.minimum(stepped, 1.0)
    return out
