"""The subgroup and failure analysis (hipseg.subgroups) and its statistics: hand-computed cases
on small hand-made tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hipseg.evaluate import statistics


# ------------------------------------------------------------------------------------------------
# Statistics: the subgroup against the rest, Holm
# ------------------------------------------------------------------------------------------------
def _three_patients() -> pd.DataFrame:
    """Three patients, each with one hip in the subgroup and one in the rest; per patient the
    difference (subgroup − rest) is −0.4, +0.2 and −0.1."""
    return pd.DataFrame(
        {
            "patient": ["A", "A", "B", "B", "C", "C"],
            "v": [0.5, 0.9, 0.9, 0.7, 0.7, 0.8],
            "same": [0.6, 0.9, 0.8, 0.9, 0.7, 0.9],
        }
    )


def test_difference_against_the_exact_bootstrap_distribution():
    """Hand-computed: each patient has one hip on each side, so a resample's difference is the
    mean of the three drawn per-patient differences. Observed: 0.7 − 0.8 = −0.1. Shifted to the
    null they are −0.3, +0.3 and 0; a resample is at least 0.1 from −0.1 unless its three draws
    sum to 0 (all three 0: 1 way; one each: 3! = 6 ways): p = 1 − 7/27 = 20/27 = 0.7407.
    Column 'same' (rest always 0.9; subgroup 0.6, 0.8, 0.7): every resample lies between
    0.6 − 0.9 and 0.8 − 0.9 and no resample is 0.2 from −0.2, so p = 1/(B + 1); 0.6 is drawn
    three times with probability 1/27 = 3.7 % > 2.5 %, so the interval is [−0.3, −0.1]."""
    t = _three_patients()
    inside = [True, False, True, False, True, False]
    b = 40000
    d, same = statistics.patient_difference(
        t, inside, ["v", "same"], confidence=0.95, resamples=b, seed=1, key="x"
    )
    assert d.difference == pytest.approx(-0.1) and d.n_resamples == b and d.note == ""
    assert d.p_value == pytest.approx(20 / 27, abs=0.01)  # Monte-Carlo error ≈ 0.002
    assert same.difference == pytest.approx(-0.2)
    assert same.p_value == pytest.approx(1 / (b + 1))
    assert (same.low, same.high) == (pytest.approx(-0.3), pytest.approx(-0.1))


def test_difference_keeps_a_patients_hips_together_and_names_degenerate_cases():
    # the subgroup holds patient A's two hips: resamples without A have no subgroup
    t = pd.DataFrame({"patient": ["A", "A", "B", "C"], "v": [0.5, 0.7, 0.9, 0.8]})
    (d,) = statistics.patient_difference(
        t, [True, True, False, False], ["v"], confidence=0.9, resamples=2000, seed=0, key="k"
    )
    assert d.difference == pytest.approx(0.6 - 0.85)
    # P(A never drawn in 3 draws) = (2/3)^3 = 8/27: about 593 of 2000 resamples left out
    assert 2000 - d.n_resamples == pytest.approx(2000 * 8 / 27, rel=0.15)
    assert "left out" in d.note
    (d,) = statistics.patient_difference(
        t.assign(v=np.nan),
        [True, True, False, False],
        ["v"],
        confidence=0.9,
        resamples=100,
        seed=0,
        key="k",
    )
    assert math.isnan(d.difference) and "no defined value" in d.note
    (d,) = statistics.patient_difference(
        t.assign(patient="A"),
        [True, True, False, False],
        ["v"],
        confidence=0.9,
        resamples=100,
        seed=0,
        key="k",
    )
    assert math.isnan(d.p_value) and "fewer than 2 patients" in d.note


def test_difference_streams_are_named_and_reproducible():
    t = _three_patients()
    inside = [True, False] * 3
    kw = {"confidence": 0.95, "resamples": 999, "seed": 4}
    a = statistics.patient_difference(t, inside, ["v"], key="a", **kw)
    assert a == statistics.patient_difference(t, inside, ["v"], key="a", **kw)
    assert a != statistics.patient_difference(t, inside, ["v"], key="b", **kw)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 → 3·0.01 = 0.03, 2·0.03 = 0.06, max(1·0.04, 0.06) = 0.06
    got = statistics.holm([0.04, 0.01, math.nan, 0.03])
    assert got[[0, 1, 3]] == pytest.approx([0.06, 0.03, 0.06]) and math.isnan(got[2])
    assert statistics.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert statistics.holm([]).size == 0


# ------------------------------------------------------------------------------------------------
# Subgroups: the items of a sheet cell, pooling small subgroups
# ------------------------------------------------------------------------------------------------
def test_sheet_items_belong_to_their_side():
    from hipseg.subgroups.attributes import NONE, column_items

    note = "right hip osteoarthritis (mild); Left Hip acetabular protrusion; lead marker L"
    assert column_items(note, "right") == {"osteoarthritis (mild)", "lead marker L"}
    assert column_items(note, "left") == {"acetabular protrusion", "lead marker L"}
    assert column_items("F", "left") == {"F"} and column_items("", "right") == {NONE}
    assert column_items("right hip dysplasia", "left") == {NONE}


def test_a_subgroup_below_the_minimum_is_pooled():
    from hipseg.subgroups.attributes import OTHER, pool

    v = [frozenset({x}) for x in ("a", "a", "b", "b", "c", "d")]
    # a: patients 1, 2; b: 3, 4; c: 5 only; d: 6 only → c and d pooled (other: 5, 6)
    got, n_pooled, suppressed = pool(v, ["1", "2", "3", "4", "5", "6"], 2)
    assert [set(x) for x in got] == [{"a"}, {"a"}, {"b"}, {"b"}, {OTHER}, {OTHER}]
    assert (n_pooled, suppressed) == (2, False)
    # c alone below the minimum: "other" would point at patient 5, so the smallest value (a;
    # a tie with b, broken by name) joins it
    got, n_pooled, _ = pool(v[:5], ["1", "2", "3", "4", "5"], 2)
    assert [set(x) for x in got] == [{OTHER}, {OTHER}, {"b"}, {"b"}, {OTHER}] and n_pooled == 2
    # two hips of one patient are one patient: x (two joints of patient 1) is pooled
    x, y, z = (frozenset({k}) for k in "xyz")
    got, _, _ = pool([x, x, y, y, z], ["1", "1", "2", "3", "4"], 2)
    assert [set(g) for g in got] == [{OTHER}, {OTHER}, {"y"}, {"y"}, {OTHER}]
    # fewer patients than the minimum in all: nothing is reported
    got, _, suppressed = pool([frozenset({"x"})] * 2, ["1", "2"], 3)
    assert suppressed and got == [frozenset(), frozenset()]


def test_a_sheet_columns_items_are_pooled_and_withheld_so_no_group_or_rest_is_too_small():
    from hipseg.subgroups.attributes import OTHER, pool_items

    a, b, c, d, e = (frozenset({k}) for k in "abcde")
    patients = ["1", "1", "2", "2", "3", "4", "5"]
    # a: patients 1, 2, 3; b: 1; c: 2 → b and c pooled into other (patients 1, 2); d (4, 5)
    got, n_pooled, n_withheld = pool_items([a | b, a, a | c, a, a, d, d], patients, 2)
    assert [set(g) for g in got] == [{"a", OTHER}, {"a"}, {"a", OTHER}, {"a"}, {"a"}, {"d"}, {"d"}]
    assert (n_pooled, n_withheld) == (2, 0)
    # e on every joint but patient 5's: its rest (one patient) would follow from the overall
    # mean, so e is withheld; a value on every joint is kept (its mean is the overall one)
    got, _, n_withheld = pool_items([e, e, e, e, e | a, e | a, a], patients, 2)
    assert [set(g) for g in got] == [set()] * 4 + [{"a"}, {"a"}, {"a"}] and n_withheld == 1
    got, _, n_withheld = pool_items([e] * 7, patients, 2)
    assert got == [e] * 7 and n_withheld == 0


def test_spacing_bands_keep_a_spacing_together_and_small_bands_join_a_neighbour():
    from hipseg.subgroups.attributes import merge_bands, spacing_band, spacing_edges

    # the demo's test joints (crop spacings): ten at 2.0 mm, which tertiles would split
    demo = [1.28, 1.333, 1.333, 1.678, *[1.999] * 10, 2.333]
    assert spacing_edges(demo, []) == [1.84, 2.17]  # 4/15 below 1.84, 14/15 below 2.17
    assert [spacing_band(x, [1.84, 2.17]) for x in (1.678, 1.999, 2.333)] == [
        "<1.84 mm", "1.84–2.17 mm", "≥2.17 mm"]  # fmt: skip
    paper = [0.1] * 5 + [0.15] * 10 + [0.175] * 5
    assert spacing_edges(paper, []) == [0.125, 0.162]
    assert spacing_edges([0.15] * 4, []) == [] and spacing_edges(paper, [0.12]) == [0.12]
    # ≥2.17 mm (one patient) joins its only neighbour; age bands: 50–64 (one patient) joins
    # the smaller neighbour (65–79), then ≥80 joins that: <50 and ≥50
    bands = [frozenset({b}) for b in ("<1.84 mm", "<1.84 mm", "1.84–2.17 mm", "≥2.17 mm")]
    got, merges = merge_bands(bands, ["1", "2", "3", "4"], 2, inclusive=False)
    assert [set(g) for g in got] == [{"<1.84 mm"}] * 2 + [{"≥1.84 mm"}] * 2 and merges == 1
    ages = [frozenset({b}) for b in ("<50", "<50", "<50", "50–64", "65–79", "65–79", "≥80")]
    got, merges = merge_bands(ages + [frozenset({"x"})], list("12345678"), 2, inclusive=True)
    assert [set(g) for g in got] == [{"<50"}] * 3 + [{"≥50"}] * 4 + [{"x"}] and merges == 2
    got, _ = merge_bands(ages[1:3] + ages[4:6], ["1", "2", "3", "4"], 3, inclusive=True)
    assert [set(g) for g in got] == [{"<80"}] * 4  # <50 and 65–79: one band, all of them


# ------------------------------------------------------------------------------------------------
# Failure modes from label maps
# ------------------------------------------------------------------------------------------------
def hip(shape=(90, 60), r=10, shift=0) -> np.ndarray:
    """A joint as hipseg's crops show it (lateral to the image right): the pelvis (L5) above,
    the teardrop (L3) medial, the joint region (L4) around the head (L1, centre row 30, column
    28 + ``shift``), its neck and shaft running down laterally, the shaft's cortex (L2)."""
    a = np.zeros(shape, np.uint8)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    a[2:22, 2:58] = 5
    a[(rr - 30) ** 2 + (cc - 28) ** 2 <= (r + 3) ** 2] = 4
    a[20:34, 6:12] = 3
    hx = 28 + shift
    a[(rr - 30) ** 2 + (cc - hx) ** 2 <= r**2] = 1
    a[(np.abs((cc - hx) - 0.6 * (rr - 30)) <= 6) & (rr > 30) & (rr < 58)] = 1
    a[56:88, hx + 10 : hx + 24] = 1
    a[56:88, hx + 8 : hx + 10] = 2
    a[56:88, hx + 24 : hx + 26] = 2
    return a


