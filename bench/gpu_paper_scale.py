#!/usr/bin/env python3
"""GPU benchmark at the paper's scale: what a training job and a prediction job need.

    python bench/gpu_paper_scale.py                      # on a CUDA machine
    python bench/gpu_paper_scale.py --paths hipseg       # one path per call (time limits)
    python bench/gpu_paper_scale.py --cpu-check          # the CPU-checkable parts, in seconds

On CUDA it:
1. renders radiographs of the synthetic ``paper`` preset (true size, the paper's spacings) and
   runs the workflow with config/paper.yaml up to the splits (bench/prepare.py): nnU-Net's
   default planner, with the paper's 2D plan forced (patch 1536 x 1024, batch 2; the planner's
   own proposal is printed);
2. trains ``nnUNetTrainer`` (a subclass with a few epochs of 250 iterations + 50 validation
   iterations that records its timings; the same class on both paths) through ``hipseg train``
   and through ``nnUNetv2_train``, with the paper config's augmentation workers;
3. predicts a few test joints with ``hipseg predict``;
   Each configuration of ``--configurations`` (default 2d and 2d_lowres, the coarser one planned
   by nnU-Net's planner at twice the spacing) is trained the same way (``hipseg train``; the
   ``nnUNetv2_train`` comparison on 2d);
4. prints seconds per iteration, epoch time incl. validation, the final validation, peak GPU
   memory (``torch.cuda.max_memory_allocated`` and nvidia-smi), prediction seconds per joint,
   the walltime of 1000 epochs, and the paper.yaml values these numbers suggest.

``--cpu-check`` runs the same code on the CPU with the synthetic demo (or ``--nnunet-root``:
an already planned dataset), one epoch of 1 iteration and one predicted joint.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import prepare  # noqa: E402

TRAINER = "nnUNetTrainerGPUBench"
PAPER_PLAN = {"patch_size": [1536, 1024], "batch_size": 2}
TIMING = "bench_timing.json"
TRAINER_CODE = '''
import json
import time

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class {name}(nnUNetTrainer):
    """nnUNetTrainer with {epochs} epochs of {iterations} iterations; writes its timings."""

    # nnU-Net records its constructor's arguments by name: the same signature
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = {epochs}
        self.num_iterations_per_epoch = {iterations}
        self.num_val_iterations_per_epoch = {val_iterations}
        self.bench = {{"epochs": [], "final_validation_s": None, "device": str(self.device)}}

    def _write(self):
        if self.device.type == "cuda":
            self.bench["max_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
            self.bench["gpu"] = torch.cuda.get_device_name()
        with open(self.output_folder + "/{timing}", "w") as f:
            json.dump(self.bench, f, indent=1)

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_epoch_start(self):
        self._t0 = self._sync()
        super().on_epoch_start()

    def on_train_epoch_end(self, outputs):
        self._t1 = self._sync()
        super().on_train_epoch_end(outputs)

    def on_epoch_end(self):
        t0, t1, t2 = self._t0, self._t1, self._sync()
        self.bench["epochs"].append(
            {{"train_s": t1 - t0, "validation_s": t2 - t1, "epoch_s": t2 - t0}}
        )
        super().on_epoch_end()
        self._write()

    def perform_actual_validation(self, save_probabilities=False):
        t0 = self._sync()
        super().perform_actual_validation(save_probabilities)
        self.bench["final_validation_s"] = self._sync() - t0
        self._write()
'''


class GpuMemoryWatch:
    """Peak GPU memory in use as nvidia-smi reports it, polled every half second."""

    def __init__(self):
        self.peak_mb, self._stop = None, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                    capture_output=True, text=True, timeout=10,
                ).stdout  # fmt: skip
                used = max(float(v) for v in out.split())
                self.peak_mb = max(self.peak_mb or 0.0, used)
            except (OSError, ValueError, subprocess.SubprocessError):
                return
            self._stop.wait(0.5)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=15)


def paper_config(n_patients: int, configurations: list[str]) -> dict:
    return {
        "demo": {"enabled": True, "preset": "paper", "seed": 0, "n_patients": n_patients},
        "deid": {"use_demo_key": True},
        "paper_plan": {"enabled": False},
        "nnunet": {"plans_overrides": PAPER_PLAN, "configurations": configurations},
    }


def demo_config(configurations: list[str]) -> dict:
    return {
        "demo": {"enabled": True, "preset": "demo", "seed": 3, "n_patients": 6},
        "dataset": {"test_fraction": 0.25},
        "paper_plan": {"enabled": False},
        "nnunet": {"configurations": configurations},
    }


def train_commands(root: Path, dataset: int, a, conf: str = "2d") -> dict[str, list[str]]:
    options = {
        "trainer": TRAINER, "epochs": a.epochs, "iterations_per_epoch": a.iterations,
        "val_iterations_per_epoch": a.val_iterations, "checkpoint_every": 50,
        "device": a.device, "n_proc_da": a.n_proc_da, "validate": True, "seed": None,
    }  # fmt: skip
    return {
        "nnunet": [
            str(Path(sys.executable).parent / "nnUNetv2_train"), str(dataset), conf, "0",
            "-tr", TRAINER, "-device", a.device,
        ],
        "hipseg": [
            sys.executable, "-m", "hipseg", "train", "--nnunet-root", str(root),
            "--dataset-id", str(dataset), "--configuration", conf, "--fold", "0",
            "--threads", str(a.threads), "--options", json.dumps(options),
        ],
    }  # fmt: skip


def nnunet_env(root: Path, base: dict[str, str], trainers: Path, a) -> dict[str, str]:
    env = {
        **base,
        **{v: str(root / v) for v in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")},
    }
    env.update(nnUNet_extTrainer=str(trainers), nnUNet_n_proc_DA=str(a.n_proc_da))
    if a.device == "cpu":
        env.update(OMP_NUM_THREADS=str(a.threads), nnUNet_def_n_proc="1")
    return env


def run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return seconds


def train_one(path: str, work: Path, nnunet_root: Path, dataset: int, trainers: Path, a,
              conf: str = "2d") -> dict:  # fmt: skip
    root = prepare.fold_root(work, nnunet_root, f"train-{path}-{conf}")
    env = nnunet_env(root, prepare.env(), trainers, a)
    with GpuMemoryWatch() if a.device == "cuda" else _nothing() as watch:
        seconds = run(train_commands(root, dataset, a, conf)[path], env)
    (fold,) = (root / "nnUNet_results").glob(f"Dataset*/{TRAINER}__*__{conf}/fold_0")
    timing = json.loads((fold / TIMING).read_text())
    timing.update(process_s=seconds, nvidia_smi_peak_mb=getattr(watch, "peak_mb", None))
    timing["model_dir"], timing["root"] = str(fold.parent), str(root)
    return timing


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def predict(timing: dict, nnunet_root: Path, work: Path, trainers: Path, a) -> dict:
    """Predict ``--joints`` test joints with the trained fold 0 through ``hipseg predict``."""
    images = sorted((nnunet_root / "nnUNet_raw").glob("Dataset*/imagesTs/*_0000.nii.gz"))
    chosen = work / f"predict-in-{Path(timing['model_dir']).name}"
    if chosen.exists():
        for p in chosen.iterdir():
            p.unlink()
    chosen.mkdir(parents=True, exist_ok=True)
    for image in images[: a.joints]:
        (chosen / image.name).symlink_to(image.resolve())
    out = work / f"predict-out-{Path(timing['model_dir']).name}"
    cmd = [
        sys.executable, "-m", "hipseg", "predict", "--nnunet-root", timing["root"],
        "--model-dir", timing["model_dir"], "--folds", "0", "--input", str(chosen),
        "--output", str(out), "--threads", str(a.threads),
        "--options", json.dumps({"device": a.device}),
    ]  # fmt: skip
    seconds = run(cmd, {**prepare.env(), "nnUNet_extTrainer": str(trainers)})
    n = len(list(chosen.iterdir()))
    return {"joints": n, "seconds": seconds, "per_joint_s": seconds / n}


def summarise(path: str, t: dict, iterations: int, conf: str = "2d") -> dict:
    epochs = t["epochs"][1:] or t["epochs"]  # the first epoch compiles and tunes cuDNN
    train = statistics.median(e["train_s"] for e in epochs)
    epoch = statistics.median(e["epoch_s"] for e in epochs)
    final = t["final_validation_s"] or 0.0
    return {
        "path": path,
        "configuration": conf,
        "s_per_iteration": train / iterations,
        "epoch_s": epoch,
        "final_validation_s": final,
        "walltime_1000_epochs_h": (1000 * epoch + final) / 3600,
        "max_memory_allocated_mb": t.get("max_memory_allocated_mb"),
        "nvidia_smi_peak_mb": t.get("nvidia_smi_peak_mb"),
        "gpu": t.get("gpu", t.get("device")),
        "process_s": t["process_s"],
    }


def report(rows: list[dict], predictions: dict[str, dict]) -> None:
    for r in rows:
        mem = r["max_memory_allocated_mb"]
        smi = r["nvidia_smi_peak_mb"]
        print(
            f"{r['path']:7s} {r['configuration']:9s} on {r['gpu']}: "
            f"{r['s_per_iteration']:.3f} s/iteration, "
            f"{r['epoch_s']:.1f} s/epoch incl. validation, final validation "
            f"{r['final_validation_s']:.1f} s, 1000 epochs = {r['walltime_1000_epochs_h']:.1f} h; "
            f"peak GPU memory {'-' if mem is None else f'{mem:.0f} MiB'} (torch), "
            f"{'-' if smi is None else f'{smi:.0f} MiB'} (nvidia-smi)"
        )
    full = [r for r in rows if r["configuration"] == "2d"]
    if len(full) == 2:
        print(f"epoch time hipseg / nnUNetv2_train: {full[0]['epoch_s'] / full[1]['epoch_s']:.3f}")
    for conf, prediction in predictions.items():
        print(
            f"prediction {conf}: {prediction['joints']} joints in {prediction['seconds']:.1f} s "
            f"(start-up included): {prediction['per_joint_s']:.2f} s/joint"
        )
    r = rows[0]
    if r["nvidia_smi_peak_mb"]:
        hours = r["walltime_1000_epochs_h"]
        print(
            "paper.yaml from these numbers: train.resources.gpu_mem_mb "
            f"~{1.2 * r['nvidia_smi_peak_mb'] * 2**20 / 1e6:.0f}, runtime (one job for 1000 "
            f"epochs) ~{1.15 * hours * 60:.0f} min, checkpoint_every "
            f"~{max(1, round(15 * 60 / r['epoch_s']))} (one checkpoint per ~15 min)"
        )


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hipseg-gpu-bench")
    ap.add_argument("--cpu-check", action="store_true", help="tiny run on the CPU")
    ap.add_argument("--nnunet-root", type=Path, help="an already planned dataset (skips step 1)")
    ap.add_argument("--n-patients", type=int, default=20, help="paper-preset patients to render")
    ap.add_argument(
        "--paths", nargs="+", choices=["hipseg", "nnunet"], default=["hipseg", "nnunet"]
    )
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=250)
    ap.add_argument("--val-iterations", type=int, default=50)
    ap.add_argument("--n-proc-da", type=int, default=6, help="paper.yaml's train.n_proc_da")
    ap.add_argument("--threads", type=int, default=8, help="paper.yaml's train.threads")
    ap.add_argument("--joints", type=int, default=6, help="test joints to predict")
    ap.add_argument(
        "--configurations", nargs="+", choices=["2d", "2d_lowres"], default=["2d", "2d_lowres"]
    )
    a = ap.parse_args(argv)
    a.device = "cpu" if a.cpu_check else "cuda"
    if a.cpu_check:
        a.epochs, a.iterations, a.val_iterations, a.n_proc_da, a.joints = 1, 1, 1, 0, 1
        a.threads = min(a.threads, os.cpu_count() or 1)
    nnunet_root = a.nnunet_root or prepare.prepare(
        a.work / "data",
        (
            demo_config(a.configurations)
            if a.cpu_check
            else paper_config(a.n_patients, a.configurations)
        ),
        [] if a.cpu_check else [prepare.REPO / "config" / "paper.yaml"],
        cores=os.cpu_count() or 1,
    )
    dataset = prepare.dataset_id(nnunet_root)
    _print_plan(nnunet_root)
    trainers = a.work / "trainers"
    trainers.mkdir(parents=True, exist_ok=True)
    (trainers / f"{TRAINER}.py").write_text(
        TRAINER_CODE.format(
            name=TRAINER,
            epochs=a.epochs,
            iterations=a.iterations,
            val_iterations=a.val_iterations,
            timing=TIMING,
        )  # fmt: skip
    )
    rows, predictions = [], {}
    for conf in a.configurations:
        # nnUNetv2_train beside hipseg train on the main configuration only
        paths = a.paths if conf == "2d" else [p for p in a.paths if p == "hipseg"] or a.paths[:1]
        timings = {}
        for path in paths:
            timings[path] = train_one(path, a.work, nnunet_root, dataset, trainers, a, conf)
            rows.append(summarise(path, timings[path], a.iterations, conf))
        if a.joints:
            first = timings[paths[0]]
            predictions[conf] = predict(first, nnunet_root, a.work, trainers, a)
    report(rows, predictions)
    return rows


def _print_plan(nnunet_root: Path) -> None:
    (plans,) = (nnunet_root / "nnUNet_preprocessed").glob("Dataset*/nnUNetPlans.json")
    for c in ("2d", "2d_lowres"):
        used = json.loads(plans.read_text())["configurations"].get(c)
        proposed = json.loads(plans.with_suffix(".planner.json").read_text())["configurations"]
        if used is None:
            continue
        for name, conf in (("planner's proposal", proposed[c]), ("trained with", used)):
            feats = conf["architecture"]["arch_kwargs"]["features_per_stage"]
            print(
                f"{c} {name}: patch {conf['patch_size']}, batch {conf['batch_size']}, spacing "
                f"{[round(s, 3) for s in conf['spacing']]}, features {feats[0]}-{max(feats)}"
            )


if __name__ == "__main__":
    main()
