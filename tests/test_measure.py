"""Hip measurements: geometry, landmarks on synthetic truth, missing landmarks, the truth file."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from PIL import Image

from hipseg import synth
from hipseg.measure import measure_label_map
from hipseg.measure.fit import boundary_points, extreme_point, fit_circle, robust_circle
from hipseg.measure.landmarks import HEAD as L1
from hipseg.measure.landmarks import PELVIS
from hipseg.measure.landmarks import TEARDROP as L3
from hipseg.measure.record import csv_rows
from hipseg.measure.validate import compare, read_truth, summarise, truth_record, validate_set


def _disc(shape, centre_rc, radius_px):
    r, c = np.mgrid[: shape[0], : shape[1]]
    return (r - centre_rc[0]) ** 2 + (c - centre_rc[1]) ** 2 < radius_px**2


def test_circle_fit_on_a_rasterised_disc_is_subpixel():
    spacing = (0.5, 0.5)
    mask = _disc((80, 90), (40.3, 44.7), 25.2)
    pts = boundary_points(mask, spacing)
    centre, radius = fit_circle(pts)
    assert np.allclose(centre, [44.7 * 0.5, 40.3 * 0.5], atol=0.05)
    assert radius == pytest.approx(25.2 * 0.5, abs=0.05)
    # a bump on the outline (an osteophyte) is trimmed
    bump = mask | _disc(mask.shape, (40.3, 44.7 + 26), 5)
    centre, radius, keep = robust_circle(boundary_points(bump, spacing), tolerance=0.75)
    assert np.allclose(centre, [44.7 * 0.5, 40.3 * 0.5], atol=0.1) and not keep.all()


def test_extreme_point_of_a_cap():
    t = np.linspace(-3, 3, 61)
    pts = np.stack([t + 10, 20 - 0.5 * (t - 0.4) ** 2], axis=1)
    tip = extreme_point(pts, np.array([0.0, 1.0]), cap=1.0)
    assert np.allclose(tip, [10.4, 20.0], atol=1e-6)


def _measure_truth_set(sheet):
    rows, spacings = [], []
    for truth_path in sorted((sheet.parent / "truth").glob("*.json")):
        truth = read_truth(truth_path)
        lab = np.array(Image.open(sheet.parent / "labels" / f"{truth['id']}.png"))
        excluded = {s: "implant" for s, h in truth["hips"].items() if h["hardware"]}
        record = measure_label_map(lab, tuple(truth["spacing_mm"]), excluded=excluded)
        rows += compare(record, truth, truth["id"])
        spacings.append(truth["spacing_mm"][0])
    return {e["quantity"]: e for e in summarise(rows, float(np.median(spacings)))}


def test_ground_truth_label_maps_measure_the_known_geometry_to_a_pixel(demo_data):
    """At the demo's ~2 mm pixels the errors are those of the pixel grid."""
    s = _measure_truth_set(demo_data)
    assert s["head_centre"]["mae_px"] < 0.25 and s["head_centre"]["missing"] == 0
    assert s["head_diameter"]["mae_px"] < 0.3
    distances = (
        "hip_centre_horizontal",
        "hip_centre_vertical",
        "femoral_offset",
        "lesser_trochanter_to_teardrop_line",
        "leg_length_difference_head_centre",
    )
    for q in distances:
        assert s[q]["mae_px"] < 1.0, q
        assert s[q]["missing"] == 0, q
    px_deg = math.degrees(2.0 / 25.0)  # one pixel at a head's rim
    assert s["lateral_centre_edge_angle"]["mae"] < px_deg
    assert s["sharp_angle"]["mae"] < px_deg / 2


def test_targets_met_at_full_resolution(paper_radiograph):
    """One radiograph of the paper preset (0.1–0.175 mm pixels): the issue's targets."""
    s = _measure_truth_set(paper_radiograph)
    assert s["head_centre"]["p95"] <= 0.5
    assert s["head_diameter_percent"]["p95"] <= 1.0
    for q in ("lateral_centre_edge_angle", "sharp_angle", "teardrop_line_angle"):
        assert s[q]["p95"] <= 1.0, q
    for q in ("leg_length_difference_lesser_trochanter", "leg_length_difference_head_centre"):
        assert s[q]["n"] == 1 and s[q]["p95"] <= 1.0, q