def _modes(gt, pred, hd95=None):
    from hipseg.subgroups import SubgroupOptions
    from hipseg.subgroups.failures import joint_failures

    rows = joint_failures(gt, pred, (1.0, 1.0), hd95 or {}, SubgroupOptions())
    return {(r["mode"], r["label"]) for r in rows}


def test_failure_modes_are_named_from_the_label_maps():
    gt = hip()
    assert _modes(gt, gt) == set()
    merged = np.where(gt == 3, 5, gt)  # the teardrop predicted as pelvis
    assert _modes(gt, merged) == {("missing", "L3"), ("teardrop_merged", "L3")}
    blank = np.where(gt == 3, 0, gt)  # missing, not merged
    assert _modes(gt, blank) == {("missing", "L3")}
    assert _modes(blank, gt) == {("spurious", "L3")}
    pieces = gt.copy()
    pieces[40:50, 50:58] = 4  # a second sizeable part of the joint region
    assert _modes(gt, pieces) == {("pieces", "L4")}
    assert _modes(gt, gt, {"L1": 5.5, "L2": 5.0}) == {("boundary", "L1")}  # above 5 mm only
    assert ("head_outside", "L1") in _modes(gt, hip(shift=8))  # 0.8 head radii off
    assert ("head_outside", "L1") not in _modes(gt, hip(shift=3))  # 0.3 radii: in its socket
    assert ("head_outside", "L1") in _modes(gt, np.where(gt == 1, 0, gt))  # no head at all


