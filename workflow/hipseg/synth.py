"""Deterministic synthetic AP pelvis radiographs (DICOM CR) with five-label hip masks.

The real dataset of the paper (Blažková et al., Section II) is private, so the workflow ships this
generator as its built-in demo dataset.  :func:`generate` writes::

    out_dir/dicom/<id>.dcm     CR Image Storage, 16-bit, MONOCHROME1 or MONOCHROME2, fake PHI
    out_dir/labels/<id>.png    uint8 label map (rows x cols of the DICOM pixel array), values 0-5
    out_dir/samples.tsv        id, patient, dicom, labels, hips, split, note

Geometry
    Everything is defined in millimetres and rasterised at the pixel spacing of each image, so a
    paper-size preset is only other numbers.  The field of view is a 43 x 35 cm cassette; the
    patient's RIGHT hip is on the IMAGE LEFT (standard AP display, ``PatientOrientation = L\\F``).
    Each hip is built in a canonical frame (origin = femoral head centre, ``u`` towards the midline,
    ``v`` towards the feet) from interpretable per-patient parameters (head radius, neck length,
    neck-shaft angle, shaft width, pelvis size, small left/right asymmetry) and per-radiograph
    positioning (femoral rotation, pelvic tilt, small rotation/shift of the patient in the field).

Labels (paper, Fig. 2), painted in this order
    L5 hemipelvis (ilium, acetabular roof, ischium, pubis; the sacrum is *not* labelled and is
    separated from the ilium by the sacro-iliac joint space); L4 acetabular fossa / medial joint
    space between head, teardrop and roof; L3 Köhler teardrop; L1 femoral head + neck interior +
    greater trochanter + medullary cavity; L2 inferior neck cortex (calcar) + both diaphyseal
    cortices + lesser trochanter.  Hips with an arthroplasty (metal stem, ball and cup) are
    excluded in ``samples.tsv`` (``hips`` column) and carry no labels (0) in the label map.

Demo enlargement
    At the demo's ~2 mm/px, a true-size teardrop (~7 x 18 mm) and fossa would be a handful of
    pixels.  The preset keys ``teardrop_scale`` and ``fossa_scale`` enlarge the teardrop (both
    axes) and the width of the fossa crescent; the demo uses 1.9 for both, the ``paper`` preset
    (true size, the paper's spacings) 1.0.

Image formation
    Path lengths through each body along the ray are analytic (spheres, tubes, ellipsoids) or
    EDT domes (hemipelvis plate); bones have a dense cortical shell and a trabecular / medullary
    interior, the diaphysis is a tube (bright cortices, darker canal), the teardrop a dense rim,
    the fossa a thinner part of the pelvic wall.  Soft tissue is an elliptic trunk that splits
    into two thighs.  Then Beer-Lambert with a heel-effect exposure gradient, scatter (a broad
    blur of the photons that interact in the patient), Poisson-like quantum noise, Gaussian
    detector blur, log transform, mild unsharp masking (CR processing) and windowing to
    12/14/16-bit stored values; MONOCHROME1 images store the inverted values.
    Metal (implants, fixation, lead side markers) attenuates strongly; burned-in text is set to
    display white after processing.

Findings (``note`` column)
    Osteoarthritis, acetabular protrusion, excluded hardware (arthroplasty, dynamic hip screw and
    plate, cannulated screws), lead side markers and burned-in text: see :func:`_render_hip`,
    :func:`_fixation` and :func:`render_radiograph`.  Counts are exact (see :func:`_plan`).

Everything is deterministic: the same ``seed`` gives byte-identical files (UIDs are derived
from the seed, no wall-clock values are used).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io as _io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from .errors import HipsegError
from .io import atomic_path, write_text
from .options import StageOptions

__all__ = ["PRESETS", "describe", "gallery", "generate", "montage", "render_radiograph"]

TSV_COLUMNS = ["id", "patient", "dicom", "labels", "hips", "split", "note"]

_COMMON: dict = {
    # Detector pixel spacings of the paper (mm) and how often each occurs.
    "spacings_mm": (0.10, 0.15, 0.175),
    "spacing_probs": (0.25, 0.5, 0.25),
    "years": (2010, 2011),  # acquisition dates (paper, Section II)
    "monochrome1_fraction": 1 / 3,
    "bits_stored": (12, 14, 16),
    "oa_fraction": 0.35,  # hips with osteoarthritis (severity 0.3-1)
    "protrusion_fraction": 0.08,  # hips with acetabular protrusion (4-10 mm)
    "hardware_kinds": ("arthroplasty", "plate", "screws"),  # excluded hips, in this order first
    "marker_fraction": 0.9,  # radiographs with a lead side marker ("R"/"L")
    "text_fraction": 0.6,  # radiographs with a burned-in text label
    "scatter": (0.006, 0.015),  # scattered fraction: SPR ~0.3-0.8 under the pelvis
    "photons_per_mm2": 4.0e5,  # unattenuated quanta per mm^2 (noise level)
    "blur_mm": 0.25,  # detector blur (Gaussian sigma)
}

PRESETS: dict[str, dict] = {
    "demo": {
        **_COMMON,
        "id_prefix": "demo",
        "n_patients": 20,
        "spacing_scale": 13.33,  # ~2 mm/px: small enough to train on a CPU
        "field_mm": (430.0, 350.0),  # width x height of the cassette read-out
        "field_jitter": (0.02, 0.02),  # read-out area varies by up to this fraction
        "repeat_fraction": 0.25,  # patients with a second radiograph
        "hardware_fraction": 0.08,  # joints excluded for an implant or fixation
        "test_fraction": None,  # split left to the dataset stage
        "teardrop_scale": 1.9,  # enlarges L3 (see module docstring)
        "fossa_scale": 1.9,  # enlarges L4
    },
    "paper": {
        **_COMMON,
        # Section II: 83 radiographs -> 150 usable joints, 100 train / 50 test, CR 2010-2011,
        # joint images 1223x1943 ... 2140x3520 px at 0.10 / 0.15 / 0.175 mm.
        "id_prefix": "paper",
        "n_patients": 70,
        "spacing_scale": 1.0,
        "field_mm": (428.0, 352.0),  # a joint is half the width: 214 mm = 1223 px at 0.175 mm
        "field_jitter": (0.0, 0.034),  # heights 340-352 mm: 1943 px at 0.175, 3520 px at 0.10
        "repeat_fraction": 13 / 70,  # 70 patients, 13 with a follow-up: 83 radiographs
        "hardware_fraction": 16 / 166,  # 166 joints, 16 excluded: 150 usable
        "test_fraction": 1 / 3,  # 50 of 150 joints, grouped by patient
        "teardrop_scale": 1.0,
        "fossa_scale": 1.0,
    },
}

# Excess linear attenuation over soft tissue (1/mm) at an effective energy of ~60 keV.
MU_SOFT = 0.019
MU_CORT = 0.045
MU_TRAB = 0.020
MU_MARROW = 0.002
MU_PELVIS = 0.030
MU_METAL = 0.60

_SURNAMES = [
    "Novak", "Svoboda", "Novotny", "Dvorak", "Cerny", "Prochazka", "Kucera", "Vesely",
    "Horak", "Nemec", "Marek", "Pospisil", "Hajek", "Jelinek", "Kral", "Ruzicka", "Benes",
    "Fiala", "Sedlacek", "Dolezal", "Zeman", "Kolar", "Navratil", "Cermak", "Urban", "Vanek",
]  # fmt: skip
_GIVEN_M = ["Jan", "Petr", "Josef", "Pavel", "Martin", "Tomas", "Jiri", "Karel", "Milan", "Lukas"]
_GIVEN_F = ["Marie", "Jana", "Eva", "Hana", "Anna", "Lenka", "Petra", "Lucie", "Vera", "Alena"]
_INSTITUTIONS = [
    ("Fakultni nemocnice Synthetica", "Nemocnicni 1, 600 00 Brno"),
    ("Krajska nemocnice Demo", "Zdravotni 12, 700 30 Ostrava"),
]
_STATIONS = [("FUJIFILM Corporation", "FCR CAPSULA XL", "CR01"), ("AGFA", "CR 85-X", "CR02")]


# --------------------------------------------------------------------------- parameters
@dataclass
class Hip:
    """Anatomy of one hip in mm (canonical frame: u medial, v inferior, origin head centre)."""

    R: float  # femoral head radius
    D: float  # head centre to midline
    neck_len: float
    nsa: float  # neck-shaft angle (deg)
    shaft_r: float  # outer radius of the diaphysis
    cort: float  # diaphyseal cortical thickness
    scale: float  # overall size factor of the hemipelvis
    ce: float  # centre-edge angle (deg)
    hardware: str = ""  # "arthroplasty", "plate" (DHS) or "screws": excluded, as in the paper
    oa: float = 0.0  # osteoarthritis severity, 0 (none) to 1
    protrusion: float = 0.0  # acetabular protrusion: head edge medial of ilioischial line (mm)

    @property
    def implant(self) -> bool:
        return bool(self.hardware)

    def findings(self) -> list[str]:
        out = []
        if self.hardware:
            out.append(_HARDWARE_NOTE[self.hardware])
        if self.oa > 0:
            out.append(f"osteoarthritis ({'mild' if self.oa < 0.6 else 'severe'})")
        if self.protrusion > 0:
            out.append("acetabular protrusion")
        return out


_HARDWARE_NOTE = {
    "arthroplasty": "arthroplasty",
    "plate": "dynamic hip screw and plate",
    "screws": "cannulated neck screws",
}


@dataclass
class Patient:
    pid: str
    name: str
    sex: str
    birth: _dt.date
    hips: dict[str, Hip]  # "right" / "left" (patient side)
    body: float  # soft-tissue size factor
    sacrum_w: float
    pelvis_w: float  # flare of the iliac wings (wider in gynecoid pelves)
    inst: int
    station: int
    images: list = field(default_factory=list)


@dataclass
class Pose:
    """Positioning of one radiograph."""

    phi: float  # in-plane rotation of the patient (deg)
    shift: tuple[float, float]  # mm
    head_y: float  # head-centre height in the field (mm from centre, + down)
    tilt: float  # pelvic tilt (fractional vertical stretch of the pubis/ischium)
    rot: dict[str, float]  # femoral external rotation per side (deg)
    obliq: float  # pelvic obliquity: height difference right-left (mm)


def _patient(rng: np.random.Generator, idx: int) -> Patient:
    sex = "F" if rng.random() < 0.55 else "M"
    size = float(np.clip(rng.normal(1.0, 0.05), 0.9, 1.1)) * (0.97 if sex == "F" else 1.03)
    base = {
        "R": rng.uniform(22.0, 27.0) * (0.96 if sex == "F" else 1.02),
        "D": rng.uniform(88.0, 100.0) * size * (1.03 if sex == "F" else 1.0),
        "neck_len": rng.uniform(46.0, 56.0) * size,
        "nsa": rng.uniform(125.0, 140.0),
        "shaft_r": rng.uniform(13.0, 15.5) * size,
        "cort": rng.uniform(5.0, 6.5),
        "scale": size,
        "ce": rng.uniform(26.0, 38.0),
    }
    hips = {}
    for side in ("right", "left"):
        jit = {k: v * (1.0 + rng.normal(0.0, 0.015)) for k, v in base.items()}
        jit["nsa"] = base["nsa"] + rng.normal(0.0, 1.5)
        jit["ce"] = base["ce"] + rng.normal(0.0, 2.0)
        hips[side] = Hip(**jit)
    given = _GIVEN_F if sex == "F" else _GIVEN_M
    surname = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
    if sex == "F":
        surname = surname[:-1] + "a" if surname.endswith(("y", "a")) else surname + "ova"
    age_days = int(rng.uniform(35, 85) * 365.25)
    return Patient(
        pid=f"P{idx:03d}",
        name=f"{surname.upper()}^{given[int(rng.integers(len(given)))]}",
        sex=sex,
        birth=_dt.date(2010, 6, 1) - _dt.timedelta(days=age_days),
        hips=hips,
        body=float(np.clip(rng.normal(1.0, 0.08), 0.85, 1.2)),
        sacrum_w=rng.uniform(0.9, 1.1) * size,
        pelvis_w=rng.uniform(0.9, 1.1) * (1.04 if sex == "F" else 0.97),
        inst=int(rng.integers(len(_INSTITUTIONS))),
        station=int(rng.integers(len(_STATIONS))),
    )


def _pose(rng: np.random.Generator) -> Pose:
    return Pose(
        phi=float(rng.uniform(-3.0, 3.0)),
        shift=(float(rng.uniform(-10, 10)), float(rng.uniform(-8, 8))),
        head_y=float(rng.uniform(-40.0, -25.0)),
        tilt=float(rng.uniform(-0.12, 0.12)),
        rot={s: float(rng.uniform(-10.0, 25.0)) for s in ("right", "left")},
        obliq=float(rng.normal(0.0, 2.0)),
    )


# --------------------------------------------------------------------------- rasterisation
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
    return 2.0 * np.sqrt(np.maximum(r2_minus_rho2, 0.0))


def _ellipse_q(U, V, cu, cv, a, b, ang=0.0):
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
    top = s[r0][:, c0] * (1 - fc) + s[r0][:, c1] * fc
    bot = s[r1][:, c0] * (1 - fc) + s[r1][:, c1] * fc
    return top * (1 - fr) + bot * fr


def _edt_mm(mask: np.ndarray, sp: float) -> np.ndarray:
    """Distance (mm) to the outside of ``mask``, computed on a ~1 mm grid and upsampled."""
    k = max(1, int(round(1.0 / sp)))
    if k == 1:
        return ndimage.distance_transform_edt(mask, sampling=sp).astype(np.float32)
    h, w = mask.shape
    small = mask[k // 2 :: k, k // 2 :: k]
    edt = ndimage.distance_transform_edt(small, sampling=sp * k)
    return _upsample(edt, (h, w)) * mask


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


# --------------------------------------------------------------------------- one hip
def _render_hip(
    fr: _Frame, hip: Hip, pose: Pose, side: str, pre: dict, A, L, paint: bool, rng, flare=1.0
):
    """Add the hip's bone attenuation to ``A`` (1/mm * mm) and paint its labels into ``L``.

    Pathology: osteoarthritis (``hip.oa``) narrows the superolateral joint space, lets the head
    migrate laterally (a wider, more asymmetric medial space), thickens the sclerotic sourcil and
    grows osteophytes at the acetabular rim (pelvis, L5) and the inferior head-neck junction
    (head, L1). Acetabular protrusion (``hip.protrusion`` mm) moves the head and cup medially
    relative to the teardrop and the ilioischial line: the head then projects over the teardrop
    and the medial joint space (L3 and L4 shrink, the head is painted on top, as annotated).
    """
    R, s = hip.R, hip.scale
    tilt = pose.tilt
    ts, fs = pre["teardrop_scale"], pre["fossa_scale"]
    D = hip.D
    rot = pose.rot[side]
    oa, prot = hip.oa, hip.protrusion

    # ---- acetabulum, fossa (L4) and teardrop (L3) geometry
    g0 = 1.2 * fs * (1.0 - 0.75 * oa)  # joint space at the lateral roof (narrowed by OA)
    dcup = 4.0 * fs * (1.0 + 0.5 * oa)  # medial shift of the cup (OA: head migrates laterally)
    cup_u, cup_v, cup_r = dcup, -0.5 + 1.5 * oa, R + g0
    td_w, td_h = 6.5 * ts * s, 18.0 * ts * s
    # lateral edge of the teardrop = medial wall of the fossa. The ilioischial line runs through
    # the teardrop; protrusion moves the head (and cup) medially until the head's medial edge
    # lies ``prot`` mm medial of that line.
    shift = (dcup + g0 - 1.0 + 0.5 * td_w + prot) if prot > 0 else 0.0
    td_u0 = cup_u + cup_r - 1.0 - shift
    td_cu, td_cv = td_u0 + td_w / 2, 0.42 * R + 4.0 * tilt * 10 / 1.2
    td_ang = math.radians(-8.0)

    def sv(v):  # pelvic tilt stretches the pubis / ischium and compresses the wing
        v = np.asarray(v, float)
        return np.where(v > 0, v * (1.0 + tilt), v * (1.0 - 0.5 * tilt))

    ce = math.radians(hip.ce)
    rim = (cup_u - cup_r * math.sin(ce), cup_v - cup_r * math.cos(ce))
    sac_top, sac_bot = 44.0 * s, 30.0 * s
    td_med = td_u0 + shift + td_w  # the pelvic outline keeps its place (the wall bulges)
    pts = [
        rim,
        (-24 * s, -40 * s), (-21 * s, -50 * s), (-47 * s, -70 * s), (-60 * s, -92 * s),
        (-56 * s, -114 * s), (-36 * s, -129 * s), (-6 * s, -138 * s), (24 * s, -136 * s),
        (D - sac_top - 3.0, -122 * s), (D - sac_bot - 3.0, -64 * s),
        (td_med + 9 * s, td_cv - td_h / 2 - 14 * s), (td_med + 3 * s, td_cv - td_h / 2),
        (td_med + 6 * s, td_cv + 0.1 * td_h), (td_med + 18 * s, td_cv + 0.1 * td_h + 1),
        (D - 20 * s, 12 * s), (D - 2.0, 15 * s), (D - 2.0, 47 * s), (D - 16 * s, 55 * s),
        (58 * s, 73 * s), (36 * s, 90 * s), (14 * s, 89 * s), (2 * s, 73 * s), (-4 * s, 46 * s),
        (-10 * s, 26 * s), (-0.66 * R, 0.0), (-0.66 * R, -0.5 * R),
    ]  # fmt: skip
    poly = np.array(pts, float)
    poly[:, 1] = sv(poly[:, 1])
    wing = poly[:, 1] < -40 * s  # iliac wing: its lateral flare is a per-patient shape parameter
    poly[wing, 0] = np.where(poly[wing, 0] < 0, poly[wing, 0] * flare, poly[wing, 0])
    obt_cu = 0.5 * (td_med + 6 * s + 2 * s) + 0.25 * (D - 20 * s)
    obt = _ellipse_poly(obt_cu, float(sv(43 * s)), 19 * s, 17 * s * (1 + tilt), math.radians(-15))

    win = fr.window(-70 * s, D + 5, -150 * s, 100 * s)
    if win is not None:
        sl, U, V = win
        m5 = fr.polygon_mask(sl, [poly], [obt])
        rim_osteo = np.zeros(U.shape, np.float32)
        if oa > 0:  # marginal osteophyte at the lateral acetabular rim, grows with OA
            ou, ov = rim[0] - 2.5 * oa * s, rim[1] + 4.0 * oa * s
            q_o = _ellipse_q(U, V, ou, ov, (2.0 + 5.0 * oa) * s, (2.5 + 4.0 * oa) * s, ce)
            rim_osteo = (6.0 * oa * s * np.sqrt(np.clip(1 - q_o, 0, 1))).astype(np.float32)
            m5 |= (q_o < 1) & (np.hypot(U, V) >= R)
        # plate thickness: EDT dome computed on a ~1 mm grid, then upsampled
        edt = _edt_mm(m5, fr.sp)
        E = 12.0 * s
        dome = np.sqrt(np.clip(edt / E, 0, 1) * (2 - np.clip(edt / E, 0, 1)))
        plate = (3.5 + 6.0 * dome) * m5
        rimt = 5.0 * np.exp(-edt / 1.5) * m5  # cortical rim seen tangentially
        # thicker acetabular body around the cup, thin wing further up
        rho_c = np.hypot(U - cup_u, V - cup_v)
        plate *= 1.0 + 0.6 * np.exp(-(((rho_c - R) / (0.9 * R)) ** 2))
        # thin iliac fossa in the middle of the wing, thick pubic / ischial rami
        q_fos = _ellipse_q(U, V, -12 * s, -92 * s, 34 * s, 26 * s, math.radians(-20))
        plate *= 1.0 - 0.45 * np.clip(1.0 - q_fos, 0.0, 1.0)
        # low-frequency thickness texture (bone density varies)
        tex = _upsample(rng.normal(0.0, 1.0, (6, 6)), U.shape)
        plate *= 1.0 + 0.12 * tex
        # fossa (L4): crescent between cup and head, above the teardrop's lower third
        head_rho = np.hypot(U, V)
        q_td = _ellipse_q(U, V, td_cu, td_cv, td_w / 2, td_h / 2, td_ang)
        # crescent inside the cup, plus the joint space medial to the head down to the teardrop
        crescent = (rho_c < cup_r) & (U > -0.2 * R)
        medial_gap = (U > 0) & (U < td_cu) & (V >= td_cv - 0.3 * td_h) & (V >= cup_v)
        m4 = (crescent | medial_gap) & (head_rho >= R) & (V < td_cv + 0.15 * td_h) & m5
        plate = np.where(m4, plate * 0.45, plate)
        # sourcil: dense band over the roof
        src_w = 4.5 * s * (1.0 + 0.8 * oa)  # OA: subchondral sclerosis, wider and denser
        m_src = (rho_c >= cup_r) & (rho_c < cup_r + src_w) & (V < -0.25 * R) & (U < cup_u + 4)
        m_src &= m5
        att = MU_PELVIS * plate + MU_CORT * (rimt + 4.0 * (1.0 + 1.5 * oa) * m_src + rim_osteo)
        # ilioischial line: the medial pelvic wall seen tangentially, medial of the teardrop
        d_ili = np.abs(U - (td_u0 + 0.5 * td_w - 0.06 * (V - td_cv)))
        ili = (d_ili < 1.6 * s) & (V > td_cv - td_h / 2 - 35 * s) & (V < td_cv + 40 * s) & m5
        att += MU_CORT * 2.5 * ili
        # teardrop: ellipsoid shell (dense U) with a trabecular interior
        q_in = _ellipse_q(U, V, td_cu, td_cv, td_w / 2 - 2.0, td_h / 2 - 2.0, td_ang)
        depth = 6.0 * ts
        outer, inner = depth * _chord(1 - q_td) / 2, (depth - 2.0) * _chord(1 - q_in) / 2
        att += MU_CORT * (outer - inner) * 1.4 + MU_TRAB * inner
        m3 = q_td < 1.0
        A[sl] += att.astype(np.float32)
        if paint:
            lab = L[sl]
            lab[m5] = 5
            lab[_largest(m4 & ~m3)] = 4  # rasterisation slivers stay pelvis
            lab[m3] = 3

    # ---- femur
    ang = math.radians(7.0)  # anatomical shaft axis: going down it moves medially
    sx, sy = math.sin(ang), math.cos(ang)
    nsa = math.radians(hip.nsa + 0.15 * rot)
    nx = sx * math.cos(nsa) + sy * math.sin(nsa)  # rotate shaft-down vector by the NSA
    ny = -sx * math.sin(nsa) + sy * math.cos(nsa)
    if nx < 0:
        nx = sx * math.cos(nsa) - sy * math.sin(nsa)
        ny = sx * math.sin(nsa) + sy * math.cos(nsa)
    # apparent neck length: anteversion (~15 deg) plus external rotation foreshortens the neck
    ln = hip.neck_len * math.cos(math.radians(np.clip(15.0 + rot, 0.0, 60.0)))
    Jx, Jy = -nx * ln, -ny * ln  # junction of neck axis and shaft axis
    rs, cort = hip.shaft_r, hip.cort
    flare, Lc = 0.55 * rs, 2.6 * rs
    shell = 1.3
    win = fr.window(Jx - 2.5 * rs - 10, R + 8, -R - 8, 400.0)
    if win is None:
        return
    sl, U, V = win
    # head: sphere with a thin shell
    rho2 = U * U + V * V
    h_out, h_in = _chord(R * R - rho2), _chord((R - shell) ** 2 - rho2)
    # neck: tapered capsule from the head centre to J
    du, dv = U - Jx, V - Jy  # from J
    tn = np.clip((du * nx + dv * ny) / ln, 0.0, 1.0)  # 0 at J, 1 at head centre
    pn = du - tn * nx * ln, dv - tn * ny * ln
    rho_n = np.hypot(*pn)
    rn = (0.62 + 0.22 * (1 - tn)) * R
    n_out, n_in = _chord(rn * rn - rho_n**2), _chord((rn - shell) ** 2 - rho_n**2)
    # inferior side of the neck: normal pointing down (+v)
    inf_n = (-ny, nx) if nx > 0 else (ny, -nx)
    side_inf = pn[0] * inf_n[0] + pn[1] * inf_n[1]
    # trochanteric cone + diaphysis along the shaft axis from J
    t = du * sx + dv * sy
    tc = np.maximum(t, 0.0)  # the cone has a rounded cap of radius rs + flare at J
    perp_m = du * sy - dv * sx  # along the medial normal (sy, -sx)
    medial = perp_m > 0
    rho_s = np.hypot(perp_m, t - tc)
    r_out = rs + flare * np.clip(1.0 - tc / Lc, 0.0, 1.0)
    t_med, t_lat = 0.0, 0.75 * Lc
    c_med = np.where(t < 0.45 * Lc, 3.5 + (cort - 3.5) * np.clip(t / (0.45 * Lc), 0, 1), cort)
    c_med = np.where(t < 0, shell, c_med)
    c_lat = np.where(t < t_lat, shell, cort)
    c_side = np.where(medial, c_med, c_lat)
    c_fb = np.where(t < t_lat, shell + (cort - shell) * np.clip(t / t_lat, 0, 1), cort)
    valid = np.ones(t.shape, bool)
    r_in = r_out - c_side
    o2 = r_out * r_out - rho_s**2
    s_out = np.where(valid, _chord(o2), 0.0)
    in_band = rho_s >= r_in
    s_in = np.where(valid & ~in_band, _chord((r_out - c_fb) ** 2 - rho_s**2), 0.0)
    s_cort = s_out - s_in
    marrow = np.clip((t - 0.6 * Lc) / (0.6 * Lc), 0.0, 1.0)  # trabecular -> fatty marrow
    # greater trochanter: ellipsoid lateral-superior to J
    gt_cu, gt_cv, gt_a, gt_b = Jx - 0.55 * rs, Jy - 0.45 * rs, 1.15 * rs, 1.75 * rs
    q_gt = _ellipse_q(U, V, gt_cu, gt_cv, gt_a, gt_b, math.radians(-10))
    q_gti = _ellipse_q(U, V, gt_cu, gt_cv, gt_a - shell, gt_b - shell, math.radians(-10))
    g_out, g_in = 1.1 * rs * _chord(1 - q_gt) / 2, (1.1 * rs - shell) * _chord(1 - q_gti) / 2
    # lesser trochanter: posteromedial, more prominent with external rotation
    prot = float(np.clip(3.0 + 0.3 * rot, 0.5, 10.0)) * s
    t_lt = 0.8 * Lc
    r_lt = rs + flare * max(0.0, 1 - t_lt / Lc)
    lt_cu = Jx + sx * t_lt + sy * (r_lt + prot - 6.5 * s)
    lt_cv = Jy + sy * t_lt - sx * (r_lt + prot - 6.5 * s)
    q_lt = _ellipse_q(U, V, lt_cu, lt_cv, 8.5 * s, 12.0 * s, math.radians(-35))
    lt = 14.0 * s * _chord(1 - q_lt) / 2

    # thin shells are less dense than the diaphyseal cortex; no neck shell inside the head
    n_sh = np.where(rho2 < R * R, 0.0, n_out - n_in)
    g_sh = np.where(rho2 < R * R, 0.0, g_out - g_in)
    cortical = np.maximum.reduce([0.55 * (h_out - h_in), 0.55 * n_sh, s_cort, 0.55 * g_sh])
    inner_t = np.maximum.reduce([h_in, n_in, g_in, s_in * (1 - marrow)])
    inner_m = s_in * marrow
    # union depth (approximate interior distance to the femur outline)
    depth = np.maximum.reduce([R - np.sqrt(rho2), rn - rho_n, np.where(valid, r_out - rho_s, -1e3)])
    mF = (h_out > 0) | (n_out > 0) | (s_out > 0) | (q_gt < 1) | (q_lt < 1)
    if oa > 0:  # inferomedial head-neck osteophyte ("drooping" collar), part of the head (L1)
        q_fo = _ellipse_q(U, V, 0.45 * R, 0.9 * R, (2.0 + 5.0 * oa) * s, (2.0 + 3.0 * oa) * s, 0.6)
        osteo = (5.0 * oa * s * np.sqrt(np.clip(1 - q_fo, 0, 1))).astype(np.float32)
        mF |= q_fo < 1
    else:
        osteo = 0.0
    # L2: calcar (inferior neck cortex) + medial / lateral diaphyseal cortex + lesser trochanter
    calc_th = 3.5 * s
    calcar = (side_inf > 0) & (rho_n >= rn - calc_th) & (tn < 1.0 - 0.85 * R / ln)
    calcar &= (depth < calc_th + 0.5) & (rho_n < rn) & (rho2 >= R * R)
    walls = valid & in_band & ((medial & (t >= t_med)) | (~medial & (t >= t_lat)))
    walls &= depth < c_side + 0.5
    m2 = ((calcar | walls) & mF) | (q_lt < 1)
    att = (
        MU_CORT * cortical
        + MU_TRAB * inner_t
        + MU_MARROW * inner_m
        + MU_CORT * 5.0 * calcar
        + (MU_CORT * 0.7) * lt
        + MU_CORT * osteo
    )
    if hip.hardware in ("plate", "screws"):
        att = att + MU_METAL * _fixation(U, V, hip.hardware, nx, ny, ln, Jx, Jy, sx, sy, rs, R)
    if hip.hardware == "arthroplasty":
        # stem in the canal + metal ball at the head centre + cup in the acetabulum
        rr = np.hypot(U - cup_u, V - cup_v)
        stem_r = np.where(t < 0, 0.45 * rn, np.clip(0.6 * rs - t * 0.02, 3.0, None))
        stem_len = 130.0
        tt = np.clip(t, -ln * 0.8, stem_len)
        px, py = Jx + sx * tt, Jy + sy * tt
        d_stem = np.hypot(U - px, V - py)
        stem = _chord(stem_r**2 - d_stem**2)
        # neck part of the stem: capsule from head centre to J
        stem = np.maximum(stem, _chord((0.35 * rn) ** 2 - rho_n**2) * (tn > 0.05))
        ball = _chord((0.6 * R) ** 2 - rho2)
        cup = (_chord((R + 4) ** 2 - rr**2) - _chord(R**2 - rr**2)) * (V < cup_v + 2)
        att = att + MU_METAL * (stem + ball + 0.6 * cup)
    A[sl] += att.astype(np.float32)
    if paint:
        lab = L[sl]
        m1 = mF & ~m2
        lab[m1] = 1
        lab[m2] = 2


def _rod(U, V, p0, p1, r):
    """Path length through a cylinder of radius ``r`` around the in-plane segment p0-p1."""
    d = np.subtract(p1, p0, dtype=float)
    n2 = float(d @ d)
    t = np.clip(((U - p0[0]) * d[0] + (V - p0[1]) * d[1]) / n2, 0.0, 1.0)
    dist2 = (U - p0[0] - t * d[0]) ** 2 + (V - p0[1] - t * d[1]) ** 2
    return _chord(r * r - dist2)


def _fixation(U, V, kind, nx, ny, ln, Jx, Jy, sx, sy, rs, R):
    """Metal path length (mm) of a fracture fixation in the hip's canonical frame.

    ``plate``: a dynamic hip screw (lag screw along the neck into the head) with a lateral side
    plate and four cortical screws; ``screws``: three parallel cannulated screws in the neck.
    """
    lat = (Jx - nx * 1.6 * rs, Jy - ny * 1.6 * rs)  # entry point at the lateral cortex
    tip = (nx * 0.55 * R, ny * 0.55 * R)  # beyond the head centre, short of the joint
    metal = np.zeros(U.shape, np.float32)
    if kind == "screws":
        pu, pv = -ny, nx  # perpendicular to the neck axis
        for off in (-0.32 * R, 0.0, 0.32 * R):
            o = (pu * off, pv * off)
            metal += _rod(U, V, (lat[0] + o[0], lat[1] + o[1]), (tip[0] + o[0], tip[1] + o[1]), 3.3)
        return metal
    metal += _rod(U, V, lat, tip, 6.0)
    # side plate on the lateral shaft surface (lateral normal is (-sy, sx)), 6 mm thick
    lu, lv = -sy, sx
    top = (lat[0] + lu * 3.0, lat[1] + lv * 3.0)
    bot = (top[0] + sx * 120.0, top[1] + sy * 120.0)
    metal += _rod(U, V, top, bot, 8.0) * 0.4
    for k in range(4):  # cortical screws across the shaft
        a = (top[0] + sx * (40.0 + 22.0 * k), top[1] + sy * (40.0 + 22.0 * k))
        b = (a[0] - lu * 2.2 * rs, a[1] - lv * 2.2 * rs)
        metal += _rod(U, V, a, b, 2.3)
    return metal


# --------------------------------------------------------------------------- one image
def _text_mask(shape, sp: float, items) -> np.ndarray:
    """Boolean mask of text drawn at (x_mm, y_mm) from the image's top-left, height in mm."""
    from PIL import ImageFont

    mask = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(mask)
    for text, x_mm, y_mm, h_mm, anchor in items:
        font = ImageFont.load_default(size=max(int(round(h_mm / sp)), 6))
        draw.multiline_text((x_mm / sp, y_mm / sp), text, fill=255, font=font, anchor=anchor)
    return np.asarray(mask) > 127


