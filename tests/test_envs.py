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


def test_every_rule_names_the_conda_env(repo):
    rules = sorted((repo / "workflow" / "rules").glob("*.smk"))
    for path in rules:
        text = path.read_text()
        n_rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", text, flags=re.M))
        assert text.count("CONDA_ENV") >= n_rules, f"{path.name}: a rule lacks conda: CONDA_ENV"