# ------------------------------------------------------------------------------------------------
# The stage on a hand-made evaluation
# ------------------------------------------------------------------------------------------------
# per-image mean Dice of the best model per joint: patients A, B, C with both hips (the right
# one with acetabular protrusion), D and E with their right hip only (one finding each)
DICE = {
    "A_R": 0.5,
    "A_L": 0.9,
    "B_R": 0.9,
    "B_L": 0.7,
    "C_R": 0.7,
    "C_L": 0.8,
    "D_R": 0.8,
    "E_R": 0.8,
}
NOTES = {
    "A": "right hip acetabular protrusion; lead marker L",
    "B": "right hip acetabular protrusion",
    "C": "right hip acetabular protrusion",
    "D": "right hip osteoarthritis (mild)",
    "E": "right hip dysplasia",
}
SPACING = {"A": 0.1, "B": 0.15, "C": 0.175, "D": 0.15, "E": 0.1}
AGES = {"A": "≥80", "B": "≥80", "C": "50–64"}  # D and E: no audit (not DICOM)
SHEET_COLUMNS = [
    "id",
    "patient",
    "dicom",
    "labels",
    "hips",
    "split",
    "note",
    "level",
    "image",
    "side",
    "spacing",
    "radiograph",
    "values",
    "origin",
    "patient_source",
    "site",
]


