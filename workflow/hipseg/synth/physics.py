"""Image formation: attenuation, exposure, detector and CR processing, stored values.

Path lengths through each body along the ray (mm) times its excess linear attenuation over soft
tissue (1/mm, below) give the attenuation line integral. Then Beer-Lambert with a heel-effect
exposure gradient, scatter (a broad blur of the photons that interact in the patient),
Poisson-like quantum noise, Gaussian detector blur, log transform, mild unsharp masking (CR
processing) and windowing to 12/14/16-bit stored values; MONOCHROME1 images store the inverted
values.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .geometry import _upsample

# Excess linear attenuation over soft tissue (1/mm) at an effective energy of ~60 keV.
MU_SOFT = 0.019
MU_CORT = 0.045
MU_TRAB = 0.020
MU_MARROW = 0.002
MU_PELVIS = 0.030
MU_METAL = 0.60
MU_LEAD_MARKER = 6.0  # line integral of ~1 mm of lead at ~60 keV


def _blur_mm(img: np.ndarray, sigma_mm: float, sp: float) -> np.ndarray:
    """Gaussian blur with sigma in mm; large kernels run on a block-averaged copy."""
    sig = sigma_mm / sp
    k = int(sig // 3)
    if k < 2:
        return ndimage.gaussian_filter(img, sig, mode="nearest")
    h, w = img.shape
    ph, pw = (-h) % k, (-w) % k
    pad = np.pad(img, ((0, ph), (0, pw)), mode="edge")
    small = pad.reshape(pad.shape[0] // k, k, pad.shape[1] // k, k).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sig / k, mode="nearest")
    big = _upsample(small, pad.shape)
    return big[:h, :w].astype(img.dtype, copy=False)


def _exposure(mu_total: np.ndarray, Y: np.ndarray, sp: float, pre: dict, rng):
    """Detected quanta per pixel (after noise and detector blur) and the unattenuated level.

    ``Y``: the patient-frame height (mm, + towards the feet) of every pixel, for the heel effect.
    """
    # Beer-Lambert with heel effect, scatter, quantum noise and detector blur
    heel = 1.0 + rng.uniform(-0.12, 0.12) * (Y / 175.0)
    trans = heel * np.exp(-mu_total)
    # scatter: a fraction of the photons that interact in the patient reaches the detector
    # (behind a grid), spread broadly; outside the patient (and under a lead marker in air)
    # there is almost none
    k_sc = float(rng.uniform(*pre["scatter"]))
    trans = trans + k_sc * _blur_mm((1.0 - np.exp(-mu_total)).astype(np.float32), 35.0, sp)
    n0 = pre["photons_per_mm2"] * sp * sp * float(rng.uniform(0.8, 1.25))
    counts = n0 * trans
    counts = counts + np.sqrt(counts) * rng.standard_normal(mu_total.shape, dtype=np.float32)
    counts = _blur_mm(counts.astype(np.float32), pre["blur_mm"], sp)
    return counts, n0


def _cr_processing(counts: np.ndarray, n0: float, sp: float) -> np.ndarray:
    """Log transform, then dynamic-range compression (large kernel) and unsharp masking."""
    p = -np.log(np.maximum(counts, 0.5) / n0)
    p = p - 0.45 * _blur_mm(p.astype(np.float32), 30.0, sp)
    p = p + 0.6 * (p - _blur_mm(p.astype(np.float32), 4.0, sp))
    return p


def _stored_values(img_p: np.ndarray, bits: int, window, mono1: bool) -> np.ndarray:
    """Window log-attenuation values into ``bits``-bit stored values (inverted for MONOCHROME1)."""
    maxv = (1 << bits) - 1
    lo, hi = window
    v = np.clip((img_p - lo) / (hi - lo), 0.0, 1.0) * maxv
    stored = np.rint(v).astype(np.uint16)
    if mono1:
        stored = (maxv - stored).astype(np.uint16)
    return stored
