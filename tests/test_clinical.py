"""hipseg.clinical: the TID 1500 SR, the presentation state, the Secondary Capture and the quality
flags, built from the demo's ground-truth label maps (no model) and read back with highdicom and
pydicom: the SR's values equal measurements.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image

from hipseg.clinical import coding
from hipseg.clinical.geometry import ImageFrame
from hipseg.clinical.pr import build_gsps, build_sc, render_gsps, review_banner
from hipseg.clinical.quality import assess, dice_agreement
from hipseg.clinical.sr import build_sr, read_sr
from hipseg.intake.geometry import Orientation
from hipseg.measure.record import csv_rows, measure_label_map

CAL = {"source": "imager_spacing_uncorrected", "calibrated": False, "note": "ImagerPixelSpacing"}


@pytest.fixture(scope="module")
def results(demo_data):
    """Every demo radiograph with a joint: header, label map, record, quality, SR, GSPS."""
    sheet = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    out = []
    for row in sheet.itertuples():
        if row.hips == "none":
            continue
        ds = pydicom.dcmread(demo_data.parent / row.dicom)
        lab = np.array(Image.open(demo_data.parent / row.labels))
        sp = tuple(float(v) for v in ds.ImagerPixelSpacing)[::-1]
        excluded = {s: "implant" for s in ("right", "left") if row.hips not in ("both", s)}
        rec = measure_label_map(lab, sp, excluded=excluded, calibration=dict(CAL))
        rec["frame"] = {"changed": False}
        q = assess(lab, rec, sp, excluded=excluded)
        out.append(
            {"id": row.id, "ds": ds, "labels": lab, "record": rec, "quality": q, "spacing": sp}
        )
    return out


def _written(ds, path):
    ds.save_as(path)
    return pydicom.dcmread(path)


def test_sr_values_equal_the_csv(results, tmp_path):
    for r in results:
        sr = _written(
            build_sr(r["ds"], r["record"], r["quality"], r["labels"].shape, "fold_all"),
            tmp_path / f"{r['id']}.sr.dcm",
        )
        assert sr.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
        assert sr.PatientID == r["ds"].PatientID  # clinical results keep the patient
        assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
        assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == coding.SCHEME
        back = read_sr(sr)
        assert back["source_uids"] == [r["ds"].SOPInstanceUID]
        assert back["calibrated"] is False
        assert back["spacing_source"] == "imager_spacing_uncorrected"
        assert back["needs_review"] is r["quality"]["needs_review"]
        csv = {(row[1], row[2]): row for row in csv_rows(r["record"], r["id"])}
        want = {k: float(v[3]) for k, v in csv.items() if v[3] != ""}
        got = {(m["side"], m["name"]): m["value"] for m in back["measurements"]}
        assert set(got) == set(want), r["id"]
        for key in want:
            assert f"{got[key]:.3f}" == csv[key][3], (r["id"], key)
            unit = next(m["unit"] for m in back["measurements"] if (m["side"], m["name"]) == key)
            assert unit == csv[key][4]
        one_hip = any(r["record"]["landmarks"][s]["excluded"] for s in ("right", "left"))
        assert len(want) >= (4 if one_hip else 10), r["id"]  # ground truth: nearly all of them


def test_sr_coordinates_lie_on_the_landmarks(results):
    r = results[0]
    rows, cols = r["labels"].shape
    back = read_sr(build_sr(r["ds"], r["record"], r["quality"], (rows, cols), "fold_all"))
    for m in back["measurements"]:
        assert m["coordinates"], m["name"]  # every NUM is INFERRED FROM a SCOORD
        for _, pts in m["coordinates"]:
            p = np.asarray(pts).reshape(-1, 2)
            assert (
                (p >= -40).all() and (p[:, 0] <= cols + 40).all() and (p[:, 1] <= rows + 40).all()
            )
    head = next(
        m
        for m in back["measurements"]
        if m == m and m["name"] == "head_diameter" and m["side"] == "right"
    )
    kind, pts = head["coordinates"][0]
    c = r["record"]["landmarks"]["right"]["head_centre"]
    assert kind == "CIRCLE"
    sx, sy = r["spacing"]
    assert np.allclose(pts[0], [c[0] / sx + 0.5, c[1] / sy + 0.5], atol=1e-3)
    radius_px = np.hypot(*(np.subtract(pts[1], pts[0])))
    assert radius_px * sx == pytest.approx(head["value"] / 2, rel=1e-4)


def test_frame_undoes_the_intake_orientation():
    """A pixel of the intake's (flipped, transposed) frame maps back to the stored pixel."""
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 5, (7, 11))
    for o in (
        Orientation(),
        Orientation(flip_lr=True),
        Orientation(flip_ud=True, flip_lr=True),
        Orientation(transpose=True, flip_ud=True),
    ):
        shown = o.apply(stored)
        rec = {
            "spacing": {"spacing_mm": [0.5, 0.25]},
            "frame": {"transpose": o.transpose, "flip_ud": o.flip_ud, "flip_lr": o.flip_lr},
        }
        frame = ImageFrame.of(rec, shown.shape)
        for r, c in ((0, 0), (2, 5), (shown.shape[0] - 1, shown.shape[1] - 1)):
            u, v = frame.pixels([[c * 0.5, r * 0.25]])[0]
            assert stored[int(v), int(u)] == shown[r, c]


