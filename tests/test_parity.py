"""`hipseg train` trains exactly as `nnUNetv2_train` does.

The same tiny trainer (seeded in its constructor, no augmentation workers) is trained on the same
preprocessed data twice: by nnU-Net's own command-line entry point (`nnUNetv2_train DATASET 2d 0
-tr TRAINER -device cpu`, then `--c --npz` after the first run was killed) and by `hipseg train`
(killed the same way, then rerun: it decides on `--c` itself). Weights, optimizer state, logged
curves, validation metrics and exported probabilities must be identical.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from hipseg import nnunet
from tests.test_nnunet import planned  # noqa: F401 (the fixture)

TRAINER = "nnUNetTrainerParityTiny"
TRAINER_CODE = '''
import os
import random

import numpy as np
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class Killed(BaseException):
    """What SIGKILL does to a training job, without ending the test's process."""


class nnUNetTrainerParityTiny(nnUNetTrainer):
    def __init__(self, plans, configuration, fold, dataset_json, device=torch.device("cuda")):
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 2
        self.num_iterations_per_epoch = 2
        self.num_val_iterations_per_epoch = 1
        self.save_every = 1

    def on_epoch_end(self):
        super().on_epoch_end()
        if os.environ.get("PARITY_KILL_AFTER_EPOCH") == str(self.current_epoch - 1):
            raise Killed()
