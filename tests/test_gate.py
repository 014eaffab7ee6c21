"""The gate (hipseg.gate): each header rule refuses what it should and passes a good film; the
content check passes the generator's true label maps (every finding, implants excluded) and
refuses label maps that are not two adult hips."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from hipseg.clinical.sr import ascii_text
from hipseg.gate import GateOptions, NotAssessable, content, header
from hipseg.measure.record import measure_label_map

GATE = GateOptions()


def _good(demo_data) -> tuple[pydicom.Dataset, str]:
    table = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    path = demo_data.parent / table["dicom"].iloc[0]
    return pydicom.dcmread(path, stop_before_pixels=True), str(path)


def _changed(ds: pydicom.Dataset, **values) -> pydicom.Dataset:
    ds = copy.deepcopy(ds)
    for keyword, value in values.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


# (what is wrong, attributes changed (None: removed), a fragment of the reason)
REFUSED = [
    ("a CT", {"Modality": "CT"}, "Modality is CT"),
    ("a PA view", {"ViewPosition": "PA"}, "ViewPosition is PA"),
    ("a lateral view", {"ViewPosition": "LL"}, "ViewPosition is LL"),
    ("a chest film", {"BodyPartExamined": "CHEST"}, "BodyPartExamined is CHEST"),
    ("one hip", {"ImageLaterality": "L"}, "ImageLaterality is L"),
    ("a child (PatientAge)", {"PatientAge": "009Y"}, "younger than 18 years"),
    ("a baby (PatientAge in months)", {"PatientAge": "011M"}, "younger than 18 years"),
    ("a child (birth and study dates)",
     {"PatientAge": None, "PatientBirthDate": "20040301", "StudyDate": "20100301"},
     "younger than 18 years"),
    ("a colour image", {"PhotometricInterpretation": "RGB", "SamplesPerPixel": 3}, "colour"),
    ("spacing ten times too fine", {"PixelSpacing": None, "ImagerPixelSpacing": [0.2, 0.2]},
     "impossible for an AP pelvis radiograph"),
    ("spacing ten times too coarse", {"PixelSpacing": None, "ImagerPixelSpacing": [20, 20]},
     "impossible for an AP pelvis radiograph"),
    ("no spacing", {"PixelSpacing": None, "ImagerPixelSpacing": None}, "has no pixel spacing"),
    ("zero spacing", {"PixelSpacing": None, "ImagerPixelSpacing": [0, 0]}, "spacing"),
    ("not an image", {"Rows": None, "Columns": None}, "not an image"),
]  # fmt: skip


@pytest.mark.parametrize("what, values, fragment", REFUSED, ids=[r[0] for r in REFUSED])
def test_each_header_rule_refuses_by_name(demo_data, what, values, fragment):
    ds, path = _good(demo_data)
    assert header.reasons(ds, path, GATE) == []
    bad = _changed(ds, **values)
    if "spacing" in what and "PixelSpacing" in values:  # the demo's spacing attribute
        for kw in ("PixelSpacing", "ImagerPixelSpacing"):
            if kw in ds and kw not in values:
                delattr(bad, kw)
    found = header.reasons(bad, path, GATE)
    assert any(fragment in r for r in found), (what, found)
    with pytest.raises(NotAssessable) as err:
        header.check(bad, path, GATE)
    assert err.value.check == "header" and path in str(err.value)
    assert not any("009" in r or "2004" in r for r in found)  # no identifying value


def test_what_the_header_does_not_say_passes(demo_data):
    """Headers thinned by exports and other de-identifiers: view, body part, age, dates and
    modality absent, placeholder dates, an empty BodyPartExamined — nothing to refuse on."""
    ds, path = _good(demo_data)
    thin = _changed(ds, ViewPosition=None, BodyPartExamined=None, PatientAge=None,
                    PatientBirthDate=None, Modality=None)  # fmt: skip
    assert header.reasons(thin, path, GATE) == []
    placeholders = _changed(ds, PatientAge=None, PatientBirthDate="00010101",
                            StudyDate="19000101", BodyPartExamined="")  # fmt: skip
    assert header.reasons(placeholders, path, GATE) == []
    assert header.age_years(placeholders) is None
    assert header.age_years(_changed(ds, PatientAge="038Y")) == 38
    site = GateOptions(body_parts=("PELVIS", "BECKEN", ""))
    assert header.reasons(_changed(ds, BodyPartExamined="BECKEN"), path, site) == []
    children = GateOptions(min_age_years=0)
    assert header.reasons(_changed(ds, PatientAge="009Y"), path, children) == []


def test_real_films_of_public_packages_are_refused_by_their_headers():
    """pydicom's own CT and MR test files and an SR: refused before anything is computed."""
    for name, fragment in (("CT_small.dcm", "Modality is CT"), ("MR_small.dcm", "Modality is MR"),
                           ("reportsi.dcm", "not an image")):  # fmt: skip
        path = get_testdata_file(name)
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert any(fragment in r for r in header.reasons(ds, path, GATE)), name