def render_radiograph(
    pat: Patient,
    pose: Pose,
    sp: float,
    field_mm: tuple[float, float],
    pre: dict,
    rng,
    marker: str = "",
    text: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """Return (log-attenuation image float32, label map uint8) of one radiograph.

    ``marker`` ("R" or "L"): a lead side marker in the upper corner of that side, part of the
    exposure (it attenuates). ``text``: a label burned into the pixels after processing (white,
    like a CR reader's annotation), bottom corner. Neither is labelled.
    """
    cols, rows = int(round(field_mm[0] / sp)), int(round(field_mm[1] / sp))
    shape = (rows, cols)
    A = np.zeros(shape, np.float32)
    L = np.zeros(shape, np.uint8)
    hr, hl = pat.hips["right"], pat.hips["left"]
    frames = {}
    for side, sgn, hip in (("right", 1, hr), ("left", -1, hl)):
        hx = -sgn * hip.D
        hy = pose.head_y + (pose.obliq / 2 if side == "right" else -pose.obliq / 2)
        frames[side] = _Frame(shape, sp, pose, hx, hy, sgn)
        _render_hip(
            frames[side], hip, pose, side, pre, A, L, not hip.implant, rng, flare=pat.pelvis_w
        )

    # patient frame (origin between the heads at head height) for the sacrum and soft tissue
    fp = _Frame(shape, sp, pose, 0.0, pose.head_y, 1)
    sl, X, Y = fp.window(-field_mm[0], field_mm[0], -field_mm[1], field_mm[1])
    s = pat.sacrum_w
    top, bot = 44.0 * s, 30.0 * s
    sac = np.array(
        [(-top, -130 * s), (top, -130 * s), (bot, -64 * s), (9 * s, -22 * s), (-9 * s, -22 * s),
         (-bot, -64 * s)],
    )  # fmt: skip
    sac[:, 1] = np.where(sac[:, 1] > 0, sac[:, 1], sac[:, 1] * (1 - 0.5 * pose.tilt))
    msac = fp.polygon_mask(sl, [sac])
    edt = _edt_mm(msac, sp)
    A += (MU_PELVIS * (4.0 + 6.0 * np.clip(edt / 10.0, 0, 1)) * msac).astype(np.float32)
    # sacral foramina: small darker holes
    for k in range(4):
        for sg in (-1, 1):
            cx, cy = sg * (17 - 2 * k) * s, (-112 + 17 * k) * s
            win = fp.window(cx - 5 * s, cx + 5 * s, cy - 5 * s, cy + 5 * s)
            if win is not None:
                sl2, X2, Y2 = win
                q = _ellipse_q(X2, Y2, cx, cy, 4.5 * s, 4 * s)
                A[sl2] -= (MU_PELVIS * 4.0 * (q < 1) * msac[sl2]).astype(np.float32)
    # soft tissue: elliptic trunk that splits into two thighs below the crotch
    b = pat.body
    ab, dap = 178.0 * b, 205.0 * b
    t_body = dap * np.sqrt(np.clip(1 - (X / ab) ** 2, 0, 1))
    xc, rt = 0.5 * (hr.D + hl.D) + 12.0, 86.0 * b
    t_th = 1.7 * rt * np.sqrt(np.clip(1 - ((np.abs(X) - xc) / rt) ** 2, 0, 1))
    w = 1.0 / (1.0 + np.exp(-(Y - 95.0 * pat.hips["right"].scale) / 12.0))
    t_soft = (1 - w) * t_body + w * t_th
    # a little bowel gas in the pelvic cavity / over the wings
    for _ in range(int(rng.integers(1, 4))):
        gx, gy = rng.uniform(-70, 70), rng.uniform(-130, -20)
        ga, gb, gang, gd = (
            rng.uniform(8, 22),
            rng.uniform(6, 16),
            rng.uniform(0, 3),
            rng.uniform(8, 25),
        )
        win = fp.window(gx - 23, gx + 23, gy - 23, gy + 23)
        if win is not None:
            sl2, X2, Y2 = win
            q = _ellipse_q(X2, Y2, gx, gy, ga, gb, gang)
            t_soft[sl2] -= gd * np.sqrt(np.clip(1 - q, 0, 1))
    mu_total = A + MU_SOFT * np.maximum(t_soft, 0).astype(np.float32)
    h_txt = max(4.0, 9.0 * sp)  # legible at every spacing (CR readers draw text in pixels)
    if marker:  # lead letter, 1.5 mm thick, in the patient's side's upper corner
        x = 0.06 * field_mm[0] if marker == "R" else 0.94 * field_mm[0]
        lead = _text_mask(shape, sp, [(marker, x, 0.05 * field_mm[1], 3 * h_txt, "mt")])
        mu_total += (6.0 * lead).astype(np.float32)  # ~1 mm of lead at ~60 keV

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
    counts = counts + np.sqrt(counts) * rng.standard_normal(shape, dtype=np.float32)
    counts = _blur_mm(counts.astype(np.float32), pre["blur_mm"], sp)
    p = -np.log(np.maximum(counts, 0.5) / n0)
    # CR processing: dynamic-range compression (large kernel) + unsharp masking (cortices)
    p = p - 0.45 * _blur_mm(p.astype(np.float32), 30.0, sp)
    p = p + 0.6 * (p - _blur_mm(p.astype(np.float32), 4.0, sp))
    if text:  # burned-in annotation: saturates to display white in either polarity
        xy = (0.97 * field_mm[0], 0.97 * field_mm[1], "rd")
        p[_text_mask(shape, sp, [(text, xy[0], xy[1], h_txt, xy[2])])] = 1e3
    return p.astype(np.float32), L


# --------------------------------------------------------------------------- DICOM
def _uid(seed: int, *parts) -> str:
    import pydicom.uid

    return pydicom.uid.generate_uid(entropy_srcs=["hipseg-synth", str(seed), *map(str, parts)])


def _dicom_bytes(img_p, sp, meta: dict) -> tuple[bytes, str]:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    bits = meta["bits"]
    maxv = (1 << bits) - 1
    lo, hi = meta["window"]
    v = np.clip((img_p - lo) / (hi - lo), 0.0, 1.0) * maxv
    stored = np.rint(v).astype(np.uint16)
    mono1 = meta["mono1"]
    if mono1:
        stored = (maxv - stored).astype(np.uint16)
    wc_lo, wc_hi = np.percentile(stored[::4, ::4], [2, 99.5])
    sop = _uid(meta["seed"], meta["id"], "sop")

    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    fm.MediaStorageSOPInstanceUID = sop
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = fm
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = fm.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop
    d: _dt.date = meta["date"]
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = d.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = meta["time"]
    ds.AcquisitionTime = ds.ContentTime = meta["time"]
    ds.AccessionNumber = meta["accession"]
    ds.Modality = "CR"
    ds.Manufacturer, ds.ManufacturerModelName, ds.StationName = meta["station"]
    ds.InstitutionName, ds.InstitutionAddress = meta["institution"]
    ds.ReferringPhysicianName = meta["referring"]
    ds.OperatorsName = meta["operator"]
    ds.StudyDescription = "RTG PANVE AP"
    ds.SeriesDescription = "Pelvis AP"
    ds.PatientName = meta["name"]
    ds.PatientID = meta["patient_id"]
    ds.PatientBirthDate = meta["birth"].strftime("%Y%m%d")
    ds.PatientSex = meta["sex"]
    age = (d - meta["birth"]).days // 365
    ds.PatientAge = f"{age:03d}Y"
    ds.BodyPartExamined = "PELVIS"
    ds.BurnedInAnnotation = "YES" if meta.get("text") else "NO"
    ds.ViewPosition = "AP"
    ds.DeviceSerialNumber = meta["serial"]
    ds.SoftwareVersions = "hipseg-synth"
    ds.StudyInstanceUID = _uid(meta["seed"], meta["id"], "study")
    ds.SeriesInstanceUID = _uid(meta["seed"], meta["id"], "series")
    ds.StudyID = meta["study_id"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    spv = [f"{sp:.6g}", f"{sp:.6g}"]
    ds.PixelSpacing = spv
    ds.ImagerPixelSpacing = spv
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = f"{(wc_lo + wc_hi) / 2:.1f}"
    ds.WindowWidth = f"{max(wc_hi - wc_lo, 1.0):.1f}"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    block = ds.private_block(0x0009, "HIPSEG SYNTH PRIVATE", create=True)
    block.add_new(0x10, "LO", meta["name"].replace("^", " "))
    block.add_new(0x11, "LO", meta["patient_id"])
    ds.PixelData = stored.tobytes()
    buf = _io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue(), ds.PhotometricInterpretation


def _png_bytes(labels: np.ndarray) -> bytes:
    buf = _io.BytesIO()
    Image.fromarray(labels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


# --------------------------------------------------------------------------- dataset
def _plan(pre: dict, seed: int, n_patients: int):
    """Patients, their radiographs, findings and excluded hips (deterministic in ``seed``).

    The counts are exact, not expected values: ``round(repeat_fraction * n_patients)`` patients
    have a follow-up radiograph; ``round(hardware_fraction * joints)`` joints (a hip counted once
    per radiograph) carry an implant or fixation and are excluded; if ``test_fraction`` is set,
    whole patients are assigned to the test set until it holds exactly
    ``round(test_fraction * usable joints)`` joints (paper: 83 radiographs, 150 joints, 50 test).
    """
    rng = np.random.default_rng([seed, 1])
    patients = [_patient(np.random.default_rng([seed, 2, i]), i + 1) for i in range(n_patients)]
    n_rep = int(round(pre["repeat_fraction"] * n_patients))
    repeat = set(rng.permutation(n_patients)[:n_rep].tolist())
    for i, p in enumerate(patients):
        p.images = [0, 1] if i in repeat else [0]
    # excluded hips: exactly the target number of joints, one of each hardware kind first
    hips = [(i, s) for i in range(n_patients) for s in ("right", "left")]
    n_joints = sum(len(p.images) for p in patients) * 2
    target = int(round(pre["hardware_fraction"] * n_joints))
    if n_patients >= 3:
        target = max(target, 1)
    kinds = list(pre["hardware_kinds"])
    done = 0
    for k in rng.permutation(len(hips)).tolist():
        i, side = hips[k]
        n = len(patients[i].images)
        if done + n <= target:
            patients[i].hips[side].hardware = kinds[0] if kinds else "arthroplasty"
            kinds = kinds[1:] or [str(rng.choice(pre["hardware_kinds"]))]
            done += n
        if done == target:
            break
    # findings of the usable hips; at least one of each from four patients on
    free = [(i, s) for i, s in hips if not patients[i].hips[s].hardware]
    oa = rng.random(len(free)) < pre["oa_fraction"]
    pr = rng.random(len(free)) < pre["protrusion_fraction"]
    if n_patients >= 4 and len(free) >= 2:
        a, b = rng.choice(len(free), 2, replace=False)
        oa[a], pr[b] = True, True
    for (i, s), o, q in zip(free, oa, pr, strict=True):
        hip = patients[i].hips[s]
        hip.oa = float(rng.uniform(0.3, 1.0)) if o else 0.0
        hip.protrusion = float(rng.uniform(2.0, 8.0)) if q else 0.0
    # fixed test split, grouped by patient (exact joint count when one exists)
    split = {p.pid: "" for p in patients}
    if pre.get("test_fraction"):
        usable = [sum(not h.implant for h in p.hips.values()) * len(p.images) for p in patients]
        want = int(round(pre["test_fraction"] * sum(usable)))
        order = rng.permutation(n_patients).tolist()
        chosen = _subset_sum([usable[i] for i in order], want)
        test = {patients[order[j]].pid for j in chosen}
        split = {p.pid: "test" if p.pid in test else "train" for p in patients}
    return patients, split


def _subset_sum(values: list[int], target: int) -> list[int]:
    """Indices of a subset of ``values`` summing to ``target`` (the closest below if none)."""
    reach: dict[int, list[int]] = {0: []}
    for j, v in enumerate(values):
        for total, idx in list(reach.items()):
            if v and total + v <= target and total + v not in reach:
                reach[total + v] = [*idx, j]
    return reach[max(reach)]


def _radiographs(pre: dict, seed: int, n_patients: int):
    """Every radiograph of the dataset: its patient, acquisition and header values, and the
    random stream its pixels are drawn from (nothing is rendered here)."""
    patients, split = _plan(pre, seed, n_patients)
    y0, y1 = pre["years"]
    day0 = _dt.date(y0, 1, 4)
    span = (_dt.date(y1, 12, 31) - day0).days - 170  # room for a follow-up within the years
    counter = 0
    for pi, pat in enumerate(patients):
        prng = np.random.default_rng([seed, 3, pi])
        first = day0 + _dt.timedelta(days=int(prng.integers(0, max(span, 1))))
        for k in pat.images:
            counter += 1
            iid = f"{pre['id_prefix']}{counter:04d}"
            rng = np.random.default_rng([seed, 4, pi, k])
            date = first + _dt.timedelta(days=int(k * rng.integers(60, 160)))
            pose = _pose(rng)
            sps = np.asarray(pre["spacings_mm"], float) * pre["spacing_scale"]
            sp = float(sps[rng.choice(len(sps), p=pre["spacing_probs"])])
            fjw, fjh = pre["field_jitter"]
            fld = (
                pre["field_mm"][0] * (1 - fjw * rng.random()),
                pre["field_mm"][1] * (1 - fjh * rng.random()),
            )
            hh = int(rng.integers(7, 17))
            tm = f"{hh:02d}{int(rng.integers(60)):02d}{int(rng.integers(60)):02d}"
            marker = str(rng.choice(["R", "L"])) if rng.random() < pre["marker_fraction"] else ""
            text = ""
            if rng.random() < pre["text_fraction"]:
                surname, given = pat.name.split("^")
                text = f"{surname} {given}\n{date:%d.%m.%Y} {tm[:2]}:{tm[2:4]}  AP"
            meta = {
                "seed": seed,
                "id": iid,
                "bits": int(rng.choice(pre["bits_stored"])),
                "mono1": bool(rng.random() < pre["monochrome1_fraction"]),
                "window": (float(rng.uniform(-0.3, -0.1)), float(rng.uniform(4.7, 5.1))),
                "date": date,
                "time": tm,
                "accession": f"A{seed % 1000:03d}{counter:06d}",
                "study_id": f"{int(rng.integers(1000, 9999))}",
                "station": _STATIONS[pat.station],
                "serial": f"SN{pat.station:02d}{seed % 97:02d}4711",
                "institution": _INSTITUTIONS[pat.inst],
                "referring": f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))].upper()}^MUDr",
                "operator": f"{_SURNAMES[int(rng.integers(len(_SURNAMES)))].upper()}^RA",
                "name": pat.name,
                "patient_id": f"{7000000 + seed * 1000 + pi:010d}",
                "birth": pat.birth,
                "sex": pat.sex,
                "text": text,
            }
            imp = [s for s in ("right", "left") if pat.hips[s].implant]
            hips = {0: "both", 2: "none"}.get(len(imp)) or ("left" if imp == ["right"] else "right")
            notes = []
            for side in ("right", "left"):
                excl = " (excluded)" if pat.hips[side].implant else ""
                notes += [f"{side} hip {f}{excl}" for f in pat.hips[side].findings()]
            if marker:
                notes.append(f"lead marker {marker}")
            if text:
                notes.append("burned-in text")
            if k > 0:
                notes.append("follow-up radiograph")
            row = [iid, pat.pid, f"dicom/{iid}.dcm", f"labels/{iid}.png", hips, split[pat.pid],
                   "; ".join(notes)]  # fmt: skip
            yield {
                "id": iid, "patient": pat, "pose": pose, "spacing": sp, "field_mm": fld,
                "marker": marker, "text": text, "meta": meta, "row": row, "rng": rng,
            }  # fmt: skip