def fabricate(root: Path) -> dict:
    """Every input of hipseg.subgroups.analyse, written by hand (no evaluate run)."""
    from hipseg.io import write_image_2d

    gt_dir, pred_dir = root / "labelsTs", root / "predictions" / "fold_0"
    metrics, per_image, cases = [], [], ["case\tradiograph\tside\tpatient\tspacing_x\tspacing_y"]
    for case, dice in DICE.items():
        p, side = case[0], {"R": "right", "L": "left"}[case[-1]]
        gt = hip()
        pred = hip(shift=8) if case == "B_R" else np.where(gt == 3, 5, gt) if case == "A_R" else gt
        write_image_2d(gt_dir / f"{case}.nii.gz", gt, (1.0, 1.0))
        write_image_2d(pred_dir / f"{case}.nii.gz", pred.astype(np.uint8), (1.0, 1.0))
        cases.append(f"{case}\t{p}\t{side}\t{p}\t{SPACING[p]}\t{SPACING[p]}")
        per_image.append(["fold_0", case, p, dice, 2.0 + dice, 1.0, dice])
        for k in range(1, 6):
            hd = 9.0 if (case, k) == ("C_L", 2) else 2.0  # C_L: L2 off by more than 5 mm
            metrics.append(["fold_0", case, p, f"L{k}", dice, hd, 1.0, dice, 10, 10, "none", ""])
    ev = root / "evaluation"
    ev.mkdir()
    (ev / "summary.json").write_text(json.dumps({"best_model": "fold_0"}))
    from hipseg.evaluate import METRICS_CSV_COLUMNS

    pd.DataFrame(metrics, columns=METRICS_CSV_COLUMNS).to_csv(ev / "metrics.csv", index=False)
    pd.DataFrame(
        per_image, columns=["model", "case", "patient", "dice", "hd95_mm", "assd_mm", "nsd"]
    ).to_csv(ev / "per_image_metrics.csv", index=False)
    (root / "cases.tsv").write_text("\n".join(cases) + "\n")
    rows = ["\t".join(SHEET_COLUMNS)]
    for p, note in NOTES.items():
        rows.append(
            "\t".join(
                [
                    p,
                    p,
                    f"{p}.dcm",
                    f"{p}.png",
                    "both",
                    "",
                    note,
                    "radiograph",
                    f"{p}.dcm",
                    "",
                    "",
                    p,
                    "",
                    "sheet",
                    "sheet",
                    "Brno",
                ]
            )
        )
    (root / "validated.tsv").write_text("\n".join(rows) + "\n")
    audits = []
    for p, age in AGES.items():
        chars = {"sex": "F" if p == "A" else "M", "age_band": age, "device": "AGFA CR 85-X"}
        audits.append(root / f"{p}.audit.json")
        audits[-1].write_text(json.dumps({"id": p, "characteristics": chars}))
    return {
        "evaluation_dir": ev,
        "cases_tsv": root / "cases.tsv",
        "sheet": root / "validated.tsv",
        "audits": audits,
        "gt_dir": gt_dir,
        "pred_root": root / "predictions",
        "out_dir": root / "out",
    }


STATS = None  # (set below: 4000 resamples keep the test quick)


