#!/usr/bin/env python3
"""The accuracy cost of ``2d_lowres`` at the paper's scale, as far as a CPU goes.

    python bench/lowres_paper.py --work /tmp/lowres-paper            # about 40 min on 2 cores
    python bench/lowres_paper.py --epochs 8 --iterations 25 ...      # a longer schedule

1. Renders radiographs of the synthetic ``paper`` preset (true size, the paper's spacings) and
   runs the workflow with config/paper.yaml plus ``nnunet.configurations: [2d, 2d_lowres]`` up
   to the splits and the preprocessing of both configurations (bench/prepare.py): nnU-Net's
   default planner plans 2d, and 2d_lowres at ``nnunet.lowres_spacing_factor`` times its
   spacing, exactly as in a real run. The paper's 2d patch and batch are forced (1536 x 1024,
   batch 2, as bench/gpu_paper_scale.py does).
2. Trains fold ``all`` of both configurations **the same way**: the same trainer
   (``nnUNetTrainerHipsegShort``, the demo's), the same short schedule, seed, threads and the same
   network width (``--features``: the paper's network is 32 -> 512; a CPU can only afford a
   narrower one in a session, for both configurations alike) -- through ``hipseg train``.
3. Predicts the test joints of the split with both models through ``hipseg predict`` (the
   workflow's default: mirroring, tile step 0.5; nnU-Net resamples the 2d_lowres
   probabilities to each image's grid before the argmax) and evaluates them with the workflow's
   own evaluation (``hipseg.evaluate``: Tables I/II, per-label Dice, HD95/ASSD/NSD, the
   patient bootstrap and the paired tests) against the test labels.
4. Prints the plan of both configurations, seconds of training and prediction, and the Dice of
   each configuration with the difference (2d_lowres - 2d) per label and its interval.

What it estimates: the cost of seeing the paper's radiographs at twice the pixel size after the
same short training, not the paper's 1000 x 250 iterations; on a GPU
``bench/gpu_paper_scale.py`` trains both at the paper's width.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import prepare  # noqa: E402

CONFIGURATIONS = ("2d", "2d_lowres")
PAPER_PLAN = {"patch_size": [1536, 1024], "batch_size": 2}


def overlay(a) -> dict:
    return {
        "demo": {"enabled": True, "preset": "paper", "seed": a.seed, "n_patients": a.n_patients},
        "deid": {"use_demo_key": True},
        "paper_plan": {"enabled": False},
        "nnunet": {
            "configurations": list(CONFIGURATIONS),
            "plans_overrides": {
                **PAPER_PLAN,
                "base_num_features": a.features[0],
                "max_num_features": a.features[1],
            },
            "processes": a.threads,
            "mem_mb": 16000,
        },
    }


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall s, CPU s of the child)."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def train(root: Path, dataset: int, conf: str, a, env: dict[str, str]) -> tuple[Path, float, float]:
    options = {
        "trainer": "nnUNetTrainerHipsegShort",
        "epochs": a.epochs,
        "iterations_per_epoch": a.iterations,
        "val_iterations_per_epoch": 1,
        "checkpoint_every": a.epochs,
        "device": "cpu",
        "n_proc_da": 0,
        "validate": False,
        "seed": 0,
    }
    cmd = [
        sys.executable, "-m", "hipseg", "train", "--nnunet-root", str(root),
        "--dataset-id", str(dataset), "--configuration", conf, "--fold", "all",
        "--threads", str(a.threads), "--options", json.dumps(options),
    ]  # fmt: skip
    (model,) = _models(root, conf) or [None]
    if model is None or not (model / "fold_all" / "checkpoint_final.pth").is_file():
        wall, cpu = run(cmd, env)
        (model,) = _models(root, conf)
    else:
        wall = cpu = float("nan")  # trained by an earlier call
    return model, wall, cpu


def _models(root: Path, conf: str) -> list[Path]:
    return sorted((root / "nnUNet_results").glob(f"Dataset*/nnUNetTrainerHipsegShort__*__{conf}"))


def predict(root: Path, model: Path, images: Path, out: Path, a, env) -> tuple[float, float]:
    cmd = [
        sys.executable, "-m", "hipseg", "predict", "--nnunet-root", str(root),
        "--model-dir", str(model), "--folds", "all", "--input", str(images),
        "--output", str(out), "--threads", str(a.threads),
        "--options", json.dumps({"device": "cpu", "mirroring": True, "tile_step_size": 0.5}),
    ]  # fmt: skip
    return run(cmd, env)


def plan_lines(root: Path) -> list[str]:
    (plans,) = (root / "nnUNet_preprocessed").glob("Dataset*/nnUNetPlans.json")
    confs = json.loads(plans.read_text())["configurations"]
    lines = []
    for c in CONFIGURATIONS:
        conf = {**confs["2d"], **confs[c]} if c != "2d" else confs[c]
        arch = conf["architecture"]["arch_kwargs"]
        lines.append(
            f"{c}: spacing {[round(s, 3) for s in conf['spacing']]} mm, patch "
            f"{conf['patch_size']}, batch {conf['batch_size']}, {arch['n_stages']} stages, "
            f"features {arch['features_per_stage'][0]}-{max(arch['features_per_stage'])}"
        )
    return lines


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hipseg-lowres")
    ap.add_argument("--n-patients", type=int, default=8, help="paper-preset patients to render")
    ap.add_argument("--seed", type=int, default=0, help="the generator's seed")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=25, help="iterations per epoch")
    ap.add_argument(
        "--features", type=int, nargs=2, default=[8, 128], metavar=("BASE", "MAX"),
        help="network width of both configurations (the paper's: 32 512)",
    )  # fmt: skip
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args(argv)

    from hipseg.evaluate.core import EvaluateOptions, evaluate

    t0 = time.perf_counter()
    root = prepare.prepare(
        a.work, overlay(a), [prepare.REPO / "config" / "paper.yaml"], cores=a.threads
    )
    prepared_s = time.perf_counter() - t0
    dataset = prepare.dataset_id(root)
    (raw,) = (root / "nnUNet_raw").glob("Dataset*")
    env = {**prepare.env(), "OMP_NUM_THREADS": str(a.threads), "nnUNet_n_proc_DA": "0"}
    env.update({v: str(root / v) for v in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")})

    preds = a.work / "predictions"
    timings = {}
    for conf in CONFIGURATIONS:
        model, train_wall, train_cpu = train(root, dataset, conf, a, env)
        pred_wall, pred_cpu = predict(root, model, raw / "imagesTs", preds / conf, a, env)
        timings[conf] = {
            "train_wall_s": train_wall, "train_cpu_s": train_cpu,
            "predict_wall_s": pred_wall, "predict_cpu_s": pred_cpu,
        }  # fmt: skip
    out = a.work / "evaluation"
    summary = evaluate(
        raw / "labelsTs",
        preds,
        list(CONFIGURATIONS),
        out,
        EvaluateOptions(),
        a.work / "results" / "dataset" / "cases.tsv",
    )
    result = _print(a, root, raw, out, timings, prepared_s)
    result["summary"] = summary
    (a.work / "lowres_paper.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _print(a, root: Path, raw: Path, out: Path, timings: dict, prepared_s: float) -> dict:
    import pandas as pd

    n_train = len(list((raw / "imagesTr").glob("*.nii.gz")))
    n_test = len(list((raw / "imagesTs").glob("*.nii.gz")))
    print(
        f"paper preset, {a.n_patients} patients: {n_train} training joints, {n_test} test "
        f"joints; prepared in {prepared_s:.0f} s"
    )
    for line in plan_lines(root):
        print(line)
    print(
        f"both trained the same way: nnUNetTrainerHipsegShort, {a.epochs} x {a.iterations} "
        f"iterations, features {a.features[0]}-{a.features[1]}, fold all, {a.threads} threads"
    )
    for conf, t in timings.items():
        print(
            f"{conf:9s} train {t['train_wall_s']:.0f} s wall ({t['train_cpu_s']:.0f} CPU s), "
            f"predict {n_test} joints {t['predict_wall_s']:.0f} s wall "
            f"({t['predict_cpu_s'] / max(n_test, 1):.0f} CPU s per joint)"
        )
    print(pd.read_csv(out / "table1.csv").round(4).to_string(index=False))
    dice = pd.read_csv(out / "dice.csv")
    per_label = dice.pivot_table(index="label", columns="model", values="dice", aggfunc="mean")
    per_label.loc["mean"] = dice.groupby("model")["dice"].mean()
    per_label["delta"] = per_label["2d_lowres"] - per_label["2d"]
    print(per_label.round(4).to_string())
    ci = pd.read_csv(out / "ci.csv")
    print(ci.round(4).to_string(index=False))
    return {
        "n_train_joints": n_train,
        "n_test_joints": n_test,
        "plan": plan_lines(root),
        "timings": timings,
        "dice": per_label.round(6).to_dict(),
    }


if __name__ == "__main__":
    main()