def describe(preset: str = "demo", seed: int = 0, n_patients: int | None = None) -> list[dict]:
    """The sheet row, pixel spacing and field size of every radiograph, without rendering."""
    pre = _preset(preset)
    n = int(pre["n_patients"] if n_patients is None else n_patients)
    return [
        {**dict(zip(TSV_COLUMNS, r["row"], strict=True)), "spacing": r["spacing"],
         "field_mm": r["field_mm"]}
        for r in _radiographs(pre, seed, n)
    ]  # fmt: skip


@dataclass(frozen=True)
class SynthOptions(StageOptions):
    """The ``demo:`` section (``enabled`` is the workflow's switch, not the generator's)."""

    SECTION: ClassVar[str] = "demo"
    preset: str = "demo"
    seed: int = 0
    n_patients: int | None = None


def _preset(preset: str) -> dict:
    if preset not in PRESETS:
        raise HipsegError(
            f"demo.preset: unknown preset {preset!r}; choose one of {sorted(PRESETS)}"
        )
    return PRESETS[preset]


def generate(
    out_dir: str | Path,
    preset: str = "demo",
    seed: int = 0,
    n_patients: int | None = None,
    only: Iterable[str] | None = None,
) -> Path:
    """Write out_dir/dicom/<id>.dcm, out_dir/labels/<id>.png, out_dir/samples.tsv.

    Returns the path of ``samples.tsv``. ``only`` (radiograph ids) renders just those
    radiographs of the full dataset, with exactly the pixels, labels and sheet rows they have in
    it (every radiograph draws from its own random stream): a subset for quick checks.

    Every file is written atomically; ``samples.tsv`` is written last.
    """
    pre = _preset(preset)
    n_patients = int(pre["n_patients"] if n_patients is None else n_patients)
    if n_patients < 1:
        raise ValueError("n_patients must be >= 1")
    out_dir = Path(out_dir)
    wanted = None if only is None else set(only)
    rows = []
    for r in _radiographs(pre, seed, n_patients):
        if wanted is not None and r["id"] not in wanted:
            continue
        img, lab = render_radiograph(
            r["patient"], r["pose"], r["spacing"], r["field_mm"], pre, r["rng"],
            marker=r["marker"], text=r["text"],
        )  # fmt: skip
        dcm, _ = _dicom_bytes(img, r["spacing"], r["meta"])
        _write_bytes(out_dir / "dicom" / f"{r['id']}.dcm", dcm)
        _write_bytes(out_dir / "labels" / f"{r['id']}.png", _png_bytes(lab))
        rows.append(r["row"])
    if wanted is not None and len(rows) != len(wanted):
        missing = sorted(wanted - {r[0] for r in rows})
        raise ValueError(f"no radiographs {missing} in preset {preset!r} (seed {seed})")
    buf = _io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(TSV_COLUMNS)
    w.writerows(rows)
    tsv = out_dir / "samples.tsv"
    write_text(tsv, buf.getvalue())
    return tsv