def _run(tmp_path, **options):
    from hipseg.evaluate import EvaluateOptions
    from hipseg.subgroups import SubgroupOptions, analyse

    kw = fabricate(tmp_path)
    o = SubgroupOptions.from_config(
        {"columns": ["note"], "min_patients": 2, "spacing_bands_mm": [0.12], **options}
    )
    summary = analyse(**kw, options=o, stats=EvaluateOptions(bootstrap_resamples=4000))
    table = pd.read_csv(kw["out_dir"] / "subgroups.csv", keep_default_na=False, na_values=["NaN"])
    return kw, summary, table


def _row(table, attribute, group, metric="dice", label="all"):
    sel = (table["attribute"] == attribute) & (table["subgroup"] == group)
    sel &= (table["metric"] == metric) & (table["label"] == label)
    assert sel.sum() == 1, (attribute, group, metric, label)
    return table[sel].iloc[0]


def test_subgroup_statistics_against_a_hand_computed_case(tmp_path):
    from hipseg.evaluate.statistics import patient_bootstrap, patient_difference

    kw, summary, table = _run(tmp_path)
    # protrusion: the right hips of A, B, C; 0.5, 0.9, 0.7 → 0.7; the rest (A_L 0.9, B_L 0.7,
    # C_L 0.8, D_R 0.8, E_R 0.8) → 0.8
    r = _row(table, "note", "acetabular protrusion")
    assert (r.n_joints, r.n_patients, r.rest_n_joints, r.rest_n_patients) == (3, 3, 5, 5)
    assert (r["mean"], r.rest_mean, r.difference) == (
        pytest.approx(0.7),
        pytest.approx(0.8),
        pytest.approx(-0.1),
    )
    assert r.ci_low < 0.7 < r.ci_high and r.diff_ci_low < -0.1 < r.diff_ci_high
    # the same numbers as the statistics functions give on the joints by hand
    patients = [c[0] for c in DICE]
    inside = [c in ("A_R", "B_R", "C_R") for c in DICE]
    iv = patient_bootstrap(
        [0.5, 0.9, 0.7],
        ["A", "B", "C"],
        confidence=0.95,
        resamples=4000,
        seed=0,
        key="subgroup/note/acetabular protrusion/dice|all",
    )
    assert (r.ci_low, r.ci_high) == (
        pytest.approx(iv.low, abs=1e-6),
        pytest.approx(iv.high, abs=1e-6),
    )
    t = pd.DataFrame({"patient": patients, "v": list(DICE.values())})
    (d,) = patient_difference(
        t,
        inside,
        ["v"],
        confidence=0.95,
        resamples=4000,
        seed=0,
        key="difference/note/acetabular protrusion",
    )
    assert r.p_value == pytest.approx(d.p_value) and r.diff_ci_low == pytest.approx(d.low, abs=1e-6)
    # side: right (A–E: 0.5, 0.9, 0.7, 0.8, 0.8 → 0.74) against left (0.9, 0.7, 0.8 → 0.8)
    r = _row(table, "side", "right")
    assert (r["mean"], r.rest_mean, r.n_patients) == (pytest.approx(0.74), pytest.approx(0.8), 5)
    # per label and metric: every row there, HD95 of the per-image mean 2 + Dice
    assert _row(table, "note", "acetabular protrusion", "hd95_mm")["mean"] == pytest.approx(2.7)
    assert _row(table, "note", "acetabular protrusion", "dice", "L3")["mean"] == pytest.approx(0.7)
    # Holm over every subgroup of one metric and label
    block = table[(table["metric"] == "dice") & (table["label"] == "all")]
    from hipseg.evaluate.statistics import holm

    assert block["p_holm"].to_numpy() == pytest.approx(holm(block["p_value"]), nan_ok=True)
    assert summary["hardest"]["note"]["subgroup"] == "acetabular protrusion"
    assert summary["hardest"]["side"]["subgroup"] == "right"