def test_presentation_state_draws_labels_and_measurements(results, tmp_path):
    r = results[0]
    pr = _written(
        build_gsps(r["ds"], r["record"], r["quality"], r["labels"], "fold_all"), tmp_path / "pr.dcm"
    )
    assert pr.SOPClassUID == pydicom.uid.GrayscaleSoftcopyPresentationStateStorage
    refs = [
        i.ReferencedSOPInstanceUID
        for s in pr.ReferencedSeriesSequence
        for i in s.ReferencedImageSequence
    ]
    assert refs == [r["ds"].SOPInstanceUID] and pr.PatientID == r["ds"].PatientID
    layers = {layer.GraphicLayer for layer in pr.GraphicLayerSequence}
    assert {"L1", "L2", "L3", "L4", "L5", "MEASUREMENTS"} <= layers
    by_layer = {a.GraphicLayer: a for a in pr.GraphicAnnotationSequence}
    texts = [t.UnformattedTextValue for t in by_layer["MEASUREMENTS"].TextObjectSequence]
    diameter = r["record"]["hips"]["right"]["head_diameter"]["value"]
    assert f"R head diameter {diameter:.1f} mm" in texts
    # the outline of L1 runs along the label's border: each point is next to L1 and to not-L1
    lab = r["labels"]
    pts = np.concatenate(
        [np.asarray(g.GraphicData).reshape(-1, 2) for g in by_layer["L1"].GraphicObjectSequence]
    )
    for u, v in pts[:: max(1, len(pts) // 50)]:
        win = lab[max(int(v - 1), 0) : int(v + 1) + 1, max(int(u - 1), 0) : int(u + 1) + 1]
        assert (win == 1).any() and (win != 1).any(), (u, v)
    img = render_gsps(r["ds"].pixel_array, pr, scale=2)
    assert img.size == (2 * lab.shape[1], 2 * lab.shape[0])
    yellow = np.all(np.asarray(img) == (255, 235, 60), axis=2)
    assert yellow.sum() > 100  # the measurement layer drawn in its colour (lines and text)


def test_secondary_capture_reads_back(results, tmp_path):
    r = results[0]
    overlay = review_banner(
        Image.new("RGB", r["labels"].shape[::-1], (20, 20, 20)),
        {"needs_review": True, "reasons": ["test"]},
    )
    sc = _written(build_sc(r["ds"], overlay, "fold_all", r["spacing"]), tmp_path / "sc.dcm")
    assert sc.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
    assert sc.pixel_array.shape == (*r["labels"].shape, 3) and sc.PatientID == r["ds"].PatientID
    assert (sc.pixel_array[2:8, :40] != 20).any()  # the banner is burned in
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == r["ds"].SOPInstanceUID


def test_ground_truth_is_not_flagged(results):
    flagged = {r["id"]: r["quality"]["reasons"] for r in results if r["quality"]["needs_review"]}
    assert not flagged


def test_damaged_results_are_flagged(results, tmp_path):
    r = results[0]
    lab, sp = r["labels"].copy(), r["spacing"]
    lab[lab == 3] = 0  # both teardrops gone
    cut = lab.copy()
    rows = np.nonzero((lab == 1).any(axis=1))[0]
    cut[rows[len(rows) // 2] - 1 : rows[len(rows) // 2] + 2][
        cut[rows[len(rows) // 2] - 1 : rows[len(rows) // 2] + 2] == 1
    ] = 0
    for damaged, words in ((lab, "label L3 (Köhler teardrop) missing"), (cut, "label L1 in 2")):
        rec = measure_label_map(damaged, sp, calibration=dict(CAL))
        q = assess(damaged, rec, sp)
        assert q["needs_review"] and any(words in reason for reason in q["reasons"]), q["reasons"]
    rec = dict(r["record"], hips={**r["record"]["hips"]})
    rec["hips"]["right"] = {
        **rec["hips"]["right"],
        "head_diameter": {"value": 90.0, "reason": None},
    }
    q = assess(r["labels"], rec, sp)
    assert any("femoral head diameter 90.0 mm outside 35 to 65 mm" in x for x in q["reasons"])
    back = read_sr(
        _written(build_sr(r["ds"], rec, q, r["labels"].shape, "fold_all"), tmp_path / "flagged.dcm")
    )
    assert back["needs_review"] is True and back["reasons"] == q["reasons"]


def test_ensemble_agreement():
    a = np.zeros((20, 20), np.uint8)
    a[5:15, 5:15] = 1
    b = a.copy()
    b[5:15, 5:10] = 0
    assert dice_agreement([a]) is None
    assert dice_agreement([a, a]) == 1.0
    assert dice_agreement([a, b]) == pytest.approx(2 * 50 / 150)
    rec = measure_label_map(np.zeros((20, 40), np.uint8), (1.0, 1.0))
    q = assess(np.zeros((20, 40), np.uint8), rec, (1.0, 1.0), agreement=0.5)
    assert any("ensemble disagreement" in x for x in q["reasons"])
