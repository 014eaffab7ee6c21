"""Display helpers shared by the synth montage and the report: grey windowing, label overlays."""

from __future__ import annotations

import numpy as np

from .labels import LABELS


def overlay_rgba(lab: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """RGBA image of a label map in the paper's Fig. 2 colours (background transparent)."""
    rgba = np.zeros((*lab.shape, 4), dtype=float)
    for label in LABELS:
        m = lab == label.value
        rgba[m, :3] = label.color
        rgba[m, 3] = alpha
    return rgba


def window(img: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.0) -> np.ndarray:
    """Scale an image to 0–1 between two percentiles of its finite values."""
    img = img.astype(np.float32, copy=False)
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return np.zeros_like(img)
    lo, hi = np.percentile(finite, [lo_pct, hi_pct])
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0)
