"""A training job killed half-way (as PBS/SLURM do at walltime or on qdel/scancel: SIGKILL to the
job's processes) is retried by Snakemake (`retries`, as the cluster profiles set it) and resumes
from nnU-Net's latest checkpoint instead of starting over."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import _tiny_run
from tests.test_workflow import write_config

FOLD_DIR = (
    "results/nnunet/nnUNet_results/Dataset501_HipJoint/"
    "nnUNetTrainerHipsegShort__nnUNetPlans__2d/fold_all"
)


def epochs_logged(log_text: str) -> list[int]:
    return [int(m) for m in re.findall(r"^.*?Epoch (\d+)\s*$", log_text, flags=re.M)]


def training_processes(workdir: Path) -> list[int]:
    """Processes of the `hipseg train` job (its shell and Python) running in workdir."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if "hipseg train" in cmdline and cwd == str(workdir):
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_killed_training_is_retried_and_resumes_from_its_checkpoint(tiny_run, tmp_path):
    """In a copy of the finished tiny run, fold_all is trained again for 8 epochs (its settings
    changed: nothing upstream reruns), killed after its first checkpoint and retried."""
    work = tmp_path / "run"
    shutil.copytree(tiny_run.root, work, symlinks=True)
    cfg = write_config(work, **{"train.epochs": 8, "train.checkpoint_every": 1})
    fold = work / FOLD_DIR
    latest = fold / "checkpoint_latest.pth"
    earlier_logs = set(fold.glob("training_log_*.txt"))
    assert earlier_logs and not latest.exists()
    env = _tiny_run(work).env  # the copy's own workflow code on PYTHONPATH
    cmd = [
        "snakemake",
        f"{FOLD_DIR}/checkpoint_final.pth",
        "--snakefile",
        str(work / "Snakefile"),
        "--directory",
        str(work),
        "--cores",
        "1",
        "--retries",
        "1",
        "--configfile",
        str(cfg),
    ]
    with (tmp_path / "snakemake.log").open("w") as log:
        run = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 600
            while not latest.is_file():
                assert run.poll() is None, (tmp_path / "snakemake.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
                time.sleep(0.2)
            time.sleep(1)
            victims = training_processes(work)
            assert victims, "the training job is not running"
            for pid in victims:
                os.kill(pid, signal.SIGKILL)  # as at walltime: no chance to clean up
            # the killed job left its checkpoint (Snakemake removes only declared outputs)
            saved_epoch = torch.load(latest, map_location="cpu", weights_only=False)[
                "current_epoch"
            ]
            assert run.wait(timeout=600) == 0, (tmp_path / "snakemake.log").read_text()[-4000:]
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    out = (tmp_path / "snakemake.log").read_text()
    assert 1 <= saved_epoch < 8
    # killed, reported as failed, started again (retries: 1) and finished
    assert "died with <Signals.SIGKILL: 9>" in out and "Error in rule train" in out
    assert out.count("localrule train:") == 2 and "Finished jobid: 0 (Rule: train)" in out
    assert set(re.findall(r"^localrule (\w+):", out, flags=re.M)) == {"train"}  # nothing else
    logs = set(fold.glob("training_log_*.txt")) - earlier_logs
    logs = sorted(logs, key=lambda p: p.stat().st_mtime)
    assert len(logs) == 2, logs
    first, second = (p.read_text() for p in logs)
    assert epochs_logged(first)[0] == 0
    assert f"hipseg: resuming from {latest}" in second
    epochs = epochs_logged(second)
    # the retry continues at the saved epoch (not at 0) and ends at the last one
    assert epochs[0] == saved_epoch and epochs[-1] == 7, epochs
    assert (fold / "checkpoint_final.pth").is_file()