def test_missing_landmarks_leave_measurements_empty_with_the_reason(demo_data):
    truth = read_truth(demo_data.parent / "truth" / "demo0001.json")
    lab = np.array(Image.open(demo_data.parent / "labels" / "demo0001.png"))
    lab[lab == L3] = PELVIS  # no teardrop anywhere
    record = measure_label_map(lab, tuple(truth["spacing_mm"]))
    for side in ("right", "left"):
        hip = record["hips"][side]
        assert hip["head_diameter"]["value"] is not None
        for q in ("hip_centre_vertical", "sharp_angle", "lesser_trochanter_to_teardrop_line"):
            assert hip[q]["value"] is None and "teardrop" in hip[q]["reason"], q
        # the CE angle falls back to the image vertical and says so
        ce = hip["lateral_centre_edge_angle"]
        assert ce["value"] is not None and "image axes" in ce["note"]
    lld = record["radiograph"]["leg_length_difference_lesser_trochanter"]
    assert lld["value"] is None and "no teardrop line" in lld["reason"]
    # no femoral head on one side: that hip's measurements are empty, with the reason
    lab[:, : lab.shape[1] // 2][lab[:, : lab.shape[1] // 2] == L1] = 0
    record = measure_label_map(lab, tuple(truth["spacing_mm"]), excluded={"left": "implant"})
    assert record["hips"]["right"]["femoral_offset"]["reason"].startswith("right hip: no femoral")
    assert record["hips"]["left"]["head_diameter"]["reason"] == "left hip excluded: implant"
    rows = csv_rows(record, "demo0001")
    assert all(r[3] == "" and r[6] for r in rows if r[2] != "teardrop_line_angle")


def test_truth_does_not_change_the_images(tmp_path, monkeypatch):
    """The truth is computed beside the images: the same files with or without it."""
    from hipseg.synth import cohort

    def digest(root):
        files = [p for p in sorted(root.rglob("*")) if p.is_file() and "truth" not in p.parts]
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in files}  # fmt: skip

    synth.generate(tmp_path / "a", preset="demo", seed=2, n_patients=5)
    monkeypatch.setattr(cohort, "write_truth", lambda *a, **k: None)
    synth.generate(tmp_path / "b", preset="demo", seed=2, n_patients=5)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert len(list((tmp_path / "a" / "truth").glob("*.json"))) == 6
    assert not (tmp_path / "b" / "truth").exists()


def test_truth_record_is_the_generators_geometry(demo_data):
    truth = read_truth(demo_data.parent / "truth" / "demo0002.json")
    lab = np.array(Image.open(demo_data.parent / "labels" / "demo0002.png"))
    sx, sy = truth["spacing_mm"]
    half = lab.shape[1] // 2
    for side, hip in truth["hips"].items():
        x, y = hip["head_centre"]
        assert lab[int(round(y / sy)), int(round(x / sx))] == L1
        cols = slice(0, half) if side == "right" else slice(half, None)  # right on image left
        lowest = np.nonzero((lab[:, cols] == L3).any(axis=1))[0].max()
        assert 0 <= hip["teardrop_inferior"][1] / sy - lowest < 1.0
    record = truth_record(truth)
    assert record["hips"]["right"]["head_diameter"]["value"] == pytest.approx(
        2 * truth["hips"]["right"]["head_radius"]
    )
    assert record["radiograph"]["leg_length_difference_head_centre"]["value"] is not None


def test_validation_of_ground_truth_only(demo_data, tmp_path):
    result = validate_set(demo_data.parent / "truth", demo_data.parent / "labels", tmp_path)
    assert result["predicted"] is None and result["ground_truth"]
    summary = json.loads((tmp_path / "validation.json").read_text())
    assert summary["spacing_mm"]["median"] > 1.0
    assert (tmp_path / "errors_ground_truth.csv").is_file()


def test_report_shows_the_measurement_errors(demo_data, tmp_path):
    """The report's Measurements section and, with a templating validation beside it
    (hipseg.templating.validate), its Templating section: plans and accuracy."""
    from hipseg.report import build_report
    from hipseg.templating.catalogue import load
    from hipseg.templating.validate import validate_set as validate_templating
    from tests.test_report import make_inputs

    truth, labels, val = demo_data.parent / "truth", demo_data.parent / "labels", tmp_path / "val"
    validate_set(truth, labels, val)
    validate_templating(truth, labels, val, load("generic"))
    kw = make_inputs(tmp_path / "report")
    build_report(**kw, measurements=val / "validation.json")
    html = kw["out_html"].read_text(encoding="utf-8")
    section = html.split('<section id="measurements">')[1].split("</section>")[0]
    assert "(a) ground-truth label maps" in section and "(b) predicted" not in section
    assert "Lateral centre-edge angle (Wiberg)" in section and "Sharp 1961" in section
    assert "≤ 0.5 mm" in section and " px" in section
    section = html.split('<section id="templating">')[1].split("</section>")[0]
    assert "(a) ground-truth label maps" in section and "generic" in section
    assert "28.9 / 63.9" in section and "doi:10.1186/s13018-022-03086-5" in section
    assert section.count("demo0001") == 2 and "excluded" in section  # its plans; an implant hip
    build_report(**kw)
    html = kw["out_html"].read_text(encoding="utf-8")
    assert 'id="measurements"' not in html and 'id="templating"' not in html
