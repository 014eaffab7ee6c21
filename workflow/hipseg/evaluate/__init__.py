"""Evaluation of the test-set predictions: per-image metrics, the paper's Tables I and II, their
uncertainty and paired comparisons of the models.

Conventions (Blažková, Section IV; nnU-Net v2 ``compute_metrics``; Metrics Reloaded):

* Dice of one label in one image is ``2|A∩B| / (|A| + |B|)``; undefined (NaN, left out of every
  mean) when the label is absent from both ground truth and prediction, 0 when absent from one
  (:mod:`~hipseg.evaluate.dice`, unchanged from the paper's reproduction).
* HD95, ASSD (mm) and NSD at τ mm from MedPy's surface distances and the crop's true pixel
  spacing, with the empty-mask conventions of :mod:`~hipseg.evaluate.surface`.
* The *per-image mean* of a metric is the NaN-ignoring mean over the labels L1–L5 of that image,
  computed from the per-image metrics (never from a pooled / foreground aggregate).
* Table I summarises, per model, the per-image mean Dice over the test images; Table II
  summarises, for the best model (highest Table I mean), the Dice of each label over the test
  images. ``std`` is the **sample** standard deviation (``ddof=1``); NaN values are skipped.
* Every mean of Tables I/II, for every metric, gets a BCa bootstrap interval that resamples
  patients; the best model is compared with each other model by paired Wilcoxon signed-rank
  tests, Benjamini–Hochberg adjusted (:mod:`~hipseg.evaluate.statistics`).
"""

from __future__ import annotations

from ..labels import MODELS
from .core import (
    CI_COLUMNS,
    METRIC_COLUMNS,
    METRICS,
    METRICS_CSV_COLUMNS,
    STAT_COLUMNS,
    EvaluateOptions,
    Metric,
    evaluate,
    load_summary,
    read_patients,
)
from .dice import dice_scores
from .statistics import TEST_COLUMNS
from .surface import CONVENTIONS, boundary_metrics

__all__ = [
    "CI_COLUMNS",
    "CONVENTIONS",
    "METRICS",
    "METRICS_CSV_COLUMNS",
    "METRIC_COLUMNS",
    "MODELS",
    "STAT_COLUMNS",
    "TEST_COLUMNS",
    "EvaluateOptions",
    "Metric",
    "boundary_metrics",
    "dice_scores",
    "evaluate",
    "load_summary",
    "read_patients",
]
