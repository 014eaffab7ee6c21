"""Tests of hipseg.evaluate: Dice conventions, Tables I/II, input validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from hipseg.errors import InputError
from hipseg.evaluate import MODELS, dice_scores, evaluate
from hipseg.io import write_image_2d

SPACING = (0.15, 0.15)


# ------------------------------------------------------------------------------------------
# dice_scores
# ------------------------------------------------------------------------------------------
def test_dice_perfect():
    gt = np.zeros((8, 8), np.uint8)
    gt[1:4, 1:4] = 1
    gt[5:7, 2:6] = 3
    d = dice_scores(gt, gt.copy())
    assert d[1] == 1.0 and d[3] == 1.0
    assert math.isnan(d[2]) and math.isnan(d[4]) and math.isnan(d[5])


def test_dice_disjoint():
    gt = np.zeros((6, 6), np.uint8)
    pred = np.zeros((6, 6), np.uint8)
    gt[0:2, 0:2] = 2
    pred[4:6, 4:6] = 2
    assert dice_scores(gt, pred, labels=(2,)) == {2: 0.0}


def test_dice_half_overlap_known_value():
    gt = np.zeros((4, 8), np.uint8)
    pred = np.zeros((4, 8), np.uint8)
    gt[:, 0:4] = 1  # 16 px
    pred[:, 2:8] = 1  # 24 px, overlap 8 px -> 2*8/(16+24) = 0.4
    assert dice_scores(gt, pred, labels=(1,))[1] == pytest.approx(0.4)
    gt2 = np.zeros((2, 4), np.uint8)
    pred2 = np.zeros((2, 4), np.uint8)
    gt2[:, :2] = 5
    pred2[:, 1:3] = 5  # 4 and 4 px, overlap 2 -> 0.5
    assert dice_scores(gt2, pred2)[5] == pytest.approx(0.5)


def test_dice_both_empty_is_nan_and_gt_empty_pred_not_is_zero():
    gt = np.zeros((5, 5), np.uint8)
    pred = np.zeros((5, 5), np.uint8)
    pred[2, 2] = 4
    d = dice_scores(gt, pred)
    assert d[4] == 0.0
    assert all(math.isnan(d[lab]) for lab in (1, 2, 3, 5))


def test_dice_shape_mismatch():
    with pytest.raises(ValueError):
        dice_scores(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8))


# ------------------------------------------------------------------------------------------
# evaluate
# ------------------------------------------------------------------------------------------
def _square_labels(shape=(40, 30), shift=0, drop_l3=False):
    """A label map with five rectangular regions; ``shift`` moves L1 and L4 to create errors."""
    a = np.zeros(shape, np.uint8)
    a[2:12, 2 + shift : 12 + shift] = 1
    a[14:24, 2:8] = 2
    if not drop_l3:
        a[26:30, 20:24] = 3
    a[2:10, 16 + shift : 22 + shift] = 4
    a[30:38, 2:28] = 5
    return a


@pytest.fixture()
def fabricated(tmp_path):
    gt_dir = tmp_path / "gt"
    pred_root = tmp_path / "pred"
    cases = ["case_001", "case_002", "case_003"]
    models = ["fold_0", "fold_all", "ensemble"]
    shifts = {"fold_0": [1, 2, 3], "fold_all": [0, 1, 0], "ensemble": [0, 2, 1]}
    gts, preds = {}, {m: {} for m in models}
    for i, c in enumerate(cases):
        g = _square_labels()
        gts[c] = g
        write_image_2d(gt_dir / f"{c}.nii.gz", g, SPACING)
        for m in models:
            p = _square_labels(shift=shifts[m][i], drop_l3=(m == "fold_0" and i == 2))
            preds[m][c] = p
            write_image_2d(pred_root / m / f"{c}.nii.gz", p, SPACING)
    return gt_dir, pred_root, cases, models, gts, preds


def _expected_dice(g, p, lab):
    a, b = g == lab, p == lab
    s = a.sum() + b.sum()
    return np.nan if s == 0 else 2 * np.logical_and(a, b).sum() / s


def test_evaluate_tables_match_numpy(fabricated, tmp_path):
    gt_dir, pred_root, cases, models, gts, preds = fabricated
    out = tmp_path / "eval"
    # pass models in non-canonical order: table1 must still follow MODELS order
    summary = evaluate(gt_dir, pred_root, ["ensemble", "fold_all", "fold_0"], out)

    for name in ("dice.csv", "per_image.csv", "table1.csv", "table2.csv", "summary.json"):
        assert (out / name).is_file()

    # numpy recomputation of the per-image mean Dice and of Table I
    per_image = {
        m: np.array(
            [
                np.nanmean([_expected_dice(gts[c], preds[m][c], lab) for lab in range(1, 6)])
                for c in cases
            ]
        )
        for m in models
    }
    t1 = pd.read_csv(out / "table1.csv", index_col="model")
    assert list(t1.index) == [m for m in MODELS if m in models]
    assert list(t1.columns) == ["mean", "std", "median", "max", "min"]
    for m in models:
        v = per_image[m]
        assert t1.loc[m, "mean"] == pytest.approx(v.mean(), abs=1e-6)
        assert t1.loc[m, "std"] == pytest.approx(v.std(ddof=1), abs=1e-6)
        assert t1.loc[m, "median"] == pytest.approx(np.median(v), abs=1e-6)
        assert t1.loc[m, "max"] == pytest.approx(v.max(), abs=1e-6)
        assert t1.loc[m, "min"] == pytest.approx(v.min(), abs=1e-6)

    best = max(models, key=lambda m: per_image[m].mean())
    assert best == "fold_all"
    assert summary["best_model"] == best
    assert summary["n_cases"] == 3
    assert json.loads((out / "summary.json").read_text())["best_model"] == best

    t2 = pd.read_csv(out / "table2.csv", index_col="label")
    assert list(t2.index) == ["L1", "L2", "L3", "L4", "L5"]
    assert set(t2["model"]) == {best}
    for lab in range(1, 6):
        v = np.array([_expected_dice(gts[c], preds[best][c], lab) for c in cases])
        assert t2.loc[f"L{lab}", "mean"] == pytest.approx(np.nanmean(v), abs=1e-6)
        assert t2.loc[f"L{lab}", "min"] == pytest.approx(np.nanmin(v), abs=1e-6)

    dice = pd.read_csv(out / "dice.csv")
    assert list(dice.columns) == ["model", "case", "label", "dice", "gt_pixels", "pred_pixels"]
    assert len(dice) == 3 * 3 * 5
    # fold_0 dropped L3 in case_003: Dice 0 (GT present, prediction empty)
    row = dice[(dice.model == "fold_0") & (dice.case == "case_003") & (dice.label == "L3")]
    assert row["dice"].item() == 0.0 and row["pred_pixels"].item() == 0
    pi = pd.read_csv(out / "per_image.csv")
    assert list(pi.columns) == ["model", "case", "mean_dice"]
    assert len(pi) == 9


def test_evaluate_nan_excluded_from_mean(tmp_path):
    gt = np.zeros((10, 10), np.uint8)
    gt[0:5, 0:5] = 1
    pred = gt.copy()
    write_image_2d(tmp_path / "gt" / "a.nii.gz", gt, SPACING)
    write_image_2d(tmp_path / "pred" / "fold_all" / "a.nii.gz", pred, SPACING)
    evaluate(tmp_path / "gt", tmp_path / "pred", ["fold_all"], tmp_path / "out")
    pi = pd.read_csv(tmp_path / "out" / "per_image.csv")
    assert pi["mean_dice"].item() == pytest.approx(1.0)  # L2..L5 NaN, not 0
    dice = pd.read_csv(tmp_path / "out" / "dice.csv")
    assert dice["dice"].isna().sum() == 4


def test_evaluate_missing_prediction(fabricated, tmp_path):
    gt_dir, pred_root, cases, models, _, _ = fabricated
    victim = pred_root / "fold_all" / "case_002.nii.gz"
    victim.unlink()
    out = tmp_path / "eval_missing"
    with pytest.raises(InputError) as exc:
        evaluate(gt_dir, pred_root, models, out)
    assert str(victim) in str(exc.value)
    assert not out.exists() or not any(out.iterdir())


def test_evaluate_shape_mismatch(fabricated, tmp_path):
    gt_dir, pred_root, _, models, _, _ = fabricated
    bad = pred_root / "ensemble" / "case_001.nii.gz"
    write_image_2d(bad, np.zeros((20, 30), np.uint8), SPACING)
    out = tmp_path / "eval_shape"
    with pytest.raises(InputError, match="shape") as exc:
        evaluate(gt_dir, pred_root, models, out)
    assert str(bad) in str(exc.value)
    assert not out.exists() or not any(out.iterdir())


def test_evaluate_label_out_of_range(fabricated, tmp_path):
    gt_dir, pred_root, _, models, _, _ = fabricated
    bad = gt_dir / "case_003.nii.gz"
    a = _square_labels()
    a[0, 0] = 7
    write_image_2d(bad, a, SPACING)
    out = tmp_path / "eval_label"
    with pytest.raises(InputError, match="outside 0–5") as exc:
        evaluate(gt_dir, pred_root, models, out)
    assert str(bad) in str(exc.value)
    assert not out.exists() or not any(out.iterdir())


def test_evaluate_empty_gt_dir(tmp_path):
    (tmp_path / "gt").mkdir()
    with pytest.raises(InputError):
        evaluate(tmp_path / "gt", tmp_path / "pred", ["fold_all"], tmp_path / "out")


# ------------------------------------------------------------------------------------------
# Boundary metrics, intervals and paired tests in the evaluate stage
# ------------------------------------------------------------------------------------------
def _cases_tsv(path, patients: dict[str, str]):
    path.write_text("case\tpatient\n" + "".join(f"{c}\t{p}\n" for c, p in patients.items()))
    return path


def test_metrics_csv_holds_every_metric_and_the_conventions(fabricated, tmp_path):
    from hipseg.evaluate import CONVENTIONS, METRICS_CSV_COLUMNS, boundary_metrics

    gt_dir, pred_root, cases, models, gts, preds = fabricated
    tsv = _cases_tsv(tmp_path / "cases.tsv", dict(zip(cases, ["P1", "P1", "P2"], strict=True)))
    out = tmp_path / "eval"
    summary = evaluate(gt_dir, pred_root, models, out, cases_tsv=tsv)
    metrics = pd.read_csv(out / "metrics.csv", keep_default_na=False, na_values=["NaN"])
    assert list(metrics.columns) == METRICS_CSV_COLUMNS
    dice = pd.read_csv(out / "dice.csv")
    assert np.allclose(metrics["dice"], dice["dice"], equal_nan=True)  # the same Dice values
    assert set(metrics.loc[metrics.case == "case_003", "patient"]) == {"P2"}
    # fold_0 missed L3 in case_003: HD95 = ASSD = the image diagonal, NSD 0, convention written
    row = metrics[(metrics.model == "fold_0") & (metrics.case == "case_003")]
    row = row[row.label == "L3"].iloc[0]
    diagonal = math.hypot(40 * SPACING[1], 30 * SPACING[0])
    assert row["empty"] == "prediction" and row["nsd"] == 0.0
    assert row["hd95_mm"] == pytest.approx(diagonal, abs=1e-6)
    assert row["convention"] == CONVENTIONS["prediction"]
    # a shifted label: the value of boundary_metrics on the arrays, in mm
    r = metrics[
        (metrics.model == "fold_0") & (metrics.case == "case_002") & (metrics.label == "L1")
    ]
    b = boundary_metrics(gts["case_002"] == 1, preds["fold_0"]["case_002"] == 1, SPACING, 2.0)
    assert r["hd95_mm"].item() == pytest.approx(b.hd95, abs=1e-6) and b.hd95 > 0
    assert summary["n_patients"] == 2 and summary["nsd_tolerance_mm"] == 2.0
    assert summary["surface_tool"].startswith("MedPy 0.5.2")
    assert summary["empty_counts"]["prediction"] == 1
    assert summary["empty_conventions"] == CONVENTIONS


def test_intervals_resample_patients(fabricated, tmp_path):
    """Two hips of one patient with the same values are one observation: the interval equals the
    one of a single hip per patient; treated as independent images it would be narrower."""
    gt_dir, pred_root, cases, models, gts, preds = fabricated
    twice_gt, twice_pred = tmp_path / "gt2", tmp_path / "pred2"
    pairs = {}
    for c in cases:
        for side in ("R", "L"):
            name = f"{c}{side}"
            pairs[name] = c
            write_image_2d(twice_gt / f"{name}.nii.gz", gts[c], SPACING)
            for m in models:
                write_image_2d(twice_pred / m / f"{name}.nii.gz", preds[m][c], SPACING)
    one = evaluate(gt_dir, pred_root, models, tmp_path / "one", cases_tsv=None)
    assert one["statistics"]["unit"].startswith("image")
    evaluate(twice_gt, twice_pred, models, tmp_path / "by_patient",
             cases_tsv=_cases_tsv(tmp_path / "c.tsv", pairs))  # fmt: skip
    evaluate(twice_gt, twice_pred, models, tmp_path / "by_image")

    def ci(name):
        df = pd.read_csv(tmp_path / name / "ci.csv", keep_default_na=False, na_values=["NaN"])
        return df[(df.table == "I") & (df.metric == "dice")].set_index("model")

    single, by_patient, by_image = ci("one"), ci("by_patient"), ci("by_image")
    t1 = pd.read_csv(tmp_path / "one" / "table1.csv", index_col="model")
    for m in models:
        assert single.loc[m, "mean"] == pytest.approx(t1.loc[m, "mean"], abs=1e-6)
        assert single.loc[m, "ci_low"] <= single.loc[m, "mean"] <= single.loc[m, "ci_high"]
        assert by_patient.loc[m, "n_images"] == 6 and by_patient.loc[m, "n_patients"] == 3
        for k in ("mean", "ci_low", "ci_high"):
            assert by_patient.loc[m, k] == pytest.approx(single.loc[m, k], abs=1e-6)
    width = by_image["ci_high"] - by_image["ci_low"]
    assert (width < single["ci_high"] - single["ci_low"]).any()
    ci_all = pd.read_csv(tmp_path / "one" / "ci.csv", keep_default_na=False, na_values=["NaN"])
    assert set(ci_all["metric"]) == {"dice", "hd95_mm", "assd_mm", "nsd"}
    assert set(ci_all.loc[ci_all.table == "II", "label"]) == {"L1", "L2", "L3", "L4", "L5"}


def test_paired_tests_known_p_values(tmp_path):
    """Six patients, the best model better on each: the exact two-sided Wilcoxon p is 2/2⁶;
    Benjamini–Hochberg: p_(i) · m / i, made monotone from the largest."""
    gt_dir, pred_root = tmp_path / "gt", tmp_path / "pred"
    worse = {"fold_0": [1] * 6, "fold_1": [1, 0, 1, 0, 1, 2], "fold_2": [0, 0, 0, 0, 0, 1]}
    for i in range(6):
        case = f"c{i}"
        g = _square_labels()
        write_image_2d(gt_dir / f"{case}.nii.gz", g, SPACING)
        write_image_2d(pred_root / "fold_all" / f"{case}.nii.gz", g, SPACING)  # perfect
        for m, shifts in worse.items():
            write_image_2d(pred_root / m / f"{case}.nii.gz", _square_labels(shift=shifts[i]),
                           SPACING)  # fmt: skip
    models = ["fold_0", "fold_1", "fold_2", "fold_all"]
    evaluate(gt_dir, pred_root, models, tmp_path / "out")
    tests = pd.read_csv(tmp_path / "out" / "tests.csv", keep_default_na=False, na_values=["NaN"])
    dice = tests[tests.metric == "dice"].set_index("other_model")
    assert set(tests["best_model"]) == {"fold_all"} and len(dice) == 3
    assert dice.loc["fold_0", "p_value"] == pytest.approx(2 / 2**6)
    assert dice.loc["fold_0", "n_patients"] == 6 and dice.loc["fold_0", "median_difference"] > 0
    assert dice.loc["fold_2", "p_value"] == 1.0  # one non-zero difference: no evidence
    p = dice["p_value"].dropna().sort_values()
    m = len(p)
    expected = np.minimum.accumulate((p * m / np.arange(1, m + 1))[::-1])[::-1].clip(upper=1)
    assert np.allclose(dice.loc[p.index, "p_adjusted"], expected)


def test_case_without_patient_is_named(fabricated, tmp_path):
    gt_dir, pred_root, cases, models, _, _ = fabricated
    tsv = _cases_tsv(tmp_path / "cases.tsv", {cases[0]: "P1"})
    with pytest.raises(InputError, match=f"cases.tsv: has no patient for test case '{cases[1]}'"):
        evaluate(gt_dir, pred_root, models, tmp_path / "out", cases_tsv=tsv)
    assert not (tmp_path / "out").exists()


def test_spacing_mismatch_is_named(fabricated, tmp_path):
    gt_dir, pred_root, _, models, _, preds = fabricated
    bad = pred_root / "fold_all" / "case_001.nii.gz"
    write_image_2d(bad, preds["fold_all"]["case_001"], (0.3, 0.15))
    with pytest.raises(InputError, match="spacing") as exc:
        evaluate(gt_dir, pred_root, models, tmp_path / "out")
    assert str(bad) in str(exc.value)


def test_options_come_from_the_config_section():
    from hipseg.errors import HipsegError
    from hipseg.evaluate import EvaluateOptions

    assert EvaluateOptions.from_config({}) == EvaluateOptions()
    assert EvaluateOptions.from_config('{"nsd_tolerance_mm": 1.5}').nsd_tolerance_mm == 1.5
    with pytest.raises(HipsegError, match=r"evaluate\.nsd_tolerance_mm"):
        EvaluateOptions.from_config({"nsd_tolerance_mm": 0})
