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
