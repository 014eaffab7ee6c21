#!/usr/bin/env python3
"""How long `snakemake -n` takes for large cohorts, and how many cluster jobs a run submits.

    python bench/dag_scale.py                       # paper preset (83), 1,000 and 10,000
    python bench/dag_scale.py --sizes 1000 --repeats 5 --profile

For each size it writes a sample sheet of that many distinct radiographs (bench/cohort.py:
demo radiographs copied with new UIDs, label maps hard-linked; kept in --work for reuse) and
runs, with config/paper.yaml and the sheet:

* ``snakemake -n`` as a user types it, ``--repeats`` times: wall time (best and median) and
  CPU time of the process (this box is shared: the CPU time is the steadier figure), jobs;
* ``snakemake -n --profile profiles/metacentrum``: the job groups Snakemake forms there, and
  the cluster jobs the run submits (group jobs + jobs of rules that are not local rules);
* with ``--profile``: where the time of the plain dry run goes (cProfile, cumulative shares).
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow"), str(Path(__file__).parent)]

import cohort  # noqa: E402

# cProfile entries reported as "where the time goes" (cumulative; they overlap)
PHASES = [
    ("snakemake (everything)", "snakemake/cli.py", "main"),
    ("parse the Snakefile", "snakemake/workflow.py", "include"),
    ("build the DAG", "snakemake/dag.py", "init"),
    ("  sample sheet: read + check (samples())", "common.smk", "samples"),
    ("  create job objects", "snakemake/jobs.py", "__init__"),
    ("  find the producers of input files", "snakemake/dag.py", "file2jobs"),
    ("  decide what needs to run (file times)", "snakemake/dag.py", "update_needrun"),
    ("  check directory outputs", "snakemake/dag.py", "check_directory_outputs"),
    ("  conda environments of the jobs", "snakemake/dag.py", "update_conda_envs"),
    ("print the jobs (dry-run listing)", "snakemake/logging.py", "emit"),
]


def snakemake_cmd(work: Path, sheet: Path, *extra: str) -> list[str]:
    overlay = work / "sheet.yaml"
    overlay.write_text(f"samples: {sheet}\n")
    return [
        sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(work), "--configfile", str(REPO / "config" / "paper.yaml"),
        str(overlay), *extra,
    ]  # fmt: skip


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout + proc.stderr


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "workflow") + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    return env


def total_jobs(output: str) -> int:
    return int(re.search(r"^total\s+(\d+)$", output, re.M).group(1))


def local_rules(work: Path, sheet: Path) -> set[str]:
    """Rules that run in the Snakemake process itself (localrules, and rules without a job)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    configfiles = [REPO / "config" / "paper.yaml", work / "sheet.yaml"]
    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            wf = api.workflow(
                ResourceSettings(),
                ConfigSettings(configfiles=configfiles),
                snakefile=REPO / "Snakefile",
                workdir=work,
            )
            workflow = wf._workflow  # the parsed workflow (no DAG is built)
            # Workflow.is_local without its "everything is local without an executor"
            return {
                r.name
                for r in workflow.rules
                if r.group is None and (r.name in workflow._localrules or r.norun)
            }
    finally:
        os.chdir(cwd)


def cluster_jobs(output: str, local: set[str]) -> tuple[int, int]:
    """(group jobs, cluster jobs) of a dry run with a cluster profile: each group job is one
    submission, every job outside a group whose rule is not local is one more."""
    groups = len(re.findall(r"Group job \S+ \(jobs in lexicogr. order\):", output))
    single = re.findall(r"^(?:\[[^\]]*\]\s*)?(?:local)?(?:rule|checkpoint) (\w+):$", output, re.M)
    return groups, groups + sum(1 for rule in single if rule not in local)


def profile(cmd: list[str], top: int) -> None:
    out = Path(tempfile.mkstemp(suffix=".prof")[1])
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), *cmd[1:]],
        capture_output=True,
        env=_env(),
        check=True,
    )
    stats = pstats.Stats(str(out)).stats
    total = max(
        v[3] for (f, _, name), v in stats.items() if f.endswith("cli.py") and name == "main"
    )
    print("  where the time goes (cProfile, cumulative, overlapping):")
    for label, file, func in PHASES:
        cum = sum(v[3] for (f, _, name), v in stats.items() if f.endswith(file) and name == func)
        print(f"    {label:44s} {100 * cum / total:5.1f} %")
    print(f"  top {top} functions by own time:")
    own = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (f, line, name), v in own:
        print(f"    {v[2]:7.3f} s  {name} ({Path(f).name}:{line})")
    out.unlink()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["paper", "1000", "10000"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "hipseg-dag-scale")
    ap.add_argument("--profile", action="store_true", help="cProfile the first size's dry run")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    results = []
    for i, size in enumerate(a.sizes):
        size = size if size == "paper" else int(size)
        sheet = cohort.build(a.work, size)
        work = a.work / f"run-{size}"
        work.mkdir(parents=True, exist_ok=True)
        cmd = snakemake_cmd(work, sheet)
        runs = [timed(cmd) for _ in range(a.repeats)]
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        jobs = total_jobs(runs[0][2])
        _, _, grouped = timed(
            snakemake_cmd(work, sheet, "--profile", str(REPO / "profiles" / "metacentrum"))
        )
        groups, submitted = cluster_jobs(grouped, local_rules(work, sheet))
        n = sum(1 for _ in sheet.open()) - 1
        results.append(
            (n, jobs, min(walls), statistics.median(walls), min(cpus), groups, submitted)
        )
        print(
            f"{n:6d} radiographs: {jobs:6d} jobs; snakemake -n {min(walls):6.2f} s wall (best of "
            f"{a.repeats}; median {statistics.median(walls):.2f} s), {min(cpus):6.2f} s CPU; "
            f"--profile metacentrum: {groups} job groups, {submitted} cluster jobs"
        )
        if a.profile and i == 0:
            profile(cmd, a.top)
    if len(results) > 1:
        (n0, *_, c0, _, _), (n1, *_, c1, _, _) = results[-2], results[-1]
        print(f"CPU time x{c1 / c0:.1f} for x{n1 / n0:.1f} radiographs ({n0} -> {n1})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