# ------------------------------------------------------------------------------------------------
# The content check
# ------------------------------------------------------------------------------------------------
def _truth_maps(demo_data):
    table = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    for r in table.itertuples():
        ds = pydicom.dcmread(demo_data.parent / r.dicom, stop_before_pixels=True)
        row, col = (float(v) for v in (ds.get("PixelSpacing") or ds.ImagerPixelSpacing))
        lab = np.asarray(Image.open(demo_data.parent / r.labels))
        excluded = {s: "implant" for s in ("right", "left") if f"{s} hip arthroplasty" in r.note}
        yield r, lab, (col, row), excluded


def test_true_label_maps_pass_the_content_check(demo_data):
    """Every radiograph of the demo set, its findings (protrusion, dysplasia, arthritis) and
    excluded implant hips included, passes both parts of the content check."""
    n = 0
    for r, lab, spacing, excluded in _truth_maps(demo_data):
        assert content.label_reasons(lab, spacing, excluded=excluded) == [], (r.id, r.note)
        record = measure_label_map(lab, spacing, excluded=excluded)
        assert content.record_reasons(record) == [], (r.id, r.note)
        n += 1
    assert n >= 6


def _scaled(lab: np.ndarray, factor: float) -> np.ndarray:
    """The label map shrunk about its centre (a child-sized pelvis at the same spacing)."""
    small = np.asarray(Image.fromarray(lab).resize(
        (int(lab.shape[1] * factor), int(lab.shape[0] * factor)), Image.NEAREST))  # fmt: skip
    out = np.zeros_like(lab)
    r0, c0 = (lab.shape[0] - small.shape[0]) // 2, (lab.shape[1] - small.shape[1]) // 2
    out[r0 : r0 + small.shape[0], c0 : c0 + small.shape[1]] = small
    return out


def test_label_maps_that_are_no_adult_hips_are_refused(demo_data):
    r, lab, spacing, excluded = next(
        t for t in _truth_maps(demo_data) if not t[3] and "protrusion" not in t[0].note
    )
    rng = np.random.default_rng(0)
    half = lab.shape[1] // 2
    one_hip = lab.copy()
    one_hip[:, half:] = 0
    confetti = np.where(rng.random(lab.shape) < 0.5, lab, 0).astype(np.uint8)
    wrong = {
        "empty": (np.zeros_like(lab), "covers 0 mm²"),
        "noise": (rng.integers(0, 6, lab.shape, dtype=np.uint8), "covers"),
        "one hip": (one_hip, "left hip: L1"),
        "confetti": (confetti, "scattered"),
        "upside down": (lab[::-1].copy(), "above the joint region"),
        "hips swapped": (np.roll(lab, half, axis=1), "lateral to the femur"),
    }
    for what, (bad, fragment) in wrong.items():
        found = content.label_reasons(bad, spacing)
        assert any(fragment in f for f in found), (what, found)
    both = {"right": "metal implant detected", "left": "metal implant detected"}
    assert content.label_reasons(lab, spacing, excluded=both)[0].startswith("no hip to assess")
    missing_small = lab.copy()
    missing_small[np.isin(missing_small, (3, 4))] = 0  # a pelvis whose teardrops a model missed
    assert content.label_reasons(missing_small, spacing) == []  # a quality flag, not a refusal
    child = _scaled(lab, 0.55)
    found = content.label_reasons(child, spacing)
    if not found:  # labels in place, only smaller: the heads and their distance say it
        found = content.record_reasons(measure_label_map(child, spacing))
    assert any("not an adult's" in f or "less than an adult hip's" in f or "apart" in f
               for f in found), found  # fmt: skip


def test_record_checks_head_size_distance_and_height():
    def record(d_right, d_left, right=(100.0, 100.0), left=(280.0, 100.0)):
        hip = {"excluded": None, "missing": {}}
        return {"landmarks": {
            "right": {**hip, "head_radius": d_right / 2, "head_centre": list(right)},
            "left": {**hip, "head_radius": d_left / 2, "head_centre": list(left)},
        }}  # fmt: skip

    assert content.record_reasons(record(50, 52)) == []
    assert "not an adult's" in content.record_reasons(record(28, 50))[0]
    assert "apart" in content.record_reasons(record(50, 50, left=(180.0, 100.0)))[0]
    assert "in height" in content.record_reasons(record(50, 50, left=(280.0, 160.0)))[0]
    missing = record(50, 50)
    missing["landmarks"]["left"].update(head_radius=None, missing={"head_centre": "no L1"})
    assert content.record_reasons(missing) == ["left hip: no femoral head (no L1)"]
    missing["landmarks"]["left"]["excluded"] = "metal implant detected"
    assert content.record_reasons(missing) == []  # an implant hip is not measured on purpose


# ------------------------------------------------------------------------------------------------
# hipseg segment: refusals by name, exit 2, nothing half-written; good films get everything
# ------------------------------------------------------------------------------------------------
NO_CONTENT = json.dumps({"content": False})
FAST = ["--device", "cpu", "--no-mirroring", "--threads", "1"]


