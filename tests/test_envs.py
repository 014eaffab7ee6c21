"""The conda environment, requirements.lock and pyproject.toml name the same dependencies."""

import re

import tomllib
import yaml


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;@]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pins(lines):
    out = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            out[_name(name)] = version.strip()
    return out


def test_conda_env_matches_pyproject_and_lock(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    deps = {_name(d) for d in project["dependencies"]}
    env = yaml.safe_load((repo / "envs" / "hipseg.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pins = _pins(pip)
    lock = _pins((repo / "requirements.lock").read_text().splitlines())
    # every runtime dependency of the package is in the conda env, pinned as in the lock file
    missing = deps - set(conda_pins)
    assert not missing, f"envs/hipseg.yaml lacks {sorted(missing)}"
    for name, version in conda_pins.items():
        assert lock.get(name) == version, f"{name}: env {version}, lock {lock.get(name)}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.startswith("python=3.1")
    # the lock file satisfies pyproject's version ranges for the key packages
    assert lock["nnunetv2"] == "2.8.1"
    assert int(lock["snakemake"].split(".")[0]) >= 9
    assert int(lock["pydicom"].split(".")[0]) >= 3


def test_every_rule_names_the_conda_env(repo, snakemake_env, tmp_path):
    """Snakemake's linter, which sees the rules as Snakemake parses them, finds no rule without
    an environment; the same linter does flag a copy of the workflow where one rule lacks it."""
    import shutil
    import subprocess

    def lint(root):
        proc = subprocess.run(
            ["snakemake", "--lint"], cwd=root, env=snakemake_env, capture_output=True, text=True
        )
        return proc.stdout + proc.stderr

    missing = "Specify a conda environment or container for each rule"
    assert missing not in lint(repo)
    copy = tmp_path / "wf"
    copy.mkdir()
    for name in ("Snakefile", "workflow", "config", "envs"):
        src = repo / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, copy / name)
    rule = copy / "workflow" / "rules" / "evaluate.smk"
    rule.write_text(rule.read_text().replace("    conda:\n        CONDA_ENV\n", ""))
    assert "Lints for rule evaluate" in lint(copy) and missing in lint(copy)
    env_file = (repo / "workflow" / "rules" / "../../envs/hipseg.yaml").resolve()
    assert env_file.is_file()
