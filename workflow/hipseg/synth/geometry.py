"""Rasterisation in millimetres: the hip / patient frame, path-length and shape primitives.

Everything in the generator is defined in millimetres and rasterised at the pixel spacing of each
image. A :class:`_Frame` maps between image pixels and a canonical (u, v) frame in mm: for a hip
the origin is the femoral head centre, ``u`` points towards the midline and ``v`` towards the
feet; for the patient frame the origin lies between the heads at head height.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

if TYPE_CHECKING:
    from .anatomy import Pose


class _Frame:
    """Maps between image pixels and a hip's canonical (u, v) mm frame (or the patient frame)."""

    def __init__(self, shape, sp, pose: Pose, hx: float, hy: float, side: int):
        self.shape, self.sp = shape, sp
        self.W, self.H = shape[1] * sp, shape[0] * sp
        a = math.radians(pose.phi)
        self.c, self.s = math.cos(a), math.sin(a)
        self.t = pose.shift
        self.hx, self.hy, self.side = hx, hy, side

    def to_pix(self, u, v):
        u, v = np.asarray(u, float), np.asarray(v, float)
        xp, yp = self.hx + self.side * u, self.hy + v
        x = self.c * xp - self.s * yp + self.t[0]
        y = self.s * xp + self.c * yp + self.t[1]
        return (y + self.H / 2) / self.sp - 0.5, (x + self.W / 2) / self.sp - 0.5  # row, col

    def window(self, umin, umax, vmin, vmax):
        """Pixel slices covering a canonical box, and (U, V) of their pixel centres."""
        r, c = self.to_pix([umin, umin, umax, umax], [vmin, vmax, vmin, vmax])
        r0, r1 = max(int(r.min()) - 2, 0), min(int(math.ceil(r.max())) + 3, self.shape[0])
        c0, c1 = max(int(c.min()) - 2, 0), min(int(math.ceil(c.max())) + 3, self.shape[1])
        if r1 <= r0 or c1 <= c0:
            return None
        rows = np.arange(r0, r1, dtype=np.float32)[:, None]
        cols = np.arange(c0, c1, dtype=np.float32)[None, :]
        x = (cols + 0.5) * self.sp - self.W / 2 - self.t[0]
        y = (rows + 0.5) * self.sp - self.H / 2 - self.t[1]
        xp = self.c * x + self.s * y
        yp = -self.s * x + self.c * y
        U = (self.side * (xp - self.hx)).astype(np.float32)
        V = (yp - self.hy).astype(np.float32)
        return (slice(r0, r1), slice(c0, c1)), U, V

    def polygon_mask(self, sl, polys, holes=()) -> np.ndarray:
        """Rasterise canonical polygons (list of (N, 2) u, v arrays) inside window ``sl``."""
        shape = (sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
        img = Image.new("L", (shape[1], shape[0]), 0)
        draw = ImageDraw.Draw(img)
        for polys_, fill in ((polys, 1), (holes, 0)):
            for p in polys_:
                r, c = self.to_pix(p[:, 0], p[:, 1])
                pts = list(zip((c - sl[1].start).tolist(), (r - sl[0].start).tolist(), strict=True))
                draw.polygon(pts, fill=fill)
        return np.asarray(img, dtype=bool)


def _chord(r2_minus_rho2):
    """Path length through a sphere (or cylinder) at squared in-plane distance from its axis."""
    return 2.0 * np.sqrt(np.maximum(r2_minus_rho2, 0.0))


def _ellipse_q(U, V, cu, cv, a, b, ang=0.0):
    """Normalised squared radius of (U, V) in an ellipse (< 1 inside)."""
    ca, sa = math.cos(ang), math.sin(ang)
    du, dv = U - cu, V - cv
    x = (ca * du + sa * dv) / a
    y = (-sa * du + ca * dv) / b
    return x * x + y * y


def _ellipse_poly(cu, cv, a, b, ang=0.0, n=48):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    ca, sa = math.cos(ang), math.sin(ang)
    return np.stack([cu + ca * x - sa * y, cv + sa * x + ca * y], axis=1)


def _rod(U, V, p0, p1, r):
    """Path length through a cylinder of radius ``r`` around the in-plane segment p0-p1."""
    d = np.subtract(p1, p0, dtype=float)
    n2 = float(d @ d)
    t = np.clip(((U - p0[0]) * d[0] + (V - p0[1]) * d[1]) / n2, 0.0, 1.0)
    dist2 = (U - p0[0] - t * d[0]) ** 2 + (V - p0[1] - t * d[1]) ** 2
    return _chord(r * r - dist2)


def _largest(mask: np.ndarray) -> np.ndarray:
    """The largest connected component of a boolean mask."""
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    return lab == (int(np.argmax(np.bincount(lab.ravel())[1:])) + 1)


def _upsample(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a coarse grid onto ``shape`` (cell-centred)."""
    zy, zx = shape[0] / small.shape[0], shape[1] / small.shape[1]
    r = np.clip((np.arange(shape[0]) + 0.5) / zy - 0.5, 0, small.shape[0] - 1)
    c = np.clip((np.arange(shape[1]) + 0.5) / zx - 0.5, 0, small.shape[1] - 1)
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    r1, c1 = np.minimum(r0 + 1, small.shape[0] - 1), np.minimum(c0 + 1, small.shape[1] - 1)
    fr, fc = (r - r0)[:, None].astype(np.float32), (c - c0)[None, :].astype(np.float32)
    s = small.astype(np.float32)
    # along the columns once per coarse row, then the rows gathered: the same operations on
    # the same values as interpolating every output row (bit-identical), a fraction of the work
    across = s[:, c0] * (1 - fc) + s[:, c1] * fc
    out = across[r0]
    out *= 1 - fr
    bot = across[r1]
    bot *= fr
    out += bot
    return out


def _edt_mm(mask: np.ndarray, sp: float) -> np.ndarray:
    """Distance (mm) to the outside of ``mask``, computed on a ~1 mm grid and upsampled."""
    k = max(1, int(round(1.0 / sp)))
    if k == 1:
        return ndimage.distance_transform_edt(mask, sampling=sp).astype(np.float32)
    h, w = mask.shape
    small = mask[k // 2 :: k, k // 2 :: k]
    edt = ndimage.distance_transform_edt(small, sampling=sp * k)
    return _upsample(edt, (h, w)) * mask