def test_segment_refuses_by_header_and_by_content(demo_data, tiny_model, tmp_path):
    """A CT and a PA film are refused by their headers; a good film through an untrained model
    (the tiny one: its labels are no anatomy) by the content check. Each is named with its
    reasons in the log and run.json, the command exits 2 and writes no folder for it; with
    ``gate.not_assessable: report`` the folder holds only an SR and a presentation state that
    say "not assessed" and why."""
    from hipseg import cli
    from hipseg.clinical.sr import read_sr

    table = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    good = demo_data.parent / table["dicom"].iloc[0]
    pa = tmp_path / "pa.dcm"
    ds = pydicom.dcmread(good)
    ds.ViewPosition = "PA"
    ds.save_as(pa)
    ct = Path(get_testdata_file("CT_small.dcm"))
    model = ["--model-dir", str(tiny_model["model_dir"]), *FAST]
    out = tmp_path / "header"
    assert cli.main(["segment", str(ct), str(pa), str(good), "-o", str(out), *model,
                     "--gate", NO_CONTENT]) == 2  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    status = {e["name"]: e for e in run["radiographs"]}
    assert status["CT_small"]["status"] == status["pa"]["status"] == "not_assessable"
    assert status["CT_small"]["check"] == "header"
    assert any("Modality is CT" in r for r in status["CT_small"]["reasons"])
    assert any("ViewPosition is PA" in r for r in status["pa"]["reasons"])
    assert status[good.stem]["status"] == "ok" and run["n_not_assessable"] == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(["run.json", "measurements.csv",
                                                            good.stem])  # fmt: skip
    out = tmp_path / "content"
    assert cli.main(["segment", str(good), "-o", str(out), *model]) == 2
    entry = json.loads((out / "run.json").read_text())["radiographs"][0]
    assert entry["status"] == "not_assessable" and entry["check"] == "content"
    assert entry["reasons"] and not (out / good.stem).exists()
    assert not list(out.glob(".*partial"))
    ok = tmp_path / "ok"
    assert cli.main(["segment", str(good), "-o", str(ok), *model, "--not-assessable-ok"]) == 0
    report = tmp_path / "report"
    gate = json.dumps({"not_assessable": "report"})
    assert cli.main(["segment", str(good), "-o", str(report), *model, "--gate", gate]) == 2
    assert sorted(p.name for p in (report / good.stem).iterdir()) == ["pr.dcm", "sr.dcm"]
    sr = read_sr(report / good.stem / "sr.dcm")
    assert sr["not_assessed"] is True and sr["measurements"] == []
    assert sr["reasons"] == [ascii_text(r) for r in entry["reasons"]]
    pr = pydicom.dcmread(report / good.stem / "pr.dcm")
    texts = [t.UnformattedTextValue for a in pr.GraphicAnnotationSequence
             for t in a.get("TextObjectSequence", [])]  # fmt: skip
    assert texts[0] == "NOT ASSESSED"
    src = pydicom.dcmread(good, stop_before_pixels=True)
    assert pr.PatientID == src.PatientID and pr.StudyInstanceUID == src.StudyInstanceUID


class TruthModel:
    """A perfect network for the test of the gate's good side: each hip image of the films it
    was made for gets the generator's true labels (the hip as the crop cut it)."""

    name, folds, device, engine, onnx = "truth", ["all"], "cpu", "torch", None
    load_seconds = load_cpu_seconds = 0.0

    def __init__(self, films, rule):
        from hipseg.crop import split_joints
        from hipseg.intake import read_radiograph

        self.by_image = {}
        for dicom, labels in films:
            rad = read_radiograph(dicom, rule.intake())
            lab = rad.orient(np.asarray(Image.open(labels)))
            for img, truth in split_joints(rad.pixels, lab, rule).values():
                self.by_image[np.ascontiguousarray(img, np.float32).tobytes()] = truth

    def predict(self, image, spacing_xy):
        return self.by_image[np.ascontiguousarray(image, np.float32).tobytes()].copy()

    def describe(self):
        return {"name": self.name, "folds": self.folds, "device": self.device}


def test_good_films_pass_the_whole_gate(demo_data, tmp_path):
    """Every film of the demo set (findings, implants, lead markers, burned-in text) segmented
    with its true labels passes the header gate and the content check and gets its full
    result: the gate refuses nothing that is an adult AP pelvis."""
    from hipseg.crop import CropRule
    from hipseg.segment import SegmentOptions, Source, segment

    table = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    films = [(demo_data.parent / r.dicom, demo_data.parent / r.labels) for r in table.itertuples()]
    rule = CropRule.from_config({})
    run = segment([Source(p.stem, p, {}) for p, _ in films], tmp_path / "out", "unused",
                  SegmentOptions.from_config({"device": "cpu"}), rule,
                  model=TruthModel(films, rule), gate=GateOptions())  # fmt: skip
    assert run["n_not_assessable"] == 0 and run["n_ok"] == len(films)
