"""Who is imaged and how: patient, hip and positioning parameters, and the label values.

Each hip is built in a canonical frame (origin = femoral head centre, ``u`` towards the midline,
``v`` towards the feet; see :mod:`.geometry`) from interpretable per-patient parameters (head
radius, neck length, neck-shaft angle, shaft width, pelvis size, small left/right asymmetry) and
per-radiograph positioning (femoral rotation, pelvic tilt, small rotation/shift of the patient in
the field). The bones themselves are drawn by :mod:`.pelvis` and :mod:`.femur`.

Patients also carry fake identities (name, birth date, institution, CR station) for the DICOM
headers and the burned-in text, which the workflow's de-identification step must remove.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from ..labels import LABELS

# the sheet's note of each kind of hip hardware
_HARDWARE_NOTE = {
    "arthroplasty": "arthroplasty",
    "plate": "dynamic hip screw and plate",
    "screws": "cannulated neck screws",
}

# Label values painted into the label maps, in the order of hipseg.labels (the paper's Fig. 2):
# L1 femoral head + neck interior + greater trochanter + medullary cavity; L2 inferior neck
# cortex (calcar) + diaphyseal cortices + lesser trochanter; L3 Köhler teardrop; L4 acetabular
# fossa / medial joint space; L5 hemipelvis.
L_HEAD, L_CORTEX, L_TEARDROP, L_FOSSA, L_PELVIS = (lab.value for lab in LABELS)

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