# --------------------------------------------------------------------------- montage
def montage(samples_tsv: str | Path, out_png: str | Path, n: int = 6) -> None:
    """PNG montage of the first n radiographs with label overlays (for a person to look at)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .dicomio import read_radiograph
    from .display import overlay_rgba, window

    samples_tsv = Path(samples_tsv)
    with open(samples_tsv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))[: max(int(n), 1)]
    ncol = min(3, len(rows))
    nrow = int(math.ceil(len(rows) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.6 * nrow), squeeze=False)
    for ax, row in zip(axes.ravel(), rows, strict=False):
        rad = read_radiograph(samples_tsv.parent / row["dicom"])  # bone bright in both polarities
        lab = np.asarray(Image.open(samples_tsv.parent / row["labels"]))
        ax.imshow(window(rad.pixels, 1, 99.7), cmap="gray", interpolation="bilinear")
        ax.imshow(overlay_rgba(lab, alpha=0.38), interpolation="nearest")
        excl = {"both": "", "left": "right excluded", "right": "left excluded"}.get(
            row["hips"], "both excluded"
        )
        title = f"{row['id']} ({row['patient']}, {rad.photometric})"
        ax.set_title(title + (f"\n{excl}" if excl else ""), fontsize=9)
        ax.axis("off")
    for ax in axes.ravel()[len(rows) :]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


GALLERY = (
    ("no findings", None),
    ("osteoarthritis", "osteoarthritis (severe)"),
    ("acetabular protrusion", "acetabular protrusion"),
    ("arthroplasty (excluded)", "arthroplasty"),
    ("fixation (excluded)", ("dynamic hip screw", "cannulated neck screws")),
    ("burned-in text", "burned-in text"),
)


def _gallery_pick(rows: list[dict]) -> list[tuple[str, dict, str]]:
    """(title, row, side) per category of :data:`GALLERY` that the sheet has an example of."""
    picks = []
    for title, key in GALLERY:
        for row in rows:
            note = row["note"]
            if key is None:
                if "hip" not in note and row["hips"] == "both":
                    picks.append((title, row, "right"))
                    break
                continue
            keys = (key,) if isinstance(key, str) else key
            hit = next((k for k in keys if k in note), None)
            if hit is None:
                continue
            if hit == "burned-in text":  # drawn in the image's lower right: the left hip's half
                picks.append((title, row, "left"))
                break
            for part in note.split("; "):
                if hit in part:
                    picks.append((title, row, part.split()[0]))
                    break
            break
    return picks


def gallery(samples_tsv: str | Path, out_png: str | Path) -> list[str]:
    """PNG of one hip per finding (none, OA, protrusion, arthroplasty, fixation, text) with
    label overlays, next to the same hip without them. Returns the ids shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .dicomio import read_radiograph
    from .display import overlay_rgba, window

    samples_tsv = Path(samples_tsv)
    with open(samples_tsv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    picks = _gallery_pick(rows)
    if not picks:
        raise ValueError(f"{samples_tsv}: no radiographs to show")
    fig, axes = plt.subplots(2, len(picks), figsize=(2.6 * len(picks), 7.2), squeeze=False)
    for j, (title, row, side) in enumerate(picks):
        rad = read_radiograph(samples_tsv.parent / row["dicom"])
        lab = np.asarray(Image.open(samples_tsv.parent / row["labels"]))
        half = slice(0, lab.shape[1] // 2) if side == "right" else slice(lab.shape[1] // 2, None)
        img = window(rad.pixels[:, half], 1, 99.7)
        for i, overlay in enumerate((False, True)):
            ax = axes[i, j]
            ax.imshow(img, cmap="gray", interpolation="bilinear")
            if overlay:
                ax.imshow(overlay_rgba(lab[:, half], alpha=0.4), interpolation="nearest")
            ax.axis("off")
        axes[0, j].set_title(f"{title}\n{row['id']}, {side} hip", fontsize=9)
    fig.tight_layout()
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return [row["id"] for _, row, _ in picks]