def test_small_subgroups_are_pooled_and_nothing_points_at_one_patient(tmp_path):
    kw, summary, table = _run(tmp_path)
    groups = {
        a["name"]: {g["name"]: g["n_patients"] for g in a["groups"]} for a in summary["attributes"]
    }
    # osteoarthritis (D), dysplasia (E) and "lead marker L" (A): one patient each, pooled
    # (other: A, D, E); "none recorded" (the left hips of B and C) has two
    assert groups["note"] == {"acetabular protrusion": 3, "none recorded": 2, "other (pooled)": 3}
    # age bands: 50–64 (C) below 2 joins its neighbour ≥80 (A, B); D and E were not recorded
    assert groups["age_band"] == {"≥50": 3, "not recorded": 2}
    assert groups["spacing"] == {"<0.12 mm": 2, "≥0.12 mm": 3}
    for a in summary["attributes"]:
        assert all(n >= 2 for n in groups[a["name"]].values()), a
    assert (table["n_patients"] >= 2).all()
    assert not {"osteoarthritis (mild)", "dysplasia", "50–64"} & set(table["subgroup"])
    # the worst case of each subgroup, and the failures counted per subgroup
    worst = {(w["attribute"], w["subgroup"]): w["cases"] for w in summary["worst_cases"]}
    assert worst[("note", "acetabular protrusion")] == [{"case": "A_R", "dice": 0.5}]
    failures = pd.read_csv(kw["out_dir"] / "failures.csv")
    assert set(zip(failures["case"], failures["mode"], strict=True)) == {
        ("A_R", "missing"),
        ("A_R", "teardrop_merged"),
        ("B_R", "head_outside"),
        ("C_L", "boundary"),
    }
    counts = pd.read_csv(kw["out_dir"] / "failure_counts.csv", keep_default_na=False)
    c = counts[(counts["attribute"] == "note") & (counts["subgroup"] == "acetabular protrusion")]
    assert dict(zip(c["mode"], c["n_joints_failing"], strict=True)) == {
        "missing": 1,
        "spurious": 0,
        "pieces": 0,
        "boundary": 0,
        "teardrop_merged": 1,
        "head_outside": 1,
        "any": 2,
    }


def test_a_sheet_column_named_in_the_config_but_absent_is_a_named_error(tmp_path):
    from hipseg.errors import InputError

    with pytest.raises(InputError, match=r"validated.tsv.*'finding'.*subgroups.columns"):
        _run(tmp_path, columns=["note", "finding"])
    assert not (tmp_path / "out").exists()  # nothing written


def test_many_columns_at_once_give_the_intervals_of_one_at_a_time():
    rng = np.random.default_rng(0)
    t = pd.DataFrame(
        {
            "patient": [f"p{i // 2:02d}" for i in range(24)],
            "v": rng.random(24),
            "u": rng.random(24),
            "w": rng.random(24),
            "nan": np.nan,
        }
    )
    t.loc[:1, "w"] = np.nan  # w: no value of patient p00
    kw = {"confidence": 0.9, "resamples": 999, "seed": 3}
    got = statistics.patient_bootstrap_columns(t, ["v", "u", "w", "nan"], key="k", **kw)

    def same(a, b):  # equal up to the order of floating-point sums
        return (a.n_values, a.n_patients, a.note) == (b.n_values, b.n_patients, b.note) and [
            a.mean,
            a.low,
            a.high,
        ] == pytest.approx([b.mean, b.low, b.high], rel=1e-12)

    # v and u are defined for the same patients: one resampling, named after v
    for name, iv in zip(["v", "u"], got[:2], strict=True):
        assert same(iv, statistics.patient_bootstrap(t[name], t["patient"], key="k/v", **kw))
    assert same(got[2], statistics.patient_bootstrap(t["w"], t["patient"], key="k/w", **kw))
    assert not same(got[2], statistics.patient_bootstrap(t["w"], t["patient"], key="k/v", **kw))
    assert (got[2].n_values, got[2].n_patients) == (22, 11)
    assert math.isnan(got[3].mean) and got[3].note == "no defined value"


