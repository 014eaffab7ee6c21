"""The cluster profiles and `hipseg install-profile`."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from hipseg import profiles
from hipseg.errors import HipsegError


def test_install_links_the_profile_where_snakemake_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    link = profiles.install("metacentrum")
    assert link == tmp_path / "xdg" / "snakemake" / "metacentrum"
    assert link.resolve() == profiles.PROFILES_DIR / "metacentrum"
    assert (link / "pbs-status.py").is_file() and os.access(link / "pbs-status.py", os.X_OK)
    assert profiles.install("metacentrum") == link  # again: nothing to do


def test_install_refuses_to_overwrite_and_unknown_names(tmp_path):
    (tmp_path / "slurm").write_text("mine")
    with pytest.raises(HipsegError, match="exists"):
        profiles.install("slurm", tmp_path)
    assert (tmp_path / "slurm").read_text() == "mine"
    assert profiles.install("slurm", tmp_path, force=True).is_symlink()
    with pytest.raises(HipsegError, match="unknown profile 'pbs'"):
        profiles.install("pbs", tmp_path)


def _workflow_rules(repo, env) -> set[str]:
    """The rule names as Snakemake itself lists them."""
    proc = subprocess.run(
        ["snakemake", "--list-rules"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("name", profiles.CLUSTER_PROFILES)
def test_profiles_retry_failed_jobs_and_name_only_workflow_rules(repo, name, snakemake_env):
    cfg = yaml.safe_load((repo / "profiles" / name / "config.yaml").read_text())
    assert cfg["retries"] >= 1  # a job killed at walltime is resubmitted and resumes
    rules = _workflow_rules(repo, snakemake_env)
    assert {"train", "predict", "deid", "crop", "splits"} <= rules
    assert set(cfg.get("set-resources") or {}) <= rules
    if name == "metacentrum":
        for key in ("submit", "status"):
            script = repo / "profiles" / name / cfg[f"cluster-generic-{key}-cmd"]
            assert script.is_file() and os.access(script, os.X_OK)
        assert cfg["cluster-generic-cancel-cmd"] == "qdel"
    else:
        assert cfg["executor"] == "slurm" and cfg["slurm-status-command"] == "squeue"
