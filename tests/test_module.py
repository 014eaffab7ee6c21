"""hipseg as a Snakemake module of another workflow (config/README.md, "Using hipseg as a
module"): a small wrapper workflow with its own config and a Snakefile that uses hipseg's,
dry-run from the wrapper's folder."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from tests.conftest import REPO
from tests.test_workflow import TINY_CONFIG, job_counts, job_outputs

WRAPPER = """\
configfile: "config/config.yaml"


module hipseg:
    snakefile: "{snakefile}"
    config: config


use rule * from hipseg as hipseg_*
"""
LOCAL = {"validate_samples", "deid_summary", "dataset", "splits", "report", "validate_measurements"}

# the rules a wrapper's Snakemake process runs itself (hipseg's `localrule: True` ones), read
# from the parsed workflow as bench/dag_scale.py reads them
LOCAL_RULES = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.enums import Quietness
from snakemake.settings.types import OutputSettings, ResourceSettings

root = Path(sys.argv[1])
with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
    wf = api.workflow(ResourceSettings(), snakefile=root / "Snakefile", workdir=root)
    workflow = wf._workflow
    print(json.dumps(sorted(r.name for r in workflow.rules if r.name in workflow._localrules)))
"""


def merge(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def wrapper(root, changes: dict):
    """A workflow folder that uses hipseg as a module, with a copy of hipseg's config/config.yaml
    plus ``changes``."""
    (root / "config").mkdir(parents=True)
    config = merge(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), changes)
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "Snakefile").write_text(WRAPPER.format(snakefile=REPO / "Snakefile"))
    return root


@pytest.fixture
def env(snakemake_env) -> dict[str, str]:
    """The tests' environment without hipseg's package on PYTHONPATH: the module itself must
    make it importable, for the Snakemake process and for the jobs."""
    env = dict(snakemake_env)
    package = str(REPO / "workflow")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != package]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def dry_run(root, env) -> str:
    proc = subprocess.run(
        ["snakemake", "-n", "--cores", "1"], cwd=root, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    return proc.stdout + proc.stderr


def test_the_wrapper_snakefile_is_the_documented_one():
    usage = (REPO / "config" / "README.md").read_text()
    for line in WRAPPER.format(snakefile="/path/to/hipseg/Snakefile").splitlines():
        if line.strip():
            assert line.split("#")[0].rstrip() in usage, line


def test_hipseg_as_a_module_runs_the_demo(tmp_path, env):
    root = wrapper(tmp_path / "wf", TINY_CONFIG)
    out = dry_run(root, env)
    counts = job_counts(out)
    # the demo's default target through the module's rule all; the rest follows the checkpoint
    assert counts["hipseg_all"] == 1 and counts["hipseg_synth"] == 1
    assert counts["hipseg_train"] == 6 and counts["hipseg_predict"] == 1
    assert [len(outputs) for outputs in job_outputs(out, "hipseg_predict")] == [7]  # 7 models
    assert counts["hipseg_deid_summary"] == 1 and counts["hipseg_report"] == 1
    assert "hipseg_paper_plan" not in counts  # the tiny config turns it off
    assert not [rule for rule in counts if not rule.startswith("hipseg_")]
    assert "localrules directive specifies rules that are not present" not in out
    # outputs go to the wrapper's folder, hipseg's clone is only read
    assert "results/report/report.html" in out and str(REPO / "results") not in out


def test_hipseg_as_a_module_with_a_sample_sheet(tmp_path, env, demo_data):
    """With a sheet of radiographs (not the demo), every radiograph's de-identification and crop
    job is in the DAG, and the rules that run in the Snakemake process keep doing so."""
    changes = merge(
        TINY_CONFIG,
        {"demo": {"enabled": False}, "samples": str(demo_data), "deid": {"use_demo_key": True}},
    )
    root = wrapper(tmp_path / "wf", changes)
    out = dry_run(root, env)
    counts = job_counts(out)
    rows = [line for line in demo_data.read_text().splitlines()[1:] if line.strip()]
    assert counts["hipseg_deid"] == len(rows) and counts["hipseg_crop"] == len(rows)
    assert counts["hipseg_train"] == 6 and counts["hipseg_report"] == 1
    assert "hipseg_synth" not in counts
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LOCAL_RULES), str(root)],
        cwd=root, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    local = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {f"hipseg_{name}" for name in LOCAL} <= local
    assert "hipseg_train" not in local and "hipseg_deid" not in local
    # and a job really runs from the module: hipseg's package through the jobs' PYTHONPATH
    proc = subprocess.run(
        ["snakemake", "--cores", "1", "hipseg_validate_samples"],
        cwd=root, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    validated = (root / "results" / "samples" / "validated.tsv").read_text()
    assert len(validated.splitlines()) == len(rows) + 1


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_local_rules_are_marked_on_the_rule(name):
    """A `localrules:` list would name them without a module's prefix: each says
    `localrule: True` itself."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    text = "\n".join(p.read_text() for p in files)
    block = text.split(f"rule {name}:\n", 1)[1].split("\nrule ", 1)[0]
    assert "    localrule: True\n" in block
    assert "\nlocalrules:" not in text