# ------------------------------------------------------------------------------------------------
# The report's section
# ------------------------------------------------------------------------------------------------
def add_subgroups(kw: dict) -> Path:
    """Run hipseg.subgroups on the fabricated report inputs of tests/test_report.make_inputs
    (two hips per patient): a sheet with a note, audits with characteristics. Returns the
    folder to pass to build_report(subgroups=…)."""
    from hipseg.evaluate import EvaluateOptions
    from hipseg.subgroups import SubgroupOptions, analyse

    root = kw["evaluation_dir"].parent
    cases = sorted(p.name[: -len(".nii.gz")] for p in kw["labels_dir"].glob("*.nii.gz"))
    lines, sheet, audits = ["case\tradiograph\tside\tpatient\tspacing_x\tspacing_y"], [], []
    for i, case in enumerate(cases):
        r = f"r{i // 2}"
        lines.append(f"{case}\t{r}\t{('right', 'left')[i % 2]}\tP{i // 2:010x}\t0.15\t0.15")
        if i % 2 == 0:
            note = (
                "right hip osteoarthritis (mild)"
                if i % 4 == 0
                else "left hip osteoarthritis (mild); lead marker R"
            )
            sheet.append(
                "\t".join(
                    [
                        r,
                        f"P{i // 2:010x}",
                        "x.dcm",
                        "x.png",
                        "both",
                        "",
                        note,
                        "radiograph",
                        "x.dcm",
                        "",
                        "",
                        r,
                        "",
                        "sheet",
                        "sheet",
                    ]
                )
            )
            audits.append(root / f"{r}.audit.json")
            chars = {"sex": "FM"[i % 4 // 2], "age_band": "50–64", "device": "AGFA CR 85-X"}
            audits[-1].write_text(json.dumps({"id": r, "characteristics": chars}))
    (root / "cases.tsv").write_text("\n".join(lines) + "\n")
    (root / "validated.tsv").write_text("\n".join(["\t".join(SHEET_COLUMNS[:-1]), *sheet]) + "\n")
    out = root / "subgroups"
    analyse(
        kw["evaluation_dir"],
        root / "cases.tsv",
        root / "validated.tsv",
        audits,
        kw["labels_dir"],
        kw["predictions_root"],
        out,
        SubgroupOptions.from_config({"columns": ["note"], "min_patients": 2}),
        EvaluateOptions(bootstrap_resamples=999),
    )
    return out


def test_the_workflow_refuses_a_missing_sheet_column_before_anything_runs(
    repo, snakemake_env, tmp_path, demo_data
):
    import subprocess

    import yaml

    cfg = tmp_path / "real.yaml"
    config = {"samples": str(demo_data), "demo": {"enabled": False},
              "subgroups": {"columns": ["note", "site"]}}  # fmt: skip
    cfg.write_text(yaml.safe_dump(config))
    cmd = ["snakemake", "--snakefile", str(repo / "Snakefile"), "--directory", str(tmp_path)]
    proc = subprocess.run([*cmd, "--configfile", str(cfg), "-n", "--cores", "1"],
                          env=snakemake_env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode != 0
    assert f"{demo_data}: has no column(s) 'site', which subgroups.columns names" in (
        proc.stdout + proc.stderr
    )


def test_the_demos_test_set_holds_every_generator_finding_in_enough_patients(repo):
    """config/config.yaml's dataset.seed: the demo's patient split (computed here as the dataset
    stage computes it, from the generator's sheet rows without rendering) puts every finding
    the generator draws into the test set with at least subgroups.min_patients patients, so
    that the subgroup analysis (its own pooling, run here) reports each; protrusion, the
    hardest, among them."""
    import yaml

    from hipseg import dataset, deid, synth
    from hipseg.subgroups import SubgroupOptions
    from hipseg.subgroups.attributes import pooled_attributes, raw_attributes

    cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    rows = synth.describe(cfg["demo"]["preset"], cfg["demo"]["seed"], cfg["demo"]["n_patients"])
    joints, drawn = [], set()
    for r in rows:
        for side in ("right", "left"):
            items = {i for i in r["note"].split("; ") if i.startswith(f"{side} hip ")}
            drawn |= {i.split(" hip ", 1)[1] for i in items if "(excluded)" not in i}
            if r["hips"] in ("both", side):
                joints.append({"case": f"{r['id']}_{side[0].upper()}", "radiograph": r["id"],
                               "side": side, "split": r["split"], "spacing_mm": r["intake_spacing"],
                               "patient": deid.pseudonym(deid.DEMO_KEY, r["patient"])})  # fmt: skip
    joints = pd.DataFrame(joints)
    ds = cfg["dataset"]
    split = dataset.split_by_patient(joints, ds["test_fraction"], ds["seed"])
    test = joints[joints["patient"].map(split) == "test"].reset_index(drop=True)
    assert len(test) == 15 and test["patient"].nunique() == 8
    assert drawn == {"osteoarthritis (mild)", "osteoarthritis (severe)", "acetabular protrusion"}
    options = SubgroupOptions.from_config({**cfg["subgroups"], "characteristics": []})
    sheet = pd.DataFrame(rows)[["id", "note"]]
    note, side, spacing = pooled_attributes(
        raw_attributes(test, sheet, {}, options), list(test["patient"]), options.min_patients
    )
    assert drawn <= set(note.groups), note.groups
    assert set(side.groups) == {"left", "right"} and spacing.groups == ["<1.84 mm", "≥1.84 mm"]