'''
# hipseg's options equal to the trainer's own numbers, as in config/paper.yaml for nnUNetTrainer
OPTIONS = {
    "trainer": TRAINER,
    "epochs": 2,
    "iterations_per_epoch": 2,
    "val_iterations_per_epoch": 1,
    "checkpoint_every": 1,
    "device": "cpu",
    "n_proc_da": 0,
    "validate": True,
    "npz": True,
    "seed": None,
}
LOGGED = ["train_losses", "val_losses", "mean_fg_dice", "ema_fg_dice", "lrs"]


def _root(base: Path, planned_root: Path, name: str) -> Path:
    """An nnU-Net root with the planned raw and preprocessed data and its own results."""
    root = base / name
    root.mkdir()
    for sub in ("nnUNet_raw", "nnUNet_preprocessed"):
        (root / sub).symlink_to(planned_root / "nnunet" / sub)
    return root


def _run(monkeypatch, root: Path, argv: list[str], kill_after: int | None):
    """One process's worth of training, in this process: nnU-Net's entry point or hipseg's."""
    from hipseg import cli

    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(var, str(root / var))
    if kill_after is None:
        monkeypatch.delenv("PARITY_KILL_AFTER_EPOCH", raising=False)
    else:
        monkeypatch.setenv("PARITY_KILL_AFTER_EPOCH", str(kill_after))
    monkeypatch.setattr(sys, "argv", argv)
    try:
        if argv[0] == "nnUNetv2_train":
            from nnunetv2.run.run_training import run_training_entry

            run_training_entry()
        else:
            assert cli.main(argv[1:]) == 0
    except BaseException as exc:  # the trainer's Killed
        if kill_after is None or type(exc).__name__ != "Killed":
            raise
        return
    assert kill_after is None, "the training was not killed"


def _checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def _assert_same_checkpoint(a: Path, b: Path) -> None:
    ca, cb = _checkpoint(a), _checkpoint(b)
    assert ca["current_epoch"] == cb["current_epoch"] and ca["_best_ema"] == cb["_best_ema"]
    assert ca["trainer_name"] == cb["trainer_name"] == TRAINER
    assert ca["network_weights"].keys() == cb["network_weights"].keys()
    for key, value in ca["network_weights"].items():
        assert torch.equal(value, cb["network_weights"][key]), f"{key} differs"
    for pa, pb in zip(
        ca["optimizer_state"]["state"].values(),
        cb["optimizer_state"]["state"].values(),
        strict=True,
    ):
        assert all(torch.equal(pa[k], pb[k]) for k in pa), "optimizer state differs"
    la, lb = ca["logging"], cb["logging"]
    for key in LOGGED:
        assert la[key] == lb[key], f"logged {key} differs: {la[key]} vs {lb[key]}"


@pytest.mark.slow
def test_hipseg_train_equals_nnunetv2_train(planned, tmp_path, monkeypatch):  # noqa: F811
    from hipseg import dataset

    planned_root, plans_file, _ = planned
    splits = plans_file.parent / "splits_final.json"
    if not splits.is_file():
        dataset.write_splits(planned_root / "ds" / "cases.tsv", splits, 0)
    trainers = tmp_path / "trainers"
    trainers.mkdir()
    (trainers / f"{TRAINER}.py").write_text(TRAINER_CODE)
    monkeypatch.setenv("nnUNet_extTrainer", str(trainers))
    monkeypatch.setenv("nnUNet_n_proc_DA", "0")
    monkeypatch.setenv("nnUNet_def_n_proc", "1")  # the validation's export workers (spawned)
    import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as trainer_module

    monkeypatch.setattr(trainer_module, "default_num_processes", 1)
    threads = os.cpu_count() or 1  # what nnUNetv2_train -device cpu takes
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads))
    before = torch.get_num_threads()
    monkeypatch.setenv("nnUNet_compile", "f")

    ref, ours = _root(tmp_path, planned_root, "ref"), _root(tmp_path, planned_root, "ours")
    nnunet_cmd = ["nnUNetv2_train", "42", "2d", "0", "-tr", TRAINER, "-device", "cpu"]
    hipseg_cmd = [
        "hipseg", "train", "--nnunet-root", str(ours), "--dataset-id", "42",
        "--configuration", "2d", "--fold", "0", "--threads", str(threads),
        "--options", json.dumps(OPTIONS),
    ]  # fmt: skip
    try:
        # killed after epoch 0 (checkpoint_latest written), then continued
        _run(monkeypatch, ref, nnunet_cmd, kill_after=0)
        _run(monkeypatch, ours, hipseg_cmd, kill_after=0)
        fold = Path("Dataset042_Tiny") / f"{TRAINER}__nnUNetPlans__2d" / "fold_0"
        ref_fold, our_fold = ref / "nnUNet_results" / fold, ours / "nnUNet_results" / fold
        _assert_same_checkpoint(
            ref_fold / "checkpoint_latest.pth", our_fold / "checkpoint_latest.pth"
        )
        _run(monkeypatch, ref, [*nnunet_cmd, "--c", "--npz"], kill_after=None)
        _run(monkeypatch, ours, hipseg_cmd, kill_after=None)
    finally:
        torch.set_num_threads(before)

    _assert_same_checkpoint(ref_fold / "checkpoint_final.pth", our_fold / "checkpoint_final.pth")
    _assert_same_checkpoint(ref_fold / "checkpoint_best.pth", our_fold / "checkpoint_best.pth")
    for fold_dir in (ref_fold, our_fold):
        assert not (fold_dir / "checkpoint_latest.pth").exists()
    summary = [
        json.loads((f / "validation" / "summary.json").read_text()) for f in (ref_fold, our_fold)
    ]
    assert summary[0]["foreground_mean"] == summary[1]["foreground_mean"]
    assert summary[0]["mean"] == summary[1]["mean"]
    npz = [sorted(p.name for p in (f / "validation").glob("*.npz")) for f in (ref_fold, our_fold)]
    assert npz[0] and npz[0] == npz[1]
    log = "".join(p.read_text() for p in our_fold.glob("training_log_*.txt"))
    assert f"hipseg: resuming from {our_fold / 'checkpoint_latest.pth'}" in log
    assert json.loads((our_fold / nnunet.SETTINGS_FILE).read_text())["finished"] is True


def test_a_rerun_continues_as_nnunetv2_train_c_only_an_unfinished_run(tmp_path):
    out = tmp_path / "fold_0"
    out.mkdir()
    settings = {"trainer": TRAINER, "num_epochs": 3}
    final, latest, best, kept = (
        out / name for name in (nnunet.FINAL, nnunet.LATEST, nnunet.BEST, nnunet.FINAL_KEPT)
    )
    assert nnunet._prepare_fold_folder(out, settings) is None  # a new fold: start
    # killed before its first checkpoint_latest: nnU-Net's --c takes checkpoint_best
    best.write_bytes(b"best")
    assert nnunet._prepare_fold_folder(out, settings) == best
    latest.write_bytes(b"latest")
    assert nnunet._prepare_fold_folder(out, settings) == latest
    # trained, then killed in the final validation: Snakemake deleted checkpoint_final.pth before
    # the rerun, the hard link hipseg kept brings it back, and --c only validates
    latest.unlink()
    kept.write_bytes(b"final")
    assert nnunet._prepare_fold_folder(out, settings) == final
    assert final.read_bytes() == b"final"
    # a finished run (rerun forced by Snakemake) and changed settings start over, from nothing
    record = out / nnunet.SETTINGS_FILE
    record.write_text(json.dumps({"settings": settings, "finished": True}))
    assert nnunet._prepare_fold_folder(out, settings) is None
    assert not any(p.exists() for p in (final, latest, best, kept))
    best.write_bytes(b"best")
    assert nnunet._prepare_fold_folder(out, {**settings, "num_epochs": 4}) is None
    assert not best.exists()
    assert json.loads(record.read_text()) == {
        "settings": {**settings, "num_epochs": 4},
        "finished": False,
    }


def test_the_final_checkpoint_is_kept_until_the_run_finishes(tmp_path):
    class Trainer:
        def save_checkpoint(self, filename):
            Path(filename).write_bytes(b"weights")

    trainer = Trainer()
    nnunet._atomic_checkpoints(trainer)
    trainer.save_checkpoint(str(tmp_path / nnunet.LATEST))
    assert not (tmp_path / nnunet.FINAL_KEPT).exists()
    trainer.save_checkpoint(str(tmp_path / nnunet.FINAL))
    kept = tmp_path / nnunet.FINAL_KEPT
    assert kept.stat().st_ino == (tmp_path / nnunet.FINAL).stat().st_ino  # a hard link
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_gpu_benchmark_runs_its_cpu_checkable_parts(planned, tmp_path, capsys):  # noqa: F811
    """bench/gpu_paper_scale.py --cpu-check: both training paths (one epoch of 1 iteration,
    validation included), the timings the trainer records, one predicted joint, the report."""
    from hipseg import dataset

    planned_root, plans_file, _ = planned
    splits = plans_file.parent / "splits_final.json"
    if not splits.is_file():
        dataset.write_splits(planned_root / "ds" / "cases.tsv", splits, 0)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        import gpu_paper_scale
    finally:
        sys.path.pop(0)
    # both configurations, trained the same way (the planned fixture preprocessed 2d only)
    nnunet.preprocess_configuration(planned_root / "nnunet", 42, "2d_lowres")
    argv = ["--cpu-check", "--nnunet-root", str(planned_root / "nnunet"), "--work", str(tmp_path)]
    rows = gpu_paper_scale.main(argv)
    assert [(r["path"], r["configuration"]) for r in rows] == [
        ("hipseg", "2d"), ("nnunet", "2d"), ("hipseg", "2d_lowres")
    ]  # fmt: skip
    for r in rows:
        assert r["gpu"] == "cpu" and r["s_per_iteration"] > 0 and r["final_validation_s"] > 0
        assert r["walltime_1000_epochs_h"] > 1000 * r["epoch_s"] / 3600 * 0.99
    out = capsys.readouterr().out
    assert "2d trained with: patch" in out and "2d_lowres trained with: patch" in out
    assert "s/iteration" in out
    assert "prediction 2d: 1 joints" in out and "prediction 2d_lowres: 1 joints" in out
    for conf in ("2d", "2d_lowres"):
        (out_dir,) = tmp_path.glob(f"predict-out-*__{conf}")
        assert len(list(out_dir.glob("*.nii.gz"))) == 1
