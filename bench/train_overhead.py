#!/usr/bin/env python3
"""Does `hipseg train` cost more than `nnUNetv2_train`? The same dataset, trainer and schedule
through both, interleaved (A B, B A, ...), each run a fresh process and a fresh results folder.

    python bench/train_overhead.py                    # 3 epochs x 10 iterations, 4 repetitions
    python bench/train_overhead.py --repeats 6 --epochs 5

The dataset is the synthetic demo through the workflow (bench/prepare.py), on the CPU; the
trainer is nnU-Net's ``nnUNetTrainer`` with a short schedule (a class written for the run, since
``nnUNetv2_train`` takes the schedule from the class), no augmentation workers, and both runs end
with nnU-Net's validation, as ``nnUNetv2_train`` does. The time is the wall time of the whole
command (start-up included). Prints the ratio of the medians (target <= 1.05).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import prepare  # noqa: E402

TRAINER = "nnUNetTrainerOverheadBench"
DEMO = {
    "demo": {"enabled": True, "preset": "demo", "seed": 3, "n_patients": 6},
    "dataset": {"test_fraction": 0.25},
    "paper_plan": {"enabled": False},
}


def commands(root: Path, dataset: int, threads: int, a) -> dict[str, list[str]]:
    options = {
        "trainer": TRAINER, "epochs": a.epochs, "iterations_per_epoch": a.iterations,
        "val_iterations_per_epoch": a.val_iterations, "checkpoint_every": 50, "device": "cpu",
        "n_proc_da": 0, "validate": True, "seed": None,
    }  # fmt: skip
    return {
        "nnUNetv2_train": [
            str(Path(sys.executable).parent / "nnUNetv2_train"), str(dataset), "2d", "0",
            "-tr", TRAINER, "-device", "cpu",
        ],
        "hipseg train": [
            sys.executable, "-m", "hipseg", "train", "--nnunet-root", str(root),
            "--dataset-id", str(dataset), "--configuration", "2d", "--fold", "0",
            "--threads", str(threads), "--options", json.dumps(options),
        ],
    }  # fmt: skip


def run(cmd: list[str], root: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the process and its children) of one run."""
    names = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
    env = {**env, **{v: str(root / v) for v in names}}
    before, start = os.times(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds, after = time.perf_counter() - start, os.times()
    if proc.returncode != 0:
        tail = proc.stdout[-3000:] + "\n" + proc.stderr[-5000:]
        raise SystemExit(f"{' '.join(cmd)} failed:\n{tail}")
    user = after.children_user - before.children_user
    return seconds, user + after.children_system - before.children_system


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hipseg-overhead")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--val-iterations", type=int, default=2)
    a = ap.parse_args(argv)
    nnunet_root = prepare.prepare(a.work / "data", DEMO)
    dataset = prepare.dataset_id(nnunet_root)
    trainers = a.work / "trainers"
    prepare.trainer_file(trainers, TRAINER, a.epochs, a.iterations, a.val_iterations, 50)
    threads = os.cpu_count() or 1  # what nnUNetv2_train -device cpu uses
    env = prepare.env()
    env.update(
        nnUNet_extTrainer=str(trainers),
        nnUNet_n_proc_DA="0",
        nnUNet_def_n_proc="2",
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    names = ["nnUNetv2_train", "hipseg train"]
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    print(
        f"{a.epochs} epochs x {a.iterations} iterations (+{a.val_iterations} validation), "
        f"{threads} threads, load average {os.getloadavg()[0]:.1f}"
    )
    for rep in range(a.repeats):
        for name in names if rep % 2 == 0 else reversed(names):
            root = prepare.fold_root(a.work, nnunet_root, "run")
            seconds, cpu_s = run(commands(root, dataset, threads, a)[name], root, env)
            wall[name].append(seconds)
            cpu[name].append(cpu_s)
            print(f"  {rep + 1}  {name:15s} {seconds:7.2f} s wall {cpu_s:7.2f} s CPU", flush=True)
    # the two runs of a repetition ran back to back: their ratio is the least disturbed by the
    # load of a shared machine drifting over the benchmark
    pairs = [h / n for h, n in zip(wall["hipseg train"], wall["nnUNetv2_train"], strict=True)]
    med = {k: statistics.median(v) for k, v in wall.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"median wall: nnUNetv2_train {med['nnUNetv2_train']:.2f} s, hipseg train "
        f"{med['hipseg train']:.2f} s\n"
        f"ratio hipseg train / nnUNetv2_train: {statistics.median(pairs):.3f} (median of the "
        f"{len(pairs)} pairs; ratio of the median walls "
        f"{med['hipseg train'] / med['nnUNetv2_train']:.3f}, of the median CPU times "
        f"{cpu_med['hipseg train'] / cpu_med['nnUNetv2_train']:.3f}); target <= 1.05; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
