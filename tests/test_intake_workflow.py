"""The workflow's data stages on real runs: originals are never modified (checksums, read-only
inputs, and a watch on every file the jobs open), and bad inputs stop it before any training."""

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import yaml

from tests.test_workflow import TINY_CONFIG, snakemake

CORPUS = Path(__file__).parent / "data" / "intake"
TARGET = "results/dataset/summary.json"

# Loaded by every Python process of the run (jobs included: the rules keep PYTHONPATH): logs
# each attempt to open a watched file for writing, or to remove, rename or chmod it. Root may
# write read-only files, so the permissions alone would prove nothing here.
WATCH = """
import os, sys
_ROOT = os.environ.get("HIPSEG_WATCH_ROOT")
_LOG = os.environ.get("HIPSEG_WATCH_LOG")
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

def _watched(path):
    try:
        return os.path.realpath(os.fsdecode(path)).startswith(_ROOT + os.sep)
    except (TypeError, ValueError):
        return False

def _hook(event, args):
    bad = False
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1], args[2] if len(args) > 2 else 0
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE)
        bad = writes and _watched(args[0])
    elif event in ("os.remove", "os.rename", "os.chmod", "os.truncate", "os.utime",
                   "shutil.rmtree", "shutil.move"):
        bad = bool(args) and isinstance(args[0], (str, bytes, os.PathLike)) and _watched(args[0])
    if bad:
        with open(_LOG, "a") as f:
            f.write(f"{event} {args[0]!r} by {' '.join(sys.argv)[:200]}\\n")

if _ROOT and _LOG:
    sys.addaudithook(_hook)
"""


def _watch_env(env: dict, tmp_path: Path, root: Path) -> tuple[dict, Path]:
    site = tmp_path / "watch"
    site.mkdir()
    (site / "sitecustomize.py").write_text(WATCH)
    log = tmp_path / "writes.log"
    env = dict(env)
    env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}"
    env["HIPSEG_WATCH_ROOT"], env["HIPSEG_WATCH_LOG"] = str(root.resolve()), str(log)
    return env, log


def _state(root: Path) -> dict[str, tuple[str, int, int]]:
    """{file: (sha256, mtime_ns, mode)} of every file under root."""
    return {
        str(p.relative_to(root)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
            stat.S_IMODE(p.stat().st_mode),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _chmod_tree(root: Path, files: int, dirs: int) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(dirs if p.is_dir() else files)


def _config(path: Path, **sections) -> Path:
    cfg = json.loads(json.dumps(TINY_CONFIG))
    cfg["demo"]["n_patients"] = 5
    cfg.update(sections)
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_data_stages_never_modify_the_originals(tmp_path, snakemake_env):
    """synth writes the inputs; they are made read-only and checksummed; validate, deid, crop
    and dataset run; every input is byte for byte, mtime and mode what it was, and no job
    opened one for writing."""
    cfg = _config(tmp_path / "tiny.yaml")
    snakemake(tmp_path, snakemake_env, "results/demo/samples.tsv", "--configfile", str(cfg))
    inputs = tmp_path / "results" / "demo"
    _chmod_tree(inputs, 0o444, 0o555)
    before = _state(inputs)
    assert sum(name.endswith(".dcm") for name in before) >= 4 and "samples.tsv" in before
    env, log = _watch_env(snakemake_env, tmp_path, inputs)
    try:
        snakemake(tmp_path, env, TARGET, "--configfile", str(cfg))
    finally:
        _chmod_tree(inputs, 0o644, 0o755)
    after = {k: v[:2] for k, v in _state(inputs).items()}
    assert after == {k: v[:2] for k, v in before.items()}
    assert not log.exists(), log.read_text()
    summary = json.loads((tmp_path / TARGET).read_text())
    assert sum(summary["spacing_sources"].values()) == summary["n_radiographs"]
    assert not (tmp_path / "results" / "nnunet" / "nnUNet_preprocessed").exists()


def test_the_watch_sees_a_write(tmp_path, snakemake_env):
    """The watch of the test above does catch a process that opens an input for writing."""
    import subprocess
    import sys

    root = tmp_path / "inputs"
    root.mkdir()
    (root / "a.dcm").write_bytes(b"x")
    env, log = _watch_env(snakemake_env, tmp_path, root)
    code = f"open({str(root / 'a.dcm')!r}, 'r+b').close(); open({str(root / 'a.dcm')!r}).close()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert log.read_text().count("open ") == 1


def _bad_run(tmp_path, env, case):
    data = tmp_path / "data"
    shutil.copytree(CORPUS, data)
    cfg = tmp_path / "real.yaml"
    cfg.write_text(yaml.safe_dump({
        "samples": str(data / f"{case}.tsv"),
        "demo": {"enabled": False},
        "deid": {"use_demo_key": True},
        "paper_plan": {"enabled": False},
        "gate": {"field_mm": [10, 700]},  # the corpus's films are 32 × 24 mm
    }))  # fmt: skip
    proc = snakemake(tmp_path, env, TARGET, "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert not (tmp_path / "results" / "nnunet").exists()  # no dataset, no plan, no training
    assert not (tmp_path / TARGET).exists()
    return proc.stdout + proc.stderr, tmp_path / "results"


def test_bad_pixel_data_stops_the_workflow_at_validation(tmp_path, snakemake_env):
    out, results = _bad_run(tmp_path, snakemake_env, "truncated_pixels")
    assert "truncated_pixels.dcm: is truncated: the file ends inside the pixel data" in out
    assert not (results / "deid").exists() and not (results / "samples" / "validated.tsv").exists()


def test_multi_frame_stops_the_workflow_at_cropping(tmp_path, snakemake_env):
    out, results = _bad_run(tmp_path, snakemake_env, "multi_frame")
    assert "Error in rule crop" in out
    log = (results / "logs" / "crop" / "c01.log").read_text()
    assert "results/deid/c01.dcm: is a multi-frame image (2 frames)" in log
    assert not (results / "joints" / "c01").exists()
    assert not [p for p in (results / "joints").glob(".*")]  # no temporary folder left
