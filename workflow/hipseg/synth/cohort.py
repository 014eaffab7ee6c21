"""The dataset: presets, patients and their radiographs, the sample sheet; :func:`generate`.

:func:`generate` writes::

    out_dir/dicom/<id>.dcm     CR Image Storage, 16-bit, MONOCHROME1 or MONOCHROME2, fake PHI
    out_dir/labels/<id>.png    uint8 label map (rows x cols of the DICOM pixel array)
    out_dir/samples.tsv        id, patient, dicom, labels, hips, split, note
    out_dir/truth/<id>.json    the known landmarks of both hips (:mod:`.truth`)

Counts of findings, follow-ups, excluded joints and test joints are exact (see :func:`_plan`).
Every radiograph draws its pixels from its own random stream, so a subset (``only``) renders
exactly as in the full set.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io as _io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import HipsegError
from ..io import write_text
from ..options import StageOptions
from .anatomy import _INSTITUTIONS, _STATIONS, _SURNAMES, Patient, _patient, _pose
from .annotations import _burned_in_text
from .dicomwriter import _dicom_bytes, _png_bytes, _write_bytes
from .projection import projection
from .radiograph import render_radiograph
from .truth import write_truth

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
    # Projection geometry (:mod:`.projection`): the hip-plane magnification is
    # SID / (SID - table gap - hip depth), about 1.12-1.25
    "source_detector_mm": (1000.0, 1100.0, 1150.0, 1200.0),
    "table_detector_mm": (35.0, 65.0),  # detector (bucky tray) below the table top
    "hip_depth_fraction": (0.45, 0.55),  # hip plane above the table, of the AP thickness
    "header_factor_fraction": 0.35,  # radiographs with the distances and the factor
    "header_distances_fraction": 0.15,  # with the two distances only
    "ball_fraction": 0.75,  # radiographs with a calibration ball
    "ball_partial_fraction": 0.08,  # with the ball cut by the field edge (at least one)
    "ball_air_fraction": 0.06,  # wholly over the direct beam beside a slim patient (from 10 on)
    "ball_half_air_fraction": 0.06,  # on the skin line, partly over it (at least one from 10 on)
    "ball_diameter_mm": 25.0,
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
        "teardrop_scale": 1.9,  # enlarges L3 (see hipseg.synth.pelvis)
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


# --------------------------------------------------------------------------- patients
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
    hips = [(i, s) for i in range(n_patients) for s in ("right", "left")]
    _assign_hardware(patients, hips, pre, rng)
    _assign_findings(patients, hips, pre, rng)
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


def _assign_hardware(patients: list[Patient], hips: list, pre: dict, rng) -> None:
    """Excluded hips: exactly the target number of joints, one of each hardware kind first."""
    n_patients = len(patients)
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


def _assign_findings(patients: list[Patient], hips: list, pre: dict, rng) -> None:
    """Findings of the usable hips; at least one of each from four patients on."""
    n_patients = len(patients)
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


def _acquisitions(pre: dict, seed: int, n: int) -> list[tuple[str, str]]:
    """(ball, header) of each of ``n`` radiographs (:mod:`.projection`), in exact counts: one
    ball over bone (from 3 radiographs on), ``ball_partial_fraction`` cut by the field edge (at
    least one from 4 on), ``1 − ball_fraction`` without a ball, ``ball_air_fraction`` and
    ``ball_half_air_fraction`` wholly and partly over the direct beam (at least one each from
    10 on), the rest inside the field; ``header_factor_fraction`` with the device's factor,
    ``header_distances_fraction`` with the distances only, and (from 4 on) one with a factor
    to the table top, on a radiograph whose ball lies inside the field."""
    rng = np.random.default_rng([seed, 6])
    order = rng.permutation(n).tolist()
    ball = ["inside"] * n
    n_partial = max(int(round(pre["ball_partial_fraction"] * n)), 1 if n >= 4 else 0)
    n_absent = int(round((1.0 - pre["ball_fraction"]) * n))
    plan = ["bone"] * (n >= 3) + ["partial"] * n_partial + [""] * n_absent
    for k, state in zip(order, plan[:n], strict=False):
        ball[k] = state
    header = [""] * n
    order = rng.permutation(n).tolist()
    if n >= 4:
        table = next((k for k in order if ball[k] == "inside"), None)
        if table is not None:
            header[table] = "table_factor"
            order.remove(table)
    n_factor = int(round(pre["header_factor_fraction"] * n))
    n_dist = int(round(pre["header_distances_fraction"] * n))
    for j, k in enumerate(order[: n_factor + n_dist]):
        header[k] = "factor" if j < n_factor else "distances"
    # balls over the direct beam, from radiographs with one inside the field (not the table
    # factor's): their own stream, so that every other radiograph stays as it was
    n_air, n_half = (max(int(round(pre.get(key, 0.0) * n)), 1 if n >= 10 and key in pre else 0)
                     for key in ("ball_air_fraction", "ball_half_air_fraction"))  # fmt: skip
    free = [k for k in np.random.default_rng([seed, 8]).permutation(n).tolist()
            if ball[k] == "inside" and header[k] != "table_factor"]  # fmt: skip
    for k, state in zip(free, ["air"] * n_air + ["half_air"] * n_half, strict=False):
        ball[k] = state
    return list(zip(ball, header, strict=True))


def _subset_sum(values: list[int], target: int) -> list[int]:
    """Indices of a subset of ``values`` summing to ``target`` (the closest below if none)."""
    reach: dict[int, list[int]] = {0: []}
    for j, v in enumerate(values):
        for total, idx in list(reach.items()):
            if v and total + v <= target and total + v not in reach:
                reach[total + v] = [*idx, j]
    return reach[max(reach)]


# --------------------------------------------------------------------------- radiographs
def _meta(
    rng, pre: dict, seed: int, iid: str, counter: int, pi: int, pat: Patient,
    date: _dt.date, time: str, text: str,
) -> dict:  # fmt: skip
    """DICOM header values of one radiograph (``pi``: the patient's index, ``counter``: the
    radiograph's number in the set), drawn from the radiograph's stream ``rng``."""
    return {
        "seed": seed,
        "id": iid,
        "bits": int(rng.choice(pre["bits_stored"])),
        "mono1": bool(rng.random() < pre["monochrome1_fraction"]),
        "window": (float(rng.uniform(-0.3, -0.1)), float(rng.uniform(4.7, 5.1))),
        "date": date,
        "time": time,
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


def _sheet_row(iid: str, pat: Patient, split: str, marker: str, text: str, k: int) -> list:
    """The sample-sheet row of one radiograph (columns :data:`TSV_COLUMNS`)."""
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
    return [iid, pat.pid, f"dicom/{iid}.dcm", f"labels/{iid}.png", hips, split, "; ".join(notes)]


def _radiographs(pre: dict, seed: int, n_patients: int):
    """Every radiograph of the dataset: its patient, acquisition and header values, and the
    random stream its pixels are drawn from (nothing is rendered here)."""
    patients, split = _plan(pre, seed, n_patients)
    acquisitions = _acquisitions(pre, seed, sum(len(p.images) for p in patients))
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
                text = _burned_in_text(pat.name, date, tm)
            meta = _meta(rng, pre, seed, iid, counter, pi, pat, date=date, time=tm, text=text)
            # the geometry draws from its own stream: the pixels' stream stays as it was
            ball, header = acquisitions[counter - 1]
            proj = projection(pre, np.random.default_rng([seed, 5, pi, k]),
                              205.0 * pat.body, header, ball)  # fmt: skip
            meta["geometry"] = proj.header_values()
            row = _sheet_row(iid, pat, split[pat.pid], marker, text, k)
            yield {
                "id": iid, "patient": pat, "pose": pose, "spacing": sp, "field_mm": fld,
                "marker": marker, "text": text, "meta": meta, "row": row, "rng": rng,
                "projection": proj,
            }  # fmt: skip


def describe(preset: str = "demo", seed: int = 0, n_patients: int | None = None) -> list[dict]:
    """The sheet row, pixel spacing and field size of every radiograph, without rendering;
    ``intake_spacing``: the spacing hipseg's intake will use (the detector's, divided by the
    header's EstimatedRadiographicMagnificationFactor where there is one)."""
    pre = _preset(preset)
    n = int(pre["n_patients"] if n_patients is None else n_patients)
    return [
        {**dict(zip(TSV_COLUMNS, r["row"], strict=True)), "spacing": r["spacing"],
         "field_mm": r["field_mm"],
         "intake_spacing": r["spacing"] / r["meta"]["geometry"].get(
             "EstimatedRadiographicMagnificationFactor", 1.0)}
        for r in _radiographs(pre, seed, n)
    ]  # fmt: skip


@dataclass(frozen=True)
class SynthOptions(StageOptions):
    """The ``demo:`` section (``enabled`` is the workflow's switch, not the generator's)."""

    SECTION: ClassVar[str] = "demo"
    preset: str = "demo"
    seed: int = 0
    n_patients: int | None = None
    ball_diameter_mm: float = 25.0


def _preset(preset: str) -> dict:
    if preset not in PRESETS:
        choices = sorted(PRESETS)
        raise HipsegError(f"demo.preset: unknown preset {preset!r}; choose one of {choices}")
    return PRESETS[preset]


def generate(
    out_dir: str | Path,
    preset: str = "demo",
    seed: int = 0,
    n_patients: int | None = None,
    only: Iterable[str] | None = None,
    ball_diameter_mm: float | None = None,
) -> Path:
    """Write out_dir/dicom/<id>.dcm, out_dir/labels/<id>.png, out_dir/samples.tsv.

    Returns the path of ``samples.tsv``. ``only`` (radiograph ids) renders just those
    radiographs of the full dataset, with exactly the pixels, labels and sheet rows they have in
    it (every radiograph draws from its own random stream): a subset for quick checks.

    Every file is written atomically; ``samples.tsv`` is written last.
    """
    pre = _preset(preset)
    if ball_diameter_mm is not None:
        if not 5.0 <= ball_diameter_mm <= 60.0:
            raise HipsegError(f"demo.ball_diameter_mm must lie in 5-60 mm, got {ball_diameter_mm}")
        pre = {**pre, "ball_diameter_mm": float(ball_diameter_mm)}
    n_patients = int(pre["n_patients"] if n_patients is None else n_patients)
    if n_patients < 1:
        raise HipsegError(f"demo.n_patients must be >= 1, got {n_patients}")
    out_dir = Path(out_dir)
    wanted = None if only is None else set(only)
    rows = []
    for r in _radiographs(pre, seed, n_patients):
        if wanted is not None and r["id"] not in wanted:
            continue
        info: dict = {}
        img, lab = render_radiograph(
            r["patient"], r["pose"], r["spacing"], r["field_mm"], pre, r["rng"],
            marker=r["marker"], text=r["text"], proj=r["projection"], info=info,
        )  # fmt: skip
        r["ball"] = info.get("ball")
        dcm, _ = _dicom_bytes(img, r["spacing"], r["meta"])
        _write_bytes(out_dir / "dicom" / f"{r['id']}.dcm", dcm)
        _write_bytes(out_dir / "labels" / f"{r['id']}.png", _png_bytes(lab))
        write_truth(out_dir / "truth" / f"{r['id']}.json", r, pre)  # known geometry
        rows.append(r["row"])
    if wanted is not None and len(rows) != len(wanted):
        missing = sorted(wanted - {r[0] for r in rows})
        raise HipsegError(f"no radiographs {missing} in preset {preset!r} (seed {seed})")
    buf = _io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(TSV_COLUMNS)
    w.writerows(rows)
    tsv = out_dir / "samples.tsv"
    write_text(tsv, buf.getvalue())
    return tsv
